"""NVD CVE API 2.0 responses: CVSS v2, v3.0, v3.1 and v4.0 vectors and base scores per CVE.

Source: https://services.nvd.nist.gov/rest/json/cves/2.0 (paged; a file or a directory of pages).
NVD data is US-government public data.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from vigil.advisories.importer import RecordError, SourceFormatError
from vigil.advisories.importers import jsondoc
from vigil.advisories.importers.enrichment_files import head, read_limited
from vigil.advisories.model import Cvss

DEFAULT_URL = "https://services.nvd.nist.gov/rest/json/cves/2.0"
LICENCE = "public domain (US government, NVD)"
_METRICS = ("cvssMetricV2", "cvssMetricV30", "cvssMetricV31", "cvssMetricV40")


class NvdImporter:
    kind: ClassVar[str] = "enrichment"
    name: ClassVar[str] = "nvd"
    licence: ClassVar[str] = LICENCE

    def recognises(self, path: Path) -> bool:
        if path.is_dir():
            return any(self.recognises(p) for p in sorted(path.glob("*.json*"))[:3])
        start = head(path)
        return b'"vulnerabilities"' in start and b'"NVD_CVE"' in start

    def read(self, path: Path, errors: list[RecordError]) -> Iterator[Cvss]:
        files = sorted(p for p in path.rglob("*.json*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            try:
                page = jsondoc.load_records(read_limited(file), str(file), errors)
            except ValueError as exc:
                raise SourceFormatError(f"{file}: not JSON: {exc}") from exc
            if not isinstance(page, dict) or not isinstance(page.get("vulnerabilities"), list):
                raise SourceFormatError(f"{file}: not an NVD API 2.0 response (no vulnerabilities list)")
            for i, item in enumerate(page["vulnerabilities"]):
                try:
                    yield from _scores(item["cve"])
                except (KeyError, TypeError, ValueError) as exc:
                    errors.append(RecordError(f"{file}#{i}", f"malformed CVE record: {exc!r}"))


def _scores(cve: dict[str, Any]) -> Iterator[Cvss]:
    cve_id = str(cve["id"])
    metrics = cve.get("metrics") or {}
    for key in _METRICS:
        for metric in metrics.get(key, ()):
            data = metric["cvssData"]
            yield Cvss(cve_id, str(data["version"]), str(data["vectorString"]), float(data["baseScore"]),
                       str(metric.get("source", "")))  # fmt: skip
