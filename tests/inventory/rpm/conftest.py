import subprocess
from pathlib import Path

import pytest

from vigil.inventory.model import OSInfo

FIXTURES = Path(__file__).parent / "fixtures"

# Two spec files: one with an epoch, a `~` pre-release version and a subpackage sharing its source
# rpm; one noarch package without an epoch.
DEMO_SPEC = """\
Name: vigil-demo
Version: 1.2~rc1
Release: 3.el9
Epoch: 2
Summary: Vigil rpm extractor test package
License: MIT
Vendor: Vigil Tests
BuildArch: x86_64
%description
Test package.
%package libs
Summary: Libraries of vigil-demo
%description libs
Test subpackage.
%install
mkdir -p %{buildroot}/usr/lib/vigil-demo %{buildroot}/usr/lib64
echo demo > %{buildroot}/usr/lib/vigil-demo/demo.txt
echo lib > %{buildroot}/usr/lib64/libvigil.so.1
%files
%dir /usr/lib/vigil-demo
/usr/lib/vigil-demo/demo.txt
%files libs
/usr/lib64/libvigil.so.1
"""

DOCS_SPEC = """\
Name: vigil-docs
Version: 0.9
Release: 1
Summary: Vigil rpm extractor test documentation
License: CC0
BuildArch: noarch
%description
Test package.
%install
mkdir -p %{buildroot}/usr/share/doc/vigil-docs
echo docs > %{buildroot}/usr/share/doc/vigil-docs/README
%files
/usr/share/doc/vigil-docs/README
"""


def _run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="session")
def built_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tree whose /var/lib/rpm/rpmdb.sqlite rpm itself wrote: three built packages and a key."""
    work = tmp_path_factory.mktemp("rpmbuild")
    for name, spec in (("demo", DEMO_SPEC), ("docs", DOCS_SPEC)):
        spec_file = work / f"{name}.spec"
        spec_file.write_text(spec)
        _run(
            "rpmbuild", "-bb", "--quiet", str(spec_file),
            "--define", f"_topdir {work / 'top'}",
            "--define", "_build_id_links none",
        )  # fmt: skip
    root = work / "root"
    rpms = sorted(str(p) for p in (work / "top" / "RPMS").rglob("*.rpm"))
    common = ("--root", str(root), "--dbpath", "/var/lib/rpm")
    _run("rpm", *common, "-i", "--justdb", "--nodeps", "--ignorearch", "--noscripts", *rpms)
    _run("rpm", *common, "--import", str(FIXTURES / "test-signing-key.asc"))
    return root


@pytest.fixture
def el9() -> OSInfo:
    return OSInfo(family="redhat", id="almalinux", version_id="9.4")
