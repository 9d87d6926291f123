"""Go binaries: what the extractor reads must be what the Go toolchain reads (`go version -m`).

Binaries: osv-scalibr's test binary (Go 1.22, a module replacement), binaries built here by Debian's Go
1.19 for six architectures (32/64-bit, both byte orders) with versioned dependencies, a module
replacement and a local-directory replacement, a `go install`ed tool, a cgo/boringcrypto build linked by
gcc, the Go 1.13-1.17 pointer layout, a binary without section headers, and Go programs Debian ships.
"""

import hashlib
import lzma
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.inventory.extracting import run_extractor
from tests.inventory.language.golang.gobuild import (
    ARCHES,
    Oracle,
    OracleModule,
    build_pre_118,
    go,
    go_version_m,
    without_section_headers,
)

from vigil.inventory.language.binaries import BinaryExtractor
from vigil.inventory.language.elf import ElfFile
from vigil.inventory.language.golang import read_build_info, toolchain_version

FIXTURES = Path(__file__).parent / "fixtures"
SCALIBR_SHA256 = "a4ef2788c18165200938743c49f03665b094243e6f22942f11c90514f74ca9d6"


@pytest.fixture(scope="module")
def scalibr_binary(tmp_path_factory):
    """osv-scalibr's binary_with_module_replacement-linux-amd64, byte-identical (stored xz-compressed)."""
    data = lzma.decompress((FIXTURES / "binary_with_module_replacement-linux-amd64.xz").read_bytes())
    assert hashlib.sha256(data).hexdigest() == SCALIBR_SHA256
    path = tmp_path_factory.mktemp("scalibr") / "binary_with_module_replacement"
    path.write_bytes(data)
    path.chmod(0o755)
    return path


@pytest.fixture(scope="module")
def pre_118_binary(tmp_path_factory):
    return build_pre_118(tmp_path_factory.mktemp("pre-1.18"))


def _debian_go_programs() -> list[Path]:
    """`age` (apt: age) and the toolchain's own gofmt (apt: golang-go), as Debian built them."""
    goroot = subprocess.run([go(), "env", "GOROOT"], capture_output=True, text=True, check=True).stdout
    age = shutil.which("age")
    assert age is not None, "apt-get install age"
    return [Path(age), Path(goroot.strip()) / "bin" / "gofmt"]


def _extract(binary: Path):
    return run_extractor(BinaryExtractor(), binary.parent, "/" + binary.name)


def _reading(binary: Path) -> Oracle:
    """The extractor's reading of the build information, in the oracle's shape."""
    with binary.open("rb") as f:
        elf = ElfFile.parse(f)
        assert elf is not None
        info = read_build_info(elf)
    assert info is not None
    main = OracleModule(info.main.path, info.main.version) if info.main else None
    deps = tuple(
        OracleModule(d.path, d.version, (d.replace.path, d.replace.version) if d.replace else None)
        for d in info.deps
    )
    return Oracle(info.go_version, info.path, main, deps)


def _packages(binary: Path) -> list[tuple[str, str, str]]:
    packages, ctx = _extract(binary)
    assert not ctx.errors
    assert all(p.locations == ("/" + binary.name,) for p in packages)
    assert {(p.type, p.package_manager, p.extractor) for p in packages} == {
        ("golang", "GOBINARY", "language/binary")
    }
    return [(p.name, p.version, p.purl) for p in packages]


def test_every_binary_reads_as_go_version_m_reads_it(go_binaries, scalibr_binary, pre_118_binary, tmp_path):
    binaries = [
        scalibr_binary,
        *go_binaries.apps.values(),
        go_binaries.tool,
        go_binaries.boring,
        pre_118_binary,
        without_section_headers(go_binaries.apps["amd64"], tmp_path / "sstripped"),
        *_debian_go_programs(),
    ]
    for binary in binaries:
        assert _reading(binary) == go_version_m(binary), binary


def test_a_replaced_dependency_is_reported_as_its_replacement(scalibr_binary):
    assert _packages(scalibr_binary) == [
        ("stdlib", "1.22.0", "pkg:golang/stdlib@v1.22.0"),
        ("binary_with_module_replacement", "(devel)", "pkg:golang/binary_with_module_replacement"),
        (
            "github.com/golang/xerrors",
            "0.0.0-20220907171357-04be3eba64a2",
            "pkg:golang/github.com/golang/xerrors@v0.0.0-20220907171357-04be3eba64a2",
        ),
    ]
    packages, _ = _extract(scalibr_binary)
    assert packages[1].notes == ("version (devel): built from a source tree, not a released module version",)
    assert packages[2].notes == ("replaces golang.org/x/xerrors v0.0.0-20220907171357-04be3eba64a2",)


