"""Inventory figures (issues "Inventory engine" and "Deep inspection"), side by side with Trivy and Syft.

    python benchmarks/inventory.py [--workdir DIR] [--no-peers] [--host-syft]

1. A debootstrapped Debian 12 (bookworm) with a few hundred packages and an application layer: a Python
   virtualenv, a `node_modules` tree, Debian's jars, Go binaries with module build info (one Debian's, one
   built here). Built once and cached in WORKDIR (default ~/.cache/vigil-bench), never in the repository.
2. Disk images of it: bare ext4 and xfs, GPT-partitioned ext4 and xfs, and ext4 on LVM (raw files).
3. Per image, `vigil inventory IMAGE --os-only` (OS packages) and `--scope all` (everything): wall time,
   peak RSS and bytes read from the image against the filesystem's used bytes.
4. `trivy vm` on the same image: time, memory, and the package lists compared: every OS package must
   agree; every language-package difference with Trivy and with Syft (on the rootfs tree) is listed.
5. This host: `vigil inventory / --os-only` CPU and RSS; `vigil inventory / --scope all` and
   `trivy rootfs /` one after the other in the same run (and Syft with --host-syft: it takes minutes).

The peers run through ../shared/bench/peers.sh, with the flags that work offline here; they are never
dependencies of Vigil. The Debian mirror is the one this machine's apt uses (or $DEBIAN_MIRROR).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support import images as im  # noqa: E402

VIGIL = REPO / ".venv" / "bin" / "vigil"
PEERS = REPO.parent / "shared" / "bench" / "peers.sh"
PACKAGES = (
    "systemd,systemd-sysv,udev,openssh-server,nginx,curl,ca-certificates,python3,python3-venv,python3-pip,"
    "python3-requests,nodejs,node-semver,node-ws,default-jre-headless,libcommons-lang3-java,libslf4j-java,"
    "libjackson2-databind-java,liblog4j2-java,age,ripgrep,linux-image-amd64,grub-pc-bin,sudo,cron,rsyslog,"
    "less,vim-tiny,iproute2,ifupdown,netbase"
)
GO_MAIN = """package main

import (
\t"fmt"
\t"runtime/debug"
)

func main() {
\tinfo, _ := debug.ReadBuildInfo()
\tfmt.Println(info.Main.Path)
}
"""


# -- the Debian tree -----------------------------------------------------------------------------------


def debian_mirror() -> str:
    """The mirror this machine's apt uses (deb822 or one-line sources), unless $DEBIAN_MIRROR says."""
    if os.environ.get("DEBIAN_MIRROR"):
        return os.environ["DEBIAN_MIRROR"]
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.exists():
        for line in sources.read_text().splitlines():
            if line.startswith("URIs:"):
                return line.split()[1]
    for line in Path("/etc/apt/sources.list").read_text().splitlines():
        parts = line.split()
        if parts[:1] == ["deb"] and "security" not in line:
            return parts[1]
    raise SystemExit("no Debian mirror configured: set DEBIAN_MIRROR")


def debian_rootfs(work: Path) -> Path:
    """The Debian 12 tree with its application layer (cached: debootstrap takes minutes)."""
    root = work / "debian12"
    if root.is_dir():
        return root
    partial = work / "debian12.partial"
    if not (partial / "var/lib/dpkg/status").exists() or not (work / "debootstrap.done").exists():
        shutil.rmtree(partial, ignore_errors=True)
        (work / "debs").mkdir(exist_ok=True)
        started = time.perf_counter()
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--cache-dir={work / 'debs'}",
                f"--include={PACKAGES}",
                "bookworm",
                partial,
                debian_mirror(),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        (work / "debootstrap.done").write_text(f"{time.perf_counter() - started:.0f} s\n")
    add_application_layer(partial)
    partial.rename(root)
    return root


