"""Handlers of Inspector operations, one module per resource group, each with `operations(...)`."""
