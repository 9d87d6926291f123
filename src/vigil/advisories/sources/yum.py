"""Amazon Linux ALAS feeds: a yum repository's updateinfo, found through its mirror list and repomd.xml.

Amazon publishes its advisories where `yum updateinfo` reads them, in each repository's `repodata/`, and
not at a fixed URL: the repository's mirror list names its current base URL, whose `repodata/repomd.xml`
names the updateinfo (`repodata/<sha256>-updateinfo.xml.gz`, a new name whenever it changes). This is
how aquasecurity/vuln-list-update (`amazon/amazon.go`) and MaineK00n/vuls-data-update
(`pkg/fetch/amazon/amazon.go`) fetch ALAS. `locate_updateinfo` walks that chain with two small bounded
downloads; `update_feed` then fetches the updateinfo itself (conditionally, resumably, bounded) and
`AmazonUpdateinfoImporter` reads it.

Covered (`REPOSITORIES`): the core repositories of Amazon Linux 2 (x86_64 and aarch64: each
architecture's updateinfo names only its own and noarch packages) and Amazon Linux 2023 (its x86_64
updateinfo names every architecture's packages), and Amazon Linux 2023's kernel-livepatch repository
(`ALAS2023LIVEPATCH-…`, packages named after the kernel they patch; x86_64 only, the one mirror list
verified).

Not covered (`NOT_COVERED`): Amazon Linux 2's extras (`amazon-linux-extras` topics, one repository and
updateinfo each: `ALAS2KERNEL-5.10-…`, `ALAS2GOLANG1.19-…`, …). Their advisories name the packages core
also ships (`kernel`, `golang`, `postgresql`, `mariadb`, `ruby`, …) in other version streams, and an
installed rpm does not say which repository it came from (both releases end in `.amzn2`): stored in
`amzn:2`, ALAS2KERNEL-5.10's fixes would flag every patched 4.14 kernel. Nor Amazon Linux 2023's
NVIDIA repository (its rpms carry no `amzn2023` release to tell the release by), Amazon Linux 1 (end
of life) or 2022 (a preview, replaced by 2023).
"""

from __future__ import annotations

from urllib.parse import unquote, urljoin, urlsplit

from vigil.advisories.download import Downloader, DownloadError, Limits
from vigil.advisories.importer import SourceFormatError
from vigil.advisories.importers.amazon import LICENCE, AmazonUpdateinfoImporter, updateinfo_href
from vigil.advisories.update import Feed

LOCATOR = "yum-updateinfo"  # the name `update.LOCATORS` knows `locate_updateinfo` by
MAX_MIRROR_LIST_BYTES = 64 << 10  # a few URLs
MAX_REPOMD_BYTES = 4 << 20  # a few KB in practice
MAX_UPDATEINFO_BYTES = 256 << 20  # Amazon Linux 2's updateinfo.xml.gz is a few MB

# The mirror lists, from vuln-list-update's `mirrorListURI` and vuls-data-update's `Fetch` defaults (the
# repositories' own `mirrorlist=` with `$basearch` filled in); aarch64 is the same path for that arch.
_CDN = "https://cdn.amazonlinux.com"
AL2_CORE_MIRROR_LIST = _CDN + "/2/core/latest/{arch}/mirror.list"
AL2023_CORE_MIRROR_LIST = _CDN + "/al2023/core/mirrors/latest/x86_64/mirror.list"
AL2023_LIVEPATCH_MIRROR_LIST = _CDN + "/al2023/kernel-livepatch/mirrors/latest/x86_64/mirror.list"

# (feed name, mirror list, namespace in `vigil db status` spelling)
REPOSITORIES: tuple[tuple[str, str, str], ...] = (
    ("amazon-linux-2", AL2_CORE_MIRROR_LIST.format(arch="x86_64"), "amzn:2"),
    ("amazon-linux-2-aarch64", AL2_CORE_MIRROR_LIST.format(arch="aarch64"), "amzn:2"),
    ("amazon-linux-2023", AL2023_CORE_MIRROR_LIST, "amzn:2023"),
    ("amazon-linux-2023-kernel-livepatch", AL2023_LIVEPATCH_MIRROR_LIST, "amzn:2023"),
)
NOT_COVERED = (
    "Amazon Linux 2 extras (amazon-linux-extras topics, e.g. kernel-5.10, golang1.19, postgresql14)",
    "Amazon Linux 2023 NVIDIA repository; kernel-livepatch for aarch64",
    "Amazon Linux 1 (end of life), Amazon Linux 2022 (preview)",
)
_REPOMD = "repodata/repomd.xml"
_READABLE = (".xml", ".xml.gz")  # what the importer reads; Fedora's .xml.xz or .zck it does not


