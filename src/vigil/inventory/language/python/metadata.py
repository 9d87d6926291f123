"""Core metadata (PEP 241/314/345/566/643): the RFC 822-style headers of `METADATA` and `PKG-INFO`.

Only the header block is read: it ends at the first empty line, after which Metadata 2.1+ puts the long
description as the message body. Name and Version come first in every writer's output (setuptools,
wheel, hatchling, flit, poetry, distutils), so the read also stops at `HEADER_LIMIT` bytes: Metadata 1.x
folds the whole description into a `Description:` header, and a truncated header block still holds them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.parser import HeaderParser
from typing import BinaryIO

HEADER_LIMIT = 64 << 10
_CHUNK = 8 << 10
MAX_VERSION_LENGTH = 128
# PEP 508 names: ASCII letters and digits, with `.`, `_` and `-` inside
_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
_SEPARATORS = re.compile(r"[-_.]+")


class MetadataError(ValueError):
    """The headers lack a usable Name or Version."""


@dataclass(frozen=True, slots=True)
class Distribution:
    name: str  # as declared
    version: str

    @property
    def normalized_name(self) -> str:
        """PEP 503: lower case, runs of `-`, `_`, `.` as one `-` (how the index and advisories name it)."""
        return _SEPARATORS.sub("-", self.name).lower()


def read_header_block(f: BinaryIO, limit: int = HEADER_LIMIT) -> str:
    """The text before the first empty line, reading at most `limit` bytes (a cut last line is dropped)."""
    data = b""
    while len(data) < limit:
        chunk = f.read(min(_CHUNK, limit - len(data)))
        if not chunk:
            break
        data += chunk
        # look for the blank line around the chunk boundary too
        end = _blank_line(data, max(0, len(data) - len(chunk) - 3))
        if end >= 0:
            return _decode(data[:end])
    else:
        data = data[: data.rfind(b"\n") + 1]  # the limit cut a line: drop its partial tail
    return _decode(data)


def _blank_line(data: bytes, start: int) -> int:
    """Where the header block ends (the offset of the empty line), or -1."""
    found = [i for i in (data.find(b"\n\n", start), data.find(b"\n\r\n", start)) if i >= 0]
    return min(found) + 1 if found else -1


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "replace").replace("\r\n", "\n")


def parse_distribution(headers: str) -> Distribution:
    """Name and Version from a header block (field names are case-insensitive, as in e-mail)."""
    message = HeaderParser().parsestr(headers, headersonly=True)
    name = (message.get("Name") or "").strip()
    version = (message.get("Version") or "").strip()
    if not name:
        raise MetadataError("no Name header")
    if not version:
        raise MetadataError(f"no Version header for {name[:80]!r}")
    if not _NAME.match(name):
        raise MetadataError(f"Name {name[:80]!r} is not a valid distribution name")
    if len(version) > MAX_VERSION_LENGTH or not version.isprintable() or " " in version:
        raise MetadataError(f"Version {version[:80]!r} of {name} is not a version")
    return Distribution(name, version)
