"""Installed gems: the specifications RubyGems writes under `specifications/` when it installs a gem.

An installed specification is Ruby code RubyGems generated (`Gem::Specification#to_ruby`), always of the
same shape: a `Gem::Specification.new do |s|` block opening with `s.name = "rack".freeze` and
`s.version = "2.2.22"`. It is read, never run, the way osv-scalibr reads it: the first `name` and
`version` assignments of string literals after the block opens. A file with no such block is not a
specification RubyGems wrote (osv-scalibr reports no gem for it either).

Only `specifications/*.gemspec` and `specifications/default/*.gemspec` (the gems that ship with Ruby) are
installed gems: a `*.gemspec` in a source tree is a project's own, hand-written one, whose version is
often a constant defined elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import ClassVar

from vigil.enums import PackageManager
from vigil.inventory.extractor import ExtractContext, ExtractError, FoundFile, Wants
from vigil.inventory.language.ruby.gem import gem_package
from vigil.inventory.model import Package

MAX_GEMSPEC = 1 << 20  # generated specifications are a few KiB; long file lists make them larger
# horizontal whitespace only: `\s*` at a line start would rescan every following blank line (quadratic)
_START = re.compile(r"^[ \t]*Gem::Specification\.new\b", re.MULTILINE)
_QUOTED = r"""(?:"([^"\\\n]*)"|'([^'\\\n]*)')"""
_FIELD = re.compile(
    rf"^[ \t]*\w+\.(name|version)[ \t]*=[ \t]*(?:Gem::Version\.new\([ \t]*)?{_QUOTED}", re.MULTILINE
)
# RubyGems' own rules: Gem::Specification::VALID_NAME_PATTERN and Gem::Version::ANCHORED_VERSION_PATTERN
_NAME = re.compile(r"[a-zA-Z0-9._-]+")
_VERSION = re.compile(r"[0-9]+(?:\.[0-9a-zA-Z]+)*(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?")


class GemspecExtractor:
    """Gems installed by RubyGems, Bundler or Debian's ruby-* packages (GEMSPEC)."""

    name: ClassVar[str] = "language/ruby/gemspec"
    version: ClassVar[int] = 1
    wants: ClassVar[Wants] = Wants(suffixes=(".gemspec",))

    def extract(self, file: FoundFile, ctx: ExtractContext) -> Iterable[Package]:
        if not _installed(file.path):
            return []
        if file.info.size > MAX_GEMSPEC:
            raise ExtractError(f"{file.path}: {file.info.size} bytes, over the {MAX_GEMSPEC}-byte limit")
        text = file.read(MAX_GEMSPEC).decode("utf-8", "replace")
        start = _START.search(text)
        if start is None:
            raise ExtractError(f"{file.path}: no `Gem::Specification.new`: not a RubyGems specification")
        fields: dict[str, str] = {}
        for match in _FIELD.finditer(text, start.end()):
            value = match.group(2) if match.group(2) is not None else match.group(3)
            fields.setdefault(match.group(1), value)
        name, version = fields.get("name"), fields.get("version")
        if not name or not version:
            raise ExtractError(f"{file.path}: no `name` and `version` assignments in the specification")
        if not _NAME.fullmatch(name) or not _VERSION.fullmatch(version):
            raise ExtractError(f"{file.path}: {name[:80]!r} {version[:80]!r} is not a gem name and version")
        return [gem_package(name, version, file.path, self.name, PackageManager.GEMSPEC)]


def _installed(path: str) -> bool:
    """In `…/specifications/` or `…/specifications/default/`, where RubyGems records installed gems."""
    parent = path.rpartition("/")[0]
    return parent.endswith(("/specifications", "/specifications/default"))