def amazon_feeds() -> tuple[Feed, ...]:
    """The default ALAS feeds: each repository's whole updateinfo, found through its mirror list."""
    return tuple(
        Feed(
            name,
            mirror_list,
            AmazonUpdateinfoImporter.name,
            LICENCE,
            complete=True,
            max_bytes=MAX_UPDATEINFO_BYTES,
            max_inflated_bytes=MAX_UPDATEINFO_BYTES,
            locate=LOCATOR,
            covers=(namespace,),
        )
        for name, mirror_list, namespace in REPOSITORIES
    )


def locate_updateinfo(feed: Feed, downloader: Downloader) -> str:
    """The URL of the updateinfo of the repository whose mirror list is at `feed.url`."""
    base = _base(feed.url, _small(downloader, feed, "mirror list", feed.url, MAX_MIRROR_LIST_BYTES))
    repomd_url = urljoin(base, _REPOMD)
    repomd = _small(downloader, feed, "repomd.xml", repomd_url, MAX_REPOMD_BYTES)
    try:
        href = updateinfo_href(repomd)
    except SourceFormatError as exc:
        raise DownloadError(f"{repomd_url}: {exc}") from exc
    return _updateinfo_url(base, href, repomd_url)


def _small(downloader: Downloader, feed: Feed, what: str, url: str, limit: int) -> bytes:
    """A small document, whole: retried, bounded in bytes and time as every download is."""
    try:
        fetched = downloader.fetch(feed.name, url, None, None, Limits(limit, limit))
    except DownloadError as exc:
        raise type(exc)(f"{what}: {exc}") from exc
    if fetched.path is None:
        raise DownloadError(f"{what}: {url}: answered 304 Not Modified to an unconditional request")
    return fetched.path.read_bytes()


def _base(list_url: str, body: bytes) -> str:
    """The repository's base URL, ending in `/`: the mirror list's first entry (comments aside)."""
    try:
        entries = [line.strip() for line in body.decode("utf-8").splitlines()]
    except UnicodeDecodeError as exc:
        raise DownloadError(f"mirror list {list_url}: not UTF-8 text") from exc
    entries = [entry for entry in entries if entry and not entry.startswith("#")]
    if not entries:
        raise DownloadError(f"mirror list {list_url} names no mirror")
    base = entries[0]
    if not _is_http_url(base):
        raise DownloadError(f"mirror list {list_url}: {base[:120]!r} is not an absolute http(s) URL")
    if urlsplit(base).scheme == "http" and urlsplit(list_url).scheme == "https":
        raise DownloadError(f"mirror list {list_url}: {base[:120]!r} would leave HTTPS for plain HTTP")
    return base if base.endswith("/") else base + "/"


def _is_http_url(text: str) -> bool:
    try:
        parts = urlsplit(text)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return False
    plain = not (parts.query or parts.fragment or any(c.isspace() for c in text))
    return parts.scheme in ("http", "https") and bool(parts.netloc) and plain


def _updateinfo_url(base: str, href: str, repomd_url: str) -> str:
    """`href` resolved against the repository's base; refused when it would lead out of the repository."""
    parts = urlsplit(href)
    segments = unquote(parts.path).replace("\\", "/").split("/")
    url = urljoin(base, href)
    if (
        parts.scheme
        or parts.netloc
        or parts.query
        or parts.fragment
        or href.startswith("/")
        or ".." in segments
        or not url.startswith(base)
    ):
        raise DownloadError(f"{repomd_url}: updateinfo location {href[:120]!r} is outside the repository")
    if not parts.path.endswith(_READABLE):
        raise DownloadError(
            f"{repomd_url}: updateinfo {href[:120]!r} is not .xml or .xml.gz, the forms Vigil reads"
        )
    return url
