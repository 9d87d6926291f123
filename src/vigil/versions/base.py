"""The version-scheme interface and its errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class InvalidVersion(ValueError):
    """A version string the ecosystem's scheme cannot read."""

    def __init__(self, ecosystem: str, version: str, why: str = "") -> None:
        super().__init__(f"invalid {ecosystem} version {version!r}" + (f": {why}" if why else ""))
        self.ecosystem = ecosystem
        self.version = version


class UnknownEcosystem(ValueError):
    """No version scheme is known for this ecosystem."""


class VersionScheme(Protocol):
    """One ecosystem's version ordering."""

    name: str

    def compare(self, a: str, b: str) -> int:
        """-1, 0 or 1; raises InvalidVersion for a version the scheme cannot read."""
        ...

    def is_valid(self, version: str) -> bool: ...


def sign(a: Any, b: Any) -> int:
    return int(a > b) - int(a < b)


def parses(parse: Callable[[str], object], version: str) -> bool:
    """Whether `parse` reads `version` (the `is_valid` of schemes that validate by parsing)."""
    try:
        parse(version)
    except InvalidVersion:
        return False
    return True
