"""How each installed package is looked up: which namespace, under which name, compared how.

Distribution rules live here: Debian and Ubuntu advisories name source packages (matched with the
source version); RPM distributions name binary packages (epoch:version-release); Alpine names the
origin; only the running (or, in an image, the default) kernel is matched; a language package that an
OS package installed is matched through that OS package only.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vigil.advisories.namespaces import (
    LANGUAGE_ECOSYSTEMS,
    PURL_TYPE_ECOSYSTEMS,
    oracle_build_channel,
    os_namespace,
)
from vigil.enums import Ecosystem, PackageManager
from vigil.inventory.model import Inventory, KernelInfo, OSInfo, Package
from vigil.matching.model import SkippedPackage

RPM_KERNELS = frozenset(
    {"kernel", "kernel-core", "kernel-modules", "kernel-modules-core", "kernel-modules-extra", "kernel-devel",
     "kernel-default", "kernel-default-devel", "kernel-uek", "kernel-uek-core", "kernel-uek-modules",
     "kernel-rt", "kernel-rt-core", "kernel-rt-modules", "kernel-debug", "kernel-debug-core"}
)  # fmt: skip
_DEB_KERNEL = re.compile(r"^linux-(?:image|modules|headers)(?:-extra|-unsigned)?-(?P<release>\d\S*)$")


@dataclass(frozen=True, slots=True)
class LookupTarget:
    package: Package
    namespace: str
    name: str  # as the advisories name it
    version: str  # in the version scheme of `ecosystem`
    ecosystem: Ecosystem  # the one whose version scheme compares `version`
    index: int = 0  # the package's position in the inventory (one package may have two lookups)
    via_source: bool = False  # an rpm looked up by its source rpm's name: only `src` entries apply
    arch: str | None = None  # the architecture entries must name, when not the package's (below)
    # Oracle Linux: the build flavour (`ksplice`, `fips`, `uek`) whose fixes alone apply; None: normal builds
    build: str | None = None


def lookup_targets(
    inventory: Inventory, wanted: Callable[[Package], bool] | None = None
) -> tuple[list[LookupTarget], list[SkippedPackage]]:
    """How the matcher looks up the inventory's packages (or only the `wanted` ones: a re-evaluation after
    an advisory update), and the packages it does not look up, with why."""
    targets: list[LookupTarget] = []
    skipped: list[SkippedPackage] = []
    os_namespace = _os_namespace(inventory.os)
    oracle = os_namespace is not None and os_namespace[1] is Ecosystem.ORACLE_LINUX
    host_arch = _oracle_host_arch(inventory.packages) if oracle else None
    for index, package in enumerate(inventory.packages):
        if wanted is not None and not wanted(package):
            continue
        reason = _skip_reason(package, inventory.kernel, os_namespace)
        if reason:
            skipped.append(SkippedPackage(package.name, package.version, package.purl, reason))
            continue
        target = _target(package, os_namespace, index)
        if target is None:
            skipped.append(SkippedPackage(package.name, package.version, package.purl, "no advisory source"))
            continue
        if oracle and package.type == "rpm":
            target = _oracle_target(target, host_arch)
        targets.append(target)
        if package.type == "rpm" and package.source_name and package.source_name != package.name:
            # Red Hat's data sometimes names only the source rpm of a fix: reach it through SOURCERPM
            targets.append(
                dataclasses.replace(target, index=index, name=package.source_name, via_source=True)
            )
    return targets, skipped


def _oracle_target(target: LookupTarget, host_arch: str | None) -> LookupTarget:
    """Oracle's OVAL tests the arch of `oraclelinux-release`, not of each package, and keeps ksplice, FIPS
    and UEK-built packages apart from normal builds of the same name: a noarch package takes the host's
    fixes, and each build only its own flavour's."""
    package = target.package
    arch = host_arch if package.arch == "noarch" and host_arch else package.arch
    build = oracle_build_channel(package.name, package.release or "")
    return dataclasses.replace(target, arch=arch, build=build)


