"""Kernels: the running one (live host) or the boot loader's default (image), and which package has it.

Only the running kernel is matched against advisories; the other installed kernels are listed, so the
matcher can say they are installed but not booted instead of flagging them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from vigil.fs import FileSystem, FSError, read_bytes
from vigil.inventory.model import KernelInfo, Package

_LIMIT = 4 << 20
_VMLINUZ = re.compile(r"/vmlinuz-(\S+)")
_MENUENTRY = re.compile(r"^\s*menuentry\s+(['\"])(?P<title>.*?)\1(?P<rest>.*)\{\s*$")
_MENU_ID = re.compile(r"\$menuentry_id_option\s+['\"]([^'\"]+)['\"]")
_RPM_KERNELS = ("kernel-core", "kernel", "kernel-default", "kernel-uek-core", "kernel-uek", "kernel-rt-core")


def _text(fs: FileSystem, path: str) -> str | None:
    try:
        return read_bytes(fs, path, _LIMIT).decode("utf-8", "replace")
    except FSError:
        return None


def _names(fs: FileSystem, path: str) -> list[str]:
    try:
        return sorted(info.name for info in fs.list_dir(path))
    except FSError:
        return []


def installed_releases(fs: FileSystem) -> list[str]:
    """Kernel releases with modules installed (`/lib/modules/<release>`), else the `/boot/vmlinuz-*` ones."""
    releases = [n for n in _names(fs, "/lib/modules") if n[:1].isdigit()]
    if not releases:
        releases = [n[len("vmlinuz-") :] for n in _names(fs, "/boot") if n.startswith("vmlinuz-")]
    return releases


def _grubenv(fs: FileSystem) -> dict[str, str]:
    for path in ("/boot/grub/grubenv", "/boot/grub2/grubenv"):
        text = _text(fs, path)
        if text:
            return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and line[0] != "#")
    return {}


def _grub_default(fs: FileSystem, env: dict[str, str]) -> str | None:
    """The kernel of grub.cfg's default top-level menu entry (index, title or id; `saved` via grubenv)."""
    for path in ("/boot/grub/grub.cfg", "/boot/grub2/grub.cfg"):
        text = _text(fs, path)
        if not text:
            continue
        default = "0"
        entries: list[tuple[str, str, str | None]] = []  # (title, id, kernel) of top-level entries
        depth = 0
        current: list[str | None] | None = None
        for line in text.splitlines():
            if depth == 0 and (m := re.match(r"^\s*set\s+default=['\"]?([^'\"\s]+)", line)):
                default = m.group(1)
            if depth == 0 and (m := _MENUENTRY.match(line)):
                id_match = _MENU_ID.search(m["rest"])
                current = [m["title"], id_match.group(1) if id_match else "", None]
            elif (
                current is not None
                and current[2] is None
                and re.match(r"^\s*linux(16|efi)?\s", line)
                and (k := _VMLINUZ.search(line))
            ):
                current[2] = k.group(1)
            depth += line.count("{") - line.count("}")
            if depth == 0 and current is not None:
                entries.append((current[0] or "", current[1] or "", current[2]))
                current = None
        if default in ("saved", "${saved_entry}"):
            default = env.get("saved_entry", "0")
        if default.isdigit():
            index = int(default)
            return entries[index][2] if index < len(entries) else None
        for title, entry_id, kernel in entries:
            if default in (title, entry_id):
                return kernel
    return None


def _bls_default(fs: FileSystem, env: dict[str, str]) -> str | None:
    """Boot Loader Specification entries (EL8+, Fedora, AL2023): grubenv's saved entry, else the newest."""
    names = [n for n in _names(fs, "/boot/loader/entries") if n.endswith(".conf")]
    if not names:
        return None
    saved = env.get("saved_entry")
    chosen = f"{saved}.conf" if saved and f"{saved}.conf" in names else max(names, key=_version_key)
    text = _text(fs, f"/boot/loader/entries/{chosen}") or ""
    match = re.search(r"^linux\s+\S*?/?vmlinuz-(\S+)", text, re.MULTILINE)
    return match.group(1) if match else None


def _extlinux_default(fs: FileSystem, installed: list[str]) -> str | None:
    """Alpine's extlinux.conf names a flavour (`vmlinuz-virt`): pick the installed release of it."""
    text = _text(fs, "/boot/extlinux.conf")
    if not text:
        return None
    default = re.search(r"^DEFAULT\s+(\S+)", text, re.MULTILINE | re.IGNORECASE)
    label = default.group(1) if default else None
    kernel = None
    for block in re.split(r"^LABEL\s+", text, flags=re.MULTILINE | re.IGNORECASE)[1:]:
        name = block.split()[0]
        k = re.search(r"^\s*(?:KERNEL|LINUX)\s+\S*vmlinuz-(\S+)", block, re.MULTILINE | re.IGNORECASE)
        if k and (label is None or name == label):
            kernel = k.group(1)
            break
    if kernel is None:
        return None
    flavoured = [r for r in installed if r.endswith("-" + kernel)]
    return max(flavoured, key=_version_key) if flavoured else kernel


def _version_key(text: str) -> list[tuple[int, str]]:
    return [(int(p), "") if p.isdigit() else (-1, p) for p in re.split(r"[.\-_+~]", text)]


def kernel_package(release: str, packages: Iterable[Package]) -> Package | None:
    """The OS package that installed a kernel release, by each distribution's naming."""
    for p in packages:
        if p.package_manager != "OS":
            continue
        if p.type == "deb" and p.name in (f"linux-image-{release}", f"linux-image-unsigned-{release}"):
            return p
        if p.type == "rpm" and p.name in _RPM_KERNELS:
            full = f"{p.version}-{p.release}"
            # EL/AL: 5.14.0-362.8.1.el9_3.x86_64; SUSE: 5.14.21-150500.55.39-default (release 55.39.1)
            if release in (f"{full}.{p.arch}", full) or (
                p.name == "kernel-default"
                and release.startswith(f"{p.version}-{(p.release or '').rsplit('.', 1)[0]}")
            ):
                return p
        if p.type == "apk" and p.name.startswith("linux-") and "-" in release:
            flavour = release.rsplit("-", 1)[1]
            upstream, _, rel = (p.version or "").partition("-r")
            if p.name == f"linux-{flavour}" and release == f"{upstream}-{rel}-{flavour}":
                return p
    return None


def detect_kernel(fs: FileSystem, packages: list[Package], *, running: str | None) -> KernelInfo | None:
    installed = installed_releases(fs)
    release: str | None
    if running:
        release, source = running, "uname"
    else:
        env = _grubenv(fs)
        release = _bls_default(fs, env) or _grub_default(fs, env) or _extlinux_default(fs, installed)
        source = "boot loader"
        if release is None and installed:
            release, source = max(installed, key=_version_key), "newest installed"
    if release is None and not installed:
        return None
    package = kernel_package(release, packages) if release else None
    return KernelInfo(
        running=running,
        default=None if running else release,
        package=package.name if package else None,
        installed=tuple(installed),
        source=source,
    )
