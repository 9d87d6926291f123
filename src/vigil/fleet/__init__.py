"""The fleet: accounts and organizations, instances with their volumes and keys, and the providers that
know them (a local fleet file; AWS later)."""
