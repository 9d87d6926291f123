"""Inventory packages from Go build information: the toolchain as `stdlib`, the main module, every dependency.

Versions are written without Go's `v` prefix, as OSV's Go ecosystem writes them (`0.3.5`,
`0.0.0-20220907171357-04be3eba64a2`); the purl keeps the module version Go writes (`@v0.3.5`), as
packageurl's Go helper and govulncheck do. The toolchain `go1.21.5` is the `stdlib` module at `1.21.5`,
the name and numbering the Go vulnerability database uses for the standard library (`go1.19` is
`1.19.0`, `go1.21rc2` is `1.21.0-rc.2`).

A replaced dependency (`=>` line) is reported as its replacement, the module whose code is in the binary,
as `go version -m`, osv-scalibr and Trivy show it. A replacement by a local directory has no module path
or version of its own: the replaced module is reported with a note, since the local copy usually is that
module, perhaps patched.

A main module built from a source tree has the version `(devel)`: it is kept, so the program is listed,
with that version, no version in its purl and a note; no advisory range can match it. A binary built
outside module mode (all of Debian's Go packages) has no main module and no dependencies: only `stdlib`.
"""

from __future__ import annotations

import re

from vigil.enums import PackageManager
from vigil.inventory.language.golang.buildinfo import BuildInfo, Module
from vigil.inventory.model import Package
from vigil.inventory.purl import language_purl

DEVEL = "(devel)"
_GO_RELEASE = re.compile(r"go(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:(rc|beta)(\d+))?")


def go_packages(info: BuildInfo, location: str, extractor: str) -> list[Package]:
    """`stdlib` at the toolchain's version, then the main module (if built in module mode), then deps."""
    version, notes = toolchain_version(info.go_version)
    packages = [_package("stdlib", version, location, extractor, notes)]
    if info.main is not None and info.main.path:
        packages.append(_module_package(info.main, location, extractor))
    packages.extend(_module_package(dep, location, extractor) for dep in info.deps if dep.path)
    return packages


def toolchain_version(go_version: str) -> tuple[str, tuple[str, ...]]:
    """`go1.22.3 X:boringcrypto` → `1.22.3`; another toolchain (`devel …`) keeps its first word, noted."""
    first = go_version.split(" ", 1)[0]
    release = _GO_RELEASE.fullmatch(first)
    if release is None:
        note = f"built with a Go toolchain that is not a release: {go_version}"
        return first.removeprefix("go"), (note,)
    major, minor, patch, pre, pre_number = release.groups()
    version = f"{major}.{minor or 0}.{patch or 0}" + (f"-{pre}.{pre_number}" if pre else "")
    return version, ()


def _module_package(module: Module, location: str, extractor: str) -> Package:
    replace = module.replace
    if replace is None:
        notes: tuple[str, ...] = ()
    elif _is_local_directory(replace.path):
        notes = (f"replaced by the local directory {replace.path}: the code may differ from this version",)
    else:
        notes = (f"replaces {module.path} {module.version}",)
        module = replace
    version = module.version.removeprefix("v")
    if version in ("", DEVEL):
        version = DEVEL
        notes = (*notes, "version (devel): built from a source tree, not a released module version")
    return _package(module.path, version, location, extractor, notes)


def _package(path: str, version: str, location: str, extractor: str, notes: tuple[str, ...]) -> Package:
    namespace, _, name = path.rpartition("/")
    # a version that is not a module version (devel builds) stays out of the purl
    purl_version = f"v{version}" if version[:1].isdigit() else ""
    return Package(
        name=path,
        version=version,
        type="golang",
        package_manager=PackageManager.GOBINARY,
        purl=language_purl("golang", name, purl_version, namespace or None),
        extractor=extractor,
        locations=(location,),
        notes=notes,
    )


def _is_local_directory(path: str) -> bool:
    """Go's rule for a replacement path that is a directory, not a module: `./`, `../` or absolute."""
    return path.startswith(("./", "../", "/", ".\\", "..\\")) or path in (".", "..") or path[1:3] == ":\\"
