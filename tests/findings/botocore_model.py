"""Inspector's `Finding` as botocore's `inspector2` service model defines it, to check findings against.

`violations` walks a JSON value along a model shape: required members present, no member the shape
lacks, no `null`, enums, string lengths and patterns, numbers, and timestamps in rest-json's wire form
(epoch seconds). `parsed_by_boto3` runs botocore's own rest-json response parser on a ListFindings
answer carrying them, as boto3 would on the server's response.
"""

from __future__ import annotations

import datetime
import json
import re
from typing import Any

import botocore.session
from botocore.model import Shape
from botocore.parsers import create_parser

MODEL = botocore.session.get_session().get_service_model("inspector2")
FINDING = MODEL.shape_for("Finding")


def violations(
    value: Any, shape: Shape = FINDING, path: str = "Finding", *, python: bool = False
) -> list[str]:
    """What is wrong with `value` as the shape's wire form (timestamps as epoch seconds) or, with `python`, as
    handlers return it and boto3 gives it (timestamps as aware datetimes)."""
    return _violations(value, shape, path, python)


def _violations(value: Any, shape: Shape, path: str, python: bool) -> list[str]:
    if value is None:
        return [f"{path}: null (an absent member is left out)"]
    check = _CHECKS.get(shape.type_name)
    if check is None:
        return [f"{path}: no check for model type {shape.type_name}"]
    return check(value, shape, path, python)


def _structure(value: Any, shape: Any, path: str, python: bool) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: {type(value).__name__}, not an object ({shape.name})"]
    found = [
        f"{path}.{name}: required by {shape.name}, missing"
        for name in shape.required_members
        if name not in value
    ]
    for name, member in value.items():
        if name not in shape.members:
            found.append(f"{path}.{name}: not a member of {shape.name}")
        else:
            found += _violations(member, shape.members[name], f"{path}.{name}", python)
    return found


def _list(value: Any, shape: Any, path: str, python: bool) -> list[str]:
    if not isinstance(value, list):
        return [f"{path}: {type(value).__name__}, not a list"]
    found = _bounds(len(value), shape, path, "items")
    for i, item in enumerate(value):
        found += _violations(item, shape.member, f"{path}[{i}]", python)
    return found


def _map(value: Any, shape: Any, path: str, python: bool) -> list[str]:
    if not isinstance(value, dict):
        return [f"{path}: {type(value).__name__}, not a map"]
    return [
        v for key, item in value.items() for v in _violations(item, shape.value, f"{path}[{key!r}]", python)
    ]


def _string(value: Any, shape: Any, path: str, python: bool) -> list[str]:
    if not isinstance(value, str):
        return [f"{path}: {type(value).__name__}, not a string"]
    found = _bounds(len(value), shape, path, "characters")
    if shape.enum and value not in shape.enum:
        found.append(f"{path}: {value!r} is not one of {shape.name}'s values")
    pattern = shape.metadata.get("pattern")
    if pattern and not re.fullmatch(pattern, value):
        found.append(f"{path}: {value!r} does not match {shape.name}'s pattern {pattern}")
    return found


def _number(value: Any, shape: Any, path: str, python: bool) -> list[str]:
    integral = shape.type_name in ("integer", "long")
    if isinstance(value, bool) or not isinstance(value, int if integral else (int, float)):
        return [f"{path}: {value!r} is not a {shape.type_name}"]
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if (low is not None and value < low) or (high is not None and value > high):
        return [f"{path}: {value} is outside [{low}, {high}]"]
    return []


def _boolean(value: Any, shape: Any, path: str, python: bool) -> list[str]:
    return [] if isinstance(value, bool) else [f"{path}: {value!r} is not a boolean"]


def _timestamp(value: Any, shape: Any, path: str, python: bool) -> list[str]:
    if python:
        aware = isinstance(value, datetime.datetime) and value.tzinfo is not None
        return [] if aware else [f"{path}: {value!r} is not an aware datetime"]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return [f"{path}: {value!r} is not a rest-json timestamp (epoch seconds)"]
    return []


def _bounds(length: int, shape: Any, path: str, unit: str) -> list[str]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if (low is not None and length < low) or (high is not None and length > high):
        return [f"{path}: {length} {unit}, {shape.name} allows [{low}, {high}]"]
    return []


_CHECKS = {
    "structure": _structure,
    "list": _list,
    "map": _map,
    "string": _string,
    "integer": _number,
    "long": _number,
    "double": _number,
    "float": _number,
    "boolean": _boolean,
    "timestamp": _timestamp,
}


def parsed_by_boto3(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The findings as boto3's `list_findings` returns them from a response carrying them."""
    output = MODEL.operation_model("ListFindings").output_shape
    response = {"status_code": 200, "headers": {}, "body": json.dumps({"findings": findings}).encode()}
    parsed: list[dict[str, Any]] = create_parser("rest-json").parse(response, output)["findings"]
    return parsed


def input_problems(operation: str, request: dict[str, Any]) -> list[str]:
    """What botocore's own `ParamValidator` (boto3's client-side check) finds wrong with an operation's input."""
    from botocore.validate import ParamValidator

    shape = MODEL.operation_model(operation).input_shape
    report = ParamValidator().validate(request, shape)
    return report.generate_report().splitlines() if report.has_errors() else []


def output_problems(operation: str, response: dict[str, Any]) -> list[str]:
    """What the model's output shape finds wrong with a handler's response (timestamps as datetimes)."""
    shape = MODEL.operation_model(operation).output_shape
    return violations(response, shape, operation, python=True)


def parsed_response(operation: str, response: dict[str, Any]) -> dict[str, Any]:
    """The response as boto3 returns it, parsed by botocore's rest-json parser from the JSON body."""
    output = MODEL.operation_model(operation).output_shape
    body = json.dumps(response, default=lambda moment: moment.timestamp())  # as the protocol layer writes it
    raw = {"status_code": 200, "headers": {}, "body": body.encode()}
    parsed: dict[str, Any] = create_parser("rest-json").parse(raw, output)
    parsed.pop("ResponseMetadata", None)
    return parsed


def call(operations: dict[str, Any], operation: str, caller: Any, **request: Any) -> dict[str, Any]:
    """Call a handler as the protocol layer will: its input valid for the model, its output checked."""
    assert input_problems(operation, request) == [], input_problems(operation, request)
    response: dict[str, Any] = operations[operation](caller, request)
    assert output_problems(operation, response) == [], output_problems(operation, response)
    assert parsed_response(operation, response) == response  # boto3 gives users what the handler returned
    return response


def call_pages(
    operations: dict[str, Any], operation: str, caller: Any, items: str, **request: Any
) -> list[Any]:
    """Every item of a listing operation, page after page (`call` on each)."""
    found: list[Any] = []
    while True:
        response = call(operations, operation, caller, **request)
        found += response[items]
        if "nextToken" not in response:
            return found
        request["nextToken"] = response["nextToken"]
