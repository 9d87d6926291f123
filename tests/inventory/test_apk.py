import re

import pytest
from tests.inventory.extracting import FIXTURES, place, run_extractor

from vigil.inventory.extractor import ExtractError
from vigil.inventory.model import OSInfo
from vigil.inventory.os.apk import INSTALLED, ApkExtractor

ALPINE = OSInfo(family="alpine", id="alpine", version_id="3.18.0")


def _records(text: str) -> list[tuple[str, str]]:
    """(P, V) of each record, read independently of the extractor."""
    return [
        (re.search(r"^P:(.*)$", r, re.M).group(1), re.search(r"^V:(.*)$", r, re.M).group(1))
        for r in text.split("\n\n")
        if re.search(r"^P:", r, re.M)
    ]


@pytest.mark.parametrize("fixture", ["single", "no-origin", "different-arch"])
def test_every_record_becomes_a_package(tmp_path, fixture):
    data = (FIXTURES / "apk" / fixture).read_bytes()
    packages, ctx = run_extractor(ApkExtractor(), place(tmp_path, INSTALLED, data), INSTALLED, ALPINE)
    assert [(p.name, p.version) for p in packages] == _records(data.decode())
    assert not ctx.errors


def test_origin_is_the_source_name_and_files_are_owned(tmp_path):
    data = (FIXTURES / "apk" / "single").read_bytes()
    packages, ctx = run_extractor(ApkExtractor(), place(tmp_path, INSTALLED, data), INSTALLED, ALPINE)
    base = packages[0]
    assert (base.name, base.source_name, base.arch) == (
        "alpine-baselayout-data",
        "alpine-baselayout",
        "x86_64",
    )
    assert base.purl.startswith(
        "pkg:apk/alpine/alpine-baselayout-data@3.4.3-r1?arch=x86_64&distro=alpine-3.18.0"
    )
    assert ctx.owned["/etc/fstab"] == "alpine-baselayout-data"


def test_without_origin_the_package_is_its_own_source(tmp_path):
    data = (FIXTURES / "apk" / "no-origin").read_bytes()
    packages, _ = run_extractor(ApkExtractor(), place(tmp_path, INSTALLED, data), INSTALLED)
    assert all(p.source_name for p in packages)
    assert any(p.source_name == p.name for p in packages)


def test_garbage_is_an_error(tmp_path):
    with pytest.raises(ExtractError):
        run_extractor(ApkExtractor(), place(tmp_path, INSTALLED, "not an apk database\n"), INSTALLED)
