"""Every disk layout the filesystem contract is checked against, each built from any rootfs tree.

A layout is a function `(tree, work_dir) -> Built`: it builds one instance's disk image file(s) holding
`tree` — a bare filesystem, a real cloud partition layout, LVM, a container format, or `/var` on a second
disk found through `/etc/fstab` — and says which paths of the tree the image could not hold (xfs
protofiles cannot name some files). Benchmarks can build the same layouts from a bigger tree.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tests.support import images as im
from tests.support.rootfs import fstab

ROOT_UUID = "0a1b2c3d-0000-4000-8000-00000000000a"
HOME_UUID = "0a1b2c3d-0000-4000-8000-00000000000c"
VAR_UUID = "0a1b2c3d-0000-4000-8000-00000000000b"
VAR_LABEL = "contract-var"
VAR_PARTUUID = "7d3f7c36-1111-4d0e-9a4f-00000000000b"
MBR_DISK_ID = "0x5eedf00d"
FS_SIZE = 32 * im.MIB


@dataclass(frozen=True, slots=True)
class Built:
    """One instance's image file(s), in disk order, and the tree paths they do not hold.

    `extra` are files the sources need beside them (a flat vmdk's extent, a qcow2 overlay's backing file).
    """

    sources: tuple[Path, ...]
    absent: frozenset[str] = frozenset()
    extra: tuple[Path, ...] = ()

    @property
    def files(self) -> tuple[Path, ...]:
        return self.sources + self.extra


Layout = Callable[[Path, Path], Built]


def _ext4(tree: Path, work: Path, name: str = "root.ext4", **kw: object) -> Path:
    return im.make_ext(tree, work / name, size=FS_SIZE, **kw)  # type: ignore[arg-type]


def _boot_tree(work: Path) -> Path:
    """A /boot-like filesystem with no OS release file: never mistaken for the root."""
    boot = work / "boot-tree"
    (boot / "grub").mkdir(parents=True)
    (boot / "vmlinuz-6.1.0-18-amd64").write_bytes(b"not a kernel\n")
    (boot / "grub/grub.cfg").write_text("set default=0\n")
    return boot


def bare(kind: im.ExtKind, block_size: int) -> Layout:
    """A whole disk holding one ext filesystem, no partition table."""

    def build(tree: Path, work: Path) -> Built:
        return Built((_ext4(tree, work, kind=kind, block_size=block_size),))

    return build


def bare_xfs(tree: Path, work: Path) -> Built:
    skipped = im.make_xfs(tree, work / "root.xfs")
    return Built((work / "root.xfs",), frozenset("/" + p for p in skipped))


def gpt_debian(tree: Path, work: Path) -> Built:
    """Debian cloud image: p14 BIOS boot and p15 EFI first on the disk, then p1, the root, unnamed."""
    disk = work / "disk.raw"
    im.make_disk(disk, [
        im.Partition(im.GPT_BIOS_BOOT, size=3 * im.MIB, number=14),
        im.Partition(im.GPT_EFI, content=im.make_vfat(work / "efi.vfat", label="EFI"), number=15),
        im.Partition(im.GPT_LINUX, content=_ext4(tree, work), number=1),
    ])  # fmt: skip
    return Built((disk,))


def gpt_al2023(tree: Path, work: Path) -> Built:
    """Amazon Linux 2023 AMI: p1 "Linux" (the root), p127 BIOS boot, p128 EFI."""
    disk = work / "disk.raw"
    im.make_disk(disk, [
        im.Partition(im.GPT_BIOS_BOOT, size=im.MIB, name="BIOS Boot Partition", number=127),
        im.Partition(im.GPT_EFI, content=im.make_vfat(work / "efi.vfat"), name="EFI System Partition", number=128),
        im.Partition(im.GPT_LINUX, content=_ext4(tree, work), name="Linux", number=1),
    ])  # fmt: skip
    return Built((disk,))


def gpt_root_third(tree: Path, work: Path) -> Built:
    """The root is p3, named "system", after a swap partition and a /boot filesystem."""
    disk = work / "disk.raw"
    im.make_disk(disk, [
        im.Partition(im.GPT_SWAP, content=im.make_swap(work / "swap"), name="swap"),
        im.Partition(im.GPT_LINUX, content=_ext4(_boot_tree(work), work, "boot.ext4"), name="boot"),
        im.Partition(im.GPT_LINUX, content=_ext4(tree, work), name="system"),
    ])  # fmt: skip
    return Built((disk,))


def mbr_logical(tree: Path, work: Path) -> Built:
    """MBR: p1 /boot, then an extended partition holding p5 (swap) and p6 (the root)."""
    disk = work / "disk.raw"
    im.make_disk(disk, [
        im.Partition(im.MBR_LINUX, content=_ext4(_boot_tree(work), work, "boot.ext4")),
        im.Partition(im.MBR_SWAP, content=im.make_swap(work / "swap"), number=5),
        im.Partition(im.MBR_LINUX, content=_ext4(tree, work), number=6),
    ], label="dos")  # fmt: skip
    return Built((disk,))


def lvm_root(tree: Path, work: Path) -> Built:
    """GPT with /boot on p1 and an LVM2 physical volume on p2 holding vg0/swap and vg0/root."""
    disk = work / "disk.raw"
    im.make_lvm(
        [disk],
        [im.LogicalVolume("swap", im.make_swap(work / "swap")), im.LogicalVolume("root", _ext4(tree, work))],
        vg="vg0",
        before=[im.Partition(im.GPT_LINUX, content=_ext4(_boot_tree(work), work, "boot.ext4"))],
    )
    return Built((disk,))


def lvm_two_disks(tree: Path, work: Path) -> Built:
    """vg0 over a physical volume on each of two disks; vg0/root starts on the first and ends on the second."""
    disks = (work / "disk0.raw", work / "disk1.raw")
    root = _ext4(tree, work)
    im.make_lvm(disks, [im.LogicalVolume("root", root)], vg="vg0", pv_sizes=(5 * im.EXTENT, 8 * im.EXTENT))
    return Built(disks)


def container(fmt: im.Container) -> Layout:
    """The Debian cloud layout inside a container format."""

    def build(tree: Path, work: Path) -> Built:
        raw = gpt_debian(tree, work).sources[0]
        image = im.convert(raw, work / f"disk{im.CONTAINER_SUFFIX[fmt]}", fmt)
        raw.unlink()
        extent = work / "disk-flat.vmdk"
        return Built((image,), extra=(extent,) if extent.exists() else ())

    return build


def qcow2_overlay(backing: Literal["qcow2", "qcow2-compressed"]) -> Layout:
    """A qcow2 overlay over a qcow2 backing file made from an older version of the same disk."""

    def build(tree: Path, work: Path) -> Built:
        return _qcow2_overlay(tree, work, backing)

    return build


def _qcow2_overlay(tree: Path, work: Path, backing: Literal["qcow2", "qcow2-compressed"]) -> Built:
    older = work / "older-tree"
    im.run("cp", "-a", tree, older)
    (older / "files/big.bin").write_bytes(b"the old content\n" * 1000)
    shutil.rmtree(older / "dir/nested")
    (work / "older").mkdir()
    base = gpt_debian(older, work / "older").sources[0]
    top = gpt_debian(tree, work).sources[0]
    image = im.make_qcow2_overlay(base, top, work / "disk.qcow2", backing=backing)
    base.unlink()
    top.unlink()
    return Built((image,), extra=(work / "disk-backing.qcow2",))


def split_tree(tree: Path, work: Path, mountpoint: str, fstab_line: str) -> tuple[Path, Path]:
    """Copies of `tree` without and with only `mountpoint`; the root's /etc/fstab mounts it by `fstab_line`."""
    root, sub = work / "root-tree", work / "sub-tree"
    im.run("cp", "-a", tree, root)  # cp -a keeps hard links
    (root / mountpoint.strip("/")).rename(sub)
    (root / mountpoint.strip("/")).mkdir()
    shutil.copystat(sub, root / mountpoint.strip("/"))
    (root / "etc/fstab").write_bytes(fstab([f"UUID={ROOT_UUID} / ext4 defaults 0 1", fstab_line]))
    return root, sub


