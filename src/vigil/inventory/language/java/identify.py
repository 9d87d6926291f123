"""Which Maven artifact an archive is: `pom.properties`, else `MANIFEST.MF`, else the file name.

The manifest rules follow osv-scalibr's (extractor/filesystem/language/java/archive/manifest.go,
Apache-2.0): the first valid group id among Bundle-SymbolicName, Extension-Name, Specification-Vendor,
Implementation-Vendor, Implementation-Vendor-Id, Implementation-Title (its first dotted word),
Bundle-Activator, Automatic-Module-Name, Main-Class, Package; the artifact id from the bundle plugin's
symbolic name, then Name, Implementation-Title, Specification-Title, Bundle-Name, Short-Name,
Extension-Name; the version from Implementation-Version, Specification-Version, Plugin-Version,
Bundle-Version. osv-scalibr's table of known group ids for some artifacts is not copied.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_GROUP_KEYS = (
    "Bundle-SymbolicName",
    "Extension-Name",
    "Specification-Vendor",
    "Implementation-Vendor",
    "Implementation-Vendor-Id",
    "Implementation-Title",
    "Bundle-Activator",
    "Automatic-Module-Name",
    "Main-Class",
    "Package",
)
_ARTIFACT_KEYS = (
    "Name",
    "Implementation-Title",
    "Specification-Title",
    "Bundle-Name",
    "Short-Name",
    "Extension-Name",
)
_VERSION_KEYS = ("Implementation-Version", "Specification-Version", "Plugin-Version", "Bundle-Version")
_PROPERTY = re.compile(r"([^#!=:\s][^=:\s]*)\s*[=:]\s*(.*)$")
_DOTTED_WORD = re.compile(r"[a-zA-Z0-9\-_.]+")
_FILE_NAME = re.compile(
    r"^(?P<artifact>.+?)-(?P<version>\d[\w.\-+]*?)(?:\.(?:jar|war|ear|par))?$", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class Coordinates:
    group: str
    artifact: str
    version: str
    source: str  # "pom.properties", "MANIFEST.MF" or "file name"


def parse_properties(text: str) -> dict[str, str]:
    """Java properties as Maven writes them: `key=value` lines, `#` comments."""
    values = {}
    for line in text.splitlines():
        match = _PROPERTY.match(line.strip())
        if match:
            values[match.group(1)] = match.group(2).strip()
    return values


def from_pom_properties(text: str) -> Coordinates | None:
    """None when a field is missing (osv-scalibr ignores such files too)."""
    values = parse_properties(text)
    group, artifact, version = values.get("groupId"), values.get("artifactId"), values.get("version")
    if not (group and artifact and version):
        return None
    return Coordinates(group, artifact, version, "pom.properties")


def parse_manifest(text: str) -> dict[str, str]:
    """The main section of a manifest: `Name: value` headers, continuation lines start with one space."""
    headers: dict[str, str] = {}
    last = None
    for line in text.splitlines():
        if not line.strip():
            break  # the main section ends at the first blank line; per-entry sections follow
        if line.startswith(" ") and last is not None:
            headers[last] += line[1:]
            continue
        key, sep, value = line.partition(":")
        if sep:
            last = key.strip()
            headers.setdefault(last, value.strip())
    return headers


def _valid_group(value: str) -> bool:
    return bool(value) and " " not in value


def _valid_artifact(value: str) -> bool:
    return bool(value) and " " not in value and not value.startswith(("$", "%"))


def from_manifest(text: str) -> Coordinates | None:
    headers = parse_manifest(text)
    group = ""
    for key in _GROUP_KEYS:
        value = headers.get(key, "")
        if key == "Implementation-Title":
            match = _DOTTED_WORD.search(value)
            value = match.group(0) if match else ""
        if _valid_group(value):
            group = value.lower().split(";", 1)[0]
            break
    artifact = ""
    symbolic = headers.get("Bundle-SymbolicName", "")
    if headers.get("Created-By") == "Apache Maven Bundle Plugin" and symbolic:
        last = symbolic.split(";", 1)[0].split(".")[-1]
        artifact = last if _valid_artifact(last) else ""
    if not artifact:
        artifact = next((headers[k] for k in _ARTIFACT_KEYS if _valid_artifact(headers.get(k, ""))), "")
    version = next((headers[k] for k in _VERSION_KEYS if headers.get(k)), "")
    if not (group and artifact and version):
        return None
    return Coordinates(group, artifact, version, "MANIFEST.MF")


def from_file_name(name: str) -> Coordinates | None:
    """`commons-io-2.11.0.jar` → commons-io 2.11.0; a dotted name's group is all but its last word."""
    match = _FILE_NAME.match(name)
    if match is None:
        return None
    artifact, version = match.group("artifact"), match.group("version")
    group = artifact.rsplit(".", 1)[0] if "." in artifact else artifact
    return Coordinates(group, artifact, version, "file name")
