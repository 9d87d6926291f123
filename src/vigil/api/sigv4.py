"""SigV4 verification: the signature recomputed with botocore's own signer from the request as received and
the key's stored secret, never a hand-written HMAC of a canonical request.

The credential scope must name the server's region and the route's service (`inspector2` for Inspector's
routes, `vigil` for the Vigil API), the request must be within 5 minutes of the server's clock, and the
signature must cover the host, the date and the body. Refusals are the errors AWS's front door answers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

from vigil.api.context import Caller
from vigil.api.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)
from vigil.fleet.accounts import SigningKey

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = dt.timedelta(minutes=5)
REQUIRED_SIGNED = ("host", "x-amz-date")
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)


class KeyStore(Protocol):
    """Who an access key speaks for, and its secret (`vigil.fleet.accounts.AccountsService`)."""

    def signing_key(self, access_key_id: str) -> SigningKey | None: ...


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    """A request as it arrived: `target` is the raw path and query, `headers` lower-cased, in order."""

    method: str
    scheme: str
    target: str
    headers: Sequence[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)


@dataclass(frozen=True, slots=True)
class _Authorization:
    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def verify(
    request: ReceivedRequest, keys: KeyStore, *, service: str, region: str, now: dt.datetime
) -> Caller:
    """The caller whose key signed this request, or the error that refuses it."""
    authorization = _authorization(request)
    amz_date = request.header("x-amz-date")
    if amz_date is None:
        raise IncompleteSignatureException(
            "Authorization header requires existence of a 'X-Amz-Date' header."
        )
    _check_time(amz_date, now)
    if authorization.date != amz_date[:8]:
        raise InvalidSignatureException(
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{authorization.date}' != '{amz_date[:8]}'"
        )
    if authorization.region != region:
        raise InvalidSignatureException(
            f"Credential should be scoped to a valid region: this server's is '{region}', "
            f"not '{authorization.region}'."
        )
    if authorization.service != service:
        raise InvalidSignatureException(f"Credential should be scoped to correct service: '{service}'.")
    key = keys.signing_key(authorization.access_key_id)
    if key is None:
        raise UnrecognizedClientException("The security token included in the request is invalid.")
    declared = request.header("x-amz-content-sha256")
    if declared is not None and declared != hashlib.sha256(request.body).hexdigest():
        raise InvalidSignatureException(
            "The provided 'x-amz-content-sha256' header does not match what was computed."
        )
    expected = _signature(request, authorization, key.secret, amz_date)
    if not hmac.compare_digest(expected, authorization.signature):
        raise InvalidSignatureException(MISMATCH)
    return Caller(key.account_id, key.administered)


def _authorization(request: ReceivedRequest) -> _Authorization:
    header = request.header("authorization")
    if header is None:
        raise MissingAuthenticationTokenException("Missing Authentication Token")
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise IncompleteSignatureException(f"Unsupported authorization type: only {ALGORITHM} is accepted.")
    parts: dict[str, str] = {}
    for item in rest.split(","):
        name, sep, value = item.strip().partition("=")
        if sep:
            parts[name] = value
    for name in ("Credential", "SignedHeaders", "Signature"):
        if not parts.get(name):
            raise IncompleteSignatureException(f"Authorization header requires '{name}' parameter.")
    scope = parts["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not all(scope):
        raise IncompleteSignatureException(
            "Credential must have the form <access key>/<date>/<region>/<service>/aws4_request."
        )
    signed = tuple(parts["SignedHeaders"].split(";"))
    if missing := [h for h in REQUIRED_SIGNED if h not in signed]:
        raise InvalidSignatureException(f"Signed headers must include {', '.join(missing)}.")
    return _Authorization(scope[0], scope[1], scope[2], scope[3], signed, parts["Signature"])


def _check_time(amz_date: str, now: dt.datetime) -> None:
    try:
        signed_at = dt.datetime.strptime(amz_date, SIGV4_TIMESTAMP).replace(tzinfo=dt.UTC)
    except ValueError:
        raise IncompleteSignatureException(
            f"X-Amz-Date '{amz_date}' is not an ISO-8601 basic date-time."
        ) from None
    stamp = now.astimezone(dt.UTC).strftime(SIGV4_TIMESTAMP)
    if signed_at < now - MAX_SKEW:
        limit = (now - MAX_SKEW).strftime(SIGV4_TIMESTAMP)
        raise InvalidSignatureException(
            f"Signature expired: {amz_date} is now earlier than {limit} ({stamp} - 5 min.)"
        )
    if signed_at > now + MAX_SKEW:
        limit = (now + MAX_SKEW).strftime(SIGV4_TIMESTAMP)
        raise InvalidSignatureException(
            f"Signature not yet current: {amz_date} is still later than {limit} ({stamp} + 5 min.)"
        )


class _AsReceived(SigV4Auth):  # type: ignore[misc]
    """botocore's SigV4 signer, told which headers the client signed (instead of choosing them itself)."""

    def __init__(
        self, credentials: Credentials, service: str, region: str, signed: list[tuple[str, str]]
    ) -> None:
        super().__init__(credentials, service, region)
        self._signed = signed

    def headers_to_sign(self, request: Any) -> HTTPHeaders:
        headers = HTTPHeaders()
        for name, value in self._signed:
            headers[name] = value  # appends: a repeated header is signed with all its values
        return headers


def _signature(request: ReceivedRequest, authorization: _Authorization, secret: str, amz_date: str) -> str:
    wanted = set(authorization.signed_headers)
    signed = [(name, value) for name, value in request.headers if name in wanted]
    host = request.header("host") or ""
    received = AWSRequest(
        method=request.method,
        url=f"{request.scheme}://{host}{request.target}",
        headers=dict(signed),
        data=request.body,
    )
    received.context["timestamp"] = amz_date
    signer = _AsReceived(
        Credentials(authorization.access_key_id, secret), authorization.service, authorization.region, signed
    )
    canonical = signer.canonical_request(received)
    return str(signer.signature(signer.string_to_sign(received, canonical), received))
