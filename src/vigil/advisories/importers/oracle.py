"""Oracle Linux security advisories (ELSA) from Oracle's OVAL definitions.

Oracle publishes every ELSA as an OVAL definition under https://linux.oracle.com/security/oval/:
`com.oracle.elsa-olN.xml.bz2` (one release), `com.oracle.elsa-YYYY.xml.bz2` (one year),
`com.oracle.elsa-all.xml.bz2` (everything) and `com.oracle.elsa-YYYYNNNN.xml` (one ELSA). A definition's
criteria tree says where each fix applies, in criteria whose comments are Oracle's rendering of each test:

    Oracle Linux 8 is installed                       → the namespace, `ol:8`
    Oracle Linux arch is aarch64                      → the host architecture of the branch below it
    Module nodejs:18 is enabled                       → a module stream (its fixes are alternatives)
    openssl is earlier than 2:1.1.1g-15.ksplice1.el8_3 → a binary rpm and its fixed epoch:version-release
    openssl is signed with the Oracle Linux 8 key     → (not a version fact)
    openssl is ksplice-based / openssl is fips patched → the fix is for that build flavour only

The comments are read, as vunnel, Trivy (vuln-list-update) and Vuls (goval-dictionary) read them: the
rpminfo tests, objects and states they summarise come after every definition in the document, so
following `test_ref`s would need all of them in memory, or a second pass, over hundreds of megabytes.
A comment Vigil does not know, or a negated test, makes the definition unreadable (a RecordError) rather
than a fact silently dropped.

What is stored, one `Advisory` per ELSA (aliases: its CVEs), one `AffectedPackage` per binary rpm and
release: the fix is the highest "earlier than" of the package's branches (OVAL ORs them: below any of
them is affected). `arch` is set only where the definition restricts it: a package listed for some of
the definition's architectures only, or fixed at different builds per architecture (ELSA-2022-4803's
rsyslog was respun for aarch64); otherwise the entry is arch-less, so a noarch package matches it. Oracle's
ksplice userspace builds (`…ksplice1.el8_3`, epoch one above the normal build's) and FIPS builds
(`…el9_7_fips`, epoch 10) carry `channel` `ksplice` / `fips`: they fix those builds only, and compared
with a normal build they would flag every normal openssl or gnutls forever (Trivy keeps them apart the
same way; vunnel drops them). UEK ELSAs fix `kernel-uek*` (a name of its own: no channel) and also
`perf` and `python-perf` built from the UEK source (`4.14.35-1902.6.6.el7uek`), which share their name
with the Red Hat compatible kernel's `perf` (`3.10.0-…el7`): those carry channel `uek`, or every RHCK
`perf` would be flagged by every UEK ELSA. The matcher ignores channels it does not know, so these stay
out of normal-build matching; `build_channel` is the other half of the rule.

The document is parsed by `defusedxml` (no DTD, no entities, no external references, whatever the
encoding) as a stream: each definition is dropped once read, the parse stops at `</definitions>`, and the
inflated bytes of a bzip2 file are bounded.

Licence: Oracle states none for the OVAL data; each definition says `Copyright <year> Oracle, Inc.`
"""

from __future__ import annotations

import bz2
import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, ClassVar
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeElementTree
from defusedxml import DefusedXmlException

from vigil.advisories.files import open_regular
from vigil.advisories.importer import MAX_ARCHIVE_BYTES, MAX_RECORD_BYTES, RecordError, SourceFormatError
from vigil.advisories.importers.osv import source_files
from vigil.advisories.model import Advisory, AffectedPackage, Status
from vigil.advisories.namespaces import oracle_build_channel as build_channel
from vigil.enums import Ecosystem
from vigil.versions import compare

DEFAULT_URL = "https://linux.oracle.com/security/oval"
LICENCE = "Oracle ELSA OVAL data, Copyright Oracle, Inc. (no licence stated)"
RELEASES = ("7", "8", "9", "10")

_SUFFIXES = (".xml", ".xml.bz2")
_CHUNK = 1 << 16
_HEAD_BYTES = 1 << 13
_MAX_CRITERIA_DEPTH = 32  # Oracle nests five levels deep; a deeper tree is hostile
_HEAD_MARKERS = (b"oval:com.oracle.elsa:", b"Oracle Errata System")
_ECOSYSTEM = Ecosystem.ORACLE_LINUX.value

