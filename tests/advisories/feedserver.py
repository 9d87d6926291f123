"""A real HTTP server on loopback that serves feed files the way CDNs do, and misbehaves on request."""

from __future__ import annotations

import email.utils
import hashlib
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Route:
    body: bytes
    etag: str = ""
    last_modified: str = field(default_factory=lambda: email.utils.formatdate(usegmt=True))
    cut_after: int | None = None  # close the connection after this many body bytes (then serve fully)
    cut_times: int = 0
    status: int = 200
    ranges: bool = True
    encoding: str = ""  # Content-Encoding the body is already in (gzip, deflate)
    endless: bool = False  # the body never ends: `body` repeated, no Content-Length
    trickle: float = 0.0  # seconds between single bytes of an endless body

    def __post_init__(self) -> None:
        self.etag = self.etag or f'"{hashlib.sha256(self.body).hexdigest()[:16]}"'


class FeedServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.sent = 0  # body bytes written to clients
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server.requests.append((self.path, dict(self.headers.items())))
                route = server.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                if route.status != 200:
                    self.send_response(route.status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if route.endless:
                    self._endless(route)
                    return
                if self.headers.get("If-None-Match") == route.etag:
                    self.send_response(304)
                    self.send_header("ETag", route.etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body, start = route.body, 0
                wanted = self.headers.get("Range")
                if (
                    wanted
                    and route.ranges
                    and self.headers.get("If-Range") in (route.etag, route.last_modified)
                ):
                    start = int(wanted.removeprefix("bytes=").split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("ETag", route.etag)
                self.send_header("Last-Modified", route.last_modified)
                self.send_header("Accept-Ranges", "bytes" if route.ranges else "none")
                self.send_header("Content-Length", str(len(body) - start))
                if route.encoding:
                    self.send_header("Content-Encoding", route.encoding)
                self.end_headers()
                if route.cut_after is not None and route.cut_times > 0:
                    route.cut_times -= 1
                    self.wfile.write(body[start : start + route.cut_after])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.wfile.write(body[start:])
                server.sent += len(body) - start

            def _endless(self, route: Route) -> None:
                """A body that does not end (until the client hangs up, or a minute has passed)."""
                self.send_response(200)
                self.send_header("Connection", "close")
                self.end_headers()
                deadline = time.monotonic() + 60
                try:
                    while time.monotonic() < deadline:
                        chunk = route.body[:1] if route.trickle else route.body
                        self.wfile.write(chunk)
                        self.wfile.flush()
                        server.sent += len(chunk)
                        if route.trickle:
                            time.sleep(route.trickle)
                except OSError:
                    pass  # the client hung up: what a bounded download does
                self.close_connection = True

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    @property
    def base(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def serve(self, path: str, body: bytes | Path, **kwargs: object) -> str:
        data = body.read_bytes() if isinstance(body, Path) else body
        self.routes[path] = Route(data, **kwargs)  # type: ignore[arg-type]
        return self.base + path

    def __enter__(self) -> FeedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
