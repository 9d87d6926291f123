"""Every distribution Vigil imports is declared, in the install that needs it, and nothing unused is."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src" / "vigil"
# the modules of each extra; everything else may import only the base dependencies
EXTRA_MODULES = {
    "images": ("fs/image/",),
    "sbom": ("inventory/sbom/export.py",),
    "server": ("store/", "api/", "server/", "fleet/", "scanning/", "findings/service/", "cli/server.py"),
}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> dict[str, set[str]]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    groups = {"base": project["dependencies"], **project["optional-dependencies"]}
    return {
        group: {_canonical(Requirement(r).name) for r in reqs if not r.startswith("vigil")}
        for group, reqs in groups.items()
    }


def _imports() -> dict[str, set[str]]:
    """Top-level third-party modules imported, per source file."""
    found: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        # `_typeshed` exists only for type checkers (imported under TYPE_CHECKING)
        found[str(path.relative_to(SRC))] = names - set(sys.stdlib_module_names) - {"vigil", "_typeshed"}
    return found


def _group_of(module_path: str) -> str:
    return next((g for g, prefixes in EXTRA_MODULES.items() if module_path.startswith(prefixes)), "base")


def test_every_imported_distribution_is_declared_where_it_is_needed():
    declared, distributions = _declared(), packages_distributions()
    for path, modules in _imports().items():
        group = _group_of(path)
        allowed = declared["base"] | declared[group]
        for module in modules:
            owners = {_canonical(d) for d in distributions.get(module, [module])}
            assert owners & allowed, f"{path} imports {module} ({owners}), not declared for {group!r}"


# loaded by name rather than imported: SQLAlchemy picks psycopg from a `postgresql+psycopg://` URL
LOADED_BY_NAME = {"psycopg"}


def test_no_declared_dependency_goes_unused():
    distributions = packages_distributions()
    imported = LOADED_BY_NAME | {
        _canonical(d) for modules in _imports().values() for m in modules for d in distributions.get(m, [])
    }
    declared = _declared()
    for group in ("base", *EXTRA_MODULES):
        assert declared[group] <= imported, (
            f"{group}: declared but never imported: {declared[group] - imported}"
        )