def add_application_layer(root: Path) -> None:
    """What an application server adds beside its OS packages: nothing here belongs to a Debian package."""
    shutil.rmtree(root / "var/cache/apt/archives", ignore_errors=True)
    (root / "var/cache/apt/archives/partial").mkdir(parents=True)
    # a Python virtualenv holding real distributions (this project's own dependencies' dist-info and code)
    site = root / "opt/app/venv/lib/python3.11/site-packages"
    site.mkdir(parents=True)
    (root / "opt/app/venv/pyvenv.cfg").write_text("home = /usr/bin\nversion = 3.11.2\n")
    ours = REPO / ".venv/lib/python3.11/site-packages"
    for dist in sorted(ours.glob("*.dist-info")):
        if dist.name.startswith(("vigil-", "mypy", "ruff")):
            continue
        shutil.copytree(dist, site / dist.name)
        top_level = dist / "top_level.txt"
        for name in top_level.read_text().split() if top_level.exists() else ():
            package = ours / name
            if package.is_dir() and _size(package) < 8 << 20:
                shutil.copytree(package, site / name, dirs_exist_ok=True)
    # a node_modules tree: the packages NodeSource's npm bundles, as an application's dependencies
    node_modules = root / "srv/web/node_modules"
    shutil.copytree("/usr/lib/node_modules/npm/node_modules", node_modules, symlinks=True)
    (root / "srv/web/package.json").write_text('{"name": "web", "version": "1.0.0", "private": true}\n')
    # a Go service built here: module build info with the main module and the toolchain
    with tempfile.TemporaryDirectory() as src:
        Path(src, "go.mod").write_text("module example.com/inventory-svc\n\ngo 1.19\n")
        Path(src, "main.go").write_text(GO_MAIN)
        out = root / "usr/local/bin/inventory-svc"
        env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-buildvcs=false", GOCACHE=f"{src}/cache")
        subprocess.run(["go", "build", "-o", out, "."], cwd=src, check=True, env=env)


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def used_bytes(root: Path) -> int:
    """What the files take on disk (`du`): the denominator of "bytes read from the image"."""
    out = subprocess.run(["du", "-s", "--block-size=1", root], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


# -- the images ----------------------------------------------------------------------------------------


def images(root: Path, work: Path) -> dict[str, tuple[Path, ...]]:
    """Each layout's image file(s), built once."""
    size = im._round_up(used_bytes(root) * 3 // 2 + 256 * im.MIB, im.MIB)
    layouts = {
        "ext4": lambda d: (im.make_ext(root, d / "root.ext4", size=size),),
        "xfs": lambda d: (_xfs(root, d / "root.xfs", size),),
        "gpt-ext4": lambda d: _gpt(im.make_ext(root, d / "root.ext4", size=size), d),
        "gpt-xfs": lambda d: _gpt(_xfs(root, d / "root.xfs", size), d),
        "lvm-ext4": lambda d: _lvm(im.make_ext(root, d / "root.ext4", size=size), d),
    }
    built = {}
    for name, build in layouts.items():
        folder = work / "images" / name
        done = folder / "built.json"
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            started = time.perf_counter()
            files = build(folder)
            done.write_text(
                json.dumps({"files": [str(f) for f in files], "s": time.perf_counter() - started})
            )
        built[name] = tuple(Path(f) for f in json.loads(done.read_text())["files"])
    return built


def _xfs(root: Path, image: Path, size: int) -> Path:
    skipped = im.make_xfs(root, image, size=size)
    if skipped:
        print(f"  xfs protofile could not hold {len(skipped)} paths, e.g. {skipped[:3]}")
    return image


def _gpt(filesystem: Path, folder: Path) -> tuple[Path, ...]:
    """The Debian cloud layout: BIOS boot p14 and EFI p15 first, the root p1 after them."""
    disk = folder / "disk.raw"
    im.make_disk(disk, [
        im.Partition(im.GPT_BIOS_BOOT, size=3 * im.MIB, number=14),
        im.Partition(im.GPT_EFI, content=im.make_vfat(folder / "efi.vfat", label="EFI"), number=15),
        im.Partition(im.GPT_LINUX, content=filesystem, number=1),
    ])  # fmt: skip
    filesystem.unlink()
    return (disk,)


def _lvm(filesystem: Path, folder: Path) -> tuple[Path, ...]:
    disk = folder / "disk.raw"
    im.make_lvm([disk], [im.LogicalVolume("root", filesystem)], vg="vg0")
    filesystem.unlink()
    return (disk,)


# -- running things ------------------------------------------------------------------------------------


@dataclass
class Run:
    wall: float
    cpu: float
    rss_mb: float
    output: dict


def vigil(*args: str | Path) -> Run:
    """One `vigil inventory` process, timed by /usr/bin/time (its whole life: start-up included)."""
    with tempfile.TemporaryDirectory() as tmp:
        out, timing = Path(tmp, "out.json"), Path(tmp, "time")
        cmd = ["/usr/bin/time", "-f", "%e %U %S %M", "-o", timing, VIGIL, "inventory", *args]
        proc = subprocess.run([*cmd, "--format", "json", "-o", out], capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"vigil failed ({proc.returncode}): {proc.stderr[-2000:]}")
        wall, user, system, kb = timing.read_text().split()[-4:]
        return Run(float(wall), float(user) + float(system), int(kb) / 1024, json.loads(out.read_text()))


def peer(mode: str, target: Path | str, *extra: str) -> tuple[str, dict | None]:
    """A peer through peers.sh: its timing line and its CycloneDX document."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp, "peer.json")
        proc = subprocess.run(
            ["bash", PEERS, mode, str(target), out, *extra], capture_output=True, text=True, check=False
        )
        line = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-500:]
        return line, json.loads(out.read_text()) if out.exists() and out.stat().st_size else None


# -- comparing package lists ---------------------------------------------------------------------------


def ours_os(inventory: dict) -> set[tuple[str, str]]:
    """(name, version with epoch) of each dpkg package, as Trivy's purls give them."""
    result = set()
    for p in inventory["packages"]:
        if p["package_manager"] == "OS":
            result.add((p["name"], p["version"]))  # dpkg versions carry their epoch
    return result


def peer_purls(document: dict) -> list[str]:
    found = []

    def visit(components: Iterable[dict]) -> None:
        for c in components:
            if c.get("purl"):
                found.append(c["purl"])
            visit(c.get("components", ()))

    visit(document.get("components", ()))
    return found


def peer_os(document: dict) -> set[tuple[str, str]]:
    result = set()
    for purl in peer_purls(document):
        m = re.match(r"pkg:deb/[^/]+/([^@]+)@([^?#]+)(?:\?(.*))?", purl)
        if m:
            name, version, query = m.group(1), _unquote(m.group(2)), m.group(3) or ""
            epoch = re.search(r"(?:^|&)epoch=(\d+)", query)
            result.add((_unquote(name), f"{epoch.group(1)}:{version}" if epoch else version))
    return result


def _unquote(text: str) -> str:
    from urllib.parse import unquote

    return unquote(text)


LANGUAGE_TYPES = ("pypi", "npm", "maven", "golang", "cargo", "gem", "composer", "nuget")


def language_key(purl: str) -> tuple[str, str, str] | None:
    """(type, name, version) of a language purl, names normalised the way each ecosystem compares them."""
    m = re.match(r"pkg:([a-z]+)/(.+?)@([^?#]+)", purl)
    if not m or m.group(1) not in LANGUAGE_TYPES:
        return None
    kind, name, version = m.group(1), _unquote(m.group(2)), _unquote(m.group(3))
    if kind == "pypi":
        name = re.sub(r"[-_.]+", "-", name).lower()
    return kind, name.lower() if kind == "npm" else name, version


def ours_language(inventory: dict) -> dict[tuple[str, str, str], dict]:
    result = {}
    for p in inventory["packages"]:
        if p["package_manager"] != "OS" and p.get("purl"):
            key = language_key(p["purl"]) or language_key(p["purl"] + "@")
            if key:
                result[key] = p
    return result


def compare_language(
    name: str, ours: dict[tuple[str, str, str], dict], theirs: set[tuple[str, str, str]]
) -> None:
    mine = set(ours)
    only_ours, only_theirs = sorted(mine - theirs), sorted(theirs - mine)
    print(f"  language packages: vigil {len(mine)}, {name} {len(theirs)}, both {len(mine & theirs)}")
    for kind in LANGUAGE_TYPES:
        a = [k for k in only_ours if k[0] == kind]
        b = [k for k in only_theirs if k[0] == kind]
        if a or b:
            print(f"    {kind}: only vigil {len(a)} {_sample(a, ours)}; only {name} {len(b)} {_sample(b)}")


def _sample(keys: list[tuple[str, str, str]], ours: dict | None = None, n: int = 6) -> str:
    shown = []
    for key in keys[:n]:
        where = ""
        if ours is not None:
            where = " @" + ours[key]["locations"][0]
        shown.append(f"{key[1]}@{key[2]}{where}")
    return "[" + ", ".join(shown) + (", …" if len(keys) > n else "") + "]"


# -- the figures ---------------------------------------------------------------------------------------


def bench_images(built: dict[str, tuple[Path, ...]], used: int) -> None:
    print(f"\nImage inventories (filesystem used bytes {used / 2**20:.0f} MiB); goal < 1.7 s, < 2% read")
    for name, files in built.items():
        size = sum(f.stat().st_size for f in files)
        for label, args in (("--os-only", ("--os-only",)), ("--scope all", ("--scope", "all"))):
            best = min((vigil(*files, *args) for _ in range(3)), key=lambda r: r.wall)
            stats = best.output["stats"]
            kinds: dict[str, int] = {}
            for p in best.output["packages"]:
                kinds[p["package_manager"]] = kinds.get(p["package_manager"], 0) + 1
            print(
                f"  {name:9s} {label:12s} {best.wall:5.2f} s wall {best.cpu:5.2f} s CPU {best.rss_mb:5.0f} MB"
                f"  read {stats['bytes_read'] / 2**20:6.1f} MiB = {100 * stats['bytes_read'] / used:4.2f}%"
                f" of used ({size / 2**30:.2f} GiB image), {stats['files_seen']} files, {kinds}"
            )


def bench_peers_on_image(image: tuple[Path, ...], root: Path, reference: dict, everything: dict) -> None:
    print(f"\ntrivy vm on {image[0].parent.name}: OS packages (jars skipped, as the issue says)")
    line, document = peer("trivy-vm", image[0], "--skip-files", "**/*.jar")
    print(f"  {line}")
    if document is not None:
        mine, theirs = ours_os(reference), peer_os(document)
        print(f"  OS packages: vigil {len(mine)}, trivy {len(theirs)}, both {len(mine & theirs)}")
        print(f"    only vigil: {sorted(mine - theirs)[:20]}")
        print(f"    only trivy: {sorted(theirs - mine)[:20]}")
    print(f"\ntrivy vm on {image[0].parent.name}, everything (jars too)")
    line, document = peer("trivy-vm", image[0])
    print(f"  {line}")
    ours = ours_language(everything)
    if document is not None:
        compare_language("trivy", ours, {k for p in peer_purls(document) if (k := language_key(p))})
    print("\nsyft on the same tree (Syft does not read VM disk images)")
    line, document = peer("syft-dir", root)
    print(f"  {line}")
    if document is not None:
        compare_language("syft", ours, {k for p in peer_purls(document) if (k := language_key(p))})


def bench_host(with_peers: bool, with_syft: bool) -> None:
    print("\nThis host")
    os_only = min((vigil("/", "--os-only") for _ in range(5)), key=lambda r: r.cpu)
    packages = sum(1 for p in os_only.output["packages"] if p["package_manager"] == "OS")
    print(f"  vigil --os-only: {os_only.cpu:.2f} s CPU, {os_only.rss_mb:.0f} MB RSS, {packages} packages"
          " (goal < 0.3 s, < 60 MB)")  # fmt: skip
    everything = vigil("/", "--scope", "all")
    stats = everything.output["stats"]
    print(
        f"  vigil --scope all: {everything.wall:.2f} s wall, {everything.cpu:.2f} s CPU,"
        f" {everything.rss_mb:.0f} MB RSS, {len(everything.output['packages'])} packages,"
        f" {stats['files_seen']} files (goal: faster than trivy rootfs /, < 150 MB)"
    )
    if with_peers:
        line, _ = peer("trivy-rootfs", "/")
        print(f"  {line}")
    if with_syft:
        line, _ = peer("syft-dir", "/")
        print(f"  {line}")


def cpu_baseline() -> float:
    """Seconds for a fixed pure-Python loop: a shared VM's speed varies; printed beside the figures."""
    started = time.perf_counter()
    sum(i * i for i in range(10**7))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, default=Path.home() / ".cache" / "vigil-bench")
    parser.add_argument("--no-peers", action="store_true", help="do not run Trivy and Syft")
    parser.add_argument("--host-syft", action="store_true", help="also run Syft on / (minutes, GBs)")
    parser.add_argument("--no-host", action="store_true", help="skip the figures of this host")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(f"CPU baseline: a 10^7-step Python loop takes {cpu_baseline():.2f} s here now")
    root = debian_rootfs(args.workdir)
    used = used_bytes(root)
    with open(root / "var/lib/dpkg/status") as status:
        installed = sum(1 for line in status if line == "Status: install ok installed\n")
    print(f"Debian 12 tree: {installed} packages, {used / 2**20:.0f} MiB used, in {root}")
    built = images(root, args.workdir)
    bench_images(built, used)
    if not args.no_peers:
        reference = vigil(*built["gpt-ext4"], "--os-only").output
        everything = vigil(*built["gpt-ext4"], "--scope", "all").output
        bench_peers_on_image(built["gpt-ext4"], root, reference, everything)
    if not args.no_host:
        bench_host(not args.no_peers, args.host_syft)


if __name__ == "__main__":
    main()
