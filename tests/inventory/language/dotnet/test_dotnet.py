"""NuGet packages from .NET applications' deps.json, on osv-scalibr's and Trivy's files."""

import json
from pathlib import Path

import pytest
from tests.inventory.extracting import place, run_extractor

from vigil.inventory.extractor import ExtractError
from vigil.inventory.language.dotnet import DepsJsonExtractor

FIXTURES = Path(__file__).parent / "fixtures"
APP = "/opt/app/Web.deps.json"
PROJECT = "the application's own project"


def _extract(tmp_path, content):
    return run_extractor(DepsJsonExtractor(), place(tmp_path, APP, content), APP)


def _found(packages):
    return sorted((p.name, p.version) for p in packages)


def test_scalibr_s_file_gives_what_its_tests_expect_and_the_key_without_a_version_is_reported(tmp_path):
    packages, ctx = _extract(tmp_path, (FIXTURES / "scalibr/nopackagename").read_bytes())
    assert _found(packages) == [("AWSSDK.Core", "3.7.10.6"), ("TestLibrary", "1.0.0")]
    for p in packages:
        assert (p.type, p.package_manager, p.purl, p.locations, p.extractor) == (
            "nuget",
            "DOTNET_CORE",
            f"pkg:nuget/{p.name}@{p.version}",
            (APP,),
            "language/dotnet/deps-json",
        )
    assert {p.name: p.notes for p in packages}["TestLibrary"] == (PROJECT,)
    assert ctx.errors == [
        (APP, "library 'Microsoft.Extensions.DependencyInjection': not `Name/Version` with an object")
    ]


def test_trivy_s_runtime_pack_file_gives_what_its_tests_expect(tmp_path):
    packages, _ = _extract(tmp_path, (FIXTURES / "trivy/runtimepack-edge.deps.json").read_bytes())
    assert _found(packages) == [
        ("ExampleApp1", "1.0.0"),
        ("Microsoft.NETCore.App.Runtime.linux-x64", "8.0.0"),  # `runtimepack.` dropped for a runtime pack
        ("SQLitePCLRaw.lib.e_sqlite3", "2.1.6"),
        ("runtimepack.Acme.Custom.Pack", "4.5.6"),  # a package keeps its name
    ]
    runtime = next(p for p in packages if p.name.startswith("Microsoft.NETCore"))
    assert runtime.purl == "pkg:nuget/Microsoft.NETCore.App.Runtime.linux-x64@8.0.0"
    assert runtime.notes == ("the .NET runtime this self-contained application carries",)


def test_the_sdk_s_deps_json_gives_its_package_and_its_projects_noted_as_such(tmp_path):
    packages, ctx = _extract(tmp_path, (FIXTURES / "trivy/Web.deps.json").read_bytes())
    assert [(p.name, p.version, p.notes) for p in packages] == [
        ("Web", "1.0.0", (PROJECT,)),
        ("Newtonsoft.Json", "13.0.3", ()),
        ("Api", "1.0.0", (PROJECT,)),
        ("Data", "1.0.0", (PROJECT,)),
    ]
    assert ctx.errors == []


def test_a_package_the_runtime_target_does_not_load_is_noted_as_build_time_only(tmp_path):
    data = json.loads((FIXTURES / "trivy/ExampleApp1.deps.json").read_text())
    data["libraries"]["Microsoft.CodeAnalysis.Analyzers/3.3.4"] = {"type": "package", "serviceable": True}
    packages, _ = _extract(tmp_path, json.dumps(data))
    assert {p.name: p.notes for p in packages} == {
        "ExampleApp1": (PROJECT,),
        "Newtonsoft.Json": (),
        "Microsoft.CodeAnalysis.Analyzers": ("not in the runtime target: used at build time only",),
    }


def test_framework_reference_assemblies_are_not_nuget_packages(tmp_path):
    data = json.loads((FIXTURES / "trivy/ExampleApp1.deps.json").read_text())
    data["libraries"]["System.Text.Encodings.Web/4.0.5.0"] = {
        "type": "referenceassembly",
        "serviceable": False,
    }
    data["libraries"]["Microsoft.CSharp/4.0.0.0"] = {"type": "reference"}
    packages, ctx = _extract(tmp_path, json.dumps(data))
    assert _found(packages) == [("ExampleApp1", "1.0.0"), ("Newtonsoft.Json", "13.0.1")]
    assert ctx.errors == []


def test_malformed_library_entries_are_reported_and_the_rest_kept(tmp_path):
    data = json.loads((FIXTURES / "trivy/ExampleApp1.deps.json").read_text())
    data["libraries"].update(
        {"Bad/1.0": "package", "a/b/c": {"type": "package"}, "/1.0": {}, "Odd/2.0": {"type": ["package"]}}
    )
    data["runtimeTarget"]["name"] = ["not", "a", "name"]
    packages, ctx = _extract(tmp_path, json.dumps(data))
    assert _found(packages) == [("ExampleApp1", "1.0.0"), ("Newtonsoft.Json", "13.0.1")]
    assert [message for _, message in ctx.errors] == [
        "library 'Bad/1.0': not `Name/Version` with an object",
        "library 'a/b/c': not `Name/Version` with an object",
        "library '/1.0': not `Name/Version` with an object",
    ]


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"{", "not JSON"),
        (b"", "not JSON"),
        (b"[" * 100_000, "not JSON"),
        (b'{"libraries": ' + b'{"a": ' * 100_000, "not JSON"),
        (b"\xff\xfe\x00", "not JSON"),
        (bytes(range(256)) * 64, "not JSON"),
        (b'{"libraries": []}', "not a .NET deps.json"),
        (b'{"targets": {}}', "not a .NET deps.json"),
        (b"[]", "not a .NET deps.json"),
        (b'{"libraries": {}, "x": "' + b"a" * (9 << 20) + b'"}', "8388608-byte limit"),
    ],
)
def test_a_hostile_deps_json_is_a_clear_error(tmp_path, content, error):
    with pytest.raises(ExtractError, match=error):
        _extract(tmp_path, content)
