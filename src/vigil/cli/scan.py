"""`vigil scan`: inventory a target and match it against the advisory database."""

from __future__ import annotations

import datetime as dt
import enum
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from vigil.cli.app import TargetsArgument, fail
from vigil.inventory.collect import Limits

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
    os_only: Annotated[bool, typer.Option("--os-only", help="OS packages only.")] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Find the known vulnerabilities of a host, a directory tree or a VM disk image."""
    from vigil.cli.db import open_readonly
    from vigil.enums import Severity as Rated
    from vigil.findings import evaluate
    from vigil.fs import FSError
    from vigil.inventory.targets import take_inventory
    from vigil.output.progress import progress_reporter

    store = open_readonly(db)
    try:
        with progress_reporter(enabled=sys.stderr.isatty()) as progress:
            inventory = take_inventory(targets, os_only=os_only, limits=Limits(), progress=progress)
    except (FSError, ValueError) as exc:
        fail(f"cannot scan {' '.join(targets)}: {exc}")
    if inventory.os is None and not inventory.packages:
        fail(f"cannot scan {' '.join(targets)}: no OS found (no os-release or other release file)")
    with store:
        evaluation = evaluate(inventory, store, now=dt.datetime.now(dt.UTC))
    if output_format is ScanFormat.json:
        text = json.dumps({"findings": [f.to_json() for f in evaluation.findings]}, indent=2) + "\n"
    elif output_format is ScanFormat.sarif:
        from vigil.output.sarif import to_sarif

        text = to_sarif(evaluation) + "\n"
    else:
        from vigil.output.tables import scan_table

        text = scan_table(inventory, evaluation)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
    if fail_on is not None and any(f.severity.rank >= Rated(fail_on).rank for f in evaluation.findings):
        raise typer.Exit(EXIT_FINDINGS)
