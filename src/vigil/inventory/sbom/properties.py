"""How Vigil's own SBOMs carry what a purl cannot: one `vigil:` property per inventory field.

CycloneDX has properties; SPDX 2.3 has none, so the same (name, value) pairs travel as package and
document annotations there (`vigil:owner: python3-six`), as Trivy does with its own. Reading them back
gives the inventory the SBOM was made from, so scanning the SBOM gives exactly the findings of the tree.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from vigil.enums import PackageManager
from vigil.inventory.model import KernelInfo, OSInfo, Package, Target, TargetKind

PREFIX = "vigil:"
_PACKAGE_FIELDS = (
    "package_manager",
    "extractor",
    "epoch",
    "release",
    "arch",
    "source_name",
    "source_version",
)
_LISTS = {"locations": "location", "notes": "note"}

_COLLECTED_KINDS: dict[str, TargetKind] = {"host": "host", "directory": "directory", "image": "image"}


def _numbered(prefix: str, values: Iterable[str]) -> list[tuple[str, str]]:
    return [(f"{prefix}:{i}", value) for i, value in enumerate(values)]


def _listed(props: Mapping[str, str], prefix: str) -> tuple[str, ...]:
    numbered = sorted(
        (int(k.rsplit(":", 1)[1]), v)
        for k, v in props.items()
        if k.startswith(prefix + ":") and k.rsplit(":", 1)[1].isdigit()
    )
    return tuple(v for _, v in numbered)


def package_properties(package: Package) -> list[tuple[str, str]]:
    props = [
        (f"{PREFIX}{name}", str(getattr(package, name)))
        for name in _PACKAGE_FIELDS
        if getattr(package, name) is not None
    ]
    if package.owner:
        props.append((f"{PREFIX}owner", package.owner))
    for field, singular in _LISTS.items():
        props += _numbered(f"{PREFIX}{singular}", getattr(package, field))
    return props


def read_package_properties(props: Mapping[str, str]) -> dict[str, Any]:
    """The inventory fields a Vigil SBOM carried for one package (empty for another tool's SBOM)."""
    fields: dict[str, Any] = {}
    for name in _PACKAGE_FIELDS:
        value = props.get(f"{PREFIX}{name}")
        if value is not None:
            fields[name] = value
    if "epoch" in fields:
        fields["epoch"] = int(fields["epoch"])
    if "package_manager" in fields:
        fields["package_manager"] = PackageManager(fields["package_manager"])
    if f"{PREFIX}owner" in props:
        fields["owner"] = props[f"{PREFIX}owner"]
    for field, singular in _LISTS.items():
        values = _listed(props, f"{PREFIX}{singular}")
        if values:
            fields[field] = values
    return fields


def os_properties(os: OSInfo) -> list[tuple[str, str]]:
    return [(f"{PREFIX}os:{k}", _text(v)) for k, v in os.to_json().items()]


def kernel_properties(kernel: KernelInfo) -> list[tuple[str, str]]:
    props = [
        (f"{PREFIX}kernel:{name}", value)
        for name in ("running", "default", "package", "source")
        if (value := getattr(kernel, name))
    ]
    return props + _numbered(f"{PREFIX}kernel:installed", kernel.installed)


def target_properties(target: Target, scope: str) -> list[tuple[str, str]]:
    props = [(f"{PREFIX}target:kind", target.kind), (f"{PREFIX}scope", scope)]
    if target.hostname:
        props.append((f"{PREFIX}target:hostname", target.hostname))
    return props + _numbered(f"{PREFIX}target:path", target.paths)


def read_os(props: Mapping[str, str]) -> OSInfo | None:
    values = {k.removeprefix(f"{PREFIX}os:"): v for k, v in props.items() if k.startswith(f"{PREFIX}os:")}
    if "id" not in values or "family" not in values:
        return None
    known = {f.name for f in dataclasses.fields(OSInfo)}
    fields: dict[str, Any] = {k: v for k, v in values.items() if k in known}
    if "eol" in fields:
        fields["eol"] = fields["eol"] == "true"
    return OSInfo(**fields)


def read_kernel(props: Mapping[str, str]) -> KernelInfo | None:
    prefix = f"{PREFIX}kernel:"
    if not any(k.startswith(prefix) for k in props):
        return None
    return KernelInfo(
        running=props.get(f"{prefix}running"),
        default=props.get(f"{prefix}default"),
        package=props.get(f"{prefix}package"),
        installed=_listed(props, f"{prefix}installed"),
        source=props.get(f"{prefix}source", ""),
    )


def read_target(
    props: Mapping[str, str],
) -> tuple[TargetKind | None, tuple[str, ...], str | None, str | None]:
    """(kind, paths, hostname, scope) of the target a Vigil SBOM describes; kind None when not Vigil's."""
    return (
        _COLLECTED_KINDS.get(props.get(f"{PREFIX}target:kind", "")),
        _listed(props, f"{PREFIX}target:path"),
        props.get(f"{PREFIX}target:hostname"),
        props.get(f"{PREFIX}scope"),
    )


def _text(value: object) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)
