"""`vigil inventory`: what is installed on a host, a directory tree or VM disk images."""

from __future__ import annotations

import enum
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from vigil.cli.app import TargetsArgument, fail
from vigil.inventory.collect import Limits


class InventoryFormat(enum.StrEnum):
    table = "table"
    json = "json"
    cyclonedx = "cyclonedx"
    spdx = "spdx"


class Scope(enum.StrEnum):
    default = "default"
    all = "all"


def inventory(
    targets: TargetsArgument,
    os_only: Annotated[
        bool, typer.Option("--os-only", help="OS packages only (no language packages).")
    ] = False,
    scope: Annotated[
        Scope | None,
        typer.Option(
            help="Where language packages are searched: Inspector's default paths, or everywhere "
            "(the default for images)."
        ),
    ] = None,
    path: Annotated[
        list[str] | None, typer.Option("--path", help="Custom path for language packages (up to 10).")
    ] = None,
    output_format: Annotated[
        InventoryFormat, typer.Option("--format", help="Output format.")
    ] = InventoryFormat.table,
    cyclonedx_version: Annotated[str, typer.Option(help="CycloneDX spec version: 1.6 or 1.4.")] = "1.6",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    max_packages: Annotated[int, typer.Option(help="Language package limit per collection.")] = 5000,
    time_limit: Annotated[float, typer.Option(help="Seconds per collection.")] = 900.0,
) -> None:
    """What is installed on a host, a directory tree or a VM disk image."""
    from vigil.fs import FSError
    from vigil.inventory.targets import take_inventory
    from vigil.output.progress import progress_reporter

    limits = Limits(max_language_packages=max_packages, collection_seconds=time_limit)
    try:
        with progress_reporter(enabled=sys.stderr.isatty()) as progress:
            result = take_inventory(
                targets,
                os_only=os_only,
                scope=scope.value if scope else None,
                custom_paths=path or (),
                limits=limits,
                progress=progress,
            )
    except (FSError, ValueError) as exc:
        fail(f"cannot inventory {' '.join(targets)}: {exc}")
    if result.os is None and not result.packages:
        fail(f"cannot inventory {' '.join(targets)}: no OS found (no os-release or other release file)")
    text = _render(result, output_format, cyclonedx_version)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")


def _render(result: object, output_format: InventoryFormat, cyclonedx_version: str) -> str:
    from vigil.inventory.model import Inventory

    assert isinstance(result, Inventory)
    if output_format is InventoryFormat.json:
        return json.dumps(result.to_json(), indent=2) + "\n"
    if output_format is InventoryFormat.cyclonedx:
        from vigil.inventory.sbom import to_cyclonedx

        return to_cyclonedx(result, cyclonedx_version) + "\n"
    if output_format is InventoryFormat.spdx:
        from vigil.inventory.sbom import to_spdx

        return to_spdx(result)
    from vigil.output.tables import inventory_table

    return inventory_table(result)
