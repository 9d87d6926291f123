"""The distributions' own comparators as oracles: `dpkg --compare-versions` and rpm's `labelCompare`."""

from __future__ import annotations

import itertools
import json
import random
import re
import subprocess
from pathlib import Path

from vigil.versions import compare

ALMALINUX = Path(__file__).parents[1] / "advisories" / "importers" / "fixtures" / "osv" / "almalinux"


def _dpkg_versions() -> list[str]:
    text = Path("/var/lib/dpkg/status").read_text(errors="replace")
    versions = sorted(set(re.findall(r"^Version: (\S+)$", text, re.MULTILINE)))
    random.Random(7).shuffle(versions)
    return [
        *versions[:60],
        "1.0~rc1",
        "1.0",
        "1.0+b1",
        "1:0.9",
        "1.0-1~bpo1",
        "2.36-9+deb12u4",
        "2.36-9+deb12u10",
    ]


def test_dpkg_compare_versions_agrees():
    versions = _dpkg_versions()
    pairs = list(itertools.combinations(versions, 2))[:400]
    script = "\n".join(
        f"dpkg --compare-versions '{a}' lt '{b}' && echo -1 || (dpkg --compare-versions '{a}' eq '{b}' && echo 0 || echo 1)"
        for a, b in pairs
    )
    oracle = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout.split()
    mismatches = [
        (a, b, o) for (a, b), o in zip(pairs, oracle, strict=True) if compare("Debian", a, b) != int(o)
    ]
    assert mismatches == []


def _rpm_versions() -> list[str]:
    fixed = set()
    for path in ALMALINUX.rglob("*.json"):
        for affected in json.loads(path.read_text())["affected"]:
            for r in affected.get("ranges", ()):
                fixed.update(e["fixed"] for e in r["events"] if "fixed" in e)
    return [*sorted(fixed), "1.0~rc1-1", "1.0-1", "1.0^post1-1", "2:1.0-1", "1.0-1.el9_0", "1.0-1.el9"]


def _evr(version: str) -> tuple[str, str, str]:
    epoch, _, rest = version.rpartition(":")
    ver, _, rel = rest.rpartition("-")
    return epoch or "0", ver, rel


def test_rpm_label_compare_agrees():
    versions = _rpm_versions()
    pairs = list(itertools.combinations(versions, 2))
    program = (
        "import json, sys, rpm\n"
        "pairs = json.load(sys.stdin)\n"
        "print(json.dumps([rpm.labelCompare(tuple(a), tuple(b)) for a, b in pairs]))\n"
    )
    oracle = json.loads(
        subprocess.run(
            ["/usr/bin/python3", "-c", program],
            input=json.dumps([[_evr(a), _evr(b)] for a, b in pairs]),
            capture_output=True, text=True, check=True,
        ).stdout
    )  # fmt: skip
    mismatches = [(a, b, o) for (a, b), o in zip(pairs, oracle, strict=True) if compare("Red Hat", a, b) != o]
    assert len(pairs) > 100 and mismatches == []
