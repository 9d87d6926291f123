""".NET: the `*.deps.json` file every .NET (Core) application ships beside its main assembly."""

from vigil.inventory.language.dotnet.depsjson import DepsJsonExtractor

__all__ = ["DepsJsonExtractor"]
