"""Findings are tested on the matcher's database of real records."""

from tests.matching.conftest import advisory_db

__all__ = ["advisory_db"]
