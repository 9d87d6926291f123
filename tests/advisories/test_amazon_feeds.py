"""`vigil db update` for Amazon Linux: mirror list → repomd.xml → updateinfo, from a repository on loopback.

The repository serves real updateinfo files (the importer's fixtures, from aquasecurity/vuln-list-update)
under a repomd.xml shaped as real ones are (checksums, sizes, `<sha256>-updateinfo.xml.gz` names).
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
from tests.advisories.feedserver import FeedServer
from tests.matching.conftest import IMPORTER_FIXTURES

from vigil.advisories import update
from vigil.advisories.download import Downloader, DownloadError
from vigil.advisories.feeds import IMPORTERS
from vigil.advisories.namespaces import os_namespace
from vigil.advisories.service import update_feeds
from vigil.advisories.sources.yum import (
    LOCATOR,
    MAX_MIRROR_LIST_BYTES,
    MAX_REPOMD_BYTES,
    amazon_feeds,
    locate_updateinfo,
)
from vigil.advisories.store import AdvisoryDB
from vigil.advisories.update import Feed, FeedResult
from vigil.inventory.model import Inventory, OSInfo, Package, Stats, Target
from vigil.matching.match import match_inventory

UPDATEINFO = IMPORTER_FIXTURES / "amazon" / "updateinfo"
AL2_TWO = (UPDATEINFO / "updateinfo_2_items.xml.gz").read_bytes()  # ALAS2-2018-942, ALAS2-2018-949
AL2_ONE = (UPDATEINFO / "updateinfo_1_item.xml.gz").read_bytes()  # ALAS2-2018-939
AL2023 = (UPDATEINFO / "updateinfo_AL2023.xml.gz").read_bytes()  # ALAS2023-2023-001


@pytest.fixture(autouse=True)
def _locator(monkeypatch):
    monkeypatch.setitem(update.LOCATORS, LOCATOR, locate_updateinfo)


@pytest.fixture
def server():
    with FeedServer() as running:
        yield running


@dataclass
class Repository:
    """One yum repository on the server: its mirror list, its base, its repodata."""

    server: FeedServer
    feed: str  # the default feed that reads it
    mirror_list: str  # path of the mirror list
    base: str  # path of the repository the mirror list names

    def publish(self, updateinfo: bytes, href: str | None = None) -> None:
        """Put an updateinfo in the repository and a repomd.xml naming it."""
        href = href or _href(updateinfo)
        self.server.serve(self.base + href, updateinfo)
        self.server.serve(self.base + "repodata/repomd.xml", _repomd(updateinfo, href))

    def path(self, updateinfo: bytes) -> str:
        """Where `publish` puts an updateinfo."""
        return self.base + _href(updateinfo)

    def mirrors(self, text: str) -> None:
        self.server.serve(self.mirror_list, text.encode())


def _href(updateinfo: bytes) -> str:
    """Its location as createrepo_c names it: by its checksum, so a new updateinfo has a new name."""
    return f"repodata/{hashlib.sha256(updateinfo).hexdigest()}-updateinfo.xml.gz"


def _repomd(updateinfo: bytes, href: str) -> bytes:
    """A repomd.xml as createrepo_c writes Amazon Linux's (the other metadata files are not served)."""
    try:
        opened = gzip.decompress(updateinfo)
    except (OSError, EOFError, zlib.error):  # a damaged one, as a test serves it
        opened = updateinfo

    def data(kind: str, body: bytes, plain: bytes, location: str) -> str:
        return (
            f'  <data type="{kind}">\n'
            f'    <checksum type="sha256">{hashlib.sha256(body).hexdigest()}</checksum>\n'
            f'    <open-checksum type="sha256">{hashlib.sha256(plain).hexdigest()}</open-checksum>\n'
            f'    <location href="{location}"/>\n'
            f"    <timestamp>1708992000</timestamp>\n"
            f"    <size>{len(body)}</size>\n"
            f"    <open-size>{len(plain)}</open-size>\n"
            f"  </data>\n"
        )

    primary = b"<metadata/>"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">\n'
        "  <revision>1708992000</revision>\n"
        + data("primary", primary, primary, f"repodata/{hashlib.sha256(primary).hexdigest()}-primary.xml.gz")
        + data("updateinfo", updateinfo, opened, href)
        + "</repomd>\n"
    ).encode()


