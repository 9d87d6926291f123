"""Bundler's `Gemfile.lock` (or `gems.locked`): the exact gem versions an application runs with.

The `GEM`, `GIT`, `PATH` and `PLUGIN SOURCE` sections each hold a `specs:` list: a gem at four spaces of
indentation (`rack (2.2.3)`), its own requirements at six (each of those is locked at four spaces too).
A platform-specific gem carries its platform after the version (`nokogiri (1.13.3-x86_64-linux)`);
RubyGems versions never contain `-`, so the version is what precedes it, as osv-scalibr reads it. Gems
from git or a local path are reported with a note saying where they came from (and the git revision).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import ClassVar

from vigil.enums import PackageManager
from vigil.inventory.extractor import ExtractContext, ExtractError, FoundFile, Wants
from vigil.inventory.language.ruby.gem import gem_package
from vigil.inventory.model import Package

MAX_LOCKFILE = 8 << 20  # a large application's lock file is tens of KiB
_SOURCES = {"GEM": None, "GIT": "from a git repository", "PATH": "from a local path", "PLUGIN SOURCE": None}
_SPEC = re.compile(r"^    ([^\s(]+) \(([^)\s]+)\)\s*$")


class GemfileLockExtractor:
    """Gems locked by Bundler (BUNDLER)."""

    name: ClassVar[str] = "language/ruby/gemfile-lock"
    version: ClassVar[int] = 1
    wants: ClassVar[Wants] = Wants(names=frozenset({"Gemfile.lock", "gems.locked"}))

    def extract(self, file: FoundFile, ctx: ExtractContext) -> Iterable[Package]:
        if file.info.size > MAX_LOCKFILE:
            raise ExtractError(f"{file.path}: {file.info.size} bytes, over the {MAX_LOCKFILE}-byte limit")
        try:
            text = file.read(MAX_LOCKFILE).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ExtractError(f"{file.path}: not a UTF-8 lock file: {exc}") from exc
        packages: list[Package] = []
        section, note, in_specs = "", None, False
        for number, line in enumerate(text.splitlines(), 1):
            if line and not line[0].isspace():
                section, in_specs = line.rstrip(), False
                note = _SOURCES.get(section)
                continue
            if section not in _SOURCES:
                continue
            if line.startswith("  revision: ") and note:
                note = f"{_SOURCES[section]}, revision {line[len('  revision: ') :].strip()[:64]}"
            elif line.rstrip() == "  specs:":
                in_specs = True
            elif in_specs and line.startswith("    ") and not line.startswith("     "):
                match = _SPEC.match(line)
                if match is None:
                    entry = line.strip()[:80]
                    ctx.error(file.path, f"line {number}: not a `name (version)` gem entry: {entry!r}")
                    continue
                name, version = match.group(1), match.group(2).split("-", 1)[0]
                packages.append(
                    gem_package(
                        name, version, file.path, self.name, PackageManager.BUNDLER, (note,) if note else ()
                    )
                )
        return packages
