"""Zipped eggs (`name-version-pyX.Y.egg` files, easy_install's format): the metadata inside the archive.

An egg is a zip archive whose `EGG-INFO/PKG-INFO` holds the same core metadata as an unzipped egg's (Trivy
reads it too). The archive is hostile input like a jar: it is read with the Java extractor's bounded reader
(the central directory, then only that one member, its inflated size and ratio bounded). An archive without
`EGG-INFO/PKG-INFO` is a zip that is not a distribution: nothing, as osv-scalibr and Trivy report.
"""

from __future__ import annotations

import io
from typing import BinaryIO

from vigil.inventory.language.java.zipread import InflateBudget, open_archive, read_member
from vigil.inventory.language.python.metadata import HEADER_LIMIT, read_header_block

PKG_INFO = "EGG-INFO/PKG-INFO"
MAX_PKG_INFO = 1 << 20  # Metadata 1.x folds the long description into a header: a few KiB, rarely more


def egg_headers(f: BinaryIO, where: str) -> str | None:
    """The header block of a zipped egg's PKG-INFO; None when the archive holds none."""
    archive = open_archive(f, where, lambda name: name == PKG_INFO, (PKG_INFO.lower().encode(),))
    if not archive.entries:
        return None
    # the member's own limit speaks first: its message names the member
    data = read_member(archive, archive.entries[0], MAX_PKG_INFO, InflateBudget(2 * MAX_PKG_INFO))
    return read_header_block(io.BytesIO(data), HEADER_LIMIT)
