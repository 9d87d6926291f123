"""dpkg file lists (`/var/lib/dpkg/info/*.list`): which Debian package installed which file.

It yields no packages; it lets the collector mark language packages that a Debian package shipped
(a Debian jar, a python3-* egg-info), so they are matched once, through Debian's advisories.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from vigil.inventory.extractor import ExtractContext, FoundFile, Wants
from vigil.inventory.model import Package

INFO_DIR = "/var/lib/dpkg/info"


class DpkgFileListExtractor:
    name: ClassVar[str] = "os/dpkg-files"
    version: ClassVar[int] = 1
    wants: ClassVar[Wants] = Wants(dirs=frozenset({INFO_DIR}))

    def extract(self, file: FoundFile, ctx: ExtractContext) -> Iterable[Package]:
        base = file.info.name
        if not base.endswith(".list"):
            return []
        owner = base[: -len(".list")].split(":", 1)[0]  # "libc6:amd64.list" → libc6
        lines = file.read_text(limit=32 << 20).splitlines()
        ctx.own_files(owner, (line for line in lines if line.startswith("/") and line != "/."))
        return []
