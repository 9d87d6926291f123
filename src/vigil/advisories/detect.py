"""Which importer reads what, when a folder given to `vigil db import` holds several formats.

Each file is recognised on its own (the first importer in `IMPORTERS` that recognises it). A folder
whose recognised files are all one format, and which that importer accepts as a folder, is imported
whole as one source (an OSV tree, a CSAF directory, a secdb mirror, whose records may span files);
any other folder is split into its files and subfolders, each planned the same way. Files no importer
recognises (READMEs, schemas, formats Vigil does not read) are listed as skipped, not read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from vigil.advisories.files import is_regular
from vigil.advisories.importer import AdvisoryImporter, EnrichmentImporter

Importer = AdvisoryImporter | EnrichmentImporter


@dataclass(frozen=True, slots=True)
class ImportUnit:
    """One file or folder, read by one importer as one source."""

    path: Path
    importer: Importer


@dataclass(frozen=True, slots=True)
class ImportPlan:
    units: tuple[ImportUnit, ...]
    skipped: tuple[Path, ...]  # in no format Vigil imports


def plan_import(path: Path, importers: Mapping[str, Importer]) -> ImportPlan:
    """The units `path` (a file or folder) is imported as."""
    if not path.is_dir():
        importer = _recognising(path, importers)
        return ImportPlan((ImportUnit(path, importer),), ()) if importer else ImportPlan((), (path,))
    kinds = {file: _recognising(file, importers) for file in _files(path)}
    below: dict[Path, set[str]] = {}
    for file, importer in kinds.items():
        for folder in file.parents:
            below.setdefault(folder, set())
            if importer is not None:
                below[folder].add(importer.name)
            if folder == path:
                break
    units: list[ImportUnit] = []
    skipped: list[Path] = []
    _plan_folder(path, importers, kinds, below, units, skipped)
    return ImportPlan(tuple(units), tuple(skipped))


def _plan_folder(
    folder: Path,
    importers: Mapping[str, Importer],
    kinds: dict[Path, Importer | None],
    below: dict[Path, set[str]],
    units: list[ImportUnit],
    skipped: list[Path],
) -> None:
    found = below.get(folder, set())
    if len(found) == 1 and importers[next(iter(found))].recognises(folder):
        units.append(ImportUnit(folder, importers[next(iter(found))]))
        return
    for child in sorted(folder.iterdir()):
        if child.name.startswith("."):
            continue
        if child in kinds:
            importer = kinds[child]
            if importer is None:
                skipped.append(child)
            else:
                units.append(ImportUnit(child, importer))
        elif child in below:
            _plan_folder(child, importers, kinds, below, units, skipped)
        elif not child.is_dir():
            skipped.append(child)  # a FIFO, a device, a socket: never opened


def _files(root: Path) -> list[Path]:
    """Regular files below `root`, hidden ones and hidden folders left out (as importers do)."""
    found = []
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        found += [
            Path(directory, name)
            for name in sorted(files)
            if not name.startswith(".") and is_regular(Path(directory, name))
        ]
    return found


def _recognising(path: Path, importers: Mapping[str, Importer]) -> Importer | None:
    return next((i for i in importers.values() if i.recognises(path)), None)
