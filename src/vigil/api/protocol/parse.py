"""A rest-json request read into the operation's input, as botocore's model names its members.

Members come from where the model says: URI labels, the query string, headers, or the JSON body. Values are
converted to what the model's types mean (timestamps to aware datetimes, blobs to bytes); anything that is
not of the model (an unknown member, a wrong type) is left as it came, for validation to name.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import pydantic_core
from botocore.model import OperationModel, Shape
from botocore.utils import parse_timestamp

from vigil.api.errors import ValidationException


def parse_request(
    operation: OperationModel,
    labels: Mapping[str, str],
    query: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    body: bytes,
) -> dict[str, Any]:
    shape = operation.input_shape
    if shape is None:
        if body.strip() not in (b"", b"{}"):
            raise ValidationException(f"{operation.name} takes no input", reason="CANNOT_PARSE")
        return {}
    document = _document(body)
    params: dict[str, Any] = {}
    bound: set[str] = set()
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "uri" and wire in labels:
            params[name] = _scalar(member, labels[wire])
        elif location == "querystring":
            value = _query(member, wire, query, bound)
            if value is not None:
                params[name] = value
        elif location == "header" and wire.lower() in headers:
            params[name] = _scalar(member, headers[wire.lower()])
        elif location is None and name in document:
            params[name] = _value(member, document.pop(name))
    params.update(document)  # members of no location the model knows: validation names them
    return params


def _document(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        document = pydantic_core.from_json(body)  # nesting depth bounded, unlike json.loads
    except ValueError as exc:
        raise ValidationException(f"the body is not JSON: {exc}", reason="CANNOT_PARSE") from None
    if not isinstance(document, dict):
        raise ValidationException("the body is not a JSON object", reason="CANNOT_PARSE")
    return document


def _query(member: Shape, wire: str, query: Sequence[tuple[str, str]], bound: set[str]) -> Any:
    if member.type_name == "map":  # every parameter no other member takes
        return {k: v for k, v in query if k not in bound} or None
    bound.add(wire)
    values = [v for k, v in query if k == wire]
    if not values:
        return None
    if member.type_name == "list":
        return [_scalar(member.member, v) for v in values]
    return _scalar(member, values[-1])


def _scalar(shape: Shape, text: str) -> Any:
    """A value from a URI label, the query string or a header: text, as the member's type reads it."""
    kind = shape.type_name
    try:
        if kind in ("integer", "long"):
            return int(text)
        if kind in ("float", "double"):
            return float(text)
    except ValueError:
        return text
    if kind == "boolean":
        return {"true": True, "false": False}.get(text.lower(), text)
    if kind == "timestamp":
        return _timestamp(text)
    return text


def _value(shape: Shape, value: Any) -> Any:
    """A value from the JSON body, converted where the model's type needs more than JSON gives."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        members = shape.members
        return {k: _value(members[k], v) if k in members else v for k, v in value.items()}
    if kind == "list" and isinstance(value, list):
        return [_value(shape.member, v) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _value(shape.value, v) for k, v in value.items()}
    if kind == "timestamp" and isinstance(value, (int, float, str)) and not isinstance(value, bool):
        return _timestamp(value)
    if kind == "blob" and isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationException("a blob member is not base64", reason="CANNOT_PARSE") from None
    return value


def _timestamp(value: int | float | str) -> Any:
    """Epoch seconds (rest-json's default) or ISO 8601, as an aware UTC datetime; else left for validation."""
    try:
        parsed = parse_timestamp(value)
    except (ValueError, TypeError, OverflowError):
        return value
    return parsed.astimezone(dt.UTC) if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
