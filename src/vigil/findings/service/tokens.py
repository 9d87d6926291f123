"""Pagination tokens: opaque, authenticated, and bound to the caller and the query they continue.

A token is a Fernet token (AES-CBC + HMAC-SHA256) over the position reached, the operation, the calling
account and a digest of the request: a token altered, forged, replayed by another account or with other
filters is refused as invalid, never followed. Whatever a token says, queries stay within the caller's
accounts.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from vigil.findings.service.errors import InvalidRequest

_PAGING_MEMBERS = ("nextToken", "maxResults")


def request_digest(request: Mapping[str, Any]) -> str:
    """The request without its paging members, as one string: a token continues only the same query."""
    kept = {k: v for k, v in request.items() if k not in _PAGING_MEMBERS}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()


class PageTokens:
    """Issues and reads `nextToken`s with a key of the server's (any secret bytes; kept across restarts so
    that a token stays good while the server restarts)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("page tokens need a key of at least 16 bytes")
        derived = hashlib.sha256(b"vigil page tokens\0" + key).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def issue(self, operation: str, account_id: str, request: Mapping[str, Any], position: list[Any]) -> str:
        payload = {"o": operation, "a": account_id, "q": request_digest(request), "p": position}
        return self._fernet.encrypt(json.dumps(payload, separators=(",", ":")).encode()).decode("ascii")

    def read(self, operation: str, account_id: str, request: Mapping[str, Any]) -> list[Any] | None:
        """The position the request's `nextToken` continues from (None without a token)."""
        token = request.get("nextToken")
        if token is None or token == "":
            return None
        try:
            payload = json.loads(self._fernet.decrypt(str(token).encode("ascii")))
        except (InvalidToken, UnicodeError, ValueError):
            raise InvalidRequest("nextToken", "not a token this service issued") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("p"), list):
            raise InvalidRequest("nextToken", "not a token this service issued")
        if (payload.get("o"), payload.get("a"), payload.get("q")) != (
            operation,
            account_id,
            request_digest(request),
        ):
            raise InvalidRequest("nextToken", "the token continues another query: repeat the same request")
        position: list[Any] = payload["p"]
        return position
