"""Reading a Java archive as hostile input: only the central directory and the few members needed.

`zipfile` reads the central directory at the end of the file and opens members one by one, so a 100 MiB
application archive costs its directory and its `pom.properties` and `MANIFEST.MF` members, never its
classes. Every member read is bounded by what it really inflates to, not by what its header claims, and
the whole of one top-level archive (nested archives included) by a budget of inflated bytes.
"""

from __future__ import annotations

import zipfile
from typing import IO

from vigil.inventory.extractor import ExtractError

MAX_MEMBERS = 200_000  # a Spring Boot application holds a few tens of thousands of entries
MAX_METADATA = 1 << 20  # pom.properties and MANIFEST.MF are a few KiB
MAX_NESTED = 64 << 20  # a nested archive is read into memory: larger ones are reported, not read
MAX_RATIO = 200  # deflate's ratio on real class files and jars is under 20; a bomb's is over 1000
MAX_INFLATED = 512 << 20  # per top-level archive, nested archives included


class ArchiveBomb(ExtractError):
    """One top-level archive inflates past its budget: the whole archive stops, not one member."""


class InflateBudget:
    """The inflated bytes one top-level archive may cost."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = MAX_INFLATED if limit is None else limit
        self.left = self.limit

    def take(self, n: int, where: str) -> None:
        self.left -= n
        if self.left < 0:
            raise ArchiveBomb(f"{where}: more than {self.limit} bytes to inflate: an archive bomb?")


def open_archive(f: IO[bytes], where: str) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(f)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise ExtractError(f"{where}: not a readable zip archive: {exc}") from exc
    if len(archive.filelist) > MAX_MEMBERS:
        archive.close()
        raise ExtractError(f"{where}: {len(archive.filelist)} entries, more than the {MAX_MEMBERS} limit")
    return archive


def read_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, budget: InflateBudget, where: str
) -> bytes:
    """A member's bytes; ExtractError when it inflates past `limit` or at a bomb's ratio."""
    name = f"{where}!/{info.filename}"
    if info.file_size > limit:
        raise ExtractError(f"{name}: {info.file_size} bytes, over the {limit}-byte limit")
    if info.compress_size and info.file_size > (1 << 20) and info.file_size // info.compress_size > MAX_RATIO:
        raise ExtractError(f"{name}: compressed {info.file_size // info.compress_size}:1, an archive bomb?")
    try:
        with archive.open(info) as member:
            data = member.read(limit + 1)  # what it really inflates to: the header may lie
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError) as exc:
        raise ExtractError(f"{name}: unreadable: {exc}") from exc
    budget.take(len(data), where)
    if len(data) > limit:
        raise ExtractError(f"{name}: inflates past the {limit}-byte limit its header does not declare")
    return data
