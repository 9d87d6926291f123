"""The contract tree: a small root filesystem holding every kind of entry a filesystem view must get right.

`build_contract_tree` writes it to a host directory; `tests/support/images.py` turns that directory into
disk images, and the contract suite checks that every view of it (the directory itself and each image)
says the same thing. `/var` holds files and links that cross into the root volume, so that when `/var` lives
on a second disk the same tree exercises mount crossing.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

OS_RELEASE = b'NAME="Vigil Contract"\nID=vigil-contract\nVERSION_ID="1"\n'
HOSTNAME = b"contract-target\n"
FSTAB_SIZE = 512  # every /etc/fstab in the test images is padded to this size, so walks compare equal
BIG_FILE_SIZE = 3 * (1 << 20) + 4099  # a few MiB, not a multiple of any block size
SPARSE_HOLE = 1 << 20
MANY_ENTRIES = 400  # enough for hashed ext4 directories and xfs leaf/node directories
LONG_LINK = "../" + "./" * 140 + "dir/nested/deeper/file.txt"  # a symlink too long to live in the inode
UNICODE_DIR = "files/ünïcödé"
UNICODE_FILE = f"{UNICODE_DIR}/日本語-ファイル.txt"
# names an xfs protofile cannot hold (whitespace separates its tokens; a leading ':' starts a comment)
PROTOFILE_HOSTILE = ("files/with space.txt", "files/:leading-colon")


def big_file_bytes() -> bytes:
    """The deterministic content of /files/big.bin."""
    return random.Random(20240917).randbytes(BIG_FILE_SIZE)


def sparse_file_bytes() -> bytes:
    """The content of /files/sparse.bin: a hole, some data, a hole."""
    return bytes(SPARSE_HOLE) + b"after the hole\n" * 300 + bytes(SPARSE_HOLE)


def fstab(lines: list[str] | tuple[str, ...] = ()) -> bytes:
    """An /etc/fstab holding `lines`, padded with a comment to exactly FSTAB_SIZE bytes."""
    body = "".join(f"{line}\n" for line in lines).encode()
    pad = FSTAB_SIZE - len(body) - 2
    if pad < 0:
        raise ValueError("fstab lines do not fit in FSTAB_SIZE bytes")
    return body + b"#" + b"-" * pad + b"\n"


def _write(root: Path, rel: str, data: bytes, mode: int = 0o644) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)


def _link(root: Path, rel: str, target: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, path)


def build_contract_tree(root: Path) -> Path:
    """Write the contract tree under `root` (created; must not exist) and return it."""
    root.mkdir(parents=True)
    root.chmod(0o755)
    _write(root, "etc/os-release", OS_RELEASE)
    _write(root, "etc/hostname", HOSTNAME)
    _write(root, "etc/fstab", fstab())
    _write(root, "usr/bin/tool", b"#!/bin/sh\necho tool\n", 0o755)
    _write(root, "dir/nested/deeper/file.txt", b"deep file\n")
    _write(root, "dir/nested/sibling.txt", b"sibling\n")
    (root / "dir/empty-dir").mkdir()
    _write(root, "files/empty", b"")
    _write(root, "files/private", b"secret\n", 0o600)
    _write(root, "files/big.bin", big_file_bytes())
    sparse = root / "files/sparse.bin"
    with open(sparse, "wb") as f:  # real holes, so images store them as holes too
        f.seek(SPARSE_HOLE)
        f.write(b"after the hole\n" * 300)
        f.truncate(len(sparse_file_bytes()))
    _write(root, UNICODE_FILE, "unicode ✓\n".encode())
    _write(root, "files/hard-a", b"one inode, two names\n")
    os.link(root / "files/hard-a", root / "files/hard-b")
    os.mkfifo(root / "files/fifo")
    for rel in PROTOFILE_HOSTILE:
        _write(root, rel, b"a name an xfs protofile cannot express\n")
    for i in range(MANY_ENTRIES):
        _write(root, f"many/entry-{i:04d}-{'x' * (i % 37)}", b"")
    _link(root, "links/rel-file", "../dir/nested/deeper/file.txt")
    _link(root, "links/abs-file", "/dir/nested/deeper/file.txt")
    _link(root, "links/chain", "rel-file")
    _link(root, "links/dir", "/dir/nested")
    _link(root, "links/rel-dir", "../dir")
    _link(root, "links/loop-a", "loop-b")
    _link(root, "links/loop-b", "loop-a")
    _link(root, "links/self", "self")
    _link(root, "links/climb", "../../../../../../../etc/hostname")
    _link(root, "links/climb-to-root", "../../../..")
    _link(root, "links/long", LONG_LINK)
    _link(root, "links/dangling", "does-not-exist")
    _link(root, "links/through-file", "../files/empty/child")
    _link(root, "links/host-passwd", "/etc/passwd")  # exists on every host, never in the target
    _link(root, "links/host-tree", str(root.resolve() / "etc/hostname"))  # the tree's own host path
    _link(root, "links/into-var", "/var/lib/app/data.txt")
    _write(root, "var/lib/app/data.txt", b"on the /var volume\n")
    _link(root, "var/lib/app/conf", "/etc/hostname")  # from /var back into the root volume
    _link(root, "var/lib/app/up", "../../../etc/os-release")  # `..` out of the /var mount
    (root / "var/log").mkdir()
    return root
