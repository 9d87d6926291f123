"""Real Go binaries for the tests, built offline with Debian's Go toolchain (apt: golang-go), and its oracle.

Modules come from a `file://` module proxy written here (GOPROXY=file://…, no checksum database), so the
binaries carry real `dep` lines with versions and sums, a module replacement and a local-directory
replacement, exactly as `go build` writes them. `go version -m` (the same toolchain's `debug/buildinfo`)
is the oracle the extractor's reading is compared with. A missing `go` fails the tests that need it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

# module path, version → files of the module (go.mod included)
PROXY_MODULES: dict[tuple[str, str], dict[str, str]] = {
    ("example.com/greet", "v1.2.3"): {
        "go.mod": "module example.com/greet\n\ngo 1.19\n",
        "greet.go": 'package greet\n\nfunc Hello() string { return "hello" }\n',
    },
    ("example.com/fork", "v1.0.1"): {
        "go.mod": "module example.com/old\n\ngo 1.19\n",  # a fork keeps the module path it replaces
        "old.go": "package old\n\nfunc Answer() int { return 42 }\n",
    },
    ("example.com/tool", "v1.4.0"): {
        "go.mod": "module example.com/tool\n\ngo 1.19\n\nrequire example.com/greet v1.2.3\n",
        "main.go": 'package main\n\nimport "example.com/greet"\n\nfunc main() { println(greet.Hello()) }\n',
    },
}

APP_GO_MOD = """module example.com/app

go 1.19

require (
\texample.com/greet v1.2.3
\texample.com/old v1.0.0
\texample.com/patched v0.5.0
)

replace example.com/old v1.0.0 => example.com/fork v1.0.1

replace example.com/patched v0.5.0 => ../patched
"""

APP_MAIN = """package main

import (
\t"example.com/greet"
\t"example.com/old"
\t"example.com/patched"
)

func main() { println(greet.Hello(), old.Answer(), patched.Fixed()) }
"""

PATCHED = {
    "go.mod": "module example.com/patched\n\ngo 1.19\n",
    "patched.go": "package patched\n\nfunc Fixed() bool { return true }\n",
}

# 64- and 32-bit, little and big endian: amd64, arm64, 386, arm (LE); s390x (64 BE), mips (32 BE)
ARCHES = ("amd64", "arm64", "386", "arm", "s390x", "mips")


def go() -> str:
    path = shutil.which("go")
    if path is None:
        raise RuntimeError("the Go toolchain is not installed: apt-get install golang-go")
    return path


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def write_proxy(root: Path) -> Path:
    """A module proxy directory in the layout GOPROXY=file:// reads: list, .info, .mod, .zip per version."""
    for (module, version), files in PROXY_MODULES.items():
        at = root / module / "@v"
        at.mkdir(parents=True, exist_ok=True)
        (at / "list").write_text(version + "\n")
        (at / f"{version}.info").write_text(f'{{"Version":"{version}","Time":"2024-01-02T03:04:05Z"}}')
        (at / f"{version}.mod").write_text(files["go.mod"])
        with zipfile.ZipFile(at / f"{version}.zip", "w") as archive:
            for name, text in files.items():
                archive.writestr(f"{module}@{version}/{name}", text)
    return root


def go_env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GO")}
    env.update(
        GOPROXY=f"file://{write_proxy(work / 'proxy')}",
        GOSUMDB="off",
        GOFLAGS="-mod=mod -modcacherw",
        GOMODCACHE=str(work / "modcache"),
        GOPATH=str(work / "gopath"),
        GOCACHE=os.environ.get("GOCACHE") or str(Path.home() / ".cache" / "go-build"),  # kept across runs
        GOTOOLCHAIN="local",
        GOWORK="off",
        GOENV="off",
        CGO_ENABLED="0",
    )
    return env


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=240, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {proc.stderr.strip()}")
    return proc.stdout


@dataclass(frozen=True)
class Built:
    apps: dict[str, Path]  # GOARCH → the app binary (module deps, a replacement, a local replacement)
    tool: Path  # installed with `go install example.com/tool@v1.4.0`: the main module has a version
    boring: Path  # cgo, externally linked by gcc, GOEXPERIMENT=boringcrypto: "go1.19.8 X:boringcrypto"
    foreign: tuple[Path, ...]  # the app for macOS (Mach-O) and Windows (PE), with build information too

    @classmethod
    def under(cls, work: Path) -> Built:
        bin_dir = work / "bin"
        return cls(
            {arch: bin_dir / f"app-{arch}" for arch in ARCHES},
            work / "gobin" / "tool",
            bin_dir / "app-boring",
            (bin_dir / "app-darwin", bin_dir / "app.exe"),
        )


