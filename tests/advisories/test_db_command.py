"""`vigil db` as a user runs it: folders of mixed formats, unusable databases and keys, unreadable
records. Every error a user can cause is one `vigil: …` line and exit status 1, never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.advisories.cli import assert_one_line_error, vigil
from tests.matching.conftest import IMPORTER_FIXTURES

from vigil.advisories.store import AdvisoryDB

pytestmark = pytest.mark.timeout(60)  # a FIFO read would block: fail instead of hanging
ALMALINUX = IMPORTER_FIXTURES / "osv" / "almalinux"


@pytest.fixture(scope="module")
def real_db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("db") / "advisories.db"
    result = vigil("db", "import", ALMALINUX, IMPORTER_FIXTURES / "debian" / "tracker.json", "--db", path)
    assert result.exit_code == 0, result.stderr
    return path


def _truncated(real: Path, target: Path) -> None:
    target.write_bytes(real.read_bytes()[: real.stat().st_size // 2])


def _corrupt(real: Path, target: Path) -> None:
    data = bytearray(real.read_bytes())
    for page in range(2, len(data) // 4096):  # every b-tree page past the schema's: cell pointers broken
        data[page * 4096 + 8 : page * 4096 + 64] = b"\xff" * 56
    target.write_bytes(bytes(data))


def _foreign(real: Path, target: Path) -> None:
    other = sqlite3.connect(target)
    other.execute("CREATE TABLE bookmarks (url TEXT)")
    other.commit()
    other.close()


DATABASES = {
    "truncated": (_truncated, "damaged advisory database: truncated to"),
    "damaged inside": (_corrupt, "damaged"),
    "a text file": (lambda real, target: target.write_text("not a database\n"), "not an SQLite file"),
    "another program's SQLite file": (_foreign, "not an advisory database"),
    "a FIFO": (lambda real, target: os.mkfifo(target), "a FIFO, not an advisory database file"),
    "a folder": (lambda real, target: target.mkdir(), "a directory, not an advisory database file"),
}
COMMANDS = {
    "status": lambda db, tmp: ("db", "status", "--db", db),
    "import": lambda db, tmp: ("db", "import", IMPORTER_FIXTURES / "osv" / "go", "--db", db),
    "export": lambda db, tmp: ("db", "export", tmp / "out.bundle", "--key", _key(tmp), "--db", db),
    "update": lambda db, tmp: ("db", "update", "--db", db, "--feeds", _feeds(tmp)),
}


def _key(tmp: Path) -> Path:
    assert vigil("db", "keygen", tmp / "k.pem", tmp / "k.pub").exit_code == 0
    return tmp / "k.pem"


def _feeds(tmp: Path) -> Path:
    (tmp / "feeds.yaml").write_text(
        "feeds:\n  - {name: go, url: 'http://127.0.0.1:9/all.zip', importer: osv}\n"
    )
    return tmp / "feeds.yaml"


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("kind", DATABASES)
def test_an_unusable_database_is_one_clear_line(real_db, tmp_path, kind, command):
    make, message = DATABASES[kind]
    target = tmp_path / "advisories.db"
    make(real_db, target)
    result = vigil(*COMMANDS[command](target, tmp_path))
    assert_one_line_error(result, f"{target}: ", message)


def _mixed_folder(root: Path) -> Path:
    """Several formats side by side, as a mirror of many feeds is laid out."""
    shutil.copytree(ALMALINUX, root / "osv" / "almalinux")
    shutil.copytree(IMPORTER_FIXTURES / "osv" / "crates.io", root / "osv" / "crates.io")
    shutil.copy(IMPORTER_FIXTURES / "debian" / "DLA-list.head", root / "debian-DLA-list")
    shutil.copytree(IMPORTER_FIXTURES / "nvd", root / "nvd")
    shutil.copy(IMPORTER_FIXTURES / "kev" / "known_exploited_vulnerabilities.subset.json", root / "kev.json")
    (root / "epss").mkdir()
    shutil.copy(IMPORTER_FIXTURES / "epss" / "example-1.csv", root / "epss")
    (root / "csaf").mkdir()
    for name in ("rhsa-2022-0011.json", "crlsa-2024-0119.json"):
        shutil.copy(IMPORTER_FIXTURES / "csaf" / name, root / "csaf")
    (root / "README.md").write_text("# A mirror of advisory feeds\n")
    return root


def test_a_folder_of_several_formats_is_imported_with_each_ones_importer(tmp_path):
    folder = _mixed_folder(tmp_path / "mirror")
    result = vigil("db", "import", folder, "--db", tmp_path / "a.db")
    assert result.exit_code == 0, result.stderr
    imported = {line.split(": ")[0]: line.split(": ")[1] for line in result.stdout.splitlines()}
    assert imported == {
        str(folder / "csaf"): "csaf",
        str(folder / "debian-DLA-list"): "debian-lists",
        str(folder / "epss" / "example-1.csv"): "epss",
        str(folder / "kev.json"): "kev",
        str(folder / "nvd"): "nvd",
        str(folder / "osv"): "osv",
    }
    assert "0 unreadable records" in result.stdout and "unreadable: " not in result.stderr
    assert f"{folder}: skipped 1 files in no format Vigil imports: README.md" in result.stderr
    with AdvisoryDB(tmp_path / "a.db", readonly=True) as db:
        assert db.lookup("almalinux:9", "xz-libs") and db.lookup("crates.io", "openssl")
        assert db.kev("CVE-2025-48384") and db.cvss("CVE-2023-4863") and db.epss("CVE-1999-0001")


def test_unreadable_records_fail_the_import_unless_allowed(tmp_path):
    folder = _mixed_folder(tmp_path / "mirror")
    shutil.copy(IMPORTER_FIXTURES / "epss" / "invalid-header.csv", folder / "epss")  # a real broken file
    broken = json.loads((ALMALINUX / "almalinux9" / "ALSA-2022:4940.json").read_text())
    broken["affected"] = "xz"
    (folder / "osv" / "almalinux" / "almalinux9" / "ALSA-2022:4940.json").write_text(json.dumps(broken))
    refused = vigil("db", "import", folder, "--db", tmp_path / "a.db")
    assert refused.exit_code == 1
    assert "1 unreadable records" in refused.stdout and "unexpected EPSS header" in refused.stderr
    assert "vigil: 2 records could not be read (--allow-unreadable accepts that)" in refused.stderr
    allowed = vigil("db", "import", folder, "--db", tmp_path / "a.db", "--allow-unreadable")
    assert allowed.exit_code == 0 and "unexpected EPSS header" in allowed.stderr


def test_a_reimport_keeps_the_stored_copy_of_a_record_that_became_unreadable(tmp_path):
    folder = tmp_path / "alma"
    shutil.copytree(ALMALINUX, folder)
    assert vigil("db", "import", folder, "--db", tmp_path / "a.db").exit_code == 0
    (folder / "almalinux9" / "ALSA-2022:4940.json").write_text('{"id": "ALSA-2022:4940", "affected": [')
    again = vigil("db", "import", folder, "--db", tmp_path / "a.db")
    assert again.exit_code == 1 and "1 unreadable records" in again.stdout
    assert "1 stored records kept as they were (unreadable in this import)" in again.stdout
    with AdvisoryDB(tmp_path / "a.db", readonly=True) as db:
        assert [c.advisory_id for c in db.lookup("almalinux:9", "xz-libs")] == ["ALSA-2022:4940"]


def test_a_fifo_named_for_import_or_lying_in_a_folder_never_blocks(tmp_path):
    os.mkfifo(tmp_path / "feed.json")
    alone = vigil("db", "import", tmp_path / "feed.json", "--db", tmp_path / "a.db")
    assert_one_line_error(alone, f"{tmp_path / 'feed.json'}: a FIFO, not a regular file")
    folder = tmp_path / "alma"
    shutil.copytree(ALMALINUX, folder)
    os.mkfifo(folder / "almalinux9" / "ALSA-2099:0001.json")
    inside = vigil("db", "import", folder, "--db", tmp_path / "a.db", "--allow-unreadable")
    assert inside.exit_code == 0 and "4 added" in inside.stdout and "1 unreadable records" in inside.stdout
    assert "ALSA-2099:0001.json: cannot be read: a FIFO, not a regular file" in inside.stderr


KEYS = {
    "missing": (lambda tmp: tmp / "none.pem", "cannot read the key"),
    "a public key": (lambda tmp: _key(tmp).with_suffix(".pub"), "not an unencrypted PEM private key"),
    "not a key": (lambda tmp: _text(tmp / "key.pem", "hello\n"), "not an unencrypted PEM private key"),
    "a folder": (lambda tmp: tmp, "cannot read the key"),
}


def _text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("kind", KEYS)
def test_export_with_an_unusable_key_is_one_clear_line(real_db, tmp_path, kind):
    make, message = KEYS[kind]
    key = make(tmp_path)
    result = vigil("db", "export", tmp_path / "out.bundle", "--key", key, "--db", real_db)
    assert_one_line_error(result, f"{key}: ", message)
    assert not (tmp_path / "out.bundle").exists()


def test_export_into_a_missing_folder_is_one_clear_line(real_db, tmp_path):
    result = vigil("db", "export", tmp_path / "none" / "out.bundle", "--key", _key(tmp_path), "--db", real_db)
    assert_one_line_error(result, f"{tmp_path / 'none'}: no such folder")


def test_keygen_never_overwrites_a_public_key(tmp_path):
    (tmp_path / "k.pub").write_text("the key every site trusts\n")
    result = vigil("db", "keygen", tmp_path / "k.pem", tmp_path / "k.pub")
    assert_one_line_error(result, f"{tmp_path / 'k.pub'} exists: not overwriting a key")
    assert (tmp_path / "k.pub").read_text() == "the key every site trusts\n"
    assert not (tmp_path / "k.pem").exists()


def _opened_by(pid: int, path: Path) -> bool:
    try:
        return any(
            os.path.realpath(f"/proc/{pid}/fd/{fd}") == str(path) for fd in os.listdir(f"/proc/{pid}/fd")
        )
    except OSError:
        return False


def test_two_imports_at_once_queue_and_both_succeed(real_db, tmp_path):
    target = tmp_path / "advisories.db"
    shutil.copy(real_db, target)
    holder = sqlite3.connect(target, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # a third writer, mid-transaction, while both start
    sources = (IMPORTER_FIXTURES / "osv" / "go", IMPORTER_FIXTURES / "osv" / "crates.io")
    imports = [
        subprocess.Popen(
            [sys.executable, "-m", "vigil", "db", "import", str(source), "--db", str(target)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for source in sources
    ]  # fmt: skip
    deadline = time.monotonic() + 30
    while not all(_opened_by(p.pid, target.resolve()) or p.poll() is not None for p in imports):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    holder.execute("ROLLBACK")
    holder.close()
    for process in imports:
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr
    with AdvisoryDB(target, readonly=True) as db:
        names = {s.name.split(":")[0] + ":" + Path(s.name.split(":", 1)[1]).name for s in db.sources()}
        assert {"osv:go", "osv:crates.io", "osv:almalinux"} <= names
        assert db.version == 4


def test_db_feeds_lists_each_feed_and_what_it_covers(tmp_path):
    listed = json.loads(vigil("db", "feeds", "--format", "json").stdout)["feeds"]
    by_name = {f["name"]: f for f in listed}
    assert set(listed[0]) == {"name", "url", "importer", "licence", "covers"}
    assert by_name["osv-debian"]["covers"] == ["debian:11", "debian:12", "debian:13"]
    assert by_name["osv-pypi"]["covers"] == ["pypi"]
    assert by_name["alpine-v3.20-main"]["covers"] == ["alpine:3.20"]
    assert by_name["oracle-ol9"]["covers"] == ["ol:9"]
    covered = {namespace for f in listed for namespace in f["covers"]}
    for release in ("amzn:2", "amzn:2023", "ol:8", "rhel:9", "sles:15.6", "ubuntu:24.04", "rocky:10"):
        assert release in covered, release  # every supported release has a default feed
    own = tmp_path / "feeds.yaml"
    own.write_text(
        "feeds:\n  - {name: mirror, url: 'https://mirror.invalid/d.zip', importer: osv, covers: [debian:12]}\n"
    )
    (mirror,) = json.loads(vigil("db", "feeds", "--feeds", own, "--format", "json").stdout)["feeds"]
    assert mirror["covers"] == ["debian:12"] and mirror["licence"] == "unknown"
    table = vigil("db", "feeds").stdout
    assert "osv-debian" in table and "debian:12" in table


def test_db_status_says_which_supported_releases_advisories_cover(real_db):
    status = json.loads(vigil("db", "status", "--db", real_db, "--format", "json").stdout)
    covered = {r["namespace"]: r["covered"] for r in status["releases"]}
    assert covered["almalinux:9"] and covered["debian:11"]  # AlmaLinux's OSV records, Debian's tracker
    assert not covered["amzn:2023"] and not covered["alpine:3.20"]
    text = vigil("db", "status", "--db", real_db).stdout
    assert "no advisory data" in text and "Amazon Linux 2023" in text


def test_a_scan_warns_when_no_advisory_covers_the_targets_os_release(real_db, tmp_path):
    root = tmp_path / "alpine"
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text('ID=alpine\nVERSION_ID=3.20.3\nNAME="Alpine Linux"\n')
    (root / "lib/apk/db").mkdir(parents=True)
    (root / "lib/apk/db/installed").write_text("P:musl\nV:1.2.5-r0\nA:x86_64\n\n")
    warned = vigil("scan", root, "--db", real_db)
    assert "no advisory in the database covers alpine:3.20 (Alpine Linux)" in warned.stderr
    debian = tmp_path / "debian"
    (debian / "etc").mkdir(parents=True)
    (debian / "etc/os-release").write_text('ID=debian\nVERSION_ID="11"\n')
    (debian / "var/lib/dpkg").mkdir(parents=True)
    (debian / "var/lib/dpkg/status").write_text(
        "Package: bash\nStatus: install ok installed\nVersion: 5.1-2\n"
    )
    assert "no advisory" not in vigil("scan", debian, "--db", real_db).stderr


def test_an_nvd_page_whose_descriptions_quote_osv_words_is_read_as_nvd(tmp_path):
    page = IMPORTER_FIXTURES / "nvd-demo" / "nvd-demo.json"  # real records; some descriptions say "affected"
    assert b'"affected"' in page.read_bytes()[:65536]
    result = vigil("db", "import", page, "--db", tmp_path / "a.db")
    assert result.exit_code == 0, result.stderr
    with AdvisoryDB(tmp_path / "a.db", readonly=True) as db:
        assert db.counts()["cvss"] == 49
        assert [(c.version, c.base_score) for c in db.cvss("CVE-2023-25690")] == [("3.1", 9.8)]
