"""Ruby: installed gem specifications and Gemfile.lock, on osv-scalibr's lock files and Debian's gems."""

import json
import subprocess
from pathlib import Path

import pytest
from tests.inventory.extracting import place, run_extractor

from vigil.fs import FSError, LiveFS
from vigil.inventory.collect import Collector, PathScope
from vigil.inventory.extractor import ExtractError
from vigil.inventory.language.ruby import GemfileLockExtractor, GemspecExtractor
from vigil.inventory.model import Target
from vigil.inventory.os.dpkg_files import DpkgFileListExtractor

FIXTURES = Path(__file__).parent / "fixtures"
LOCKS = sorted(p.name for p in (FIXTURES / "scalibr").glob("*.lock"))
SPECS = "/usr/share/rubygems-integration/all/specifications"


@pytest.mark.parametrize("fixture", LOCKS)
def test_scalibr_lock_files_give_what_its_tests_expect(tmp_path, fixture):
    (case,) = json.loads((FIXTURES / "scalibr" / f"{fixture}.expected.json").read_text())["cases"]
    root = place(tmp_path, "/srv/app/Gemfile.lock", (FIXTURES / "scalibr" / fixture).read_bytes())
    packages, ctx = run_extractor(GemfileLockExtractor(), root, "/srv/app/Gemfile.lock")
    assert sorted((p.name, p.version) for p in packages) == sorted(
        (e["name"], e["version"]) for e in case["packages"]
    )
    # scalibr silently drops the entry without a version; it is reported here, and the rest is kept
    assert [message for _, message in ctx.errors] == (
        ["line 4: not a `name (version)` gem entry: 'invalid-name'"] if fixture == "invalid.lock" else []
    )
    assert all(p.type == "gem" and p.package_manager == "BUNDLER" for p in packages)


def test_a_platform_gem_has_its_version_without_the_platform_and_git_and_path_gems_say_so(tmp_path):
    root = place(tmp_path, "/srv/app/Gemfile.lock", (FIXTURES / "scalibr/has-local-gem.lock").read_bytes())
    packages, _ = run_extractor(GemfileLockExtractor(), root, "/srv/app/Gemfile.lock")
    by_name = {p.name: p for p in packages}
    assert by_name["nokogiri"].purl == "pkg:gem/nokogiri@1.13.3"
    assert by_name["backbone-on-rails"].notes == ("from a local path",)
    assert by_name["rack"].notes == ()
    root = place(tmp_path, "/srv/b/Gemfile.lock", (FIXTURES / "scalibr/has-git-gem.lock").read_bytes())
    packages, _ = run_extractor(GemfileLockExtractor(), root, "/srv/b/Gemfile.lock")
    assert {p.name: p.notes for p in packages}["hanami-utils"] == ("from a git repository",)


def test_requirements_of_a_gem_are_not_gems_and_a_garbled_entry_is_reported(tmp_path):
    lock = "GEM\n  remote: x\n  specs:\n    rack (2.2.3)\n      webrick (>= 1)\n    broken entry\n\nPLATFORMS\n  ruby\n"
    root = place(tmp_path, "/srv/app/Gemfile.lock", lock)
    packages, ctx = run_extractor(GemfileLockExtractor(), root, "/srv/app/Gemfile.lock")
    assert [(p.name, p.version) for p in packages] == [("rack", "2.2.3")]
    assert ctx.errors == [
        ("/srv/app/Gemfile.lock", "line 6: not a `name (version)` gem entry: 'broken entry'")
    ]


def test_debian_s_installed_gem_specification_gives_the_gem(tmp_path):
    path = f"{SPECS}/rack-2.2.22.gemspec"
    root = place(tmp_path, path, (FIXTURES / "debian/rack-2.2.22.gemspec").read_bytes())
    (package,) = run_extractor(GemspecExtractor(), root, path)[0]
    assert (package.name, package.version, package.purl, package.package_manager, package.locations) == (
        "rack",
        "2.2.22",
        "pkg:gem/rack@2.2.22",
        "GEMSPEC",
        (path,),
    )


def test_single_quotes_and_version_objects_are_read(tmp_path):
    spec = "Gem::Specification.new do |spec|\n  spec.name = 'json'\n  spec.version = Gem::Version.new(\"2.6.3\")\nend\n"
    root = place(tmp_path, "/var/lib/gems/3.1.0/specifications/json-2.6.3.gemspec", spec)
    packages, _ = run_extractor(
        GemspecExtractor(), root, "/var/lib/gems/3.1.0/specifications/json-2.6.3.gemspec"
    )
    assert [(p.name, p.version) for p in packages] == [("json", "2.6.3")]


def test_a_project_s_own_gemspec_is_not_an_installed_gem(tmp_path):
    spec = 'Gem::Specification.new do |s|\n  s.name = "mygem"\n  s.version = MyGem::VERSION\nend\n'
    root = place(tmp_path, "/srv/src/mygem/mygem.gemspec", spec)
    assert run_extractor(GemspecExtractor(), root, "/srv/src/mygem/mygem.gemspec")[0] == []


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"\xff\xfe garbage", "not a UTF-8"),
        (b"puts 'hello'\n", "not a gem specification"),
        (b's.name = "x"\n' + b"#" * (2 << 20), "limit"),
    ],
)
def test_a_hostile_gem_specification_is_a_clear_error(tmp_path, content, error):
    path = "/usr/lib/ruby/gems/3.1.0/specifications/x-1.gemspec"
    root = place(tmp_path, path, content)
    with pytest.raises((ExtractError, FSError), match=error):
        run_extractor(GemspecExtractor(), root, path)


@pytest.mark.timeout(10)
def test_a_huge_lock_file_is_refused_without_reading_it_all(tmp_path):
    root = place(tmp_path, "/srv/app/Gemfile.lock", b"GEM\n  specs:\n" + b"    a (1)\n" * (1 << 20))
    with pytest.raises(FSError, match="limit"):
        run_extractor(GemfileLockExtractor(), root, "/srv/app/Gemfile.lock")


def test_gems_debian_installed_on_this_host_are_read_and_owned_by_their_packages():
    """Needs the apt package ruby-rack (which brings ruby3.1 and its default gems, from libruby3.1)."""
    scope = PathScope("test", ("/usr/share/rubygems-integration", "/usr/lib/ruby"))
    collector = Collector(LiveFS("/"), [GemspecExtractor(), DpkgFileListExtractor()], scope=scope)
    inventory = collector.collect(Target("directory", ["/"]))
    assert [run.errors for run in inventory.extractors] == [[], []]
    found = {p.name: p for p in inventory.packages}
    debian_version = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "ruby-rack"], capture_output=True, text=True, check=True
    ).stdout
    assert found["rack"].version == debian_version.split("-", 1)[0]
    assert found["rack"].owner == "ruby-rack"
    assert found["base64"].owner == "libruby3.1"  # a default gem, shipped with Ruby itself
    assert all(p.owner for p in inventory.packages)
