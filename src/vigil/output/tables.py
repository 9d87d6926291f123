"""Readable terminal output.

Everything printed here comes from untrusted input (a package database in a disk image, an advisory
feed), so every piece of text passes through `vigil.output.text.safe`: control characters would otherwise
reach the terminal as escape sequences (colours, cursor moves, window titles, hidden text).
"""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vigil.enums import Severity
from vigil.findings.evaluate import Evaluation
from vigil.findings.model import Finding, VulnerablePackage
from vigil.inventory.model import Inventory
from vigil.output.text import safe


def _safe(value: object) -> str:
    """A value for rich markup: printable, and with its `[` taken literally."""
    return escape(safe(str(value)))


def _console(buffer: io.StringIO) -> Console:
    return Console(file=buffer, width=140, highlight=False, soft_wrap=False, emoji=False)


_CAPS = (48, 36, 18, 28, 0)  # the last column is never cut


def _aligned(cells: tuple[str, ...], widths: list[int]) -> str:
    """One line of left-aligned columns; a cell longer than its column pushes the rest right.

    Plain text rather than a rich Table: rich lays out 800 rows in 0.45 s, more than the OS inventory of a
    host itself costs.
    """
    return "  ".join(
        c.ljust(w) if i < len(cells) - 1 else c for i, (c, w) in enumerate(zip(cells, widths, strict=True))
    ).rstrip()


def inventory_table(inventory: Inventory) -> str:
    buffer = io.StringIO()
    console = _console(buffer)
    target = inventory.target
    console.print(
        f"[bold]Target[/]: {_safe(target.kind)} {_safe(target.hostname or ', '.join(target.paths))}"
    )
    for volume in target.volumes:
        where = f" mounted at {volume.mountpoint}" if volume.mountpoint else ""
        size = f"{volume.size / 2**20:,.0f} MiB"
        console.print(f"  volume {_safe(volume.name)}: {_safe(volume.content)}, {size}{_safe(where)}")
    os_info = inventory.os
    if os_info:
        eol = ""
        if os_info.eol_date:
            eol = f" (end of life {os_info.eol_date}{', PAST' if os_info.eol else ''})"
        console.print(f"[bold]OS[/]: {_safe(f'{os_info.name or os_info.id} [{os_info.family}]{eol}')}")
    kernel = inventory.kernel
    if kernel:
        release = kernel.running or kernel.default
        how = "running" if kernel.running else f"default per {kernel.source}"
        installed = ", ".join(kernel.installed) or "none found"
        detail = f"{release} ({how}; package {kernel.package or 'unknown'}; installed: {installed})"
        console.print(f"[bold]Kernel[/]: {_safe(detail)}")
    rows = []
    for p in inventory.packages:
        version = p.version if p.release is None else f"{p.version}-{p.release}"
        if p.epoch and p.type == "rpm":
            version = f"{p.epoch}:{version}"
        source = p.source_name if p.source_name and p.source_name != p.name else ""
        where = f"{p.locations[0] if p.locations else ''}" + (f" (owned by {p.owner})" if p.owner else "")
        cells = (p.name, version, f"{p.type}/{p.package_manager}", source, where)
        rows.append(tuple(safe(c) for c in cells))
    header = ("Package", "Version", "Type", "Source", "Found in")
    widths = [
        min(max([len(h), *(len(r[i]) for r in rows)]), cap)
        for i, (h, cap) in enumerate(zip(header, _CAPS, strict=True))
    ]
    console.print(f"[bold]{escape(_aligned(header, widths))}[/]")
    buffer.write("".join(_aligned(row, widths) + "\n" for row in rows))
    stats = inventory.stats
    console.print(
        f"{len(inventory.packages)} packages; {stats.files_seen:,} files seen, "
        f"{stats.bytes_read / 2**20:,.1f} MiB read in {stats.duration_s:.2f} s"
        + ("" if stats.walked else " (no walk: exact paths only)")
    )
    for run in inventory.extractors:
        for error in run.errors:
            console.print(f"[yellow]warning[/]: {_safe(f'{run.name}: {error.path}: {error.error}')}")
    for limit in inventory.limits_hit:
        console.print(f"[yellow]limit reached[/]: {_safe(limit.detail)}")
    for problem in target.problems:
        console.print(f"[yellow]problem[/]: {_safe(problem)}")
    return buffer.getvalue()


