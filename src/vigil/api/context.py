"""Who is calling, as every handler sees it once the request's signature has been verified.

Handlers of Inspector operations are plain functions `handler(caller, request) -> response`: `request` is the
operation's input as botocore's model names its members (already validated against the model), the response
its output (serialised and checked against the model by the protocol layer). Each resource group builds its
handlers from its own services (`operations(service, …) -> dict[operation name, Handler]`), so groups are
written and tested apart and assembled by `create_app`.

Routes of the Vigil API take the same `Caller` as a FastAPI dependency: `caller: CallerDep`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends
from fastapi import Request as HttpRequest


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


CALLER = "vigil.caller"  # where `SignedGate` puts the verified caller in the ASGI scope
Request = Mapping[str, Any]
Response = dict[str, Any]
Handler = Callable[[Caller, Request], Response]


def current_caller(request: HttpRequest) -> Caller:
    """The caller `SignedGate` verified for this request (every route but the public ones has one)."""
    caller = request.scope.get(CALLER)
    if not isinstance(caller, Caller):
        raise RuntimeError(f"{request.url.path} reached a route without a verified caller")
    return caller


CallerDep = Annotated[Caller, Depends(current_caller)]
