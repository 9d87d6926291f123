"""CISA's Known Exploited Vulnerabilities catalog (JSON): which CVEs are exploited, since when.

Source: https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json (CC0-1.0).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from vigil.advisories.importer import RecordError, SourceFormatError
from vigil.advisories.importers import jsondoc
from vigil.advisories.importers.enrichment_files import head, read_limited
from vigil.advisories.model import KnownExploited

DEFAULT_URL = "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json"
LICENCE = "CC0-1.0"


class KevImporter:
    kind: ClassVar[str] = "enrichment"
    name: ClassVar[str] = "kev"
    licence: ClassVar[str] = LICENCE

    def recognises(self, path: Path) -> bool:
        start = head(path, 512)  # the catalog, not its JSON schema (which has the same title)
        return b"Known Exploited Vulnerabilities" in start and b'"$schema"' not in start

    def read(self, path: Path, errors: list[RecordError]) -> Iterator[KnownExploited]:
        try:
            catalog = jsondoc.load_records(read_limited(path), str(path), errors)
            entries = catalog["vulnerabilities"]
        except (ValueError, KeyError, TypeError) as exc:
            raise SourceFormatError(f"{path}: not the KEV JSON catalog: {exc!r}") from exc
        for i, entry in enumerate(entries):
            try:
                yield KnownExploited(
                    cve=str(entry["cveID"]),
                    date_added=str(entry["dateAdded"]),
                    due_date=entry.get("dueDate"),
                    ransomware=entry.get("knownRansomwareCampaignUse"),
                    name=entry.get("vulnerabilityName"),
                )
            except (KeyError, TypeError) as exc:
                errors.append(RecordError(f"{path}#{i}", f"malformed KEV entry: {exc!r}"))
