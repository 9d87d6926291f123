"""`make run`: build the demo instance's disk image and advisory database once (cached under var/), then
inventory the image and this host, scan the image for known vulnerabilities, and run the fleet service over
a demo fleet holding that instance (`vigil.server.demo`).

The demo instance is `demo/rootfs`, a Debian 11 web server some months behind on its updates, on a GPT
disk: the root filesystem on partition 1 and `/var` on partition 2, found through the root's /etc/fstab,
as on a real VM with a separate /var. The advisory database is imported from the real advisory records
the test suite uses (Debian's DSA list and security tracker, CISA KEV, EPSS, NVD).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ROOTFS = REPO / "demo" / "rootfs"
ADVISORY_FIXTURES = REPO / "tests" / "advisories" / "importers" / "fixtures"
DEMO_ADVISORIES = (
    "debian/DSA-list",
    "debian/DLA-list.head",
    "debian/tracker.json",
    "kev/known_exploited_vulnerabilities.subset.json",
    "epss/example-1.csv",
    "nvd",
    "nvd-demo",  # NVD's scores of the demo instance's CVEs: real severities in `make run`
    "osv/pypi",  # the demo's application layer: aiohttp, qs, jackson-databind
    "osv/ghsa",
)
CACHE = REPO / "var" / "demo"
SERVER = CACHE / "server"  # the demo's fleet service (`make serve` runs it again)
ROOT_UUID = "5f1f0c2e-7c1a-4d3b-9a51-0c0ffee00001"  # what demo/rootfs/etc/fstab names
VAR_LABEL = "demo-var"
MIB = 1 << 20
PART_MIB = 32


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(str(path.relative_to(root)).encode())
        if path.is_symlink():
            digest.update(os.readlink(path).encode())
        elif path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _mkfs(tree: Path, image: Path, *extra: str) -> None:
    with open(image, "wb") as f:
        f.truncate(PART_MIB * MIB)
    _run("mkfs.ext4", "-q", "-F", "-b", "4096", "-E", "root_owner=0:0", *extra, "-d", str(tree), str(image))


def build_demo_image(cache: Path = CACHE) -> Path:
    """The demo disk image, rebuilt only when demo/rootfs changed."""
    disk = cache / f"demo-web-01-{_tree_digest(ROOTFS)}.img"
    if disk.exists():
        return disk
    cache.mkdir(parents=True, exist_ok=True)
    for old in cache.glob("demo-web-01-*.img"):
        old.unlink()
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        work = Path(tmp)
        root_tree, var_tree = work / "root", work / "var"
        shutil.copytree(ROOTFS, root_tree, symlinks=True)
        shutil.move(root_tree / "var", var_tree)
        (root_tree / "var").mkdir()
        _mkfs(root_tree, work / "root.img", "-U", ROOT_UUID, "-L", "demo-root")
        _mkfs(var_tree, work / "var.img", "-L", VAR_LABEL)
        partial = work / "disk.img"
        with open(partial, "wb") as f:
            f.truncate((2 * PART_MIB + 2) * MIB)
        linux = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
        table = (
            "label: gpt\n"
            f"start=2048, size={PART_MIB * 2048}, type={linux}\n"
            f"start={2048 + PART_MIB * 2048}, size={PART_MIB * 2048}, type={linux}\n"
        )
        subprocess.run(
            ["sfdisk", "-q", str(partial)], input=table.encode(), check=True, stdout=subprocess.DEVNULL
        )
        for image, offset_mib in ((work / "root.img", 1), (work / "var.img", 1 + PART_MIB)):
            _run("dd", f"if={image}", f"of={partial}", "bs=1M", f"seek={offset_mib}", "conv=notrunc,sparse")
        partial.rename(disk)
    return disk


def build_demo_advisories(cache: Path = CACHE) -> Path:
    """The demo advisory database, imported once from real records kept in the repository."""
    from vigil.advisories.feeds import import_path
    from vigil.advisories.store import AdvisoryDB

    sources = hashlib.sha256("\n".join(DEMO_ADVISORIES).encode()).hexdigest()[:12]
    path = cache / f"advisories-{sources}.db"
    if path.exists():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    partial = cache / "advisories.db.partial"
    for old in [*cache.glob("advisories.db.partial*"), *cache.glob("advisories*.db")]:
        old.unlink()
    with AdvisoryDB(partial) as db:
        for source in DEMO_ADVISORIES:
            import_path(db, ADVISORY_FIXTURES / source)
    partial.rename(path)
    return path


def _vigil(*args: str) -> None:
    from vigil.cli import app

    code = app(list(args), standalone_mode=False)
    if code:
        raise SystemExit(code)


def main() -> None:
    disk = build_demo_image()
    print(f"== demo instance: {disk.relative_to(REPO)} (GPT, root + /var volumes) ==", flush=True)
    _vigil("inventory", str(disk))
    print("\n== this host (OS packages) ==", flush=True)
    _vigil("inventory", "/", "--os-only")
    database = build_demo_advisories()
    print(
        f"\n== known vulnerabilities of the demo instance (advisories: {database.relative_to(REPO)}) ==",
        flush=True,
    )
    _vigil("scan", str(disk), "--db", str(database))
    from vigil.server.demo import run_demo

    print("\n== the fleet service: the demo fleet scanned agentless and agent-based by `vigil server run` ==",
          flush=True)  # fmt: skip
    run_demo(SERVER, disk, database, ROOTFS)


def serve(listen: str) -> None:
    """`make serve`: the demo's server, prepared by `make run` (which runs first when there is none)."""
    from vigil.server.demo import serve as serve_demo

    if not (SERVER / "keys.json").exists():
        main()
    serve_demo(SERVER, listen)


if __name__ == "__main__":
    os.environ.setdefault("PATH", "/usr/sbin:/sbin:/usr/bin:/bin")
    if "/sbin" not in os.environ["PATH"]:
        os.environ["PATH"] += ":/usr/sbin:/sbin"
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        serve(sys.argv[2])
    else:
        main()
