"""Responses shaped by the model: an operation's output from its output shape, an error from its error shape.

Only members the shape has are written (a handler returning another is a bug, reported as one, never sent),
absent and None members are left out, timestamps are epoch seconds (or the shape's own format), blobs
base64. Errors carry their code in `x-amzn-ErrorType`, which botocore reads into `ClientError`.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
from collections.abc import Mapping
from typing import Any

from botocore.model import OperationModel, ServiceModel, Shape

from vigil.api.errors import InspectorError

JSON = "application/json"


class ShapeError(Exception):
    """A handler's response that the model does not describe."""


def serialize_output(
    operation: OperationModel, response: Mapping[str, Any]
) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of the operation's output."""
    status = int(operation.http.get("responseCode", 200))
    shape = operation.output_shape
    if shape is None:
        if response:
            raise ShapeError(f"{operation.name} has no output, the handler returned {sorted(response)}")
        return status, {"content-type": JSON}, b"{}"
    headers = {"content-type": JSON}
    body: dict[str, Any] = {}
    for name, value in response.items():
        member = _member(shape, name, operation.name)
        if value is None:
            continue
        if member.serialization.get("location") == "header":
            headers[member.serialization.get("name", name).lower()] = str(_value(member, value, name))
        else:
            body[member.serialization.get("name", name)] = _value(member, value, name)
    return status, headers, _dumps(body)


def serialize_error(model: ServiceModel, error: InspectorError) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of an error: its model shape's members, or just `message` for the errors
    of the signing layer that the model does not list."""
    headers = {"content-type": JSON, "x-amzn-errortype": error.code}
    fields = error.members()
    if error.code in _error_codes(model):
        shape = model.shape_for(error.code)
        body = {k: _value(_member(shape, k, error.code), v, k) for k, v in fields.items() if v is not None}
    else:
        body = {"message": error.message}
    return error.status, headers, _dumps(body)


@functools.cache
def _error_codes(model: ServiceModel) -> frozenset[str]:
    return frozenset(shape.name for shape in model.error_shapes)


def _member(shape: Shape, name: str, where: str) -> Shape:
    members = shape.members
    if name not in members:
        raise ShapeError(f"{where}: {shape.name} has no member {name!r}")
    member: Shape = members[name]
    return member


def _value(shape: Shape, value: Any, where: str) -> Any:
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, Mapping):
            raise ShapeError(f"{where}: {shape.name} is a structure, not {type(value).__name__}")
        out = {}
        for name, item in value.items():
            member = _member(shape, name, where)
            if item is not None:
                out[member.serialization.get("name", name)] = _value(member, item, f"{where}.{name}")
        return out
    if kind == "list":
        if not isinstance(value, list | tuple):
            raise ShapeError(f"{where}: a list, not {type(value).__name__}")
        return [_value(shape.member, item, f"{where}[{i}]") for i, item in enumerate(value)]
    if kind == "map":
        if not isinstance(value, Mapping):
            raise ShapeError(f"{where}: a map, not {type(value).__name__}")
        return {str(k): _value(shape.value, v, f"{where}.{k}") for k, v in value.items()}
    return _scalar(shape, value, where)


_SCALARS: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "long": (int,),
    "float": (int, float),
    "double": (int, float),
}


def _scalar(shape: Shape, value: Any, where: str) -> Any:
    kind = shape.type_name
    if kind == "timestamp":
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = dt.datetime.fromtimestamp(value, dt.UTC)  # epoch seconds, as `Finding.to_json` keeps them
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            raise ShapeError(f"{where}: a timestamp is an aware datetime or epoch seconds, not {value!r}")
        if shape.serialization.get("timestampFormat") == "iso8601":
            return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
        return value.timestamp()
    if kind == "blob":
        if not isinstance(value, bytes):
            raise ShapeError(f"{where}: a blob is bytes, not {type(value).__name__}")
        return base64.b64encode(value).decode()
    allowed = _SCALARS.get(kind, ())
    if not isinstance(value, allowed) or (kind != "boolean" and isinstance(value, bool)):
        raise ShapeError(f"{where}: a {kind}, not {type(value).__name__} {value!r}")
    return str(value) if kind == "string" else value


def _dumps(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