def _repositories(server: FeedServer) -> tuple[Repository, Repository]:
    """Amazon Linux 2 and 2023 core, laid out as the CDN lays them out, with their real updateinfo."""
    al2 = Repository(
        server, "amazon-linux-2", "/2/core/latest/x86_64/mirror.list", "/2/core/2.0/x86_64/6b0225ccc542f383/"
    )
    al2.mirrors(server.base + al2.base.rstrip("/") + "\n")  # AL2's entry has no trailing slash
    al2.publish(AL2_TWO)
    al2023 = Repository(
        server,
        "amazon-linux-2023",
        "/al2023/core/mirrors/latest/x86_64/mirror.list",
        "/al2023/core/guids/9d4b2f/x86_64/",
    )
    al2023.mirrors(f"# Amazon Linux 2023 core\n{server.base}{al2023.base}\n")
    al2023.publish(AL2023)
    return al2, al2023


def _feeds(server: FeedServer, *repositories: Repository) -> list[Feed]:
    """The default feeds with their mirror lists moved to the server."""
    by_name = {feed.name: feed for feed in amazon_feeds()}
    return [replace(by_name[r.feed], url=server.base + r.mirror_list) for r in repositories]


def _update(tmp_path: Path, feeds: list[Feed]) -> list[FeedResult]:
    with httpx.Client(timeout=10) as client:
        return update_feeds(
            tmp_path / "advisories.db", feeds, client=client, retries=1, backoff=0.01, timeout=10
        )


def _rpm(name: str, version: str, release: str, epoch: int | None = None, arch: str = "x86_64") -> Package:
    return Package(name, version, "rpm", "OS", f"pkg:rpm/amzn/{name}@{version}-{release}", "os/rpm",
                   epoch=epoch, release=release, arch=arch, locations=("/var/lib/rpm/rpmdb.sqlite",))  # fmt: skip


def _matches(db: AdvisoryDB, release: str, packages: list[Package]) -> dict[tuple[str, str], str | None]:
    amazon = OSInfo(family="amazon", id="amzn", version_id=release)
    inventory = Inventory(
        Target("directory", ("/",)), amazon, None, tuple(packages), (), Stats(), "2026-01-01T00:00:00+00:00"
    )
    return {(m.vulnerability_id, m.package.name): m.fixed_in for m in match_inventory(inventory, db).matches}


def test_the_default_feeds_are_each_repositorys_whole_updateinfo_found_through_its_mirror_list():
    feeds = {feed.name: feed for feed in amazon_feeds()}
    assert set(feeds) >= {"amazon-linux-2", "amazon-linux-2-aarch64", "amazon-linux-2023"}
    for feed in feeds.values():
        assert feed.locate == LOCATOR and feed.complete and feed.fetch == "document"
        assert feed.importer == "amazon-updateinfo" and feed.importer in IMPORTERS
        assert feed.url.startswith("https://cdn.amazonlinux.com/") and feed.url.endswith("/mirror.list")
        assert feed.licence == IMPORTERS[feed.importer].licence
    for name, version_id in (("amazon-linux-2", "2"), ("amazon-linux-2023", "2023")):
        host_namespace, _ = os_namespace("amzn", version_id) or ("", "")  # where a host's rpms are looked up
        assert feeds[name].covers == (host_namespace,)
    assert "/aarch64/" in feeds["amazon-linux-2-aarch64"].url


