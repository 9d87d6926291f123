"""How Vigil reaches one account's AWS: its regions, its credentials (boto3's standard chain, or a role it
assumes with them) and, for tests and AWS-compatible clouds, another endpoint for every service.

Clients retry a bounded number of times and wait a bounded time, so that a discovery or a scan fails in
minutes, not never. Every problem is a `ProviderError` whose line says what to do about it.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import boto3  # type: ignore[import-untyped]  # no stubs; its clients are `Any` here
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from vigil.fleet.providers import ProviderError

ROLE_SESSION_NAME = "vigil"
ROLE_DURATION = 3600  # seconds an assumed role's credentials last
REFRESH_BEFORE = dt.timedelta(minutes=5)  # assume the role again this long before they expire
MAX_REGIONS = 32
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 4},
    connect_timeout=10,
    read_timeout=60,
    user_agent_extra="vigil",
)
# the EBS direct APIs' client: the snapshot reader retries, backs off and counts each request itself, and
# fetches up to 16 blocks at once (botocore's pool of 10 connections would cap it)
BLOCKS_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 1},
    connect_timeout=10,
    read_timeout=60,
    max_pool_connections=32,
    user_agent_extra="vigil",
)
_CONFIGS = {"ebs": BLOCKS_CONFIG}

REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
ROLE_ARN = re.compile(r"^arn:aws(-[a-z]+)*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$")
_DENIED = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess", "Forbidden"}
)
_BAD_CREDENTIALS = frozenset(
    {
        "AuthFailure",
        "InvalidClientTokenId",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "ExpiredTokenException",
        "UnrecognizedClientException",
        "RequestExpired",
    }
)
_REGION_OFF = frozenset({"OptInRequired", "UnsupportedOperation", "InvalidRegion"})


class AwsAccess:
    """Clients for one account's AWS in its regions: `client("ec2", "eu-west-1")`."""

    def __init__(
        self,
        regions: Iterable[str],
        role_arn: str | None = None,
        endpoint_url: str | None = None,
        *,
        external_id: str | None = None,
        session: Callable[[], boto3.session.Session] = boto3.session.Session,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.regions = _regions(regions)
        if role_arn is not None and not ROLE_ARN.match(role_arn):
            raise ProviderError(f"{role_arn!r} is not an IAM role ARN (arn:aws:iam::<12 digits>:role/<name>)")
        if external_id is not None and role_arn is None:
            raise ProviderError("an external id is given to a role: give the role ARN too")
        if external_id is not None and not EXTERNAL_ID.match(external_id):
            raise ProviderError("the external id must be 2 to 1224 letters, digits or +=,.@:/-_")
        self.role_arn = role_arn
        self.endpoint_url = check_endpoint_url(endpoint_url) if endpoint_url is not None else None
        self.external_id = external_id
        self._make_session = session
        self._now = now
        self._lock = threading.Lock()
        self._session: boto3.session.Session | None = None
        self._expires: dt.datetime | None = None  # the assumed role's credentials' expiry
        self._clients: dict[tuple[str, str], Any] = {}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> AwsAccess:
        return cls(
            config.get("regions", ()),
            config.get("roleArn"),
            config.get("endpointUrl"),
            external_id=config.get("externalId"),
        )

    def config(self) -> dict[str, Any]:
        """What the store keeps to make this access again (members left out when not set)."""
        config: dict[str, Any] = {"regions": list(self.regions)}
        for key, value in (
            ("roleArn", self.role_arn),
            ("endpointUrl", self.endpoint_url),
            ("externalId", self.external_id),
        ):
            if value is not None:
                config[key] = value
        return config

    def client(self, service: str, region: str) -> Any:
        """A boto3 client of `service` in `region` (cached; made again when an assumed role is renewed).
        `ProviderError` when the role cannot be assumed."""
        with self._lock:
            session = self._current_session()
            key = (service, region)
            if key not in self._clients:
                self._clients[key] = session.client(
                    service,
                    region_name=region,
                    endpoint_url=self.endpoint_url,
                    config=_CONFIGS.get(service, CLIENT_CONFIG),
                )
            return self._clients[key]

    def _current_session(self) -> boto3.session.Session:
        if self._session is not None and (
            self._expires is None or self._now() < self._expires - REFRESH_BEFORE
        ):
            return self._session
        base = self._make_session()
        self._clients.clear()
        if self.role_arn is None:
            self._session, self._expires = base, None
            return base
        self._session, self._expires = self._assume(base)
        return self._session

    def _assume(self, base: boto3.session.Session) -> tuple[boto3.session.Session, dt.datetime]:
        assert self.role_arn is not None
        sts = base.client(
            "sts", region_name=self.regions[0], endpoint_url=self.endpoint_url, config=CLIENT_CONFIG
        )
        request: dict[str, Any] = {
            "RoleArn": self.role_arn,
            "RoleSessionName": ROLE_SESSION_NAME,
            "DurationSeconds": ROLE_DURATION,
        }
        if self.external_id is not None:
            request["ExternalId"] = self.external_id
        try:
            credentials = sts.assume_role(**request)["Credentials"]
        except (ClientError, BotoCoreError) as exc:
            raise problem(exc, f"assuming role {self.role_arn}", "sts:AssumeRole") from None
        session = boto3.session.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )
        return session, credentials["Expiration"]


def check_endpoint_url(url: str) -> str:
    """`url` if it is an http(s) URL naming a host (and no user, query or fragment)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.query
        or parts.fragment
        or (port is not None and not 0 < port < 65536)
        or len(url) > 2048
    ):
        raise ProviderError(f"{url!r} is not an endpoint URL (http:// or https://, a host, no user or query)")
    return url


def default_region() -> str:
    """The region boto3's configuration names (AWS_DEFAULT_REGION, the profile's), else us-east-1."""
    return boto3.session.Session().region_name or "us-east-1"


def problem(exc: BaseException, doing: str, permission: str) -> ProviderError:
    """A boto3 failure while `doing` something that needs `permission`, as a line the user can act on."""
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return ProviderError(
            f"{doing}: no AWS credentials found: give them as boto3 finds them (environment, "
            "~/.aws/credentials, an instance profile) or attach with a role ARN"
        )
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError):
        endpoint = exc.kwargs.get("endpoint_url", "the endpoint")
        return ProviderError(
            f"{doing}: cannot reach {endpoint}: check the endpoint URL, the region and the network"
        )
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "error"), error.get("Message", "")
        if code in _DENIED:
            return ProviderError(
                f"{doing}: access denied ({code}): allow {permission} to the credentials Vigil uses"
            )
        if code in _BAD_CREDENTIALS:
            return ProviderError(f"{doing}: the AWS credentials were refused ({code}): renew or replace them")
        if code in _REGION_OFF:
            return ProviderError(f"{doing}: the region is not enabled for the account ({code}): {message}")
        return ProviderError(f"{doing}: {code}: {message}".rstrip(": "))
    return ProviderError(f"{doing}: {exc}")


def _regions(regions: Iterable[str]) -> tuple[str, ...]:
    if isinstance(regions, str):
        regions = [regions]
    unique = tuple(dict.fromkeys(regions))
    if not unique:
        raise ProviderError("name at least one region")
    if len(unique) > MAX_REGIONS:
        raise ProviderError(f"at most {MAX_REGIONS} regions per account")
    for region in unique:
        if not isinstance(region, str) or not REGION.match(region):
            raise ProviderError(f"{region!r} is not a region name (like us-east-1)")
    return unique
