"""Installed gems: the specifications RubyGems writes under `specifications/` when it installs a gem.

An installed specification is Ruby code RubyGems generated (`Gem::Specification#to_ruby`), always of the
same shape: `s.name = "rack".freeze` and `s.version = "2.2.22"` near the top. It is read, never run. Only
files in a `specifications` directory are installed gems: a `*.gemspec` in a source tree is a project's
own, hand-written one (its version often a constant defined elsewhere).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import ClassVar

from vigil.inventory.extractor import ExtractContext, ExtractError, FoundFile, Wants
from vigil.inventory.language.ruby.gem import gem_package
from vigil.inventory.model import Package

MAX_GEMSPEC = 1 << 20  # generated specifications are a few KiB; their file lists can make them larger
_QUOTED = r"""(?:"((?:[^"\\\n]|\\.)*)"|'((?:[^'\\\n]|\\.)*)')"""
_FIELD = re.compile(rf"^\s*\w+\.(name|version)\s*=\s*(?:Gem::Version\.new\(\s*)?{_QUOTED}", re.MULTILINE)


class GemspecExtractor:
    """Gems installed by RubyGems or by Debian's ruby-* packages (GEMSPEC)."""

    name: ClassVar[str] = "language/ruby/gemspec"
    version: ClassVar[int] = 1
    wants: ClassVar[Wants] = Wants(suffixes=(".gemspec",))

    def extract(self, file: FoundFile, ctx: ExtractContext) -> Iterable[Package]:
        if "/specifications/" not in file.path:
            return []
        try:
            text = file.read(MAX_GEMSPEC).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ExtractError(f"{file.path}: not a UTF-8 gem specification: {exc}") from exc
        fields: dict[str, str] = {}
        for match in _FIELD.finditer(text):
            value = match.group(2) if match.group(2) is not None else match.group(3)
            fields.setdefault(match.group(1), value)
        name, version = fields.get("name"), fields.get("version")
        if not name or not version:
            raise ExtractError(f"{file.path}: no `name` and `version` assignments: not a gem specification")
        return [gem_package(name, version, file.path, self.name, "GEMSPEC")]
