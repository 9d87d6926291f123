"""End of life of the supported releases (DESIGN §3.7): the end of the vendor's free security support.

Debian counts its LTS years (the security tracker covers them); Ubuntu counts standard support (ESM
needs a Pro subscription). An OS past this date is still scanned, and gets one CRITICAL finding.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

_EOL: dict[str, dict[str, str]] = {
    "amzn": {"2018.03": "2023-12-31", "2": "2026-06-30", "2023": "2029-06-30"},
    "almalinux": {"8": "2029-03-01", "9": "2032-05-31", "10": "2035-05-31"},
    "rocky": {"8": "2029-05-31", "9": "2032-05-31", "10": "2035-05-31"},
    "rhel": {"7": "2024-06-30", "8": "2029-05-31", "9": "2032-05-31", "10": "2035-05-31"},
    "ol": {"7": "2024-12-31", "8": "2029-07-31", "9": "2032-06-30", "10": "2035-06-30"},
    "centos": {"6": "2020-11-30", "7": "2024-06-30", "8": "2021-12-31"},
    "fedora": {"38": "2024-05-21", "39": "2024-11-26", "40": "2025-05-13", "41": "2025-12-15",
               "42": "2026-05-13", "43": "2026-12-09"},
    "debian": {"9": "2022-06-30", "10": "2024-06-30", "11": "2026-08-31", "12": "2028-06-30",
               "13": "2030-06-30"},
    "ubuntu": {"14.04": "2019-04-30", "16.04": "2021-04-30", "18.04": "2023-05-31", "20.04": "2025-05-31",
               "22.04": "2027-06-01", "23.10": "2024-07-11", "24.04": "2029-05-31", "24.10": "2025-07-10",
               "25.04": "2026-01-15", "25.10": "2026-07-09"},
    "sles": {"12": "2024-10-31", "15": "2031-07-31"},
    "opensuse-leap": {"15.4": "2023-12-07", "15.5": "2024-12-31", "15.6": "2026-04-30"},
    "alpine": {"3.12": "2022-05-01", "3.13": "2022-11-01", "3.14": "2023-05-01", "3.15": "2023-11-01",
               "3.16": "2024-05-23", "3.17": "2024-11-22", "3.18": "2025-05-09", "3.19": "2025-11-01",
               "3.20": "2026-04-01", "3.21": "2026-11-01", "3.22": "2027-05-01", "3.23": "2027-11-01"},
}  # fmt: skip

# releases keyed by major version only (9.4 → 9); the others by major.minor
_MAJOR_ONLY = frozenset({"almalinux", "rocky", "rhel", "ol", "centos", "fedora", "debian", "sles"})


@dataclass(frozen=True, slots=True)
class EndOfLife:
    date: dt.date

    @property
    def is_past(self) -> bool:
        return dt.datetime.now(dt.UTC).date() > self.date


def end_of_life(os_id: str, version_id: str | None) -> EndOfLife | None:
    """The release's end of life, or None when Vigil does not know the release."""
    releases = _EOL.get(os_id)
    if not releases or not version_id:
        return None
    parts = version_id.split(".")
    key = parts[0] if os_id in _MAJOR_ONLY else ".".join(parts[:2])
    date = releases.get(key)
    return EndOfLife(dt.date.fromisoformat(date)) if date else None
