"""XML from advisory sources, parsed by defusedxml only: no DTD, hence no entity, in any encoding.

Looking for the bytes `<!DOCTYPE` before parsing misses the same declaration written in UTF-16, after
which expat expanded internal entities into stored text. defusedxml refuses a DTD where expat meets it,
after decoding, whatever the encoding. Every XML parse of an importer goes through here; a document is
streamed in chunks with its size bounded as it is read.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
import zlib
from collections.abc import Callable, Iterator

import defusedxml.ElementTree as DefusedET
from defusedxml import DefusedXmlException

from vigil.advisories.importer import SourceFormatError

_REFUSED = "DOCTYPE/ENTITY declarations are refused (entity expansion, external entities)"


def parse(data: bytes, where: str) -> ET.Element:
    """A small document, whole."""
    try:
        return DefusedET.fromstring(data, forbid_dtd=True)
    except (ET.ParseError, ValueError) as exc:
        raise _explained(exc, where) from exc


def events(read: Callable[[int], bytes], where: str, limit: int) -> Iterator[tuple[str, ET.Element]]:
    """Start and end events of a document read in chunks by `read`, refused past `limit` bytes."""
    try:
        yield from DefusedET.iterparse(_Bounded(read, where, limit), events=("start", "end"), forbid_dtd=True)
    except (ET.ParseError, ValueError) as exc:
        raise _explained(exc, where) from exc


def _explained(exc: Exception, where: str) -> SourceFormatError:
    """A refused declaration, or malformed XML (expat's ValueErrors too: an encoding it cannot read)."""
    if isinstance(exc, SourceFormatError):
        return exc
    if isinstance(exc, DefusedXmlException):
        return SourceFormatError(f"{where}: {_REFUSED}: {exc}")
    return SourceFormatError(f"{where}: malformed XML: {exc}")


class _Bounded:
    """A reader that counts what it hands out and says clearly when the file is damaged or too big."""

    def __init__(self, read: Callable[[int], bytes], where: str, limit: int) -> None:
        self._read, self._where, self._limit, self._total = read, where, limit, 0

    def read(self, size: int = -1, /) -> bytes:
        try:
            chunk = self._read(size)
        except (OSError, EOFError, zlib.error) as exc:
            raise SourceFormatError(f"{self._where}: damaged gzip data: {exc}") from exc
        self._total += len(chunk)
        if self._total > self._limit:
            raise SourceFormatError(f"{self._where}: larger than {self._limit} bytes")
        return chunk
