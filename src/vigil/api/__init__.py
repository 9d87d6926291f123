"""The HTTP service: the Inspector2-compatible API (from botocore's model), the Vigil API, agents' routes."""
