"""Bundler's `Gemfile.lock`: the exact gem versions an application runs with.

The `GEM`, `GIT`, `PATH` and `PLUGIN SOURCE` sections each hold a `specs:` list: a gem at four spaces of
indentation (`rack (2.2.3)`), its own requirements at six. A platform-specific gem carries its platform
after the version (`nokogiri (1.13.3-x86_64-linux)`); RubyGems versions never contain `-`, so the version
is what precedes it. Gems from git or a local path are reported with a note saying where they came from.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import ClassVar

from vigil.inventory.extractor import ExtractContext, ExtractError, FoundFile, Wants
from vigil.inventory.language.ruby.gem import gem_package
from vigil.inventory.model import Package

MAX_LOCKFILE = 8 << 20
_SECTIONS = {"GEM": None, "GIT": "from a git repository", "PATH": "from a local path", "PLUGIN SOURCE": None}
_SPEC = re.compile(r"^    ([^\s(]+) \(([^)\s]+)\)\s*$")


class GemfileLockExtractor:
    """Gems locked by Bundler (BUNDLER)."""

    name: ClassVar[str] = "language/ruby/gemfile-lock"
    version: ClassVar[int] = 1
    wants: ClassVar[Wants] = Wants(names=frozenset({"Gemfile.lock", "gems.locked"}))

    def extract(self, file: FoundFile, ctx: ExtractContext) -> Iterable[Package]:
        try:
            text = file.read(MAX_LOCKFILE).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ExtractError(f"{file.path}: not a UTF-8 lock file: {exc}") from exc
        packages: list[Package] = []
        section: str | None = None
        in_specs = False
        for number, line in enumerate(text.splitlines(), 1):
            if line and not line[0].isspace():
                section, in_specs = line.strip(), False
                continue
            if section not in _SECTIONS:
                continue
            if line.strip() == "specs:" and line.startswith("  ") and not line.startswith("   "):
                in_specs = True
                continue
            if not in_specs or not line.startswith("    ") or line.startswith("     "):
                continue
            match = _SPEC.match(line)
            if match is None:
                entry = line.strip()[:80]
                ctx.error(file.path, f"line {number}: not a `name (version)` gem entry: {entry!r}")
                continue
            name, version = match.group(1), match.group(2).split("-", 1)[0]
            note = _SECTIONS[section]
            packages.append(
                gem_package(name, version, file.path, self.name, "BUNDLER", (note,) if note else ())
            )
        return packages