@pytest.mark.parametrize("arch", ARCHES)
def test_module_dependencies_on_every_architecture(go_binaries, arch):
    assert _packages(go_binaries.apps[arch]) == [
        ("stdlib", "1.19.8", "pkg:golang/stdlib@v1.19.8"),
        ("example.com/app", "(devel)", "pkg:golang/example.com/app"),
        ("example.com/greet", "1.2.3", "pkg:golang/example.com/greet@v1.2.3"),
        ("example.com/fork", "1.0.1", "pkg:golang/example.com/fork@v1.0.1"),
        ("example.com/patched", "0.5.0", "pkg:golang/example.com/patched@v0.5.0"),
    ]


def test_a_local_directory_replacement_keeps_the_replaced_module_with_a_note(go_binaries):
    packages, _ = _extract(go_binaries.apps["amd64"])
    patched = next(p for p in packages if p.name == "example.com/patched")
    assert patched.notes == (
        "replaced by the local directory ../patched: the code may differ from this version",
    )


def test_go_install_records_the_main_module_version(go_binaries):
    assert _packages(go_binaries.tool) == [
        ("stdlib", "1.19.8", "pkg:golang/stdlib@v1.19.8"),
        ("example.com/tool", "1.4.0", "pkg:golang/example.com/tool@v1.4.0"),
        ("example.com/greet", "1.2.3", "pkg:golang/example.com/greet@v1.2.3"),
    ]


def test_an_experiment_suffix_is_not_part_of_the_toolchain_version(go_binaries):
    assert go_version_m(go_binaries.boring).go_version == "go1.19.8 X:boringcrypto"
    assert _packages(go_binaries.boring)[0] == ("stdlib", "1.19.8", "pkg:golang/stdlib@v1.19.8")


def test_the_pre_1_18_pointer_layout(pre_118_binary):
    assert _packages(pre_118_binary) == [
        ("stdlib", "1.16.15", "pkg:golang/stdlib@v1.16.15"),
        ("example.com/old", "0.9.0", "pkg:golang/example.com/old@v0.9.0"),
        ("golang.org/x/text", "0.3.5", "pkg:golang/golang.org/x/text@v0.3.5"),
        ("github.com/fork/errors", "0.9.2", "pkg:golang/github.com/fork/errors@v0.9.2"),
    ]


def test_a_binary_without_section_headers_is_read_through_its_data_segment(go_binaries, tmp_path):
    stripped = without_section_headers(go_binaries.apps["amd64"], tmp_path / "app")
    assert _packages(stripped) == _packages(go_binaries.apps["amd64"])


def test_debian_go_programs_built_outside_module_mode_report_the_toolchain_only():
    for program in _debian_go_programs():
        expected = go_version_m(program)
        assert expected.main is None and not expected.deps
        version = expected.go_version.removeprefix("go")
        assert _packages(program) == [("stdlib", version, f"pkg:golang/stdlib@v{version}")]


def test_macos_and_windows_binaries_scripts_and_other_elf_files_yield_nothing(go_binaries, tmp_path):
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\necho hello\n")
    true = Path(shutil.which("true") or "/bin/true")
    for path in (*go_binaries.foreign, script, true):
        packages, ctx = run_extractor(BinaryExtractor(), path.parent, "/" + path.name)
        assert (packages, ctx.errors) == ([], []), path


@pytest.mark.parametrize(
    ("go_version", "version"),
    [
        ("go1.21.5", "1.21.5"),
        ("go1.19", "1.19.0"),
        ("go1.21rc2", "1.21.0-rc.2"),
        ("go1.18beta1", "1.18.0-beta.1"),
        ("go1.22.3 X:boringcrypto", "1.22.3"),
    ],
)
def test_toolchain_versions_are_numbered_as_the_go_vulnerability_database_numbers_stdlib(go_version, version):
    assert toolchain_version(go_version) == (version, ())


def test_a_development_toolchain_is_kept_and_noted():
    go_version = "devel go1.23-2b2d3f4e5a Tue Jan 9 10:11:12 2024 +0000"
    assert toolchain_version(go_version) == (
        "devel",
        (f"built with a Go toolchain that is not a release: {go_version}",),
    )