def build_all(work: Path) -> Built:
    env = go_env(work)
    built = Built.under(work)
    _write(work / "patched", PATCHED)
    _write(work / "app", {"go.mod": APP_GO_MOD, "main.go": APP_MAIN})

    def build(out: Path, **extra: str) -> None:
        _run([go(), "build", "-trimpath", "-o", str(out), "."], work / "app", {**env, **extra})

    for arch, out in built.apps.items():
        build(out, GOARCH=arch)
    build(built.boring, GOARCH="amd64", CGO_ENABLED="1", GOEXPERIMENT="boringcrypto")
    build(built.foreign[0], GOOS="darwin", GOARCH="arm64")
    build(built.foreign[1], GOOS="windows")
    _run([go(), "install", "example.com/tool@v1.4.0"], work, {**env, "GOBIN": str(built.tool.parent)})
    return built


def built_once(factory: pytest.TempPathFactory) -> Built:
    """The binaries, built once per test session: under xdist the first worker builds, the others wait."""
    base = factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    work = shared / "vigil-go-binaries"
    with open(shared / ".vigil-go-binaries.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (work / ".complete").exists():
                shutil.rmtree(work, ignore_errors=True)
                work.mkdir()
                build_all(work)
                (work / ".complete").touch()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return Built.under(work)


@dataclass(frozen=True)
class OracleModule:
    path: str
    version: str
    replace: tuple[str, str] | None = None


@dataclass(frozen=True)
class Oracle:
    """What `go version -m` reads from a binary."""

    go_version: str
    path: str
    main: OracleModule | None
    deps: tuple[OracleModule, ...]


def go_version_m(binary: Path) -> Oracle:
    """The Go toolchain's own reading of a binary's build information (it needs an execute bit)."""
    out = _run([go(), "version", "-m", str(binary)], binary.parent, {**os.environ, "GOTOOLCHAIN": "local"})
    first, *lines = out.splitlines()
    go_version = first.split(": ", 1)[1]
    path, main, deps = "", None, []
    for line in lines:
        fields = line.lstrip("\t").split("\t")
        if fields[0] == "path":
            path = fields[1]
        elif fields[0] == "mod":
            main = OracleModule(fields[1], fields[2])
        elif fields[0] == "dep":
            deps.append(OracleModule(fields[1], fields[2]))
        elif fields[0] == "=>":
            deps[-1] = OracleModule(deps[-1].path, deps[-1].version, (fields[1], fields[2]))
    return Oracle(go_version, path, main, tuple(deps))


# The Go 1.13-1.17 layout, built with gcc: the `.go.buildinfo` section holds the magic, the pointer size,
# flags 0 (little endian, no inline strings) and two pointers to Go string headers {data, length}; the
# module text is framed by cmd/go's sentinels. Go 1.19's own `debug/buildinfo` reads the result.
PRE_118_SOURCE = r"""
struct gostring { const char *data; long len; };
static const char version[] = "go1.16.15";
static const char modinfo[] =
    "\x30\x77\xaf\x0c\x92\x74\x08\x02\x41\xe1\xc1\x07\xe6\xd6\x18\xe6"
    "path\texample.com/old/cmd/old\n"
    "mod\texample.com/old\tv0.9.0\n"
    "dep\tgolang.org/x/text\tv0.3.5\n"
    "dep\tgithub.com/pkg/errors\tv0.9.1\n"
    "=>\tgithub.com/fork/errors\tv0.9.2\t\n"
    "\xf9\x32\x43\x31\x86\x18\x20\x72\x00\x82\x42\x10\x41\x16\xd8\xf2";
static const struct gostring version_header = {version, sizeof(version) - 1};
static const struct gostring modinfo_header = {modinfo, sizeof(modinfo) - 1};
struct buildinfo {
    char magic[14];
    unsigned char pointer_size, flags;
    const struct gostring *version, *modinfo;
};
__attribute__((used, section(".go.buildinfo"), aligned(16)))
const struct buildinfo go_buildinfo = {
    "\xff Go buildinf:", sizeof(void *), 0, &version_header, &modinfo_header};
int main(void) { return 0; }
"""


def build_pre_118(work: Path) -> Path:
    gcc = shutil.which("gcc")
    if gcc is None:
        raise RuntimeError("gcc is not installed: apt-get install gcc")
    work.mkdir(parents=True, exist_ok=True)
    (work / "old.c").write_text(PRE_118_SOURCE)
    _run([gcc, "-O1", "-o", "old", "old.c"], work, dict(os.environ))
    return work / "old"


def without_section_headers(binary: Path, out: Path) -> Path:
    """A copy with no section header table, as `sstrip` leaves a 64-bit little-endian binary."""
    data = bytearray(binary.read_bytes())
    data[0x28:0x30] = bytes(8)  # e_shoff
    data[0x3C:0x40] = bytes(4)  # e_shnum, e_shstrndx
    out.write_bytes(bytes(data))
    out.chmod(0o755)
    return out
