"""Scanning: eligibility and coverage, agentless scans and their snapshots, stored inventories,
re-evaluation, and the scheduler that runs them (DESIGN §3)."""
