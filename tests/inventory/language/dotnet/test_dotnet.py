"""NuGet packages from .NET applications' deps.json, on Trivy's test files."""

import json
from pathlib import Path

import pytest
from tests.inventory.extracting import place, run_extractor

from vigil.fs import FSError
from vigil.inventory.extractor import ExtractError
from vigil.inventory.language.dotnet import DepsJsonExtractor

FIXTURES = Path(__file__).parent / "fixtures" / "trivy"
APP = "/opt/app/Web.deps.json"


def _extract(tmp_path, content):
    root = place(tmp_path, APP, content)
    return run_extractor(DepsJsonExtractor(), root, APP)


def test_packages_are_reported_and_the_application_s_own_projects_are_not(tmp_path):
    packages, ctx = _extract(tmp_path, (FIXTURES / "Web.deps.json").read_bytes())
    assert [(p.name, p.version, p.purl, p.package_manager, p.locations, p.notes) for p in packages] == [
        ("Newtonsoft.Json", "13.0.3", "pkg:nuget/Newtonsoft.Json@13.0.3", "DOTNET_CORE", (APP,), ())
    ]
    assert ctx.errors == []
    packages, _ = _extract(tmp_path, (FIXTURES / "ExampleApp1.deps.json").read_bytes())
    assert [(p.name, p.version) for p in packages] == [("Newtonsoft.Json", "13.0.1")]


def test_a_self_contained_application_s_runtime_is_reported_under_its_nuget_name(tmp_path):
    packages, _ = _extract(tmp_path, (FIXTURES / "runtimepack-edge.deps.json").read_bytes())
    assert [(p.name, p.version) for p in packages] == [
        ("SQLitePCLRaw.lib.e_sqlite3", "2.1.6"),
        ("Acme.Custom.Pack", "4.5.6"),
        ("Microsoft.NETCore.App.Runtime.linux-x64", "8.0.0"),
    ]
    assert packages[-1].notes == ("the .NET runtime this self-contained application carries",)


def test_a_package_the_runtime_target_does_not_load_is_noted_as_build_time_only(tmp_path):
    data = json.loads((FIXTURES / "ExampleApp1.deps.json").read_text())
    data["libraries"]["Microsoft.CodeAnalysis.Analyzers/3.3.4"] = {"type": "package", "serviceable": True}
    packages, _ = _extract(tmp_path, json.dumps(data))
    assert {p.name: p.notes for p in packages} == {
        "Newtonsoft.Json": (),
        "Microsoft.CodeAnalysis.Analyzers": ("not in the runtime target: used at build time only",),
    }


def test_a_malformed_library_entry_is_reported_and_the_rest_kept(tmp_path):
    data = json.loads((FIXTURES / "ExampleApp1.deps.json").read_text())
    data["libraries"]["no-version"] = {"type": "package"}
    data["libraries"]["Bad/1.0"] = "package"
    packages, ctx = _extract(tmp_path, json.dumps(data))
    assert [p.name for p in packages] == ["Newtonsoft.Json"]
    assert [message for _, message in ctx.errors] == [
        "library 'no-version': not `Name/Version` with an object",
        "library 'Bad/1.0': not `Name/Version` with an object",
    ]


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"{", "not JSON"),
        (b"[" * 100_000, "not JSON"),
        (b"\xff\xfe\x00", "not JSON"),
        (b'{"libraries": []}', "not a .NET deps.json"),
        (b"[]", "not a .NET deps.json"),
    ],
)
def test_a_hostile_deps_json_is_a_clear_error(tmp_path, content, error):
    with pytest.raises(ExtractError, match=error):
        _extract(tmp_path, content)


@pytest.mark.timeout(10)
def test_a_huge_deps_json_is_refused(tmp_path):
    with pytest.raises(FSError, match="limit"):
        _extract(tmp_path, b'{"libraries": {}, "x": "' + b"a" * (17 << 20) + b'"}')
