"""Who is calling, as every handler sees it once the request's signature has been verified.

Handlers of Inspector operations are plain functions `handler(caller, request) -> response`: `request` is the
operation's input as botocore's model names its members (already validated against the model), the response
its output (serialised and checked against the model by the protocol layer). Each resource group builds its
handlers from its own services (`operations(service, …) -> dict[operation name, Handler]`), so groups are
written and tested apart and assembled by `create_app`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Caller:
    """The account whose keys signed the request, and the member accounts it administers."""

    account_id: str
    administered: frozenset[str] = field(default_factory=frozenset)  # as the organization's delegated admin

    @property
    def visible(self) -> frozenset[str]:
        """The accounts whose data this caller may read and configure: itself and its members."""
        return self.administered | {self.account_id}

    def may_see(self, account_id: str) -> bool:
        return account_id in self.visible


Request = Mapping[str, Any]
Response = dict[str, Any]
Handler = Callable[[Caller, Request], Response]
