"""PHP: Composer's installed.json (v1 and v2) and composer.lock, on osv-scalibr's, Syft's and Composer's files."""

import json
from pathlib import Path

import pytest
from tests.inventory.extracting import place, run_extractor

from vigil.fs import LiveFS
from vigil.inventory.collect import Collector, PathScope
from vigil.inventory.extractor import ExtractError
from vigil.inventory.language.php import ComposerInstalledExtractor, ComposerLockExtractor
from vigil.inventory.model import Target

FIXTURES = Path(__file__).parent / "fixtures"
INSTALLED = "/var/www/app/vendor/composer/installed.json"
LOCK = "/var/www/app/composer.lock"
SCALIBR = sorted(p.name for p in (FIXTURES / "scalibr").iterdir() if not p.name.endswith(".expected.json"))
DEV = "a development dependency"


def _installed(tmp_path, content, path=INSTALLED):
    return run_extractor(ComposerInstalledExtractor(), place(tmp_path, path, content), path)


def _lock(tmp_path, content):
    return run_extractor(ComposerLockExtractor(), place(tmp_path, LOCK, content), LOCK)


@pytest.mark.parametrize("fixture", SCALIBR)
def test_scalibr_lock_files_give_what_its_tests_expect(tmp_path, fixture):
    (case,) = json.loads((FIXTURES / "scalibr" / f"{fixture}.expected.json").read_text())["cases"]
    content = (FIXTURES / "scalibr" / fixture).read_bytes()
    if case["want_error"]:
        with pytest.raises(ExtractError, match="not a JSON object"):
            _lock(tmp_path, content)
        return
    packages, ctx = _lock(tmp_path, content)
    assert sorted((p.name, p.version) for p in packages) == sorted(
        (e["name"], e["version"]) for e in case["packages"]
    )
    assert all(e["purl_type"] == "TypeComposer" for e in case["packages"])
    for p in packages:
        vendor, project = p.name.split("/")
        assert (p.type, p.package_manager, p.purl, p.locations, p.extractor) == (
            "composer",
            "COMPOSER",
            f"pkg:composer/{vendor}/{project}@{p.version}",
            (LOCK,),
            "language/php/composer-lock",
        )
    assert ctx.errors == []


def test_a_lock_file_s_dev_packages_and_dev_branches_say_so(tmp_path):
    (package,) = _lock(tmp_path, (FIXTURES / "scalibr/one-package-dev.json").read_bytes())[0]
    assert (package.name, package.purl, package.notes) == (
        "sentry/sdk",
        "pkg:composer/sentry/sdk@2.0.4",
        (DEV,),
    )
    packages, _ = _lock(tmp_path, (FIXTURES / "scalibr/duplicate-packages.json").read_bytes())
    assert {p.version: p.notes[-1:] for p in packages}["3.0.0-dev"] == (
        "a development branch, not a released version",
    )


@pytest.mark.parametrize("fixture", ["syft/composer_1/installed.json", "syft/composer_2/installed.json"])
def test_syft_s_installed_json_in_both_formats_gives_what_its_tests_expect(tmp_path, fixture):
    packages, ctx = _installed(tmp_path, (FIXTURES / fixture).read_bytes())
    assert [(p.name, p.version, p.purl) for p in packages] == [
        ("asm89/stack-cors", "1.3.0", "pkg:composer/asm89/stack-cors@1.3.0"),
        ("behat/mink", "v1.8.1", "pkg:composer/behat/mink@v1.8.1"),  # the `v` is kept
    ]
    assert all(
        (p.type, p.package_manager, p.locations, p.extractor)
        == ("composer", "COMPOSER", (INSTALLED,), "language/php/installed")
        for p in packages
    )
    assert ctx.errors == []
    # Composer 1 does not record which packages are development ones; Composer 2 does
    assert [p.notes for p in packages] == ([(), ()] if "composer_1" in fixture else [(), (DEV,)])


def test_what_composer_wrote_in_vendor_and_in_the_lock_file_agree(tmp_path):
    installed, _ = _installed(tmp_path, (FIXTURES / "composer/installed-v2.json").read_bytes())
    locked, _ = _lock(tmp_path, (FIXTURES / "composer/composer.lock").read_bytes())
    expected = [
        ("monolog/monolog", "2.9.1", ()),
        ("phpunit/php-timer", "5.0.3", (DEV,)),
        ("psr/log", "1.1.4", ()),  # required by monolog: not a development-only dependency
    ]
    assert sorted((p.name, p.version, p.notes) for p in installed) == expected
    assert sorted((p.name, p.version, p.notes) for p in locked) == expected


def test_a_custom_vendor_directory_is_read_and_other_installed_json_files_are_not(tmp_path):
    content = (FIXTURES / "composer/installed-v2.json").read_bytes()
    for path in (INSTALLED, "/var/www/nextcloud/3rdparty/composer/installed.json", "/srv/x/installed.json"):
        place(tmp_path, path, content)
    collector = Collector(
        LiveFS(str(tmp_path)), [ComposerInstalledExtractor()], scope=PathScope("test", ("/var", "/srv"))
    )
    inventory = collector.collect(Target("directory", [str(tmp_path)]))
    assert sorted({location for p in inventory.packages for location in p.locations}) == [
        "/var/www/app/vendor/composer/installed.json",
        "/var/www/nextcloud/3rdparty/composer/installed.json",
    ]


def test_bad_records_are_reported_and_the_rest_kept(tmp_path):
    data = json.loads((FIXTURES / "syft/composer_2/installed.json").read_text())
    data["packages"] += [{"name": 7, "version": "1"}, {"name": "a/b"}, "junk"]
    packages, ctx = _installed(tmp_path, json.dumps(data))
    assert [p.name for p in packages] == ["asm89/stack-cors", "behat/mink"]
    assert ctx.errors == [
        (INSTALLED, "packages[3]: no name or version"),
        (INSTALLED, "packages[4]: no name or version"),
        (INSTALLED, "packages[5]: not an object"),
    ]


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"{", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (bytes(range(256)) * 100, "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
        (b'{"packages": {"a": 1}}', "`packages` is not a list"),
        (b'{"packages": "x"}', "`packages` is not a list"),
        (b'"text"', "not installed.json"),
        (b'{"other": []}', "not installed.json"),
        (b'{"packages": [' + b" " * (17 << 20) + b"]}", "16777216-byte limit"),
    ],
)
def test_a_hostile_installed_json_is_a_clear_error(tmp_path, content, error):
    with pytest.raises(ExtractError, match=error):
        _installed(tmp_path, content)


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"[]", "not a JSON object"),
        (b'{"packages": [], "packages-dev": 3}', "`packages-dev` is not a list"),
        (b'{"packages": [' * 50_000, "not JSON"),
        (b'{"packages": [' + b" " * (17 << 20) + b"]}", "16777216-byte limit"),
    ],
)
def test_a_hostile_lock_file_is_a_clear_error(tmp_path, content, error):
    with pytest.raises(ExtractError, match=error):
        _lock(tmp_path, content)
