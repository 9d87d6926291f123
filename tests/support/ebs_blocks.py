"""A loopback server speaking the EBS direct APIs' read side (ListSnapshotBlocks, GetSnapshotBlock) as boto3
calls them, over a disk image file: the snapshot holds the image's non-zero 512 KiB blocks, padded with
unlisted ones to `volume_gib`. Faults, latency and token expiry are injected by the test.

Wire format from botocore's `ebs` model (rest-json): `GET /snapshots/{id}/blocks?maxResults&pageToken`,
`GET /snapshots/{id}/blocks/{index}?blockToken`; a block comes as the body with the headers
`x-amz-Data-Length`, `x-amz-Checksum` (base64 SHA256) and `x-amz-Checksum-Algorithm`; errors carry
`x-amzn-ErrorType` and a JSON body.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

BLOCK = 512 * 1024
SNAPSHOT_ID = "snap-0123456789abcdef0"

# what a fault answers: (HTTP status, x-amzn-ErrorType, Reason)
FAULTS: dict[str, tuple[int, str, str | None]] = {
    "throttle": (400, "ThrottlingException", None),
    "request-throttled": (400, "RequestThrottledException", "ACCOUNT_THROTTLED"),
    "429": (429, "TooManyRequestsException", None),
    "503": (503, "ServiceUnavailableException", None),
    "500": (500, "InternalServerException", None),
    "denied": (403, "AccessDeniedException", "UNAUTHORIZED_ACCOUNT"),
}


def data_blocks(image: Path) -> list[int]:
    """The indexes of the image's 512 KiB blocks that hold a non-zero byte (holes are skipped unread)."""
    found = []
    with open(image, "rb") as f:
        fd, size, offset = f.fileno(), os.fstat(f.fileno()).st_size, 0
        while offset < size:
            try:
                offset = os.lseek(fd, offset, os.SEEK_DATA) // BLOCK * BLOCK
            except OSError:  # ENXIO: only a hole is left
                break
            if os.pread(fd, BLOCK, offset).strip(b"\0"):
                found.append(offset // BLOCK)
            offset += BLOCK
    return found


@dataclass
class Snapshot:
    """The snapshot the server serves, and what the test injects and observes."""

    image: Path
    volume_gib: int
    blocks: list[int]
    latency_s: float = 0.0  # slept in each GetSnapshotBlock, concurrently with the others
    page_size: int | None = None  # at most this many blocks per listing page, whatever maxResults says
    faults: dict[int, deque[str]] = field(default_factory=dict)  # block → faults answered in turn
    list_faults: deque[str] = field(default_factory=deque)
    generation: int = 0  # tokens of older generations are expired
    requests: list[tuple[str, int | None]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, index: int, *faults: str) -> None:
        """Answer the next requests for block `index` with these faults ("corrupt" sends wrong data)."""
        self.faults.setdefault(index, deque()).extend(faults)

    def expire_tokens(self) -> None:
        self.generation += 1

    def fetched(self) -> Counter[int]:
        """How many GetSnapshotBlock requests each block got."""
        return Counter(i for op, i in self.requests if op == "get" and i is not None)

    def token(self, index: int) -> str:
        return f"tok-{self.generation}-{index}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: boto3 reuses its connections
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        parts = url.path.strip("/").split("/")
        snapshot = self.server.snapshot
        if len(parts) < 3 or parts[0] != "snapshots" or parts[2] != "blocks" or parts[1] != SNAPSHOT_ID:
            self._error(404, "ResourceNotFoundException", "SNAPSHOT_NOT_FOUND", "no such snapshot")
        elif len(parts) == 3:
            self._list(snapshot, query)
        elif len(parts) == 4 and parts[3].isdigit():
            self._get(snapshot, int(parts[3]), query.get("blockToken", ""))
        else:
            self._error(400, "ValidationException", "INVALID_PARAMETER_VALUE", "bad path")

    def _list(self, snapshot: Snapshot, query: dict[str, str]) -> None:
        with snapshot.lock:
            snapshot.requests.append(("list", None))
            fault = snapshot.list_faults.popleft() if snapshot.list_faults else None
        if fault is not None:
            self._error(*_fault(fault), f"injected {fault}")
            return
        start = int(query.get("pageToken", "0"))
        count = min(int(query.get("maxResults", "10000")), snapshot.page_size or 10_000)
        page = snapshot.blocks[start : start + count]
        body: dict[str, Any] = {
            "Blocks": [{"BlockIndex": i, "BlockToken": snapshot.token(i)} for i in page],
            "BlockSize": BLOCK,
            "VolumeSize": snapshot.volume_gib,
            "ExpiryTime": time.time() + 600,
        }
        if start + count < len(snapshot.blocks):
            body["NextToken"] = str(start + count)
        self._send(200, json.dumps(body).encode(), {"Content-Type": "application/json"})

    def _get(self, snapshot: Snapshot, index: int, token: str) -> None:
        with snapshot.lock:
            snapshot.requests.append(("get", index))
            snapshot.in_flight += 1
            snapshot.max_in_flight = max(snapshot.max_in_flight, snapshot.in_flight)
            queued = snapshot.faults.get(index)
            fault = queued.popleft() if queued else None
        try:
            if snapshot.latency_s:
                time.sleep(snapshot.latency_s)
            if token != snapshot.token(index):
                self._error(400, "ValidationException", "INVALID_BLOCK_TOKEN", "The block token is expired")
                return
            if fault is not None and fault != "corrupt":
                self._error(*_fault(fault), f"injected {fault}")
                return
            with open(snapshot.image, "rb") as f:
                data = os.pread(f.fileno(), BLOCK, index * BLOCK).ljust(BLOCK, b"\0")
            checksum = base64.b64encode(hashlib.sha256(data).digest()).decode()
            if fault == "corrupt":
                data = b"\xff" + data[1:]
            headers = {
                "Content-Type": "application/octet-stream",
                "x-amz-Data-Length": str(len(data)),
                "x-amz-Checksum": checksum,
                "x-amz-Checksum-Algorithm": "SHA256",
            }
            self._send(200, data, headers)
        finally:
            with snapshot.lock:
                snapshot.in_flight -= 1

    def _error(self, status: int, code: str, reason: str | None, message: str) -> None:
        body: dict[str, Any] = {"message": message}
        if reason is not None:
            body["Reason"] = reason
        headers = {"Content-Type": "application/json", "x-amzn-ErrorType": code}
        self._send(status, json.dumps(body).encode(), headers)

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _fault(name: str) -> tuple[int, str, str | None]:
    return FAULTS[name]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.snapshot = snapshot


@contextmanager
def block_server(snapshot: Snapshot) -> Iterator[str]:
    """Serve `snapshot` on loopback; yields the endpoint URL."""
    server = _Server(snapshot)
    thread = threading.Thread(target=server.serve_forever, name="ebs-blocks", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def ebs_client(endpoint: str, *, pool: int = 16) -> Any:
    """A boto3 `ebs` client for the loopback server: dummy credentials, botocore's retries off (the reader
    retries), a connection per thread of the reader's pool."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        max_pool_connections=pool,
        connect_timeout=5,
        read_timeout=30,
    )
    return boto3.client(
        "ebs",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=config,
    )
