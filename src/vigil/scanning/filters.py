"""`CoverageFilterCriteria` applied to covered resources, and the `nextToken` of a listing.

Within one criterion, EQUALS filters are alternatives (any may match) and NOT_EQUALS filters must all hold;
criteria combine with AND. A criterion about something an EC2 instance does not have (an ECR repository, a
Lambda runtime) never matches EQUALS and always matches NOT_EQUALS.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from vigil.scanning.coverage import EC2_INSTANCE, Coverage

STRING_COMPARISONS = frozenset({"EQUALS", "NOT_EQUALS"})
MAP_COMPARISONS = frozenset({"EQUALS"})

_STRINGS: dict[str, Callable[[Coverage], str | None]] = {
    "scanStatusCode": lambda c: c.status_code,
    "scanStatusReason": lambda c: c.reason,
    "accountId": lambda c: c.instance.account_id,
    "resourceId": lambda c: c.instance.instance_id,
    "resourceType": lambda c: EC2_INSTANCE,
    "scanType": lambda c: c.scan_type,
    "scanMode": lambda c: c.scan_mode,
}
_MAPS: dict[str, Callable[[Coverage], Mapping[str, str]]] = {"ec2InstanceTags": lambda c: c.instance.tags}
_DATES: dict[str, Callable[[Coverage], dt.datetime | None]] = {"lastScannedAt": lambda c: c.last_scanned_at}


def _nothing(coverage: Coverage) -> None:
    """What an instance has of another resource type's attribute."""


def _no_tags(coverage: Coverage) -> Mapping[str, str]:
    return {}


class FilterError(ValueError):
    """A filter or token that cannot be applied; `field` names the member, as `ValidationException` does."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


Predicate = Callable[[Coverage], bool]


def compile_criteria(criteria: Mapping[str, Any] | None) -> Predicate:
    """One predicate for the whole `filterCriteria` (FilterError on a comparison the model does not allow)."""
    tests = [_criterion(name, list(filters)) for name, filters in (criteria or {}).items()]
    return lambda coverage: all(test(coverage) for test in tests)


def _criterion(name: str, filters: list[Mapping[str, Any]]) -> Predicate:
    field = f"filterCriteria.{name}"
    if not filters:
        return lambda coverage: True
    first = filters[0]
    if "startInclusive" in first or "endInclusive" in first:
        return _dates(name, filters, field)
    if "lowerInclusive" in first or "upperInclusive" in first:
        return lambda coverage: False  # numbers (ECR image use counts): nothing an instance has
    if "key" in first:
        return _maps(name, filters, field)
    return _strings(name, filters, field)


def _strings(name: str, filters: Sequence[Mapping[str, Any]], field: str) -> Predicate:
    equal: set[Any] = set()
    not_equal: set[Any] = set()
    for i, f in enumerate(filters):
        comparison = f.get("comparison")
        if comparison not in STRING_COMPARISONS:
            raise FilterError(f"{field}[{i}].comparison", f"{comparison!r} is not EQUALS or NOT_EQUALS")
        (equal if comparison == "EQUALS" else not_equal).add(f.get("value"))
    attribute = _STRINGS.get(name, _nothing)

    def test(coverage: Coverage) -> bool:
        value = attribute(coverage)
        return (not equal or value in equal) and value not in not_equal

    return test


def _maps(name: str, filters: Sequence[Mapping[str, Any]], field: str) -> Predicate:
    wanted: list[tuple[str, str | None]] = []
    for i, f in enumerate(filters):
        if f.get("comparison") not in MAP_COMPARISONS:
            raise FilterError(f"{field}[{i}].comparison", f"{f.get('comparison')!r} is not EQUALS")
        wanted.append((str(f.get("key")), f.get("value")))
    attribute = _MAPS.get(name, _no_tags)

    def test(coverage: Coverage) -> bool:
        tags = attribute(coverage)
        return any(key in tags and (value is None or tags[key] == value) for key, value in wanted)

    return test


def _dates(name: str, filters: Sequence[Mapping[str, Any]], field: str) -> Predicate:
    ranges = [
        (_moment(f.get("startInclusive"), f"{field}[{i}].startInclusive"),
         _moment(f.get("endInclusive"), f"{field}[{i}].endInclusive"))
        for i, f in enumerate(filters)
    ]  # fmt: skip
    attribute = _DATES.get(name, _nothing)

    def test(coverage: Coverage) -> bool:
        value = attribute(coverage)
        return value is not None and any(
            (start is None or start <= value) and (end is None or value <= end) for start, end in ranges
        )

    return test


def _moment(value: Any, field: str) -> dt.datetime | None:
    """A timestamp as the protocol layer hands it over: a datetime, or rest-json's epoch seconds."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    raise FilterError(field, "not a timestamp")


def encode_token(position: Sequence[Any]) -> str:
    """An opaque `nextToken` for a listing that goes on after `position`."""
    return base64.urlsafe_b64encode(json.dumps(list(position)).encode()).decode()


def decode_token(token: str | None, size: int, field: str = "nextToken") -> list[Any] | None:
    """The position a `nextToken` stands for (None for the first page); FilterError for one not ours."""
    if not token:
        return None
    try:
        position = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise FilterError(field, "not a token this listing gave") from None
    if not isinstance(position, list) or len(position) != size:
        raise FilterError(field, "not a token this listing gave")
    return position
