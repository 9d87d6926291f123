"""Reading an Inventory JSON document from outside: bounded, validated, with errors a user can act on.

An agent's document is untrusted input. It is parsed by pydantic-core (whose JSON parser bounds nesting
depth instead of overflowing the stack), checked against the frozen model's own types (pydantic reads the
dataclasses directly: one definition, no second schema to keep in step), and refused with a short message
naming the first problems. `inventory.schema.json`, next to this module, is the published JSON Schema of
the same model (`python -m vigil.inventory.document` rewrites it; a test keeps it current).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vigil.inventory.model import SCHEMA, SCHEMA_VERSION, Inventory

if TYPE_CHECKING:
    from pydantic import TypeAdapter

MAX_DOCUMENT_BYTES = 32 << 20  # a host with 5,000 language and 5,000 OS packages is about 5 MB
SCHEMA_FILE = Path(__file__).with_name("inventory.schema.json")
_SHOWN_ERRORS = 5


class InvalidInventory(ValueError):
    """The document is not a valid Inventory; the message says why."""


@functools.cache
def _adapter() -> TypeAdapter[Inventory]:
    from pydantic import TypeAdapter

    return TypeAdapter(Inventory)


def read_inventory(document: bytes | str | dict[str, Any]) -> Inventory:
    """Validate an Inventory JSON document (bytes, text or already parsed) into the frozen model."""
    from pydantic import ValidationError
    from pydantic_core import from_json

    if isinstance(document, dict):
        data: Any = document
    else:
        raw = document.encode() if isinstance(document, str) else document
        if len(raw) > MAX_DOCUMENT_BYTES:
            raise InvalidInventory(f"document of {len(raw):,} bytes: at most {MAX_DOCUMENT_BYTES:,} accepted")
        try:
            data = from_json(raw)
        except ValueError as exc:
            raise InvalidInventory(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInventory("not an Inventory document: expected a JSON object")
    body = dict(data)
    schema, version = body.pop("schema", None), body.pop("schema_version", None)
    if schema != SCHEMA:
        raise InvalidInventory(f"not an Inventory document: schema is {schema!r}, expected {SCHEMA!r}")
    if version != SCHEMA_VERSION:
        raise InvalidInventory(
            f"Inventory schema version {version!r} is not supported (this Vigil reads {SCHEMA_VERSION})"
        )
    try:
        return _adapter().validate_python(body)
    except ValidationError as exc:
        raise InvalidInventory(_describe(exc)) from None
    except RecursionError:
        raise InvalidInventory("document nested too deeply") from None


def _describe(exc: Any) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    shown = [
        f"{'.'.join(str(p) for p in e['loc']) or '(document)'}: {e['msg']}" for e in errors[:_SHOWN_ERRORS]
    ]
    more = f" (and {len(errors) - _SHOWN_ERRORS} more)" if len(errors) > _SHOWN_ERRORS else ""
    return "invalid Inventory document: " + "; ".join(shown) + more


def json_schema() -> dict[str, Any]:
    """The JSON Schema of an Inventory document (version `SCHEMA_VERSION`)."""
    schema = _adapter().json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://vigil.invalid/schemas/inventory-{SCHEMA_VERSION}.json"
    schema["title"] = f"Vigil Inventory, schema version {SCHEMA_VERSION}"
    schema["properties"] = {
        "schema": {"const": SCHEMA},
        "schema_version": {"const": SCHEMA_VERSION},
        **schema["properties"],
    }
    schema["required"] = ["schema", "schema_version", *schema["required"]]
    return schema


def _write_schema_file() -> None:
    SCHEMA_FILE.write_text(json.dumps(json_schema(), indent=2, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    _write_schema_file()