def test_a_first_update_imports_the_alas_and_they_match_amazon_linux_packages(server, tmp_path):
    al2, al2023 = _repositories(server)
    results = _update(tmp_path, _feeds(server, al2, al2023))
    assert [(r.feed, r.status) for r in results] == [
        ("amazon-linux-2", "updated"),
        ("amazon-linux-2023", "updated"),
    ]
    paths = [path for path, _ in server.requests]
    assert paths[:3] == [al2.mirror_list, al2.base + "repodata/repomd.xml", al2.path(AL2_TWO)]
    with AdvisoryDB(tmp_path / "advisories.db", readonly=True) as db:
        assert db.source("amazon-linux-2").url == server.base + al2.path(AL2_TWO)
        assert {c.advisory_id for c in db.lookup("amzn:2", "qemu-kvm")} == {"ALAS2-2018-942"}
        al2_found = _matches(db, "2", [_rpm("qemu-kvm", "1.5.3", "141.amzn2", epoch=10)])
        assert al2_found == {("CVE-2017-5715", "qemu-kvm"): "10:1.5.3-141.amzn2.5.3"}
        fixed = _matches(db, "2", [_rpm("qemu-kvm", "1.5.3", "141.amzn2.5.3", epoch=10)])
        assert not fixed
        graviton = _matches(db, "2023", [_rpm("rsyslog", "8.2204.0", "2.amzn2023", arch="aarch64")])
        assert graviton[("CVE-2022-24903", "rsyslog")] == "8.2204.0-3.amzn2023.0.2"
        assert not _matches(db, "2023", [_rpm("qemu-kvm", "1.5.3", "141.amzn2", epoch=10)])


def test_a_second_update_of_an_unchanged_repository_is_not_modified(server, tmp_path):
    al2, _ = _repositories(server)
    feeds = _feeds(server, al2)
    assert _update(tmp_path, feeds)[0].status == "updated"
    second = _update(tmp_path, feeds)[0]
    assert second.status == "not-modified"
    path, headers = server.requests[-1]
    assert path == al2.path(AL2_TWO) and headers.get("If-None-Match") == server.routes[path].etag


def test_a_new_repomd_naming_a_new_updateinfo_is_fetched_and_replaces_the_old(server, tmp_path):
    al2, _ = _repositories(server)
    feeds = _feeds(server, al2)
    _update(tmp_path, feeds)
    al2.publish(AL2_ONE)
    new = al2.path(AL2_ONE)
    result = _update(tmp_path, feeds)[0]
    assert result.status == "updated" and result.detail.startswith("1 added, 0 changed, 2 removed")
    assert server.requests[-1][0] == new
    with AdvisoryDB(tmp_path / "advisories.db", readonly=True) as db:
        assert {c.advisory_id for c in db.lookup("amzn:2", "kernel")} == {"ALAS2-2018-939"}
        assert not db.lookup("amzn:2", "qemu-kvm")
        assert db.source("amazon-linux-2").url == server.base + new


