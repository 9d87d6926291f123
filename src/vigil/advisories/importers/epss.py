"""FIRST EPSS daily scores: `#model_version:…,score_date:…`, then `cve,epss,percentile` rows.

Source: https://epss.cyentia.com/epss_scores-current.csv.gz (FIRST.org; free to use with attribution).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from vigil.advisories.importer import RecordError, SourceFormatError
from vigil.advisories.importers.enrichment_files import head, read_limited
from vigil.advisories.model import Epss

DEFAULT_URL = "https://epss.cyentia.com/epss_scores-current.csv.gz"
LICENCE = "FIRST EPSS: free to use with attribution"


class EpssImporter:
    kind: ClassVar[str] = "enrichment"
    name: ClassVar[str] = "epss"
    licence: ClassVar[str] = LICENCE

    def recognises(self, path: Path) -> bool:
        return path.is_file() and head(path, 256).startswith(b"#model_version:")

    def read(self, path: Path, errors: list[RecordError]) -> Iterator[Epss]:
        text = read_limited(path).decode("utf-8", "replace")
        comment, _, rest = text.partition("\n")
        fields = dict(part.split(":", 1) for part in comment.lstrip("#").split(",") if ":" in part)
        score_date = fields.get("score_date", "")[:10]
        if not comment.startswith("#model_version:") or not score_date:
            raise SourceFormatError(f"{path}: not an EPSS file (no `#model_version:…,score_date:…` line)")
        rows = csv.reader(io.StringIO(rest))
        try:
            if next(rows, None) != ["cve", "epss", "percentile"]:
                raise SourceFormatError(f"{path}: unexpected EPSS header (want cve,epss,percentile)")
            for line, row in enumerate(rows, start=3):
                try:
                    cve, score, percentile = row
                    yield Epss(cve, float(score), float(percentile), score_date)
                except ValueError as exc:
                    errors.append(RecordError(f"{path}:{line}", f"malformed EPSS row {row[:3]!r}: {exc}"))
        except csv.Error as exc:
            raise SourceFormatError(f"{path}: not CSV: {exc}") from exc
