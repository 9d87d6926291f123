"""Plain dotted numbers (CRAN, Bioconductor, Hackage) and Root.io's suffix on distribution versions."""

from __future__ import annotations

import re
from functools import lru_cache

from vigil.versions.base import InvalidVersion, sign
from vigil.versions.dpkg import DpkgScheme


class NumericScheme:
    """Numbers separated by `.` (and `-` where the ecosystem allows it, as CRAN does)."""

    name = "numeric"

    def __init__(self, ecosystem: str, separators: str) -> None:
        self.ecosystem = ecosystem
        self._valid = re.compile(rf"^\d+(?:[{re.escape(separators)}]\d+)*$")
        self._split = re.compile(rf"[{re.escape(separators)}]")

    @lru_cache(maxsize=4096)  # noqa: B019 - schemes are module-level singletons
    def _parse(self, version: str) -> tuple[int, ...]:
        if not self._valid.match(version):
            raise InvalidVersion(self.ecosystem, version)
        parts = [int(p) for p in self._split.split(version)]
        while len(parts) > 1 and parts[-1] == 0:
            parts.pop()
        return tuple(parts)

    def compare(self, a: str, b: str) -> int:
        return sign(self._parse(a), self._parse(b))

    def is_valid(self, version: str) -> bool:
        return self._valid.match(version) is not None


class RootScheme:
    """Root.io republishes distribution packages as `<distro version>.root.io.<N>`."""

    name = "root"
    _SUFFIX = re.compile(r"^(?P<base>.*?)(?:[.+]root\.io\.(?P<n>\d+))?$")

    def __init__(self) -> None:
        self._base = DpkgScheme()

    def compare(self, a: str, b: str) -> int:
        ma, mb = self._SUFFIX.match(a), self._SUFFIX.match(b)
        assert ma is not None and mb is not None
        return self._base.compare(ma["base"], mb["base"]) or sign(int(ma["n"] or 0), int(mb["n"] or 0))

    def is_valid(self, version: str) -> bool:
        match = self._SUFFIX.match(version)
        return match is not None and self._base.is_valid(match["base"])
