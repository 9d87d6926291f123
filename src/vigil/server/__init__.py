"""`vigil server`: settings, TLS, secrets at rest, the service's assembly and its process."""
