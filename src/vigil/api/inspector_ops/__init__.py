"""Inspector's operations, one module per resource group: `operations(<services>) -> dict[name, Handler]`."""
