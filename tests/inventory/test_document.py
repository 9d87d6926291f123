"""The Inventory document across a trust boundary: validated, bounded, hashed by content."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from vigil.inventory.collect import Limits
from vigil.inventory.document import SCHEMA_FILE, InvalidInventory, json_schema
from vigil.inventory.model import Inventory, Stats
from vigil.inventory.targets import collect_inventory

DEMO_ROOTFS = Path(__file__).resolve().parents[2] / "demo" / "rootfs"


@pytest.fixture(scope="module")
def inventory():
    return collect_inventory([str(DEMO_ROOTFS)], scope="all")


def test_a_document_reads_back_as_the_inventory_it_was_written_from(inventory):
    assert Inventory.from_json(json.dumps(inventory.to_json())) == inventory
    assert Inventory.from_json(inventory.to_json()) == inventory


def test_two_collections_of_an_unchanged_tree_have_one_content_hash(inventory):
    again = collect_inventory([str(DEMO_ROOTFS)], scope="all")
    assert again.content_hash == inventory.content_hash
    rerun = dataclasses.replace(inventory, stats=Stats(1, 2, 3.0, True), collected_at="2030-01-01T00:00:00")
    assert rerun.content_hash == inventory.content_hash


def test_the_content_hash_of_an_inventory_that_hit_a_limit_survives_a_json_round_trip():
    limited = collect_inventory([str(DEMO_ROOTFS)], scope="all", limits=Limits(max_language_packages=1))
    assert [hit.limit for hit in limited.limits_hit] == ["package_count"]  # an int limit, 1
    again = Inventory.from_json(json.loads(json.dumps(limited.to_json())))
    assert again.content_hash == limited.content_hash  # what an agent claims is what the server computes


def test_a_changed_package_changes_the_content_hash(inventory):
    first, *rest = inventory.packages
    upgraded = dataclasses.replace(inventory, packages=(dataclasses.replace(first, version="99"), *rest))
    assert upgraded.content_hash != inventory.content_hash


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(schema="cyclonedx"), "not an Inventory document"),
        (lambda d: d.update(schema_version=2), "schema version 2 is not supported"),
        (lambda d: d["packages"][0].pop("name"), "packages.0.name: Field required"),
        (lambda d: d["packages"][0].update(epoch="one"), "packages.0.epoch"),
        (lambda d: d["packages"][1].update(package_manager="APT"), "packages.1.package_manager"),
        (lambda d: d["packages"][0].update(injected=True), "packages.0.injected"),
        (lambda d: d["target"].update(kind="cloud"), "target.kind"),
        (lambda d: d["packages"][0].update(name="x" * 10_000), "at most 8192 characters"),
        (lambda d: d.update(packages={"not": "a list"}), "packages"),
    ],
)
def test_an_invalid_document_is_refused_with_the_reason(inventory, mutate, message):
    doc = inventory.to_json()
    mutate(doc)
    with pytest.raises(InvalidInventory, match=message):
        Inventory.from_json(json.dumps(doc))


def test_a_deeply_nested_document_is_refused_without_exhausting_the_stack():
    deep = b'{"schema": "vigil.inventory", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(InvalidInventory, match="not JSON: recursion limit"):
        Inventory.from_json(deep)


def test_an_oversized_document_is_refused_before_it_is_parsed():
    with pytest.raises(InvalidInventory, match="at most"):
        Inventory.from_json(b" " * (33 << 20))


@pytest.mark.parametrize("document", [b"[]", b"not json", b'"text"', b"{}"])
def test_what_is_not_an_inventory_is_named_so(document):
    with pytest.raises(InvalidInventory):
        Inventory.from_json(document)


def test_the_published_json_schema_is_the_models():
    assert json.loads(SCHEMA_FILE.read_text()) == json_schema(), "run: python -m vigil.inventory.document"


def test_the_json_schema_accepts_a_real_document_and_refuses_an_extra_member(inventory):
    import jsonschema  # the dev extra has it (cyclonedx-python-lib[json-validation])

    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.validate(inventory.to_json(), schema)
    doc = inventory.to_json()
    doc["packages"][0]["injected"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)
