"""Ruby: installed gem specifications and Gemfile.lock, on osv-scalibr's files and Debian's gems."""

import json
import subprocess
from pathlib import Path

import pytest
from tests.inventory.extracting import place, run_extractor

from vigil.fs import LiveFS
from vigil.inventory.collect import Collector, PathScope
from vigil.inventory.extractor import ExtractError
from vigil.inventory.language.ruby import GemfileLockExtractor, GemspecExtractor
from vigil.inventory.model import Target
from vigil.inventory.os.dpkg_files import DpkgFileListExtractor

FIXTURES = Path(__file__).parent / "fixtures"
LOCKS = sorted(p.name for p in (FIXTURES / "scalibr").glob("*.lock"))
SPECS = "/usr/lib/ruby/gems/3.1.0/specifications"
LOCK = "/srv/app/Gemfile.lock"


def _lock(tmp_path, content):
    return run_extractor(GemfileLockExtractor(), place(tmp_path, LOCK, content), LOCK)


def _spec(tmp_path, content, path=f"{SPECS}/x-1.gemspec"):
    return run_extractor(GemspecExtractor(), place(tmp_path, path, content), path)


@pytest.mark.parametrize("fixture", LOCKS)
def test_scalibr_lock_files_give_what_its_tests_expect(tmp_path, fixture):
    (case,) = json.loads((FIXTURES / "scalibr" / f"{fixture}.expected.json").read_text())["cases"]
    packages, ctx = _lock(tmp_path, (FIXTURES / "scalibr" / fixture).read_bytes())
    assert sorted((p.name, p.version) for p in packages) == sorted(
        (e["name"], e["version"]) for e in case["packages"]
    )
    assert all(e["purl_type"] == "TypeGem" for e in case["packages"])
    for p in packages:
        assert (p.type, p.package_manager, p.purl, p.locations, p.extractor) == (
            "gem",
            "BUNDLER",
            f"pkg:gem/{p.name}@{p.version}",
            (LOCK,),
            "language/ruby/gemfile-lock",
        )
    # scalibr logs and drops the entry without a version; it is reported here, and the rest is kept
    assert [message for _, message in ctx.errors] == (
        ["line 4: not a `name (version)` gem entry: 'invalid-name'"] if fixture == "invalid.lock" else []
    )


def test_a_platform_gem_has_its_version_without_the_platform_and_git_and_path_gems_say_so(tmp_path):
    packages, _ = _lock(tmp_path, (FIXTURES / "scalibr/has-local-gem.lock").read_bytes())
    by_name = {p.name: p for p in packages}
    assert by_name["nokogiri"].purl == "pkg:gem/nokogiri@1.13.3"  # locked as 1.13.3-x86_64-linux
    assert by_name["backbone-on-rails"].notes == ("from a local path",)
    assert by_name["rack"].notes == ()
    packages, _ = _lock(tmp_path, (FIXTURES / "scalibr/has-git-gem.lock").read_bytes())
    assert {p.name: p.notes for p in packages}["hanami-utils"] == (
        "from a git repository, revision 5904fc9a70683b8749aa2861257d0c8c01eae4aa",
    )


def test_requirements_of_a_gem_are_not_gems_and_a_garbled_entry_is_reported(tmp_path):
    lock = "GEM\n  remote: x\n  specs:\n    rack (2.2.3)\n      webrick (>= 1)\n    broken entry\n\nPLATFORMS\n  ruby\n"
    packages, ctx = _lock(tmp_path, lock)
    assert [(p.name, p.version) for p in packages] == [("rack", "2.2.3")]
    assert ctx.errors == [(LOCK, "line 6: not a `name (version)` gem entry: 'broken entry'")]


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        # osv-scalibr gemspec_test.go TestExtract: yaml_gemspec, invalid gemspec, bad definition gemspec
        ("scalibr-gemspec/yaml-0.2.1.gemspec", [("yaml", "0.2.1")]),
        ("scalibr-gemspec/invalid.gemspec", "no `name` and `version`"),
        ("scalibr-gemspec/badspec.gemspec", "not a RubyGems specification"),
        ("debian/rack-2.2.22.gemspec", [("rack", "2.2.22")]),
        ("debian/json-2.6.1.gemspec", [("json", "2.6.1")]),
    ],
)
def test_installed_gem_specifications_give_their_gem(tmp_path, fixture, expected):
    path = f"{SPECS}/{Path(fixture).name}"
    content = (FIXTURES / fixture).read_bytes()
    if isinstance(expected, str):  # scalibr: an error, or no gem; either way no package here
        with pytest.raises(ExtractError, match=expected):
            _spec(tmp_path, content, path)
        return
    packages, _ = _spec(tmp_path, content, path)
    assert [(p.name, p.version) for p in packages] == expected
    (package,) = packages
    assert (package.type, package.package_manager, package.purl, package.locations, package.extractor) == (
        "gem",
        "GEMSPEC",
        f"pkg:gem/{package.name}@{package.version}",
        (path,),
        "language/ruby/gemspec",
    )


