"""Build real disk images from a directory tree, for tests and benchmarks, without mounting anything.

Filesystems come from the standard tools (`mkfs.ext4 -d`, `mkfs.xfs -p` with a generated protofile), are
copied into partitioned disks (`sfdisk` scripts) or LVM2 logical volumes at their offsets, and converted into
container formats with `qemu-img`. Everything stays sparse. A missing tool raises `MissingTool`, so a test that
needs it fails (CI installs the tools with scripts/system-deps.sh) rather than silently skipping.
"""

from __future__ import annotations

import os
import shutil
import stat
import struct
import subprocess
import zlib
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

MIB = 1 << 20
SECTOR = 512
_SBIN = ("/usr/sbin", "/sbin")

# GPT partition type GUIDs and MBR type bytes
GPT_LINUX = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
GPT_BIOS_BOOT = "21686148-6449-6E6F-744E-656564454649"
GPT_EFI = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
GPT_LVM = "E6D6D379-F507-44C2-A23C-238F2A3DF928"
GPT_SWAP = "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F"
MBR_LINUX, MBR_SWAP, MBR_LVM, MBR_EFI, MBR_EXTENDED = "83", "82", "8e", "ef", "5"

ExtKind = Literal["ext2", "ext3", "ext4"]
Container = Literal[
    "qcow2",
    "qcow2-compressed",
    "qcow2-compressed-v2",
    "vmdk-sparse",
    "vmdk-stream",
    "vmdk-flat",
    "vhd",
    "vhd-fixed",
    "vhdx",
]


class MissingTool(RuntimeError):
    """A system tool an image builder needs is not installed (see scripts/system-deps.sh)."""


class BuildFailed(RuntimeError):
    """A system tool failed while building an image; the message carries its stderr."""


def tool(name: str) -> str:
    """The full path of a system tool, looking in the sbin directories too."""
    path = shutil.which(name) or shutil.which(name, path=os.pathsep.join(_SBIN))
    if path is None:
        raise MissingTool(f"{name} is not installed: run scripts/system-deps.sh")
    return path


def run(*cmd: str | os.PathLike[str], stdin: bytes | None = None, cwd: Path | None = None) -> str:
    """Run a tool and return its stdout; BuildFailed (with stderr) when it fails."""
    argv = [tool(str(cmd[0])), *(os.fspath(c) for c in cmd[1:])]
    proc = subprocess.run(argv, input=stdin, capture_output=True, cwd=cwd, timeout=300, check=False)
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip()
        raise BuildFailed(f"{' '.join(argv)} exited {proc.returncode}: {err}")
    return proc.stdout.decode(errors="replace")


