"""Typed access to fields of parsed JSON/YAML records: a wrong type is a clear error, not a crash later."""

from __future__ import annotations

from typing import Any


def text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    raise ValueError(f"`{key}` is {type(value).__name__}, not a string")


def items(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"`{key}` is {type(value).__name__}, not a list")
    return value


def mapping(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"`{key}` is {type(value).__name__}, not an object")
    return value
