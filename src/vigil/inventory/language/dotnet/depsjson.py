"""`<app>.deps.json`: the NuGet packages a .NET application was built with and loads.

`libraries` maps `Name/Version` to its kind: `package` (a NuGet package: reported), `project` (the
application's own projects: no advisory names them, not reported) and `runtimepack` (the .NET runtime a
self-contained application carries: reported under its NuGet name, e.g.
`Microsoft.NETCore.App.Runtime.linux-x64`, which is how advisories for the runtime name it). A package the
runtime target does not list is only used at build time (an analyzer): reported, with a note.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import ClassVar

from vigil.inventory.extractor import ExtractContext, ExtractError, FoundFile, Wants
from vigil.inventory.model import Package
from vigil.inventory.purl import language_purl

MAX_DEPS_JSON = 16 << 20  # a large application's deps.json is a few hundred KiB
_RUNTIME_PACK = "runtimepack."


class DepsJsonExtractor:
    """NuGet packages of a .NET application (DOTNET_CORE)."""

    name: ClassVar[str] = "language/dotnet/deps-json"
    version: ClassVar[int] = 1
    wants: ClassVar[Wants] = Wants(suffixes=(".deps.json",))

    def extract(self, file: FoundFile, ctx: ExtractContext) -> Iterable[Package]:
        try:
            data = json.loads(file.read(MAX_DEPS_JSON))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise ExtractError(f"{file.path}: not JSON: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("libraries"), dict):
            raise ExtractError(f"{file.path}: no `libraries` object: not a .NET deps.json")
        loaded = _runtime_target(data)
        packages = []
        for key, library in data["libraries"].items():
            name, _, version = key.rpartition("/")
            if not isinstance(library, dict) or not name or not version:
                ctx.error(file.path, f"library {key[:100]!r}: not `Name/Version` with an object")
                continue
            kind = library.get("type")
            notes: tuple[str, ...] = ()
            if kind == "runtimepack":
                notes = ("the .NET runtime this self-contained application carries",)
            elif kind != "package":
                continue
            if loaded is not None and key not in loaded:
                notes += ("not in the runtime target: used at build time only",)
            if name.startswith(_RUNTIME_PACK):
                name = name[len(_RUNTIME_PACK) :]
            packages.append(
                Package(
                    name=name,
                    version=version,
                    type="nuget",
                    package_manager="DOTNET_CORE",
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
    if not isinstance(runtime, dict) or not isinstance(targets, dict):
        return None
    target = targets.get(runtime.get("name"))
    return target if isinstance(target, dict) else None
