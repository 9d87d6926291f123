"""`vigil inventory`: what is installed on a host, a directory tree, VM disk images, or an SBOM."""

from __future__ import annotations

import enum
import json
from typing import TYPE_CHECKING, Annotated

import typer

from vigil.cli.app import EXIT_FAILURE, TargetsArgument, fail
from vigil.cli.collecting import (
    DEFAULT_MAX_PACKAGES,
    DEFAULT_TIME_LIMIT,
    BackingDirOption,
    MaxPackagesOption,
    OsOnlyOption,
    OutputOption,
    PathOption,
    ScopeOption,
    TimeLimitOption,
    collect,
    write_output,
)

if TYPE_CHECKING:
    from vigil.inventory.model import Inventory


_SBOM_LIBRARIES = frozenset({"cyclonedx", "spdx_tools", "py_serializable", "license_expression"})


class InventoryFormat(enum.StrEnum):
    table = "table"
    json = "json"
    cyclonedx = "cyclonedx"
    spdx = "spdx"


def inventory(
    targets: TargetsArgument,
    os_only: OsOnlyOption = False,
    scope: ScopeOption = None,
    path: PathOption = None,
    output_format: Annotated[
        InventoryFormat, typer.Option("--format", help="Output format.")
    ] = InventoryFormat.table,
    cyclonedx_version: Annotated[str, typer.Option(help="CycloneDX spec version: 1.6 or 1.4.")] = "1.6",
    output: OutputOption = None,
    max_packages: MaxPackagesOption = DEFAULT_MAX_PACKAGES,
    time_limit: TimeLimitOption = DEFAULT_TIME_LIMIT,
    allow_backing_dir: BackingDirOption = None,
) -> None:
    """What is installed on a host, a directory tree, a VM disk image, or what an SBOM lists."""
    result = collect(
        targets,
        os_only=os_only,
        scope=scope,
        paths=path,
        max_packages=max_packages,
        time_limit=time_limit,
        backing_dirs=allow_backing_dir,
        verb="inventory",
    )
    try:
        text = _render(result, output_format, cyclonedx_version)
    except ModuleNotFoundError as exc:
        if exc.name not in _SBOM_LIBRARIES:
            raise
        fail(
            f"writing {output_format.value} needs Vigil's SBOM writers: pip install 'vigil[sbom]'",
            EXIT_FAILURE,
        )
    write_output(text, output)


def _render(result: Inventory, output_format: InventoryFormat, cyclonedx_version: str) -> str:
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