def var_disk(device: str, label: Literal["gpt", "dos"] = "gpt") -> Layout:
    """Two disks: the root on disk 0 (Debian layout), /var on disk 1 (GPT or MBR), named in fstab by `device`."""

    def build(tree: Path, work: Path) -> Built:
        root_tree, var_tree = split_tree(tree, work, "/var", f"{device} /var ext4 defaults 0 2")
        root = work / "disk0.raw"
        im.make_disk(root, [
            im.Partition(im.GPT_BIOS_BOOT, size=im.MIB, number=14),
            im.Partition(im.GPT_LINUX, content=_ext4(root_tree, work, uuid=ROOT_UUID), number=1),
        ])  # fmt: skip
        var = work / "disk1.raw"
        var_fs = _ext4(var_tree, work, "var.ext4", uuid=VAR_UUID, label=VAR_LABEL)
        if label == "dos":
            im.make_disk(var, [im.Partition(im.MBR_LINUX, content=var_fs)], label="dos", disk_id=MBR_DISK_ID)
        else:
            im.make_disk(var, [im.Partition(im.GPT_LINUX, content=var_fs, uuid=VAR_PARTUUID)])
        return Built((root, var))

    return build


def var_lvm(device: str) -> Layout:
    """Two disks: the root on disk 0, /var on LVM (vg-data/lv-var) on disk 1, named in fstab by `device`."""

    def build(tree: Path, work: Path) -> Built:
        root_tree, var_tree = split_tree(tree, work, "/var", f"{device} /var ext4 defaults 0 2")
        root = work / "disk0.raw"
        im.make_disk(root, [im.Partition(im.GPT_LINUX, content=_ext4(root_tree, work, uuid=ROOT_UUID))])
        var = work / "disk1.raw"
        im.make_lvm([var], [im.LogicalVolume("lv-var", _ext4(var_tree, work, "var.ext4"))], vg="vg-data")
        return Built((root, var))

    return build


