"""The front door's bounds, driven as uvicorn drives it (ASGI messages), with bounds small enough to test:
a body that never ends, or one larger than allowed without saying so, is refused, never waited for."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

from vigil.api.gate import SignedGate
from vigil.api.protocol.model import inspector_model


class _NoKeys:
    def signing_key(self, access_key_id):
        return None


async def _reached(scope, receive, send):
    raise AssertionError("the app behind the gate was reached")


def _gate(**bounds) -> SignedGate:
    return SignedGate(
        _reached,
        keys=_NoKeys(),
        region="local",
        clock=lambda: dt.datetime.now(dt.UTC),
        model=inspector_model(),
        **bounds,
    )


def _answer(gate: SignedGate, messages, headers=()) -> tuple[int, dict]:
    scope = {"type": "http", "method": "POST", "path": "/enable", "raw_path": b"/enable", "query_string": b"",
             "headers": list(headers), "scheme": "https"}  # fmt: skip
    sent = []

    async def receive():
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)  # a client that sends nothing more
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    asyncio.run(asyncio.wait_for(gate(scope, receive, send), timeout=10))
    return sent[0]["status"], json.loads(sent[1]["body"])


def test_a_body_that_never_ends_is_refused_when_its_time_is_up():
    chunk = {"type": "http.request", "body": b"{", "more_body": True}
    status, body = _answer(_gate(body_timeout=0.2), [chunk])
    assert status == 408 and "0.2 s" in body["message"]


def test_a_body_larger_than_allowed_is_refused_even_when_it_does_not_say_its_length():
    chunks = [{"type": "http.request", "body": b"x" * 600, "more_body": True} for _ in range(3)]
    status, body = _answer(_gate(max_body=1000), chunks)
    assert status == 413 and "1000 bytes" in body["message"]


def test_a_declared_length_over_the_limit_is_refused_before_reading():
    status, _ = _answer(_gate(max_body=1000), [], headers=[(b"content-length", b"5000")])
    assert status == 413
