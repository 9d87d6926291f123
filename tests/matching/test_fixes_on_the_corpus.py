"""The fix a finding names clears it, on the shared corpus of real advisory records (`/work/shared/data`).

The corpus is not part of the repository: where it is absent these tests are skipped. Each source is
checked on a sample that is the same at every run. A whole run (`check_fixes(db)` over every version of
every package, 2.46 million findings with a fix, 14 minutes) found no fix that leaves its finding open
and none with a lower version the records name that clears it already.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.matching.corpus import check_fixes

from vigil.advisories.feeds import import_path
from vigil.advisories.store import AdvisoryDB

CORPUS = Path("/work/shared/data/advisories")

# source → (folders and files, versions per package, one package in …): at most 5 s each on one core
SOURCES = {
    "OSV crates.io": (("osv/crates.io",), None, 1),
    "OSV PyPI": (("osv/pypi",), 4, 2),
    "OSV Go": (("osv/go",), 4, 2),
    "OSV AlmaLinux": (("osv/almalinux",), 4, 48),
    "CSAF/VEX": (("csaf/redhat-rhsa-vunnel-fixtures", "csaf/redhat-vex", "csaf/rocky-linux-ciq"), None, 1),
    "Debian": (("native/debian-security-tracker/data/DSA/list", "native/debian-security-tracker/data/DLA/list",
                "native/debian-tracker-json/vunnel/debian.json"), 4, 8),
}  # fmt: skip


@pytest.mark.skipif(not CORPUS.is_dir(), reason="the shared advisory corpus is not on this machine")
@pytest.mark.parametrize("source", SOURCES)
def test_every_fix_named_on_the_corpus_clears_its_finding_and_is_the_nearest(tmp_path, source):
    paths, per_package, one_in = SOURCES[source]
    with AdvisoryDB(tmp_path / "advisories.db") as db:
        for path in paths:
            assert not import_path(db, CORPUS / path).errors
        check = check_fixes(db, per_package, one_in)
    assert check.flagged > 100
    assert check.not_cleared == []
    assert check.not_nearest == []
