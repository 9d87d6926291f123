"""PHP: Composer's installed.json (v1 and v2) and composer.lock, on osv-scalibr's and Composer's files."""

import json
from pathlib import Path

import pytest
from tests.inventory.extracting import place, run_extractor

from vigil.fs import FSError
from vigil.inventory.extractor import ExtractError
from vigil.inventory.language.php import ComposerInstalledExtractor, ComposerLockExtractor

FIXTURES = Path(__file__).parent / "fixtures"
INSTALLED = "/var/www/app/vendor/composer/installed.json"
LOCK = "/var/www/app/composer.lock"
SCALIBR = sorted(p.name for p in (FIXTURES / "scalibr").iterdir() if not p.name.endswith(".expected.json"))


@pytest.mark.parametrize("fixture", SCALIBR)
def test_scalibr_lock_files_give_what_its_tests_expect(tmp_path, fixture):
    (case,) = json.loads((FIXTURES / "scalibr" / f"{fixture}.expected.json").read_text())["cases"]
    root = place(tmp_path, LOCK, (FIXTURES / "scalibr" / fixture).read_bytes())
    if case["want_error"]:
        with pytest.raises(ExtractError, match="not a JSON object"):
            run_extractor(ComposerLockExtractor(), root, LOCK)
        return
    packages, ctx = run_extractor(ComposerLockExtractor(), root, LOCK)
    assert sorted((p.name, p.version) for p in packages) == sorted(
        (e["name"], e["version"]) for e in case["packages"]
    )
    assert ctx.errors == []


def test_a_lock_file_s_packages_carry_vendor_purls_and_dev_ones_say_so(tmp_path):
    root = place(tmp_path, LOCK, (FIXTURES / "scalibr/one-package-dev.json").read_bytes())
    (package,) = run_extractor(ComposerLockExtractor(), root, LOCK)[0]
    assert (package.purl, package.package_manager, package.locations, package.notes) == (
        "pkg:composer/sentry/sdk@2.0.4",
        "COMPOSER",
        (LOCK,),
        ("a development dependency",),
    )
    root = place(
        tmp_path, "/srv/l/composer.lock", (FIXTURES / "scalibr/duplicate-packages.json").read_bytes()
    )
    packages, _ = run_extractor(ComposerLockExtractor(), root, "/srv/l/composer.lock")
    assert {p.version: p.notes for p in packages}["3.0.0-dev"][
        -1
    ] == "a development branch, not a released version"


@pytest.mark.parametrize("fixture", ["installed-v2.json", "installed-v1.json"])
def test_composer_s_installed_json_in_both_formats_gives_what_is_in_vendor(tmp_path, fixture):
    root = place(tmp_path, INSTALLED, (FIXTURES / "composer" / fixture).read_bytes())
    packages, ctx = run_extractor(ComposerInstalledExtractor(), root, INSTALLED)
    assert [(p.name, p.version, p.purl) for p in packages] == [
        ("monolog/monolog", "2.9.1", "pkg:composer/monolog/monolog@2.9.1"),
        ("psr/log", "1.1.4", "pkg:composer/psr/log@1.1.4"),
    ]
    assert ctx.errors == [] and all(p.package_manager == "COMPOSER" for p in packages)


def test_the_lock_file_composer_wrote_beside_it_agrees(tmp_path):
    root = place(tmp_path, LOCK, (FIXTURES / "composer/composer.lock").read_bytes())
    packages, _ = run_extractor(ComposerLockExtractor(), root, LOCK)
    assert [(p.name, p.version, p.notes) for p in packages] == [
        ("monolog/monolog", "2.9.1", ()),
        ("psr/log", "1.1.4", ()),  # required by monolog too: not a development-only dependency
    ]


def test_dev_package_names_mark_development_dependencies_and_bad_records_are_reported(tmp_path):
    installed = {
        "packages": [
            {"name": "phpunit/phpunit", "version": "9.6.3"},
            {"name": "symfony/polyfill", "version": "v1.27.0", "type": "metapackage"},
            {"name": "guzzlehttp/guzzle", "version": "7.5.0"},
            {"name": 7, "version": "1"},
            "junk",
        ],
        "dev": True,
        "dev-package-names": ["phpunit/phpunit"],
    }
    root = place(tmp_path, INSTALLED, json.dumps(installed))
    packages, ctx = run_extractor(ComposerInstalledExtractor(), root, INSTALLED)
    assert [(p.name, p.version, p.notes) for p in packages] == [
        ("phpunit/phpunit", "9.6.3", ("a development dependency",)),
        ("symfony/polyfill", "v1.27.0", ()),
        ("guzzlehttp/guzzle", "7.5.0", ()),
    ]
    assert ctx.errors == [
        (INSTALLED, "packages[4]: no name or version"),
        (INSTALLED, "packages[5]: not an object"),
    ]


def test_an_installed_json_outside_vendor_composer_is_not_wanted():
    wants = ComposerInstalledExtractor.wants
    assert wants.suffixes == ("/vendor/composer/installed.json",)


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"{", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
        (b'{"packages": {"a": 1}}', "`packages` is not a list"),
        (b'"text"', "not installed.json"),
    ],
)
def test_a_hostile_installed_json_is_a_clear_error(tmp_path, content, error):
    root = place(tmp_path, INSTALLED, content)
    with pytest.raises(ExtractError, match=error):
        run_extractor(ComposerInstalledExtractor(), root, INSTALLED)


@pytest.mark.timeout(10)
def test_a_huge_lock_file_is_refused(tmp_path):
    root = place(tmp_path, LOCK, b'{"packages": [' + b" " * (40 << 20) + b"]}")
    with pytest.raises(FSError, match="limit"):
        run_extractor(ComposerLockExtractor(), root, LOCK)
