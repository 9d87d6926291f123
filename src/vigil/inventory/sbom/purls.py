"""One SBOM component as an inventory `Package`: from Vigil's own properties, else from its purl.

Another tool's SBOM says less than Vigil's inventory: the purl gives the name, version, architecture and
epoch, Syft's `upstream` qualifier and Trivy's `Src*` properties the source package, and their location
properties where it was found. That is what `grype sbom:` reads too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from packageurl import PackageURL

from vigil.enums import PackageManager
from vigil.inventory.model import Package
from vigil.inventory.os.rpm.extractor import split_source_rpm
from vigil.inventory.sbom.properties import read_package_properties

_MANAGER_BY_PURL_TYPE = {
    "deb": PackageManager.OS,
    "rpm": PackageManager.OS,
    "apk": PackageManager.OS,
    "pypi": PackageManager.PYTHONPKG,
    "npm": PackageManager.NODEPKG,
    "maven": PackageManager.JAR,
    "golang": PackageManager.GOBINARY,
    "cargo": PackageManager.CARGO,
    "gem": PackageManager.GEMSPEC,
    "composer": PackageManager.COMPOSER,
    "nuget": PackageManager.DOTNET_CORE,
}
# Trivy's `PkgType` → Inspector's packageManager, where it says more than the purl type
_MANAGER_BY_TRIVY_TYPE = {
    "npm": PackageManager.NPM, "yarn": PackageManager.YARN, "pnpm": PackageManager.NPM,
    "gomod": PackageManager.GOMOD, "pom": PackageManager.POM, "pip": PackageManager.PIP,
    "pipenv": PackageManager.PIPENV, "poetry": PackageManager.POETRY, "bundler": PackageManager.BUNDLER,
    "nuget": PackageManager.NUGET,
}  # fmt: skip
_TRIVY = "aquasecurity:trivy:"
SYFT_LOCATION = "syft:location:"


def package_from_component(
    purl_text: str, name: str | None, version: str | None, props: Mapping[str, str], extractor: str
) -> Package | None:
    """The package a component describes, or None when its purl is of a type Vigil does not match."""
    purl = PackageURL.from_string(purl_text)  # ValueError for a malformed purl
    manager = _MANAGER_BY_PURL_TYPE.get(purl.type)
    if manager is None:
        return None
    vigil = read_package_properties(props)
    if vigil:  # Vigil's own SBOM: every field as the inventory had it
        fields = {"extractor": extractor, "package_manager": manager, **vigil}
        return Package(
            name=name or purl.name, version=version or "", type=purl.type, purl=purl_text, **fields
        )
    qualifiers = purl.qualifiers if isinstance(purl.qualifiers, dict) else {}
    if purl.type == "deb":
        identity = _deb(purl, qualifiers, props)
    elif purl.type == "rpm":
        identity = _rpm(purl, qualifiers, props)
    elif purl.type == "apk":
        source = props.get(f"{_TRIVY}SrcName") or qualifiers.get("upstream")
        identity = {"name": purl.name, "version": purl.version or "", "source_name": source}
    else:
        identity = {"name": _language_name(purl), "version": _language_version(purl)}
    return Package(
        type=purl.type,
        purl=purl_text,
        extractor=extractor,
        package_manager=_MANAGER_BY_TRIVY_TYPE.get(props.get(f"{_TRIVY}PkgType", ""), manager),
        arch=qualifiers.get("arch"),
        locations=_locations(props),
        **identity,
    )


def _deb(purl: PackageURL, qualifiers: Mapping[str, str], props: Mapping[str, str]) -> dict[str, Any]:
    version = purl.version or ""
    epoch = qualifiers.get("epoch")
    if epoch and ":" not in version:  # Trivy: the epoch as a qualifier; Syft: inside the version
        version = f"{epoch}:{version}"
    elif ":" in version:
        epoch = version.split(":", 1)[0]
    source_name, source_version = _upstream(qualifiers.get("upstream"))
    if props.get(f"{_TRIVY}SrcName"):
        source_name = props[f"{_TRIVY}SrcName"]
        source_version = _trivy_source_version(props, separator="-")
    return {
        "name": purl.name,
        "version": version,
        "epoch": int(epoch) if epoch and epoch.isdigit() and int(epoch) else None,
        "source_name": source_name,
        "source_version": source_version,
    }


def _rpm(purl: PackageURL, qualifiers: Mapping[str, str], props: Mapping[str, str]) -> dict[str, Any]:
    evr = purl.version or ""
    epoch = qualifiers.get("epoch")
    if ":" in evr:
        epoch, evr = evr.split(":", 1)
    version, _, release = evr.rpartition("-") if "-" in evr else (evr, "", None)
    source = split_source_rpm(qualifiers["upstream"]) if qualifiers.get("upstream") else None
    source_name, source_version = source if source else (None, None)
    if props.get(f"{_TRIVY}SrcName"):
        source_name = props[f"{_TRIVY}SrcName"]
        source_version = _trivy_source_version(props, separator="-", with_epoch=False)
    return {
        "name": purl.name,
        "version": version,
        "release": release or None,
        "epoch": int(epoch) if epoch and epoch.isdigit() else None,
        "source_name": source_name,
        "source_version": source_version,
    }


def _upstream(value: str | None) -> tuple[str | None, str | None]:
    """Syft's `upstream` qualifier: `glibc`, or `glibc@2.36-9` when the source version differs."""
    if not value:
        return None, None
    name, _, version = value.partition("@")
    return name, version or None


def _trivy_source_version(props: Mapping[str, str], *, separator: str, with_epoch: bool = True) -> str | None:
    version = props.get(f"{_TRIVY}SrcVersion")
    if not version:
        return None
    release = props.get(f"{_TRIVY}SrcRelease")
    epoch = props.get(f"{_TRIVY}SrcEpoch")
    full = f"{version}{separator}{release}" if release else version
    return f"{epoch}:{full}" if with_epoch and epoch and epoch != "0" else full


def _locations(props: Mapping[str, str]) -> tuple[str, ...]:
    syft = sorted((k, v) for k, v in props.items() if k.startswith(SYFT_LOCATION) and k.endswith(":path"))
    found = [v for _, v in syft]
    if props.get(f"{_TRIVY}FilePath"):
        found.append(props[f"{_TRIVY}FilePath"])
    return tuple(dict.fromkeys(found))


def _language_name(purl: PackageURL) -> str:
    """The name advisories use: `group:artifact` for Maven, `@scope/name`, `vendor/project`, module paths."""
    if purl.type == "maven" and purl.namespace:
        return f"{purl.namespace}:{purl.name}"
    if purl.namespace and purl.type in ("npm", "composer", "golang"):
        return f"{purl.namespace}/{purl.name}"
    return purl.name


def _language_version(purl: PackageURL) -> str:
    version = purl.version or ""
    return version.removeprefix("v") if purl.type == "golang" else version
