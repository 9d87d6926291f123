"""Inspector operations, one module per resource group: `operations(<its services>) -> {name: Handler}`."""