_ELSA_ID = re.compile(r"^ELSA-\d{4}-\d+(?:-\d+)?$")
_CVE = re.compile(r"^CVE-\d{4}-\d+$")
_DATE = re.compile(r"^\d{4}-\d\d-\d\d$")
_INSTALLED = re.compile(r"^Oracle Linux (\d+)\b.* is installed$")
_ARCH = re.compile(r"^Oracle Linux arch is (\S+)$")
_MODULE = re.compile(r"^Module (\S+) is enabled$")
_EARLIER = re.compile(r"^(\S+) is earlier than (\S+)$")
_FLAVOUR = re.compile(r"^\S+ is (ksplice-based|fips patched)$")
_SIGNED = re.compile(r"^\S+ is signed with the .+ key$")
_EVR = re.compile(r"^(?:(\d+):)?([^\s:-]+)-([^\s:-]+)$")
_FLAVOURS = {"ksplice-based": "ksplice", "fips patched": "fips"}


def release_url(release: str) -> str:
    """The consolidated definitions of one Oracle Linux release (`8` → …/com.oracle.elsa-ol8.xml.bz2)."""
    return f"{DEFAULT_URL}/com.oracle.elsa-ol{release}.xml.bz2"


class OracleOvalImporter:
    """Oracle's ELSA OVAL files (plain or bzip2), or a directory holding them."""

    name: ClassVar[str] = "oracle-oval"
    licence: ClassVar[str] = LICENCE

    def __init__(self, *, max_bytes: int = MAX_ARCHIVE_BYTES, max_definition_bytes: int = MAX_RECORD_BYTES):
        self.max_bytes = max_bytes
        self.max_definition_bytes = max_definition_bytes

    def recognises(self, path: Path) -> bool:
        if path.is_dir():
            files = zip(range(50), source_files(path, _SUFFIXES), strict=False)
            return any(_is_oracle(file) for _, file in files)
        return _is_oracle(path)

    def read(self, path: Path, errors: list[RecordError]) -> Iterator[Advisory]:
        """The ELSAs in `path`; a definition that cannot be read goes to `errors` and reading goes on."""
        if not path.is_dir():
            yield from self._read_file(path, errors)
            return
        for file in source_files(path, _SUFFIXES):
            if _is_oracle(file):
                try:
                    yield from self._read_file(file, errors)
                except SourceFormatError as exc:
                    errors.append(RecordError(str(file), str(exc)))

    def _read_file(self, path: Path, errors: list[RecordError]) -> Iterator[Advisory]:
        try:
            raw = open_regular(path)
        except OSError as exc:
            raise SourceFormatError(f"{path}: {exc.strerror or exc}") from None
        with raw:
            stream = _BoundedReader(raw, path, self.max_bytes, self.max_definition_bytes)
            for where, definition in _definitions(stream, path):
                try:
                    yield _advisory(definition)
                except (ValueError, TypeError) as exc:
                    errors.append(RecordError(where, f"malformed ELSA definition: {exc}"))


def _is_oracle(path: Path) -> bool:
    """An Oracle OVAL file, by its published name or by what its first bytes say."""
    if not path.is_file():
        return False
    if path.name.startswith("com.oracle.elsa-"):
        return True  # named as Oracle names them: a damaged one is reported, not passed to another importer
    try:
        with open_regular(path) as raw:
            start = _BoundedReader(raw, path, _HEAD_BYTES, _HEAD_BYTES).read(_HEAD_BYTES)
    except (OSError, SourceFormatError):
        return False
    return any(marker in start for marker in _HEAD_MARKERS)


