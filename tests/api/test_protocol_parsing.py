"""Reading rest-json requests into operations' inputs, for the parts of the protocol the accounts group does
not use (timestamps in bodies, URI labels, query strings): what the findings and coverage groups rely on."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from vigil.api import errors
from vigil.api.errors import ValidationException
from vigil.api.protocol.model import RouteTable, inspector_model
from vigil.api.protocol.parse import parse_request
from vigil.api.protocol.validate import validate

ROUTES = RouteTable(inspector_model())


def _parsed(method: str, target: str, body: object = None) -> tuple[str, dict]:
    path, _, query = target.partition("?")
    operation, labels = ROUTES.find(method, path)
    pairs = [tuple(p.split("=", 1)) for p in query.split("&")] if query else []
    params = parse_request(
        operation, labels, pairs, {}, json.dumps(body).encode() if body is not None else b""
    )
    validate(params, operation.input_shape)
    return operation.name, params


def test_body_timestamps_in_epoch_seconds_or_iso_8601_become_aware_times():
    name, params = _parsed(
        "POST",
        "/findings/list",
        {
            "filterCriteria": {
                "firstObservedAt": [{"startInclusive": 1764000000, "endInclusive": "2026-01-01T00:00:00Z"}]
            }
        },
    )
    assert name == "ListFindings"
    window = params["filterCriteria"]["firstObservedAt"][0]
    assert window["startInclusive"] == dt.datetime.fromtimestamp(1764000000, dt.UTC)
    assert window["endInclusive"] == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_a_label_is_decoded_and_query_lists_and_numbers_are_typed():
    arn = "arn:aws:inspector2:local:123456789012:owner/123456789012/filter/f1"
    encoded = arn.replace("/", "%2F").replace(":", "%3A")
    name, params = _parsed("DELETE", f"/tags/{encoded}?tagKeys=team&tagKeys=env")
    assert (name, params) == ("UntagResource", {"resourceArn": arn, "tagKeys": ["team", "env"]})
    name, params = _parsed("POST", "/codesecurity/integration/list?maxResults=7")
    assert params == {"maxResults": 7}


def test_a_query_number_that_is_no_number_is_a_validation_error():
    with pytest.raises(ValidationException) as excinfo:
        _parsed("POST", "/codesecurity/integration/list?maxResults=seven")
    assert excinfo.value.fields[0].name == "maxResults"


def test_an_enum_inside_a_nested_structure_is_checked():
    with pytest.raises(ValidationException) as excinfo:
        _parsed("POST", "/findings/list", {"sortCriteria": {"field": "SEVERITY", "sortOrder": "SIDEWAYS"}})
    assert [f.name for f in excinfo.value.fields] == ["sortCriteria.sortOrder"]


def test_every_operation_of_the_model_has_a_route_of_its_own():
    seen = {}
    for operation in (ROUTES.model.operation_model(n) for n in ROUTES.model.operation_names):
        key = (operation.http["method"], operation.http["requestUri"])
        assert key not in seen, (operation.name, seen.get(key))
        seen[key] = operation.name


def test_each_error_vigil_raises_has_the_status_of_its_shape_in_the_model():
    modelled = {shape.name: shape.metadata["error"]["httpStatusCode"] for shape in ROUTES.model.error_shapes}
    raised = [
        errors.ValidationException,
        errors.AccessDeniedException,
        errors.ResourceNotFoundException,
        errors.ConflictException,
        errors.ServiceQuotaExceededException,
        errors.ThrottlingException,
        errors.BadRequestException,
        errors.InspectorError,
    ]
    assert {e.code: e.status for e in raised} == {e.code: modelled[e.code] for e in raised}