def _oracle_host_arch(packages: Sequence[Package]) -> str | None:
    """The host's architecture, as Oracle's "Oracle Linux arch is X" tests read it."""
    release = next((p for p in packages if p.name == "oraclelinux-release" and p.type == "rpm"), None)
    if release is not None and release.arch not in (None, "noarch"):
        return release.arch
    counts = Counter(p.arch for p in packages if p.type == "rpm" and p.arch not in (None, "noarch"))
    return counts.most_common(1)[0][0] if counts else None


def _os_namespace(os: OSInfo | None) -> tuple[str, Ecosystem] | None:
    """(namespace, scheme ecosystem) of the OS packages, e.g. (`debian:12`, `Debian`)."""
    found = None if os is None else os_namespace(os.id, os.version_id)
    return None if found is None else (found[0], Ecosystem(found[1]))


def _skip_reason(
    package: Package, kernel: KernelInfo | None, os_namespace: tuple[str, Ecosystem] | None
) -> str | None:
    if package.owner:
        return f"installed by OS package {package.owner}: matched through it"
    if package.package_manager == PackageManager.OS:
        if os_namespace is None:
            return "the OS release is unknown or not supported: no advisories apply"
        active = kernel.running or kernel.default if kernel else None
        if active and is_kernel_package(package) and not _is_active_kernel(package, active):
            how = "running" if kernel and kernel.running else "booted by default"
            return f"installed kernel that is not the one {how} ({active})"
    return None


def is_kernel_package(package: Package) -> bool:
    if package.type == "deb":
        return _DEB_KERNEL.match(package.name) is not None
    if package.type == "rpm":
        return package.name in RPM_KERNELS
    return package.type == "apk" and package.name.startswith("linux-") and package.name not in (
        "linux-firmware", "linux-headers", "linux-pam",
    ) and not package.name.startswith(("linux-firmware-", "linux-tools"))  # fmt: skip


def _is_active_kernel(package: Package, active: str) -> bool:
    if package.type == "deb":
        match = _DEB_KERNEL.match(package.name)
        release = match["release"] if match else ""
        return active == release or active.startswith(release + "-")  # headers without flavour
    if package.type == "rpm":
        full = f"{package.version}-{package.release}"
        if active in (full, f"{full}.{package.arch}"):
            return True
        # SUSE: uname 5.14.21-150500.55.39-default for kernel-default 5.14.21-150500.55.39.1
        return active.startswith(f"{package.version}-{(package.release or '').rsplit('.', 1)[0]}")
    flavour = active.rsplit("-", 1)[-1]
    return package.name == f"linux-{flavour}"


def _target(package: Package, os_namespace: tuple[str, Ecosystem] | None, index: int) -> LookupTarget | None:
    if package.package_manager == PackageManager.OS:
        if os_namespace is None:
            return None
        namespace, ecosystem = os_namespace
        if package.type == "deb":
            name, version = package.source_name or package.name, package.source_version or package.version
            if name == "linux-signed" or name.startswith("linux-signed-"):
                # signed kernel images come from `linux-signed-amd64` (6.1.76+1); advisories name `linux`
                name, version = "linux", package.version
            return LookupTarget(package, namespace, name, version, ecosystem, index)
        if package.type == "rpm":
            evr = f"{package.version}-{package.release}" if package.release else package.version
            if package.epoch:
                evr = f"{package.epoch}:{evr}"
            return LookupTarget(package, namespace, package.name, evr, ecosystem, index)
        if package.type == "apk":
            return LookupTarget(
                package, namespace, package.source_name or package.name, package.version, ecosystem, index
            )
        return None
    language = PURL_TYPE_ECOSYSTEMS.get(package.type)
    if language is None or not package.version:
        return None
    return LookupTarget(
        package, LANGUAGE_ECOSYSTEMS[language], package.name, package.version, Ecosystem(language), index
    )
