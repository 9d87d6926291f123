"""`vigil server run`: the service in a uvicorn server, HTTPS unless told otherwise (and then only on
loopback), stopping cleanly on SIGTERM or Ctrl-C with every background service stopped.

The listening socket is bound before the app starts, so port 0 picks a free port and the endpoint announced
once the server is ready is the one clients can use.
"""

from __future__ import annotations

import copy
import signal
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.config import LOGGING_CONFIG
from uvicorn.protocols.http.h11_impl import H11Protocol

from vigil.api.app import create_app
from vigil.clock import Clock, system_clock
from vigil.server import tls
from vigil.server.assembly import assemble
from vigil.server.runtime import open_runtime
from vigil.server.settings import Listen, Settings

GRACEFUL_SHUTDOWN_SECONDS = 10
KEEP_ALIVE_SECONDS = 5


class ServeError(ValueError):
    """The server cannot start as asked."""


def bind(listen: Listen) -> socket.socket:
    """The listening socket. Made with the TCP protocol number, not 0: asyncio sets TCP_NODELAY only on
    connections of such a socket, and without it every answer waited for a delayed ACK (measured: 44 ms a
    request, 0.6 ms with it)."""
    family = socket.AF_INET6 if ":" in listen.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((listen.host, listen.port))
        sock.listen(socket.SOMAXCONN)
    except OSError as exc:
        sock.close()
        raise ServeError(f"cannot listen on {listen}: {exc.strerror or exc}") from exc
    return sock


def serve(
    settings: Settings,
    *,
    listen: Listen,
    http: bool = False,
    announce: Callable[[str], None] = print,
    clock: Clock = system_clock,
) -> None:
    """Serve until SIGTERM or SIGINT; `announce(endpoint)` once requests are answered."""
    if http and not listen.loopback:
        raise ServeError(
            f"--http serves plain HTTP: refused on {listen.host}, which is not a loopback address"
        )
    ssl: dict[str, Any] = {}
    if not http:
        certificate, key = settings.path(settings.tls_certificate), settings.path(settings.tls_private_key)
        tls.ensure_names(certificate, key, tls.names_for(listen), clock())
        ssl = {"ssl_certfile": str(certificate), "ssl_keyfile": str(key)}
    sock = bind(listen)
    endpoint = listen.url("http" if http else "https", port=sock.getsockname()[1])
    with sock, open_runtime(settings, clock=clock) as runtime:
        parts = assemble(runtime)
        app = create_app(
            settings,
            keys=runtime.accounts,
            operations=parts.operations,
            routers=parts.routers,
            background=parts.background,
            agent_app=parts.agent_app,
            clock=clock,
            on_ready=lambda: announce(endpoint),
        )
        config = uvicorn.Config(
            app,
            lifespan="on",
            log_config=_logging(),
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            server_header=False,
            http=_PromptShutdown,
            **ssl,
        )
        server = uvicorn.Server(config)
        with _quiet_after_stop():
            server.run(sockets=[sock])


class _PromptShutdown(H11Protocol):
    """An idle keep-alive connection is dropped at once, at shutdown and when its keep-alive time is over.

    Closing a TLS connection politely waits for the client's close_notify, which an idle client in a
    connection pool never sends: every stop took the whole graceful timeout while a boto3 client was
    connected (measured: 10.5 s, now 0.5 s). Only a connection with nothing left to write is dropped.
    """

    def _drop_if_idle(self) -> bool:
        idle = self.cycle is None or self.cycle.response_complete
        if idle and self.transport.get_write_buffer_size() == 0:
            self.transport.abort()
            return True
        return False

    def shutdown(self) -> None:
        if not self._drop_if_idle():
            super().shutdown()

    def timeout_keep_alive_handler(self) -> None:
        if not self._drop_if_idle():
            super().timeout_keep_alive_handler()


def _logging() -> dict[str, Any]:
    """uvicorn's logging, all of it on stderr (stdout carries the JSON `vigil server run` announces), with
    Vigil's own loggers on the same handler."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["handlers"]["access"]["stream"] = "ext://sys.stderr"
    config["loggers"]["vigil"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


@contextmanager
def _quiet_after_stop() -> Iterator[None]:
    """uvicorn raises the signal that stopped it again once it is done; with these handlers in place that
    second signal ends nothing, and `vigil server run` exits 0 after a clean stop."""
    previous = {sig: signal.signal(sig, _ignored) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _ignored(signum: int, frame: FrameType | None) -> None:
    return None
