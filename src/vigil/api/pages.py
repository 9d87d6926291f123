"""`maxResults` / `nextToken` over a list ordered by a key: the token says where the last page stopped."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import TypeVar

from vigil.api.errors import ValidationException

T = TypeVar("T")


def page(
    items: Sequence[T],
    key: Callable[[T], str],
    *,
    max_results: int | None,
    next_token: str | None,
    default: int,
) -> tuple[list[T], str | None]:
    """The items after the token's key (ordered by `key`), at most `max_results`, and the next token."""
    after = _after(next_token) if next_token else None
    ordered = sorted(items, key=key)
    remaining = [item for item in ordered if after is None or key(item) > after]
    size = max_results or default
    chosen = remaining[:size]
    token = _token(key(chosen[-1])) if len(remaining) > size else None
    return chosen, token


def _token(after: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode()


def _after(token: str) -> str:
    try:
        document = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        document = None
    if not isinstance(document, dict) or not isinstance(document.get("after"), str):
        raise ValidationException.of_field("nextToken", "not a token this server gave")
    return str(document["after"])