MBR_VAR_PARTUUID = f"{MBR_DISK_ID.removeprefix('0x')}-01"

CONTRACT_LAYOUTS: dict[str, Layout] = {
    "ext4": bare("ext4", 4096),
    "ext4-1k": bare("ext4", 1024),
    "ext3": bare("ext3", 4096),
    "ext2": bare("ext2", 1024),
    "xfs": bare_xfs,
    "gpt-debian": gpt_debian,
    "gpt-al2023": gpt_al2023,
    "gpt-root-third": gpt_root_third,
    "mbr-logical": mbr_logical,
    "lvm": lvm_root,
    "lvm-two-disks": lvm_two_disks,  # libvslvm 20260901 could not: Vigil reads LVM2's metadata itself
    "qcow2": container("qcow2"),
    "qcow2-compressed": container("qcow2-compressed"),
    "qcow2-compressed-v2": container("qcow2-compressed-v2"),
    "qcow2-overlay": qcow2_overlay("qcow2"),
    "qcow2-overlay-on-compressed": qcow2_overlay("qcow2-compressed"),
    "vmdk-sparse": container("vmdk-sparse"),
    "vmdk-stream": container("vmdk-stream"),
    "vmdk-flat": container("vmdk-flat"),
    "vhd": container("vhd"),
    "vhd-fixed": container("vhd-fixed"),
    "vhdx": container("vhdx"),
    "var-uuid": var_disk(f"UUID={VAR_UUID}"),
    "var-label": var_disk(f"LABEL={VAR_LABEL}"),
    "var-partuuid": var_disk(f"PARTUUID={VAR_PARTUUID}"),
    "var-partuuid-mbr": var_disk(f"PARTUUID={MBR_VAR_PARTUUID}", "dos"),
    "var-by-uuid-path": var_disk(f"/dev/disk/by-uuid/{VAR_UUID}"),
    "var-sdb1": var_disk("/dev/sdb1"),
    "var-xvdb1": var_disk("/dev/xvdb1"),
    "var-nvme1n1p1": var_disk("/dev/nvme1n1p1"),
    "var-lvm-mapper": var_lvm("/dev/mapper/vg--data-lv--var"),
    "var-lvm-path": var_lvm("/dev/vg-data/lv-var"),
}


# -- layouts that cannot be read whole: encrypted, unsupported, without an OS, corrupt ----------------