class _BoundedReader:
    """The file's content (bunzipped when it is bzip2) for the parser, with two bounds on what it reads.

    `limit` bounds the whole document; `stretch` bounds what is read between two `mark()`s, which the
    parse sets at each start and end of an element of the document's top three levels: so neither one
    definition (its tree is kept until it ends) nor what lies between two can fill memory.
    """

    def __init__(self, raw: BinaryIO, path: Path, limit: int, stretch: int) -> None:
        compressed = raw.read(3) == b"BZh"
        raw.seek(0)
        self._stream: BinaryIO | bz2.BZ2File = bz2.BZ2File(raw) if compressed else raw
        self._path = path
        self._limit = limit
        self._stretch = stretch
        self._marked = 0
        self.total = 0

    def mark(self) -> None:
        self._marked = self.total

    def read(self, size: int = -1) -> bytes:
        try:
            chunk = self._stream.read(size if 0 < size <= _CHUNK else _CHUNK)
        except (OSError, EOFError, ValueError) as exc:
            raise SourceFormatError(f"{self._path}: damaged bzip2 data: {exc}") from exc
        self.total += len(chunk)
        if self.total > self._limit:
            raise SourceFormatError(f"{self._path}: larger than {self._limit} bytes")
        if self.total - self._marked > self._stretch:
            raise SourceFormatError(f"{self._path}: a definition larger than {self._stretch} bytes")
        return chunk


def _definitions(stream: _BoundedReader, path: Path) -> Iterator[tuple[str, Element]]:
    """Each `<definition>`, dropped from the tree once handed out; the parse ends at `</definitions>`."""
    parents: list[Element] = []
    count = 0
    try:
        for event, element in SafeElementTree.iterparse(stream, events=("start", "end"), forbid_dtd=True):
            if event == "start":
                if not parents and _local(element.tag) != "oval_definitions":
                    raise SourceFormatError(f"{path}: root is <{element.tag}>, not <oval_definitions>")
                parents.append(element)
                if len(parents) <= 3:
                    stream.mark()
                continue
            depth = len(parents)
            parents.pop()
            if depth > 3:
                continue
            stream.mark()
            if depth == 2 and _local(element.tag) == "definitions":
                return  # the tests, objects and states that follow are not read (see the module doc)
            if depth == 3 and _local(element.tag) == "definition":
                count += 1
                yield f"{path}#{element.get('id') or count}", element
            if depth > 1:
                parents[-1].remove(element)
    except ParseError as exc:
        raise SourceFormatError(f"{path}: malformed XML: {exc}") from exc
    except DefusedXmlException as exc:
        raise SourceFormatError(f"{path}: refused: {exc!r} (DTDs, entities and external references)") from exc
    raise SourceFormatError(f"{path}: no <definitions> in the document")


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


@dataclass(frozen=True, slots=True)
class _Branch:
    """What the criteria above a fix say about it."""

    release: str | None = None
    arch: str | None = None
    module: str | None = None


@dataclass(frozen=True, slots=True)
class _Fix:
    branch: _Branch
    package: str
    evr: str
    channel: str | None


def _advisory(definition: Element) -> Advisory:
    ns = definition.tag[: -len("definition")]
    metadata = _child(definition, ns, "metadata")
    title = " ".join((metadata.findtext(f"{ns}title") or "").split())
    references = list(metadata.iterfind(f"{ns}reference"))
    elsa = next((r for r in references if (r.get("source") or "").lower() == "elsa"), None)
    elsa_id = (elsa.get("ref_id") if elsa is not None else None) or title.partition(":")[0]
    if not _ELSA_ID.match(elsa_id):
        raise ValueError(f"no ELSA id (title {title[:80]!r})")
    details = metadata.find(f"{ns}advisory")
    severity = (details.findtext(f"{ns}severity") if details is not None else None) or ""
    issued = details.find(f"{ns}issued") if details is not None else None
    cves = [(c.text or "").strip() for c in details.iterfind(f"{ns}cve")] if details is not None else []
    cves += [r.get("ref_id") or "" for r in references if (r.get("source") or "").upper() == "CVE"]
    fixes = list(_fixes(_child(definition, ns, "criteria"), ns, _Branch(), 0))
    affected = _affected(fixes, severity.strip().lower() or None)
    if not affected:
        raise ValueError(f"{elsa_id} names no fixed package")
    links = [r.get("ref_url") for r in (references if elsa is None else [elsa, *references])]
    date = issued.get("date") if issued is not None else None
    return Advisory(
        id=elsa_id,
        source=OracleOvalImporter.name,
        affected=affected,
        aliases=tuple(dict.fromkeys(c for c in cves if _CVE.match(c))),
        summary=title or None,
        details=(metadata.findtext(f"{ns}description") or "").strip() or None,
        published=f"{date}T00:00:00Z" if date and _DATE.match(date) else None,
        vendor_severity=severity.strip().lower() or None,
        references=tuple(dict.fromkeys(link for link in links if link)),
    )


