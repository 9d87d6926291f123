"""Package URLs (purl-spec) for inventory packages, built with packageurl-python."""

from __future__ import annotations

from packageurl import PackageURL

from vigil.inventory.model import OSInfo

# purl types whose namespace is the distribution (pkg:deb/debian/…, pkg:rpm/almalinux/…)
OS_PURL_TYPES = frozenset({"deb", "rpm", "apk"})


def distro_qualifier(os: OSInfo | None) -> str | None:
    """`debian-12`, `ubuntu-22.04`, `almalinux-9.4`, `alpine-3.19.1`: the purl `distro` qualifier."""
    if os is None or not os.id:
        return None
    return f"{os.id}-{os.version_id}" if os.version_id else os.id


def os_purl(
    type: str,
    os: OSInfo | None,
    name: str,
    version: str,
    *,
    arch: str | None = None,
    epoch: int | None = None,
    source: str | None = None,
) -> str:
    """The purl of an OS package, with the distro (and arch, epoch, upstream source) qualifiers."""
    qualifiers: dict[str, str] = {}
    if arch:
        qualifiers["arch"] = arch
    if epoch:
        qualifiers["epoch"] = str(epoch)
    distro = distro_qualifier(os)
    if distro:
        qualifiers["distro"] = distro
    if source and source != name:
        qualifiers["upstream"] = source
    namespace = os.id if os and os.id else None
    return PackageURL(type, namespace, name, version, qualifiers or None).to_string()


def language_purl(type: str, name: str, version: str, namespace: str | None = None) -> str:
    return PackageURL(type, namespace, name, version or None).to_string()