@pytest.mark.parametrize(
    "path",
    [
        "/usr/share/rubygems-integration/all/specifications/rack-2.2.22.gemspec",
        "/usr/lib/ruby/gems/3.1.0/specifications/default/rack-2.2.22.gemspec",
        "/srv/app/vendor/bundle/ruby/3.1.0/specifications/rack-2.2.22.gemspec",
    ],
)
def test_specifications_and_default_gems_are_installed_gems(tmp_path, path):
    packages, _ = _spec(tmp_path, (FIXTURES / "debian/rack-2.2.22.gemspec").read_bytes(), path)
    assert [(p.name, p.version) for p in packages] == [("rack", "2.2.22")]


@pytest.mark.parametrize(
    "path",
    [
        "/srv/src/rack/rack.gemspec",
        "/srv/src/specifications-x/rack.gemspec",
        "/srv/specifications/a/b.gemspec",
    ],
)
def test_a_gemspec_outside_specifications_is_a_project_s_own_and_not_read(tmp_path, path):
    assert _spec(tmp_path, b"\xff" * 10, path)[0] == []


def test_single_quotes_and_version_objects_are_read(tmp_path):
    spec = "Gem::Specification.new do |spec|\n  spec.name = 'json'\n  spec.version = Gem::Version.new(\"2.6.3\")\nend\n"
    packages, _ = _spec(tmp_path, spec)
    assert [(p.name, p.version) for p in packages] == [("json", "2.6.3")]


def test_assignments_before_the_specification_block_are_not_the_gem_s(tmp_path):
    spec = 'other.name = "decoy"\nother.version = "9"\nGem::Specification.new do |s|\n  s.name = "a"\n  s.version = "1.0"\nend\n'
    packages, _ = _spec(tmp_path, spec)
    assert [(p.name, p.version) for p in packages] == [("a", "1.0")]


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"\xff\xfe\x00garbage" * 1000, "not a RubyGems specification"),
        (b"", "not a RubyGems specification"),
        (b"puts 'hello'\n", "not a RubyGems specification"),
        (
            b'Gem::Specification.new do |s|\n  s.name = "x y"\n  s.version = "1"\n',
            "not a gem name and version",
        ),
        (
            b'Gem::Specification.new do |s|\n  s.name = "x"\n  s.version = "1 || 2"\n',
            "not a gem name and version",
        ),
        (b"Gem::Specification.new do |s|\n" + b"  s.name = (" * 50_000, "no `name` and `version`"),
        (b"Gem::Specification.new do |s|\n" + b"\n" * 1_000_000, "no `name` and `version`"),
        (b" \n" * 500_000, "not a RubyGems specification"),
        (b'Gem::Specification.new do |s|\n  s.name = "x"\n' + b"#" * (2 << 20), "1048576-byte limit"),
    ],
)
def test_a_hostile_gem_specification_is_a_clear_error(tmp_path, content, error):
    with pytest.raises(ExtractError, match=error):
        _spec(tmp_path, content)


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"GEM\n  specs:\n" + b"    a (1)\n" * (1 << 20), "8388608-byte limit"),
        (b"\xff\xfe GEM\n", "not a UTF-8 lock file"),
    ],
)
def test_a_hostile_lock_file_is_a_clear_error(tmp_path, content, error):
    with pytest.raises(ExtractError, match=error):
        _lock(tmp_path, content)


@pytest.mark.timeout(10)
def test_binary_garbage_named_gemfile_lock_gives_nothing_without_hanging(tmp_path):
    garbage = bytes(range(256)).replace(b"\n", b"").replace(b"\r", b"") * 4000
    packages, ctx = _lock(tmp_path, garbage.decode("latin-1").encode())
    assert packages == [] and ctx.errors == []


def _debian_gemspecs() -> dict[str, str]:
    """Every installed gem specification a Debian package lists, and that package."""
    owners = {}
    for listing in Path("/var/lib/dpkg/info").glob("*.list"):
        for line in listing.read_text().splitlines():
            if line.endswith(".gemspec") and "/specifications/" in line:
                owners[line] = listing.stem.split(":", 1)[0]
    return owners


def test_every_gem_debian_installed_on_this_host_is_read_and_owned_by_its_package():
    """Needs the apt package ruby-rack (which brings ruby3.1 and its default and bundled gems)."""
    owners = _debian_gemspecs()
    assert owners, "no gem specifications listed by dpkg: apt-get install ruby-rack"
    roots = tuple(sorted({path[: path.index("/specifications/")] for path in owners}))
    collector = Collector(
        LiveFS("/"), [GemspecExtractor(), DpkgFileListExtractor()], scope=PathScope("test", roots)
    )
    inventory = collector.collect(Target("directory", ["/"]))
    assert [run.errors for run in inventory.extractors] == [(), ()]
    found = {p.locations[0]: p for p in inventory.packages}
    assert set(found) == set(owners)
    for path, owner in owners.items():
        package = found[path]
        assert f"{package.name}-{package.version}.gemspec" == path.rsplit("/", 1)[1]
        assert package.owner == owner
    debian_version = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "ruby-rack"], capture_output=True, text=True, check=True
    ).stdout
    upstream = debian_version.split(":", 1)[-1].rsplit("-", 1)[0].split("+", 1)[0]
    (rack,) = [p for p in inventory.packages if p.name == "rack"]
    assert (rack.version, rack.owner, rack.purl) == (upstream, "ruby-rack", f"pkg:gem/rack@{upstream}")
    assert found[f"{SPECS}/default/base64-0.1.1.gemspec"].owner == "libruby3.1"  # ships with Ruby itself