def _child(element: Element, ns: str, name: str) -> Element:
    found = element.find(f"{ns}{name}")
    if found is None:
        raise ValueError(f"no <{name}>")
    return found


def _fixes(criteria: Element, ns: str, branch: _Branch, depth: int) -> Iterator[_Fix]:
    """The "earlier than" facts of a criteria tree, each with the release, arch and module above it."""
    if depth > _MAX_CRITERIA_DEPTH:
        raise ValueError(f"criteria nested deeper than {_MAX_CRITERIA_DEPTH}")
    if criteria.get("negate") == "true":
        raise ValueError("negated criteria")
    found: list[tuple[str, str]] = []
    flavour = None
    for criterion in criteria.iterfind(f"{ns}criterion"):
        comment = criterion.get("comment") or ""
        if criterion.get("negate") == "true":
            raise ValueError(f"negated criterion {comment!r}")
        if match := _INSTALLED.match(comment):
            branch = dataclasses.replace(branch, release=match[1])
        elif match := _ARCH.match(comment):
            branch = dataclasses.replace(branch, arch=match[1])
        elif match := _MODULE.match(comment):
            branch = dataclasses.replace(branch, module=match[1])
        elif match := _EARLIER.match(comment):
            found.append((match[1], _fixed_version(match[2])))
        elif match := _FLAVOUR.match(comment):
            flavour = _FLAVOURS[match[1]]
        elif not _SIGNED.match(comment):
            raise ValueError(f"criterion Vigil does not know: {comment!r}")
    for package, evr in found:
        if branch.release is None:
            raise ValueError(f"{package}: fix outside any 'Oracle Linux N is installed' branch")
        yield _Fix(branch, package, evr, flavour or build_channel(package, evr.rpartition("-")[2]))
    for child in criteria.iterfind(f"{ns}criteria"):
        yield from _fixes(child, ns, branch, depth + 1)


def _fixed_version(evr: str) -> str:
    """`0:8.24.0-57.0.1.el7_9.3` → `8.24.0-57.0.1.el7_9.3`; a non-zero epoch stays (`2:1.1.1g-15.el8`)."""
    match = _EVR.match(evr)
    if not match:
        raise ValueError(f"{evr!r} is not epoch:version-release")
    epoch, version, release = match.groups()
    return f"{version}-{release}" if not epoch or int(epoch) == 0 else f"{int(epoch)}:{version}-{release}"


def _affected(fixes: list[_Fix], severity: str | None) -> tuple[AffectedPackage, ...]:
    """One entry per package, release, flavour and module; per architecture only where that matters."""
    highest: dict[tuple[str, str, str | None, str | None, str | None], str] = {}
    arches: dict[str, set[str | None]] = {}
    for fix in fixes:
        namespace = f"ol:{fix.branch.release}"
        arches.setdefault(namespace, set()).add(fix.branch.arch)
        key = (namespace, fix.package, fix.channel, fix.branch.module, fix.branch.arch)
        if key not in highest or compare(_ECOSYSTEM, fix.evr, highest[key]) > 0:
            highest[key] = fix.evr
    per_arch: dict[tuple[str, str, str | None, str | None], dict[str | None, str]] = {}
    for (namespace, package, channel, module, arch), evr in highest.items():
        per_arch.setdefault((namespace, package, channel, module), {})[arch] = evr
    entries: list[AffectedPackage] = []
    for (namespace, package, channel, _), versions in per_arch.items():
        everywhere = set(versions) == arches[namespace] and len(set(versions.values())) == 1
        for arch, evr in versions.items():
            entries.append(
                AffectedPackage(
                    ecosystem=_ECOSYSTEM,
                    namespace=namespace,
                    package=package,
                    status=Status.FIXED,
                    fixed_version=evr,
                    arch=None if everywhere else arch,
                    severity=severity,
                    channel=channel,
                )
            )
    return tuple(dict.fromkeys(entries))
