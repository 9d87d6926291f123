"""`<app>.deps.json`: the NuGet packages a .NET application was built with and loads.

`libraries` maps `Name/Version` to what it is:
- `package`: a NuGet package;
- `project`: the application's own projects (osv-scalibr and Trivy report them too: the application itself
  and what it references), noted as such;
- `runtimepack`: the .NET runtime a self-contained application carries, reported under its NuGet name
  without the `runtimepack.` prefix (`Microsoft.NETCore.App.Runtime.linux-x64`, the name advisories for the
  runtime use), as Trivy does; a `package` whose name merely starts with `runtimepack.` keeps it.
Other kinds (`reference`, `referenceassembly`: assemblies of the framework itself, versioned as assemblies
are, `4.0.5.0`) are not NuGet packages and are left out, so an assembly version is never compared with a
package's advisories.

A package the runtime target does not list is only used at build time (an analyzer): reported, with a note.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import ClassVar

from vigil.enums import PackageManager
from vigil.inventory.extractor import ExtractContext, ExtractError, FoundFile, Wants
from vigil.inventory.model import Package
from vigil.inventory.purl import language_purl

MAX_DEPS_JSON = 8 << 20  # a large application's deps.json is a few hundred KiB
_RUNTIME_PACK = "runtimepack."
_KINDS = {
    "package": (),
    "project": ("the application's own project",),
    "runtimepack": ("the .NET runtime this self-contained application carries",),
}


class DepsJsonExtractor:
    """NuGet packages of a .NET application (DOTNET_CORE)."""

    name: ClassVar[str] = "language/dotnet/deps-json"
    version: ClassVar[int] = 1
    wants: ClassVar[Wants] = Wants(suffixes=(".deps.json",))

    def extract(self, file: FoundFile, ctx: ExtractContext) -> Iterable[Package]:
        if file.info.size > MAX_DEPS_JSON:
            raise ExtractError(f"{file.path}: {file.info.size} bytes, over the {MAX_DEPS_JSON}-byte limit")
        try:
            data = json.loads(file.read(MAX_DEPS_JSON))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise ExtractError(f"{file.path}: not JSON: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("libraries"), dict):
            raise ExtractError(f"{file.path}: no `libraries` object: not a .NET deps.json")
        loaded = _runtime_target(data)
        packages = []
        for key, library in data["libraries"].items():
            parts = key.split("/")
            if len(parts) != 2 or not all(parts) or not isinstance(library, dict):
                ctx.error(file.path, f"library {key[:100]!r}: not `Name/Version` with an object")
                continue
            name, version = parts
            kind = library.get("type")
            if not isinstance(kind, str) or kind not in _KINDS:
                continue
            notes = _KINDS[kind]
            if kind == "runtimepack" and name.startswith(_RUNTIME_PACK):
                name = name[len(_RUNTIME_PACK) :]
            if loaded is not None and key not in loaded:
                notes += ("not in the runtime target: used at build time only",)
            packages.append(
                Package(
                    name=name,
                    version=version,
                    type="nuget",
                    package_manager=PackageManager.DOTNET_CORE,
                    purl=language_purl("nuget", name, version),
                    extractor=self.name,
                    locations=(file.path,),
                    notes=notes,
                )
            )
        return packages


def _runtime_target(data: dict[str, object]) -> dict[str, object] | None:
    """The libraries the runtime target loads, or None when the file does not say (no target named)."""
    runtime, targets = data.get("runtimeTarget"), data.get("targets")
    if (
        not isinstance(runtime, dict)
        or not isinstance(targets, dict)
        or not isinstance(runtime.get("name"), str)
    ):
        return None
    target = targets.get(runtime["name"])
    return target if isinstance(target, dict) else None
