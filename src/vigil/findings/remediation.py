"""The command a user would run to fix a vulnerable package, per package manager."""

from __future__ import annotations

from vigil.inventory.model import OSInfo, Package
from vigil.matching.model import Match

_YUM = frozenset({"amzn:2", "centos:7", "rhel:7", "ol:7"})


def remediation(match: Match, os: OSInfo | None) -> str | None:
    """`apt-get install --only-upgrade libssl3`, `pip install 'requests>=2.31.0'`, … (None without a fix)."""
    if match.fixed_in is None:
        return None
    command = _command(match.package, match.fixed_in, os)
    if command and match.fix_needs_pro:
        return f"{command} (the fix is in Ubuntu Pro's ESM archive: attach the machine to Ubuntu Pro)"
    return command


def _command(package: Package, fixed: str, os: OSInfo | None) -> str | None:
    name = package.name
    if package.type == "deb":
        return f"apt-get install --only-upgrade {name}"
    if package.type == "rpm":
        family_release = f"{os.id}:{(os.version_id or '').split('.')[0]}" if os else ""
        if os is not None and os.family == "suse":
            return f"zypper update {name}"
        tool = "yum" if family_release in _YUM else "dnf"
        return f"{tool} upgrade {name}"
    if package.type == "apk":
        return f"apk upgrade {name}"
    return _language(package, fixed)


def _language(package: Package, fixed: str) -> str | None:
    name = package.name
    commands = {
        "pypi": f"pip install '{name}>={fixed}'",
        "npm": f"npm install {name}@{fixed}",
        "maven": f"update {name} to {fixed} in the project's pom.xml or build.gradle",
        "golang": f"go get {name}@v{fixed}",
        "cargo": f"cargo update -p {name} --precise {fixed}",
        "gem": f"bundle update {name} (to {fixed} or later)",
        "composer": f"composer require {name}:^{fixed}",
        "nuget": f"dotnet add package {name} --version {fixed}",
    }
    return commands.get(package.type)
