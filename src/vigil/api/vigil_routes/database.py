"""The Vigil API's advisory database routes: its status, the configured feeds, and a feeds update now.

The database is the server's, shared by every account: any caller reads its status; only the
organization's management account (the server's first account) makes the server fetch feeds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from vigil.advisories.feeds import FeedsFileError
from vigil.advisories.schema import DatabaseError
from vigil.advisories.service import database_status, update_feeds
from vigil.advisories.store import AdvisoryDB
from vigil.advisories.update import Feed, Updater
from vigil.api.context import CallerDep
from vigil.api.errors import AccessDeniedException, InspectorError, ValidationException


class _Camel(BaseModel):
    # read from the advisories' frozen results by attribute, written in camelCase
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, frozen=True, from_attributes=True
    )


class SourceOut(_Camel):
    name: str
    url: str | None
    licence: str | None
    updated_at: str | None
    records: int
    errors: int


class ReleaseOut(_Camel):
    namespace: str
    name: str
    covered: bool  # whether any advisory applies to it
    entries: int


class DatabaseOut(_Camel):
    version: int
    size_bytes: int
    counts: dict[str, int]
    sources: list[SourceOut]
    releases: list[ReleaseOut]  # each supported OS release, and whether advisories cover it


class FeedOut(_Camel):
    name: str
    url: str
    importer: str
    licence: str
    kind: str
    covers: list[str]  # the OS releases / ecosystems it covers (`debian:12`, `pypi`)
    source: SourceOut | None  # what the database holds from it (None: never imported)


class FeedsOut(_Camel):
    feeds: list[FeedOut]


class FeedsUpdateIn(_Camel):
    feeds: list[str] | None = None  # names; None: every configured feed


class FeedResultOut(_Camel):
    feed: str
    status: str  # updated | unchanged | not-modified | failed
    detail: str
    version: int | None
    changed_keys: int


class FeedsUpdateOut(_Camel):
    results: list[FeedResultOut]
    version: int


def router(
    advisories: AdvisoryDB,
    *,
    feeds: Callable[[], list[Feed]],
    may_update: Callable[[str], bool],
    timeout: float = 60.0,
    updaters: Mapping[str, Updater] | None = None,
) -> APIRouter:
    """`feeds()` lists the configured feeds; `may_update(account_id)` says who may fetch them."""
    routes = APIRouter(tags=["advisory database"])

    @routes.get("/database", response_model=DatabaseOut)
    def get_database(caller: CallerDep) -> Any:
        """The advisory database's version, size, row counts and sources."""
        with _readable():
            status = database_status(advisories)
            return DatabaseOut(
                version=status.version,
                size_bytes=status.size_bytes,
                counts=dict(status.counts),
                sources=[SourceOut.model_validate(s) for s in status.sources],
                releases=[ReleaseOut.model_validate(r) for r in status.releases],
            )

    @routes.get("/feeds", response_model=FeedsOut)
    def get_feeds(caller: CallerDep) -> Any:
        """The feeds the server updates on its `[schedule] feeds` cadence, with what each gave."""
        with _readable():
            configured = feeds()
            return FeedsOut(
                feeds=[
                    FeedOut.model_validate(dataclasses.asdict(f) | {"source": advisories.source(f.name)})
                    for f in configured
                ]
            )

    @routes.post("/feeds/update", response_model=FeedsUpdateOut)
    def post_feeds_update(caller: CallerDep, body: FeedsUpdateIn) -> Any:
        """Fetch the configured feeds (or the ones named) now; each applies atomically or not at all."""
        if not may_update(caller.account_id):
            raise AccessDeniedException(
                "only the organization's management account updates the server's feeds"
            )
        with _readable():
            configured = feeds()
            if body.feeds is not None:
                unknown = sorted(set(body.feeds) - {f.name for f in configured})
                if unknown:
                    raise ValidationException.of_field(
                        "feeds", f"no configured feed named {', '.join(unknown)}"
                    )
                configured = [f for f in configured if f.name in body.feeds]
            results = update_feeds(advisories.path, configured, timeout=timeout, updaters=updaters)
            return FeedsUpdateOut(
                results=[FeedResultOut.model_validate(r) for r in results], version=advisories.version
            )

    return routes


@contextmanager
def _readable() -> Iterator[None]:
    """A feeds file or database the server cannot use: the server's fault, said in one line."""
    try:
        yield
    except (FeedsFileError, DatabaseError) as error:
        raise InspectorError(str(error)) from error