def sparse_file(path: Path, size: int) -> Path:
    """A file of `size` bytes that takes no space (replacing any previous file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def copy_into(source: Path, dest: Path, offset: int, *, skip: int = 0, length: int | None = None) -> None:
    """Copy `source` (from byte `skip`, `length` bytes or to its end) into `dest` at byte `offset`.

    Holes stay holes (`dd conv=notrunc,sparse`); every offset and length is a whole number of MiB.
    """
    if (offset | skip | (length or 0)) % MIB:
        raise ValueError(f"copy_into needs MiB-aligned offsets, not {offset}, {skip}, {length}")
    count = [f"count={length // MIB}"] if length is not None else []
    run(
        "dd", f"if={source}", f"of={dest}", "bs=1M", f"seek={offset // MIB}", f"skip={skip // MIB}", *count,
        "conv=notrunc,sparse", "status=none",
    )  # fmt: skip


def _round_up(n: int, unit: int) -> int:
    return -(-n // unit) * unit


# -- filesystems --------------------------------------------------------------------------------------


def make_ext(
    tree: Path | None,
    image: Path,
    *,
    kind: ExtKind = "ext4",
    block_size: Literal[1024, 2048, 4096] = 4096,
    size: int = 32 * MIB,
    uuid: str | None = None,
    label: str | None = None,
) -> Path:
    """An ext2/3/4 filesystem holding `tree` (or empty), with the given block size."""
    sparse_file(image, size)
    args: list[str | Path] = ["mkfs." + kind, "-q", "-F", "-b", str(block_size), "-E", "root_owner=0:0"]
    if uuid:
        args += ["-U", uuid]
    if label:
        args += ["-L", label]
    if tree is not None:
        args += ["-d", tree]
    run(*args, image)
    return image


@dataclass(frozen=True, slots=True)
class Protofile:
    """An `mkfs.xfs -p` prototype for a tree, and the paths it could not express (relative, sorted)."""

    text: bytes
    skipped: tuple[str, ...]


def _proto_token_ok(token: bytes) -> bool:
    return bool(token) and not any(c in token for c in b" \t\n") and not token.startswith(b":")


def xfs_protofile(tree: Path) -> Protofile:
    """The protofile that builds `tree` in xfs.

    Protofile tokens are separated by whitespace and a token starting with ':' is a comment, so entries whose
    name (or symlink target) holds whitespace or starts with ':', and a name `$`, cannot be expressed: they
    are skipped and listed. Hard links become separate copies; sticky bits and xattrs are dropped.
    """
    lines = [b"vigil-test-image", b"0 0"]
    skipped: list[str] = []

    def mode_token(st: os.stat_result, kind: bytes) -> bytes:
        suid = b"u" if st.st_mode & stat.S_ISUID else b"-"
        sgid = b"g" if st.st_mode & stat.S_ISGID else b"-"
        return kind + suid + sgid + b"%03o" % (st.st_mode & 0o777)

    def emit(directory: Path, depth: int) -> None:
        for entry in sorted(os.scandir(directory), key=lambda e: e.name):
            name = os.fsencode(entry.name)
            rel = os.path.relpath(entry.path, tree)
            st = entry.stat(follow_symlinks=False)
            ids = b"%d %d" % (st.st_uid, st.st_gid)
            head = b"  " * depth + name
            if not _proto_token_ok(name) or name == b"$":
                skipped.append(rel)
            elif stat.S_ISLNK(st.st_mode):
                target = os.fsencode(os.readlink(entry.path))
                if not _proto_token_ok(target):
                    skipped.append(rel)
                    continue
                lines.append(b"%s %s %s %s" % (head, mode_token(st, b"l"), ids, target))
            elif stat.S_ISDIR(st.st_mode):
                lines.append(b"%s %s %s" % (head, mode_token(st, b"d"), ids))
                emit(Path(entry.path), depth + 1)
                lines.append(b"  " * depth + b"$")
            elif stat.S_ISREG(st.st_mode):
                source = os.fsencode(os.path.abspath(entry.path))
                if not _proto_token_ok(source):
                    raise ValueError(f"{tree}: an xfs protofile cannot name sources under a path with spaces")
                lines.append(b"%s %s %s %s" % (head, mode_token(st, b"-"), ids, source))
            elif stat.S_ISFIFO(st.st_mode):
                lines.append(b"%s %s %s" % (head, mode_token(st, b"p"), ids))
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                kind = b"c" if stat.S_ISCHR(st.st_mode) else b"b"
                dev = b"%d %d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
                lines.append(b"%s %s %s %s" % (head, mode_token(st, kind), ids, dev))
            else:
                skipped.append(rel)  # sockets have no protofile type

    root_st = os.stat(tree)
    lines.append(b"%s %d %d" % (mode_token(root_st, b"d"), root_st.st_uid, root_st.st_gid))
    emit(tree, 1)
    lines.append(b"$")
    return Protofile(b"\n".join(lines) + b"\n", tuple(sorted(skipped)))


def make_xfs(
    tree: Path | None,
    image: Path,
    *,
    size: int = 320 * MIB,
    uuid: str | None = None,
    label: str | None = None,
) -> tuple[str, ...]:
    """An xfs filesystem holding `tree` (xfs needs about 300 MiB; the file stays sparse).

    Returns the paths (relative to `tree`) a protofile cannot express and that were left out.
    """
    sparse_file(image, size)
    args: list[str | Path] = ["mkfs.xfs", "-q", "-f"]
    if uuid:
        args += ["-m", f"uuid={uuid}"]
    if label:
        args += ["-L", label]
    skipped: tuple[str, ...] = ()
    if tree is not None:
        proto = xfs_protofile(tree)
        skipped = proto.skipped
        proto_path = image.with_name(image.name + ".proto")
        proto_path.write_bytes(proto.text)
        args += ["-p", proto_path]
    run(*args, image)
    return skipped


def make_vfat(image: Path, *, size: int = 8 * MIB, label: str | None = None) -> Path:
    """An empty FAT filesystem (an EFI system partition)."""
    sparse_file(image, size)
    run("mkfs.vfat", *(["-n", label] if label else []), image)
    return image


def make_btrfs(tree: Path | None, image: Path, *, size: int = 128 * MIB, uuid: str | None = None) -> Path:
    """A btrfs filesystem (only ever reported as unsupported)."""
    sparse_file(image, size)
    extra: list[str | Path] = []
    if tree is not None:
        extra += ["-r", tree]
    if uuid:
        extra += ["-U", uuid]
    run("mkfs.btrfs", "-q", "-f", *extra, image)
    return image


def make_swap(image: Path, *, size: int = 4 * MIB) -> Path:
    sparse_file(image, size)
    run("mkswap", image)
    return image


def make_luks(
    image: Path,
    *,
    version: Literal[1, 2] = 2,
    size: int = 20 * MIB,
    uuid: str | None = None,
    passphrase: str = "vigil-test",
) -> Path:
    """A LUKS1 or LUKS2 volume on a plain file (formatted only: its contents stay unreadable noise)."""
    sparse_file(image, size)
    run(
        "cryptsetup", "luksFormat", "--batch-mode", "--type", f"luks{version}",
        "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", *(["--uuid", uuid] if uuid else []),
        image, "-", stdin=passphrase.encode(),
    )  # fmt: skip
    return image


# -- partition tables ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Partition:
    """One partition: its size (or that of `content`, rounded up to MiB), type, and what to copy into it.

    `number` places it in the table (GPT: any slot, so p14/p15 can come before p1 on the disk; MBR: 1–4 are
    primary, 5 and up logical, inside an extended partition made for them).
    """

    type: str = GPT_LINUX
    content: Path | None = None
    size: int | None = None
    name: str | None = None
    number: int | None = None
    uuid: str | None = None  # GPT only: the PARTUUID

    def byte_size(self) -> int:
        if self.size is not None:
            return _round_up(self.size, MIB)
        if self.content is None:
            raise ValueError("a partition needs a size or a content")
        return _round_up(self.content.stat().st_size, MIB)


@dataclass(frozen=True, slots=True)
class Slot:
    """Where a partition landed on the disk."""

    number: int
    start: int  # bytes
    size: int  # bytes


def make_disk(
    disk: Path,
    partitions: Sequence[Partition],
    *,
    label: Literal["gpt", "dos"] = "gpt",
    size: int | None = None,
    disk_id: str | None = None,
) -> list[Slot]:
    """A partitioned disk: partitions in the given physical order, 1 MiB aligned, contents copied in.

    On an MBR disk the logical partitions (numbers 5 and up) come last: one extended partition holds them.

    `disk_id` is the GPT disk GUID or the MBR disk signature (`0x1234abcd`), which MBR PARTUUIDs derive from.
    """
    numbers = _numbers(partitions, label)
    logical = [n for n in numbers if label == "dos" and n >= 5]
    slots: list[Slot] = []
    lines = [f"label: {label}"] + ([f"label-id: {disk_id}"] if disk_id else [])
    offset = MIB
    for part, number in zip(partitions, numbers, strict=True):
        if logical and number == logical[0]:
            # one extended partition holds every logical one, each after its extended boot record
            ext_number = next(n for n in range(1, 5) if n not in numbers)
            ext_size = sum(p.byte_size() + MIB for p, n in zip(partitions, numbers, strict=True) if n >= 5)
            lines.append(f"{disk}{ext_number} : start={offset // SECTOR}, size={ext_size // SECTOR}, type=5")
        if number in logical:
            offset += MIB
        length = part.byte_size()
        line = f"{disk}{number} : start={offset // SECTOR}, size={length // SECTOR}, type={part.type}"
        if part.name is not None:
            line += f', name="{part.name}"'
        if part.uuid is not None:
            line += f", uuid={part.uuid}"
        lines.append(line)
        slots.append(Slot(number, offset, length))
        offset += length
    total = size or offset + MIB  # room for the GPT backup header
    sparse_file(disk, total)
    run("sfdisk", "-q", "--no-reread", "--no-tell-kernel", disk, stdin="\n".join(lines).encode() + b"\n")
    for part, slot in zip(partitions, slots, strict=True):
        if part.content is not None:
            copy_into(part.content, disk, slot.start)
    return slots


def _numbers(partitions: Sequence[Partition], label: str) -> list[int]:
    """Each partition's number: the one it asks for, else the next free primary slot."""
    taken = {p.number for p in partitions if p.number is not None}
    numbers, candidate = [], 1
    for part in partitions:
        if part.number is None:
            while candidate in taken:
                candidate += 1
            taken.add(candidate)
            numbers.append(candidate)
        else:
            numbers.append(part.number)
    if label == "dos" and any(n > 4 for n in numbers) and all(n in numbers for n in range(1, 5)):
        raise ValueError("an MBR disk with logical partitions needs a free primary slot for the extended one")
    return numbers


