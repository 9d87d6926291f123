"""PEP 440 (PyPI) versions, with pypa's `packaging`: the reference implementation pip itself uses."""

from __future__ import annotations

from functools import lru_cache

from packaging.version import InvalidVersion as PackagingInvalid
from packaging.version import Version

from vigil.versions.base import InvalidVersion, parses, sign


@lru_cache(maxsize=65536)
def parse(version: str) -> Version:
    try:
        return Version(version)
    except PackagingInvalid as exc:
        raise InvalidVersion("PyPI", version) from exc


class Pep440Scheme:
    name = "pep440"

    def compare(self, a: str, b: str) -> int:
        return sign(parse(a), parse(b))

    def is_valid(self, version: str) -> bool:
        return parses(parse, version)