def _truncated(repo: Repository) -> None:
    repo.publish(AL2_ONE[: len(AL2_ONE) // 2])


BREAKAGES: dict[str, tuple[Callable[[Repository], object], str]] = {
    "empty mirror list": (lambda r: r.mirrors(""), "names no mirror"),
    "mirror list of comments": (lambda r: r.mirrors("# nothing here\n\n"), "names no mirror"),
    "an HTML page for a mirror list": (
        lambda r: r.mirrors("<html><body>Service Unavailable</body></html>\n"),
        "is not an absolute http(s) URL",
    ),
    "a relative mirror": (
        lambda r: r.mirrors("2/core/2.0/x86_64/6b0225ccc542f383\n"),
        "not an absolute http(s)",
    ),
    "an ftp mirror": (lambda r: r.mirrors("ftp://127.0.0.1/2/core/\n"), "not an absolute http(s)"),
    "mirror list not found": (
        lambda r: r.server.serve(r.mirror_list, b"", status=404),
        "server answered 404",
    ),
    "repomd not found": (
        lambda r: r.server.serve(r.base + "repodata/repomd.xml", b"", status=404),
        "repomd.xml: http",
    ),
    "repomd without updateinfo": (
        lambda r: r.server.serve(
            r.base + "repodata/repomd.xml",
            _repomd(AL2_ONE, "repodata/x-updateinfo.xml.gz").replace(b'"updateinfo"', b'"updateinfo_zck"'),
        ),
        "no updateinfo entry",
    ),
    "repomd not XML": (
        lambda r: r.server.serve(r.base + "repodata/repomd.xml", b"<html><body>502</body>"),
        "malformed XML",
    ),
    "updateinfo location escaping the repository": (
        lambda r: r.publish(AL2_ONE, "../../x-updateinfo.xml.gz"),
        "outside the repository",
    ),
    "updateinfo location escaping, percent-encoded": (
        lambda r: r.publish(AL2_ONE, "repodata/%2e%2e/%2e%2e/%2e%2e/x-updateinfo.xml.gz"),
        "outside the repository",
    ),
    "updateinfo on another host": (
        lambda r: r.publish(AL2_ONE, "http://127.0.0.2/repodata/x-updateinfo.xml.gz"),
        "outside the repository",
    ),
    "updateinfo at the server's root": (
        lambda r: r.publish(AL2_ONE, "/repodata/x-updateinfo.xml.gz"),
        "outside the repository",
    ),
    "updateinfo compressed as Vigil does not read": (
        lambda r: r.publish(AL2_ONE, "repodata/x-updateinfo.xml.zck"),
        "not .xml or .xml.gz",
    ),
    "updateinfo not found": (
        lambda r: r.server.serve(
            r.base + "repodata/repomd.xml", _repomd(AL2_ONE, "repodata/gone-updateinfo.xml.gz")
        ),
        "server answered 404",
    ),
    "truncated updateinfo.xml.gz": (_truncated, "corrupt download, database kept"),
    "updateinfo.xml.gz that is not gzip": (
        lambda r: r.publish(b"\x1f\x8b\x08\x00garbage" * 20),
        "corrupt download, database kept",
    ),
}


# enrichment_files.head() (the importer's format sniffing) lets zlib.error out of a gzip damaged past its header


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_a_broken_repository_fails_clearly_and_keeps_the_database(server, tmp_path, breakage):
    al2, _ = _repositories(server)
    feeds = _feeds(server, al2)
    assert _update(tmp_path, feeds)[0].status == "updated"
    with AdvisoryDB(tmp_path / "advisories.db", readonly=True) as db:
        before = (db.version, db.source("amazon-linux-2"))
    breaks, detail = BREAKAGES[breakage]
    breaks(al2)
    result = _update(tmp_path, feeds)[0]
    assert result.status == "failed" and detail in result.detail, result.detail
    assert "database kept" in result.detail
    asked = [path for path, _ in server.requests]
    assert all(p == al2.mirror_list or (p.startswith(al2.base) and ".." not in p) for p in asked)
    with AdvisoryDB(tmp_path / "advisories.db", readonly=True) as db:
        assert (db.version, db.source("amazon-linux-2")) == before
        assert {c.advisory_id for c in db.lookup("amzn:2", "qemu-kvm")} == {"ALAS2-2018-942"}


@pytest.mark.parametrize(
    ("document", "limit", "announced"),
    [
        ("mirror list", MAX_MIRROR_LIST_BYTES, True),
        ("mirror list", MAX_MIRROR_LIST_BYTES, False),
        ("repomd.xml", MAX_REPOMD_BYTES, True),
        ("repomd.xml", MAX_REPOMD_BYTES, False),
    ],
)
def test_a_huge_mirror_list_or_repomd_is_refused(server, tmp_path, document, limit, announced):
    al2, _ = _repositories(server)
    path = al2.mirror_list if document == "mirror list" else al2.base + "repodata/repomd.xml"
    line = (server.base + al2.base + "\n").encode()
    if announced:
        server.serve(path, line * (limit // len(line) + 1))
    else:
        server.serve(path, line * 1000, endless=True)
    result = _update(tmp_path, _feeds(server, al2))[0]
    assert result.status == "failed", result.detail
    assert result.detail.startswith(f"download failed, database kept: {document}: ")
    assert "over the feed's limit" in result.detail


def test_a_mirror_list_fetched_over_https_may_not_send_the_update_over_plain_http(tmp_path):
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/2/core/latest/x86_64/mirror.list"
        return httpx.Response(200, stream=httpx.ByteStream(b"http://127.0.0.1/2/core/2.0/x86_64/6b02\n"))

    feed = replace(amazon_feeds()[0], url="https://127.0.0.1/2/core/latest/x86_64/mirror.list")
    with (
        httpx.Client(transport=httpx.MockTransport(answer)) as client,
        pytest.raises(DownloadError, match="would leave HTTPS for plain HTTP"),
    ):
        locate_updateinfo(feed, Downloader(client, tmp_path, retries=0))
