"""`vigil scan`: inventory a target (or read an Inventory JSON or SBOM) and match it against advisories."""

from __future__ import annotations

import datetime as dt
import enum
import json
from pathlib import Path
from typing import Annotated

import typer

from vigil.cli.app import TargetsArgument
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
    warn_incomplete,
    warn_uncovered,
    write_output,
)

EXIT_FINDINGS = 1


class ScanFormat(enum.StrEnum):
    table = "table"
    json = "json"
    sarif = "sarif"


class Severity(enum.StrEnum):
    INFORMATIONAL = "INFORMATIONAL"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


def scan(
    targets: TargetsArgument,
    db: Annotated[
        Path | None,
        typer.Option("--db", help="Advisory database (default: $VIGIL_DB or ~/.local/share/vigil)."),
    ] = None,
    output_format: Annotated[ScanFormat, typer.Option("--format", help="Output format.")] = ScanFormat.table,
    fail_on: Annotated[
        Severity | None,
        typer.Option(
            "--fail-on", case_sensitive=False, help="Exit 1 when a finding is at least this severe."
        ),
    ] = None,
    os_only: OsOnlyOption = False,
    scope: ScopeOption = None,
    path: PathOption = None,
    max_packages: MaxPackagesOption = DEFAULT_MAX_PACKAGES,
    time_limit: TimeLimitOption = DEFAULT_TIME_LIMIT,
    allow_backing_dir: BackingDirOption = None,
    output: OutputOption = None,
) -> None:
    """The known vulnerabilities of a host, a directory tree, a VM disk image, an Inventory or an SBOM."""
    from vigil.cli.db import open_readonly
    from vigil.enums import Severity as Rated
    from vigil.findings import evaluate

    store = open_readonly(db)
    inventory = collect(
        targets,
        os_only=os_only,
        scope=scope,
        paths=path,
        max_packages=max_packages,
        time_limit=time_limit,
        backing_dirs=allow_backing_dir,
        verb="scan",
    )
    warn_incomplete(inventory)
    with store:
        warn_uncovered(inventory, store)
        evaluation = evaluate(inventory, store, now=dt.datetime.now(dt.UTC))
    if output_format is ScanFormat.json:
        text = json.dumps({"findings": [f.to_json() for f in evaluation.findings]}, indent=2) + "\n"
    elif output_format is ScanFormat.sarif:
        from vigil.output.sarif import to_sarif

        text = to_sarif(evaluation) + "\n"
    else:
        from vigil.output.tables import scan_table

        text = scan_table(inventory, evaluation)
    write_output(text, output)
    if fail_on is not None and any(f.severity.rank >= Rated(fail_on).rank for f in evaluation.findings):
        raise typer.Exit(EXIT_FINDINGS)