def _root_copy(tree: Path, work: Path, fstab_lines: tuple[str, ...] = ()) -> Path:
    root = work / "root-tree"
    im.run("cp", "-a", tree, root)
    (root / "etc/fstab").write_bytes(fstab([f"UUID={ROOT_UUID} / ext4 defaults 0 1", *fstab_lines]))
    return root


def luks_root(version: Literal[1, 2]) -> Layout:
    """The root filesystem inside LUKS, beside an EFI partition and an unencrypted /boot."""

    def build(tree: Path, work: Path) -> Built:
        disk = work / "disk.raw"
        im.make_disk(disk, [
            im.Partition(im.GPT_EFI, content=im.make_vfat(work / "efi.vfat"), number=15),
            im.Partition(im.GPT_LINUX, content=_ext4(_boot_tree(work), work, "boot.ext4"), number=2),
            im.Partition(im.GPT_LINUX, content=im.make_luks(work / "root.luks", version=version), number=1),
        ])  # fmt: skip
        return Built((disk,))

    return build


def luks_home(tree: Path, work: Path) -> Built:
    """A readable root whose /home is a LUKS2 volume opened as /dev/mapper/home through /etc/crypttab."""
    root = _root_copy(tree, work, ("/dev/mapper/home /home ext4 defaults 0 2",))
    (root / "home").mkdir()
    (root / "etc/crypttab").write_text(
        f"# <name> <device> <password> <options>\nhome UUID={HOME_UUID} none luks\n"
    )
    disk = work / "disk.raw"
    im.make_disk(disk, [
        im.Partition(im.GPT_LINUX, content=_ext4(root, work)),
        im.Partition(im.GPT_LINUX, content=im.make_luks(work / "home.luks", uuid=HOME_UUID)),
    ])  # fmt: skip
    return Built((disk,))


def btrfs_root(tree: Path, work: Path) -> Built:
    """A btrfs root beside an EFI system partition."""
    disk = work / "disk.raw"
    im.make_disk(disk, [
        im.Partition(im.GPT_EFI, content=im.make_vfat(work / "efi.vfat"), number=15),
        im.Partition(im.GPT_LINUX, content=im.make_btrfs(tree, work / "root.btrfs"), number=1),
    ])  # fmt: skip
    return Built((disk,))


def btrfs_home(tree: Path, work: Path) -> Built:
    """A readable root whose /home is btrfs."""
    root = _root_copy(tree, work, (f"UUID={HOME_UUID} /home btrfs defaults 0 0",))
    (root / "home").mkdir()
    disk = work / "disk.raw"
    im.make_disk(disk, [
        im.Partition(im.GPT_LINUX, content=_ext4(root, work)),
        im.Partition(im.GPT_LINUX, content=im.make_btrfs(None, work / "home.btrfs", uuid=HOME_UUID)),
    ])  # fmt: skip
    return Built((disk,))


def vfat_only(tree: Path, work: Path) -> Built:
    return Built((im.make_vfat(work / "disk.vfat", size=16 * im.MIB),))


def no_os(tree: Path, work: Path) -> Built:
    """The tree without any OS release file."""
    root = work / "root-tree"
    im.run("cp", "-a", tree, root)
    (root / "etc/os-release").unlink()
    return Built((_ext4(root, work),))


def directory_loop(tree: Path, work: Path) -> Built:
    """ext4 where /loop/a/back is a second name for /loop, and /loop/a/root one for / (fsck would object)."""
    root = _root_copy(tree, work)
    (root / "loop/a").mkdir(parents=True)
    image = _ext4(root, work)
    im.debugfs(image, "link /loop /loop/a/back", "link / /loop/a/root")
    return Built((image,))


PROBLEM_LAYOUTS: dict[str, Layout] = {
    "luks1-root": luks_root(1),
    "luks2-root": luks_root(2),
    "luks-home": luks_home,
    "btrfs-root": btrfs_root,
    "btrfs-home": btrfs_home,
    "vfat-only": vfat_only,
    "no-os": no_os,
    "directory-loop": directory_loop,
}
LAYOUTS: dict[str, Layout] = {**CONTRACT_LAYOUTS, **PROBLEM_LAYOUTS}
