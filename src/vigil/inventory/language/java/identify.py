"""Which Maven artifact an archive is: `pom.properties`, else `MANIFEST.MF`, else the file name.

The manifest rules follow osv-scalibr's (extractor/filesystem/language/java/archive/manifest.go,
Apache-2.0): the first valid group id among Bundle-SymbolicName, Extension-Name, Specification-Vendor,
Implementation-Vendor, Implementation-Vendor-Id, Implementation-Title (its first domain-like word),
Bundle-Activator, Automatic-Module-Name, Main-Class, Package; the artifact id from the bundle plugin's
symbolic name, then Name, Implementation-Title, Specification-Title, Bundle-Name, Short-Name,
Extension-Name; the version from Implementation-Version, Specification-Version, Plugin-Version,
Bundle-Version. Where Vigil differs: an id must be one Maven accepts (`org.elasticsearch#server;8.14.3` is
no artifact id); a title gives a group only if it is domain-like (`Apache Axis` gives none, not `apache`);
a version is its first word (`1.4 1855 April 22 2006` is 1.4); a group named by anything but
Implementation-Vendor-Id (maven-archiver's groupId) loses the artifact it ends in, being a symbolic or
module name (`org.tukaani.xz` is org.tukaani's xz); and a manifest naming a group but no artifact or
version still gives the file name its group, as osv-scalibr does for a complete one. osv-scalibr's table
of known group ids is not copied: only the Spring projects are known, built with Gradle and so without
`pom.properties`, and among the Java libraries with the most advisories.
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
_DOMAIN_LIKE = re.compile(r"[a-zA-Z0-9\-_]+(?:\.[a-zA-Z0-9\-_]+)+")  # a domain-like word: org.elasticsearch
_MAVEN_ID = re.compile(r"[A-Za-z0-9_\-.]+")  # Maven's own rule for a group or artifact id
_FILE_NAME = re.compile(
    r"^(?P<artifact>.+?)-(?P<version>\d[\w.\-+]*?)(?:\.(?:jar|war|ear|par))?$", re.IGNORECASE
)
_ARCHIVE_EXTENSION = re.compile(r"\.(?:jar|war|ear|par)$", re.IGNORECASE)

_SPRING_GROUPS = {
    "org.springframework": (
        "aop aspects beans context context-indexer context-support core expression instrument jcl jdbc "
        "jms messaging orm oxm r2dbc test tx web webflux webmvc websocket"
    ),
    "org.springframework.boot": (
        "boot boot-actuator boot-actuator-autoconfigure boot-autoconfigure boot-devtools boot-loader "
        "boot-test boot-test-autoconfigure"
    ),
    "org.springframework.security": (
        "security-acl security-aspects security-cas security-config security-core security-crypto "
        "security-ldap security-messaging security-oauth2-client security-oauth2-core "
        "security-oauth2-jose security-oauth2-resource-server security-rsocket "
        "security-saml2-service-provider security-taglibs security-test security-web"
    ),
}
KNOWN_GROUPS = {f"spring-{name}": group for group, names in _SPRING_GROUPS.items() for name in names.split()}


@dataclass(frozen=True, slots=True)
class Coordinates:
    group: str
    artifact: str
    version: str
    source: str  # "pom.properties", "MANIFEST.MF" or "file name"


@dataclass(frozen=True, slots=True)
class Described:
    """What a manifest says, each field empty when it does not say it.

    `named_group` is exact when it is the Maven group (Implementation-Vendor-Id, which maven-archiver
    writes from the groupId) and otherwise a name that may carry the artifact as well: OSGi symbolic
    names and Java module names are often `group.artifact`.
    """

    named_group: str
    artifact: str
    version: str
    exact: bool = False

    def group_for(self, artifact: str) -> str:
        """The group of `artifact` (this manifest's or the file name's) as far as this manifest tells."""
        known = KNOWN_GROUPS.get(artifact)
        if known or self.exact or not self.named_group:
            return known or self.named_group
        return _without_artifact(self.named_group, artifact)

    def coordinates(self) -> Coordinates | None:
        group = self.group_for(self.artifact) if self.artifact else ""
        if not (group and self.artifact and self.version):
            return None
        return Coordinates(group, self.artifact, self.version, "MANIFEST.MF")


def _without_artifact(named: str, artifact: str) -> str:
    """org.tukaani.xz → org.tukaani for xz; com.typesafe.config → com.typesafe for config; the artifact's
    last word only when the name holds no more of it (org.apiguardian.api for apiguardian-api)."""
    words = re.split(r"[-.]", artifact)
    for tail in (artifact.lower(), ".".join(words).lower(), words[-1].lower()):
        if named.endswith("." + tail) and named.count(".") > tail.count(".") + 1:
            return named[: -len(tail) - 1]
    return named


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


def _valid_id(value: str) -> bool:
    return _MAVEN_ID.fullmatch(value) is not None


def describe_manifest(text: str) -> Described:
    headers = parse_manifest(text)
    artifact = ""
    symbolic = headers.get("Bundle-SymbolicName", "")
    if headers.get("Created-By") == "Apache Maven Bundle Plugin" and symbolic:
        last = symbolic.split(";", 1)[0].split(".")[-1]
        artifact = last if _valid_id(last) else ""
    if not artifact:
        artifact = next((headers[k] for k in _ARTIFACT_KEYS if _valid_id(headers.get(k, ""))), "")
    group, exact = "", False
    for key in _GROUP_KEYS:
        value = headers.get(key, "")
        if key == "Implementation-Title":
            match = _DOMAIN_LIKE.search(value)
            value = match.group(0) if match else ""
        value = value.split(";", 1)[0].strip().lower()
        if _valid_id(value):
            group, exact = value, key == "Implementation-Vendor-Id"
            break
    version = next((headers[k] for k in _VERSION_KEYS if headers.get(k, "").strip()), "")
    return Described(group, artifact, version.split()[0] if version else "", exact)


def from_file_name(name: str, manifest: Described | None = None) -> Coordinates | None:
    """`commons-io-2.11.0.jar` → commons-io 2.11.0, in the group the manifest names if it names one."""
    match = _FILE_NAME.match(name)
    if match is None:
        return None
    artifact, version = match.group("artifact"), match.group("version")
    group = manifest.group_for(artifact) if manifest is not None and "." not in artifact else ""
    if not group or group == artifact.lower():
        group = KNOWN_GROUPS.get(artifact) or artifact.rsplit(".", 1)[0]  # a dotted name is `group.artifact`
    return Coordinates(group, artifact, version, "file name")


def name_stem(name: str) -> str:
    """The artifact a file name suggests: `guice-4.2.3.jar` and `guice.jar` → guice."""
    match = _FILE_NAME.match(name)
    return match.group("artifact") if match else _ARCHIVE_EXTENSION.sub("", name)
