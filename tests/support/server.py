"""A live Vigil server for tests, talked to as users do: `vigil server init` into a temporary DIR, `vigil server
run` as a real process (uvicorn) on a free loopback port, boto3 clients (`verify=` the server's certificate),
the AWS CLI, and SigV4-signed requests to the Vigil API.

Fixtures: `live_server` (one per test module: use it where tests do not change the server's settings) and
`server_factory` (servers of a test's own, stopped after it: `server_factory(settings={...})`).
"""

from __future__ import annotations

import json
import os
import select
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from tests.support.cli import vigil

from vigil.server.settings import load_settings, save_settings

START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0
AWS_CLI = Path(sys.executable).parent / "aws"
# one attempt, bounded waits: a failing call fails the test now, not after botocore's retries
CLIENT_CONFIG = Config(retries={"total_max_attempts": 1}, connect_timeout=10, read_timeout=60)


@dataclass(frozen=True)
class Keys:
    account_id: str
    access_key_id: str
    secret_access_key: str

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Keys:
        return cls(document["accountId"], document["accessKeyId"], document["secretAccessKey"])


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout) if self.stdout.strip() else {}


def init_server(directory: Path, *args: str) -> dict[str, Any]:
    """`vigil server init DIR ARGS…` (in this process): the JSON it prints. The server's feeds are an empty
    list: its scheduled feed update must never reach beyond loopback in a test."""
    printed = json.loads(vigil("server", "init", str(directory), *args).stdout)
    (directory / "feeds.yaml").write_text("feeds: []\n")
    save_settings(load_settings(directory).replace(feeds_file=Path("feeds.yaml")))
    return printed


class LiveServer:
    """A server DIR and, once started, its `vigil server run` process."""

    def __init__(self, directory: Path, init: dict[str, Any]) -> None:
        self.dir = directory
        self.root = Keys.from_json(init)  # the first account: the organization's management account
        self.region = init["region"]
        self.ca_cert = Path(init["caCert"])
        self.endpoint = ""
        self.process: subprocess.Popen[bytes] | None = None
        self.log = directory / "server.log"
        self._clients: dict[tuple[Keys, str], Any] = {}

    # the process

    def start(self, *, listen: str = "127.0.0.1:0", http: bool = False) -> LiveServer:
        """Run the server and wait (bounded) for the endpoint it announces once it answers."""
        command = [sys.executable, "-m", "vigil", "server", "run", str(self.dir), "--listen", listen]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*command, *(["--http"] if http else [])], stdout=subprocess.PIPE, stderr=log
            )
        self.endpoint = json.loads(self._ready_line())["endpoint"]
        self._clients.clear()
        return self

    def _ready_line(self) -> str:
        assert self.process is not None and self.process.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            readable, _, _ = select.select([self.process.stdout], [], [], max(remaining, 0))
            if not readable:
                self.kill()
                raise AssertionError(f"the server did not start within {START_TIMEOUT} s:\n{self.log_text()}")
            chunk = os.read(self.process.stdout.fileno(), 4096)
            if not chunk:
                self.process.wait(STOP_TIMEOUT)
                raise AssertionError(f"the server exited with {self.process.returncode}:\n{self.log_text()}")
            line += chunk
        return line.decode()

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Signal the server and wait (bounded) for it to exit; its exit status."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"the server did not stop within {STOP_TIMEOUT} s:\n{self.log_text()}"
            ) from None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    # settings and accounts

    def update_settings(self, **changes: Any) -> None:
        """Change `DIR/vigil.toml` (restart the server for it to apply)."""
        save_settings(load_settings(self.dir).replace(**changes))

    def new_account(self, name: str = "test") -> Keys:
        """`vigil server account create DIR --name NAME`."""
        return Keys.from_json(
            json.loads(vigil("server", "account", "create", str(self.dir), "--name", name).stdout)
        )

    # clients

    def client(self, keys: Keys | None = None, service: str = "inspector2", **options: Any) -> Any:
        """A boto3 client of this server for these keys (the first account's by default)."""
        keys = keys or self.root
        if options:
            return self._make_client(keys, service, **options)
        if (keys, service) not in self._clients:
            self._clients[(keys, service)] = self._make_client(keys, service)
        return self._clients[(keys, service)]

    def _make_client(self, keys: Keys, service: str, **options: Any) -> Any:
        settings: dict[str, Any] = {
            "endpoint_url": self.endpoint,
            "region_name": self.region,
            "aws_access_key_id": keys.access_key_id,
            "aws_secret_access_key": keys.secret_access_key,
            "verify": str(self.ca_cert),
            "config": CLIENT_CONFIG,
        }
        return boto3.client(service, **(settings | options))

    def aws(self, *args: str, keys: Keys | None = None, timeout: float = 60) -> CliResult:
        """The AWS CLI against this server: `aws --endpoint-url … --ca-bundle … ARGS…`."""
        keys = keys or self.root
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.dir),
            "AWS_ACCESS_KEY_ID": keys.access_key_id,
            "AWS_SECRET_ACCESS_KEY": keys.secret_access_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_MAX_ATTEMPTS": "1",
        }
        command = [
            str(AWS_CLI),
            "--endpoint-url",
            self.endpoint,
            "--ca-bundle",
            str(self.ca_cert),
            "--output",
            "json",
        ]
        done = subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=timeout)
        return CliResult(done.returncode, done.stdout, done.stderr)

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        keys: Keys | None = None,
        service: str | None = None,
        region: str | None = None,
        content: bytes | None = None,
        sign: Callable[[AWSRequest], None] | None = None,
    ) -> httpx.Response:
        """A request signed as boto3 signs (SigV4 with these keys, for `service`: by default the route's,
        `vigil` or `inspector2`, and the server's region), or as `sign(request)` does; `content` is sent
        instead of the signed body when given."""
        keys = keys or self.root
        body = b"" if json_body is None else json.dumps(json_body).encode()
        url = self.endpoint + path
        request = AWSRequest(method=method, url=url, data=body, headers={"content-type": "application/json"})
        credentials = Credentials(keys.access_key_id, keys.secret_access_key)
        service = service or ("vigil" if path.startswith("/vigil/") else "inspector2")
        (sign or SigV4Auth(credentials, service, region or self.region).add_auth)(request)
        headers = dict(request.headers.items())
        with httpx.Client(verify=ssl.create_default_context(cafile=str(self.ca_cert)), timeout=30) as http:
            return http.request(method, url, content=body if content is None else content, headers=headers)


def until(condition: Callable[[], Any], what: str, timeout: float = 60.0, every: float = 0.25) -> Any:
    """Poll a live server (a real process) until `condition()` is truthy, and return it; fail after
    `timeout` seconds saying `what` was awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not within {timeout:g} s: {what}")


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One running server for the whole test module."""
    directory = tmp_path_factory.mktemp("server") / "vigil"
    server = LiveServer(directory, init_server(directory))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """`server_factory(*init_args, settings={...}, start=True)`: a server of this test's own."""
    made: list[LiveServer] = []

    def make(*init_args: str, settings: dict[str, Any] | None = None, start: bool = True) -> LiveServer:
        directory = tmp_path / f"server-{len(made)}"
        server = LiveServer(directory, init_server(directory, *init_args))
        made.append(server)
        if settings:
            server.update_settings(**settings)
        return server.start() if start else server

    yield make
    for server in made:
        server.kill()