# -- LVM2 ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogicalVolume:
    name: str
    content: Path | None = None
    size: int | None = None  # default: the content's size


EXTENT = 4 * MIB


@contextmanager
def loop_device(disk: Path, offset: int, size: int) -> Iterator[str]:
    """`disk[offset:offset+size]` as a loop device, always detached afterwards."""
    dev = run("losetup", "--find", "--show", "--offset", str(offset), "--sizelimit", str(size), disk).strip()
    try:
        yield dev
    finally:
        run("losetup", "--detach", dev)


def _lvm_config(devices: Sequence[str]) -> str:
    """lvm sees only our loop devices, never the host's disks; no udev, no metadata backups in /etc."""
    accept = ",".join(f'"a|^{dev}$|"' for dev in devices)
    return (
        f'devices {{ filter=[{accept},"r|.*|"] global_filter=[{accept},"r|.*|"] '
        "use_devicesfile=0 obtain_device_list_from_udev=0 } "
        "activation { udev_sync=0 udev_rules=0 monitoring=0 } "
        "backup { backup=0 archive=0 } global { locking_type=1 use_lvmpolld=0 }"
    )


def make_lvm(
    disks: Sequence[Path],
    volumes: Sequence[LogicalVolume],
    *,
    vg: str = "vg0",
    pv_sizes: Sequence[int] | None = None,
    before: Sequence[Partition] = (),
    label: Literal["gpt", "dos"] = "gpt",
) -> None:
    """A volume group over one physical volume per disk (each disk's last partition), contents copied in.

    The first disk also gets the `before` partitions. A logical volume larger than one physical volume
    spans the next ones, as `lvcreate` allocates it. device-mapper is not needed: only the metadata is
    written, through loop devices over the partitions; each segment of a filesystem image is then copied to
    where its extents are.
    """
    lv_sizes = [
        _round_up(v.size or (v.content.stat().st_size if v.content else EXTENT), EXTENT) for v in volumes
    ]
    sizes = list(
        pv_sizes or [_round_up(sum(lv_sizes), len(disks) * EXTENT) // len(disks) + 2 * EXTENT] * len(disks)
    )
    pv_type = GPT_LVM if label == "gpt" else MBR_LVM
    starts = []
    for i, (disk, size) in enumerate(zip(disks, sizes, strict=True)):
        slots = make_disk(disk, [*(before if i == 0 else ()), Partition(pv_type, size=size)], label=label)
        starts.append(slots[-1])
    with ExitStack() as stack:
        devices = [
            stack.enter_context(loop_device(d, s.start, s.size)) for d, s in zip(disks, starts, strict=True)
        ]
        config = ("--config", _lvm_config(devices))
        run("lvm", "pvcreate", *config, "-y", "-ff", *devices)
        run("lvm", "vgcreate", *config, "-s", f"{EXTENT // MIB}M", vg, *devices)
        for volume, lv_size in zip(volumes, lv_sizes, strict=True):
            run(
                "lvm", "lvcreate", *config, "--driverloaded", "n", "-an", "-Zn", "-y",
                "-n", volume.name, "-L", f"{lv_size // MIB}M", vg,
            )  # fmt: skip
        pvs = run(
            "lvm", "pvs", *config, "--noheadings", "--nosuffix", "--units", "b", "-o", "pv_name,pe_start"
        )
        segments = run(
            "lvm", "lvs", *config, "--segments", "--noheadings", "--driverloaded", "n",
            "-o", "lv_name,seg_start_pe,seg_pe_ranges", vg,
        )  # fmt: skip
    where = {dev: (disk, slot.start) for dev, disk, slot in zip(devices, disks, starts, strict=True)}
    pe_start = {dev: int(start) for dev, start in (line.split() for line in pvs.splitlines() if line.strip())}
    contents = {v.name: v.content for v in volumes}
    for line in segments.splitlines():
        if not line.strip():
            continue
        name, first_le, pe_range = line.split()
        content = contents[name]
        if content is None:
            continue
        dev, extents = pe_range.rsplit(":", 1)
        first_pe, last_pe = (int(n) for n in extents.split("-"))
        disk, start = where[dev]
        copy_into(
            content,
            disk,
            start + pe_start[dev] + first_pe * EXTENT,
            skip=int(first_le) * EXTENT,
            length=(last_pe - first_pe + 1) * EXTENT,
        )


# -- containers ---------------------------------------------------------------------------------------

_QEMU_ARGS: dict[str, tuple[str, ...]] = {
    "qcow2": ("-O", "qcow2"),
    "qcow2-compressed": ("-O", "qcow2", "-c"),
    "qcow2-compressed-v2": (
        "-O",
        "qcow2",
        "-c",
        "-o",
        "compat=0.10,cluster_size=4096",
    ),  # old header, small clusters
    "vmdk-sparse": ("-O", "vmdk"),
    "vmdk-stream": ("-O", "vmdk", "-o", "subformat=streamOptimized"),
    "vmdk-flat": ("-O", "vmdk", "-o", "subformat=monolithicFlat"),
    "vhd": ("-O", "vpc"),
    "vhd-fixed": ("-O", "vpc", "-o", "subformat=fixed"),
    "vhdx": ("-O", "vhdx"),
}
CONTAINER_SUFFIX: dict[str, str] = {
    "qcow2": ".qcow2",
    "qcow2-compressed": ".qcow2",
    "qcow2-compressed-v2": ".qcow2",
    "vmdk-sparse": ".vmdk",
    "vmdk-stream": ".vmdk",
    "vmdk-flat": ".vmdk",
    "vhd": ".vhd",
    "vhd-fixed": ".vhd",
    "vhdx": ".vhdx",
}


def convert(raw: Path, dest: Path, container: Container) -> Path:
    """`raw` in a container format (vmdk-flat also writes `dest`'s `-flat.vmdk` extent beside it)."""
    run("qemu-img", "convert", "-q", "-f", "raw", *_QEMU_ARGS[container], raw, dest)
    return dest


def make_qcow2_overlay(
    base_raw: Path, top_raw: Path, dest: Path, *, backing: Literal["qcow2", "qcow2-compressed"] = "qcow2"
) -> Path:
    """A qcow2 overlay `dest` whose guest view is `top_raw`, over a qcow2 backing file made from `base_raw`.

    `qemu-img convert -B` stores only the clusters that differ from the backing file, so reads come from
    both layers. The backing file is named relative to the overlay, as cloud tools do.
    """
    base = convert(base_raw, dest.with_name(dest.stem + "-backing.qcow2"), backing)
    run(
        "qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2",
        "-B", base.name, "-F", "qcow2", top_raw, dest.name, cwd=dest.parent,
    )  # fmt: skip
    return dest


# -- damage, for tests of bad input ---------------------------------------------------------------------


def empty_overlay(backing: Path, dest: Path) -> Path:
    """A qcow2 overlay `dest` holding nothing of its own over `backing` (named relative to `dest`'s folder)."""
    name = os.path.relpath(backing, dest.parent)
    run("qemu-img", "create", "-q", "-f", "qcow2", "-b", name, "-F", "qcow2", dest.name, cwd=dest.parent)
    return dest


def set_backing(overlay: Path, backing: str) -> None:
    """Make a qcow2 overlay name any backing file, without reading either (`qemu-img rebase -u`): what a
    hostile image, or one moved away from its backing file, holds."""
    run("qemu-img", "rebase", "-q", "-u", "-f", "qcow2", "-b", backing, "-F", "qcow2", overlay)


def truncated_copy(image: Path, dest: Path, size: int) -> Path:
    """A sparse copy of `image` cut to its first `size` bytes."""
    run("cp", "--sparse=always", image, dest)
    os.truncate(dest, size)
    return dest


def patch(image: Path, offset: int, data: bytes) -> None:
    """Overwrite bytes of an image in place."""
    with open(image, "r+b") as f:
        f.seek(offset)
        f.write(data)


def gpt_set_partition(
    disk: Path, number: int, *, first_lba: int | None = None, last_lba: int | None = None
) -> None:
    """Change a GPT entry in both the primary and the backup table, with every CRC kept valid."""
    with open(disk, "r+b") as f:
        for header_lba in (1, struct.unpack_from("<Q", _read(f, SECTOR, 92), 32)[0]):
            header = bytearray(_read(f, header_lba * SECTOR, SECTOR))
            (header_size,) = struct.unpack_from("<I", header, 12)
            entries_lba, count, entry_size = struct.unpack_from("<QII", header, 72)
            entries = bytearray(_read(f, entries_lba * SECTOR, count * entry_size))
            at = (number - 1) * entry_size
            if first_lba is not None:
                struct.pack_into("<Q", entries, at + 32, first_lba)
            if last_lba is not None:
                struct.pack_into("<Q", entries, at + 40, last_lba)
            struct.pack_into("<I", header, 88, zlib.crc32(entries))
            struct.pack_into("<I", header, 16, 0)
            struct.pack_into("<I", header, 16, zlib.crc32(header[:header_size]))
            f.seek(entries_lba * SECTOR)
            f.write(entries)
            f.seek(header_lba * SECTOR)
            f.write(header)


def mbr_set_partition(disk: Path, slot: int, *, start_lba: int, sectors: int) -> None:
    """Point a primary MBR entry (slot 1–4) somewhere else."""
    patch(disk, 446 + 16 * (slot - 1) + 8, struct.pack("<II", start_lba, sectors))


def debugfs(image: Path, *commands: str) -> str:
    """Run debugfs commands on an ext filesystem image, writing (to craft corrupt filesystems)."""
    return run("debugfs", "-w", "-f", "-", image, stdin="\n".join(commands).encode() + b"\n")


def deep_directories(image: Path, depth: int) -> str:
    """An ext4 image holding /etc/os-release and a chain of `depth` nested directories `/d/d/…` with a file
    `end` at the bottom; returns that file's path. debugfs makes them one level at a time, so the chain may be
    longer than a path can be (`mkfs.ext4 -d` crashes on such a tree)."""
    sparse_file(image, 64 * MIB)
    run("mkfs.ext4", "-q", "-F", "-b", "1024", "-N", str(depth + 64), image)
    levels = "\n".join(["mkdir d\ncd d"] * depth)
    debugfs(image, "mkdir etc", "write /dev/null etc/os-release", levels, "write /dev/null end")
    return "/d" * depth + "/end"


def _read(f: BinaryIO, offset: int, size: int) -> bytes:
    f.seek(offset)
    return f.read(size)
