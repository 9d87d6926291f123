"""The Vigil API (`/vigil/v1/`): one FastAPI router per resource group, built from its services."""