def db_status_table(doc: dict[str, object]) -> str:
    """`vigil db status` for a terminal."""
    buffer = io.StringIO()
    console = _console(buffer)
    counts = doc["counts"]
    assert isinstance(counts, dict)
    console.print(
        f"[bold]Advisory database[/] {_safe(doc['path'])}: version {_safe(doc['version'])}, "
        f"{int(str(doc['size_bytes'])) / 2**20:,.1f} MiB; "
        + ", ".join(f"{n:,} {_safe(k)}" for k, n in counts.items())
    )
    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    for column in ("Source", "Records", "Errors", "Updated", "Licence", "URL"):
        table.add_column(column, overflow="fold")
    sources = doc["sources"]
    assert isinstance(sources, list)
    for s in sources:
        table.add_row(
            *(_safe(s.get(k) or "") for k in ("name", "records", "errors", "updated_at", "licence", "url"))
        )
    console.print(table)
    releases = doc.get("releases") or []
    assert isinstance(releases, list)
    uncovered = [r for r in releases if not r["covered"]]
    if releases:
        covered = [r for r in releases if r["covered"]]
        console.print(
            f"[bold]Supported OS releases[/]: {len(covered)} of {len(releases)} covered by advisories"
            + (
                f"; [magenta]no advisory data[/] for {', '.join(_safe(r['name']) for r in uncovered)}"
                if uncovered
                else ""
            )
        )
    return buffer.getvalue()


def feeds_table(feeds: list[dict[str, Any]]) -> str:
    """`vigil db feeds` for a terminal."""
    buffer = io.StringIO()
    console = _console(buffer)
    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    for column in ("Feed", "Importer", "Covers", "Licence", "URL"):
        table.add_column(column, overflow="fold")
    for feed in feeds:
        table.add_row(
            _safe(feed["name"]), _safe(feed["importer"]), _safe(", ".join(feed["covers"]) or "—"),
            _safe(feed["licence"]), _safe(feed["url"]),
        )  # fmt: skip
    console.print(table)
    return buffer.getvalue()


_STYLE = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFORMATIONAL: "dim",
    Severity.UNTRIAGED: "magenta",
}


def scan_table(inventory: Inventory, evaluation: Evaluation) -> str:
    """`vigil scan` for a terminal: the worst first, one line per (vulnerability, package)."""
    buffer = io.StringIO()
    console = _console(buffer)
    target = inventory.target
    os_name = inventory.os.name or inventory.os.id if inventory.os else "unknown OS"
    console.print(f"[bold]{_safe(target.hostname or ', '.join(target.paths))}[/] ({_safe(os_name)})")
    with_packages = [f for f in evaluation.findings if f.details.vulnerable_packages]
    for finding in evaluation.findings:
        if not finding.details.vulnerable_packages:  # the OS itself: past its end of life
            severity = f"[{_STYLE[finding.severity]}]{finding.severity}[/]"
            console.print(f"{severity} {_safe(finding.title)}: no more security updates")
    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    for column in ("Severity", "Vulnerability", "Package", "Installed", "Fixed in", "EPSS", "Exploited"):
        table.add_column(column, overflow="fold")
    rows = sorted(
        ((f, p) for f in with_packages for p in f.details.vulnerable_packages),
        key=lambda row: (-row[0].severity.rank, row[0].vulnerability_id, row[1].name),
    )
    for finding, package in rows:
        table.add_row(*_row(finding, package))
    console.print(table)
    counts: dict[Severity, int] = {}
    for finding in with_packages:
        counts[finding.severity] = counts.get(finding.severity, 0) + 1
    ranked = sorted(counts, key=lambda s: s.rank, reverse=True)
    summary = ", ".join(f"{counts[s]} {s.value.lower()}" for s in ranked) or "none"
    affected = {p.purl for f in with_packages for p in f.details.vulnerable_packages}
    matched = evaluation.packages_matched
    console.print(
        f"{len(with_packages)} vulnerabilities ({summary}) in {len(affected)} of {matched} packages"
    )
    for skipped in evaluation.skipped:
        if "kernel" in skipped.reason:
            console.print(
                f"[dim]not matched: {_safe(f'{skipped.name} {skipped.version}: {skipped.reason}')}[/]"
            )
    return buffer.getvalue()


def _row(finding: Finding, package: VulnerablePackage) -> tuple[str, ...]:
    fixed = package.fixed_in_version or package.status.value.replace("_", " ")
    exploited = finding.exploited_since.date().isoformat() if finding.exploited_since else ""
    return (
        f"[{_STYLE[finding.severity]}]{finding.severity}[/]",
        _safe(finding.vulnerability_id),
        _safe(package.name),
        _safe(package.installed),
        _safe(fixed),
        f"{finding.epss:.3f}" if finding.epss is not None else "",
        exploited,
    )
