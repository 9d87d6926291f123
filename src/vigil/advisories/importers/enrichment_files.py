"""Opening enrichment files: plain or gzip-compressed, always with a bound on what is read."""

from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path
from typing import BinaryIO

from vigil.advisories.files import open_regular
from vigil.advisories.importer import MAX_RECORD_BYTES, SourceFormatError

MAX_ENRICHMENT_BYTES = 1 << 30  # EPSS and NVD files are hundreds of MB uncompressed at most


def read_limited(path: Path, limit: int | None = None) -> bytes:
    """The file's bytes (gunzipped when it is gzip), refusing more than `limit` (a gzip bomb stops there)."""
    limit = MAX_ENRICHMENT_BYTES if limit is None else limit
    with open_regular(path) as raw:
        magic = raw.read(2)
        raw.seek(0)
        stream: io.BufferedIOBase | BinaryIO = gzip.GzipFile(fileobj=raw) if magic == b"\x1f\x8b" else raw
        try:
            data = stream.read(limit + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise SourceFormatError(f"{path}: damaged gzip data: {exc}") from exc
    if len(data) > limit:
        raise SourceFormatError(f"{path}: larger than {limit} bytes")
    return data


def head(path: Path, size: int = 4096) -> bytes:
    """The first bytes of the (possibly gzip-compressed) file, for format detection."""
    try:
        with open_regular(path) as raw:
            magic = raw.read(2)
            raw.seek(0)
            if magic == b"\x1f\x8b":
                with gzip.GzipFile(fileobj=raw) as gz:
                    return gz.read(size)
            return raw.read(size)
    except (OSError, EOFError, zlib.error):  # damaged after its gzip header: no format recognised
        return b""


__all__ = ["MAX_ENRICHMENT_BYTES", "MAX_RECORD_BYTES", "head", "read_limited"]
