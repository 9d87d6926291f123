"""The agent protocol (DESIGN §7), shared by the agent and the server: paths, the request signature, the
inventory diff, schedule expressions. Standard library only: the agent installs nothing of the server's.

Every request but `register` is signed with the agent's secret (HMAC-SHA256) over its method, path,
timestamp, nonce, body hash and agent id; the server refuses a request more than `MAX_SKEW` away from its
clock, a nonce it has seen, a wrong signature, and a write to another instance's data.

An inventory is sent whole or as a diff against the last one the server accepted: the same document with
`packages` given as edits of the base's package list (`["=", start, end]` keeps the base's packages
[start, end), `["+", [package, …]]` adds these). The result must have the content hash the agent claims, so
a diff applied to the wrong base is refused and the agent sends the whole inventory instead.

A heartbeat's `network` member is the host's listening sockets and firewall verdict (`{digest, listeners,
firewall}`), or only the digest when the server's answer said it holds that report already (`{"digest"}`
in the answer's `network`). The server refuses a bad report in the answer's `network.error` and the rest
of the heartbeat stands: a report the server cannot take must not cost the agent its configuration.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PREFIX = "/agent/v1"
REGISTER = PREFIX + "/register"
HEARTBEAT = PREFIX + "/heartbeat"
INVENTORY = PREFIX + "/inventory"
ROTATE = PREFIX + "/rotate"
NETWORK_MEMBER = "network"

AGENT_HEADER = "x-vigil-agent"
DATE_HEADER = "x-vigil-date"
NONCE_HEADER = "x-vigil-nonce"
CONTENT_HEADER = "x-vigil-content-sha256"
SIGNATURE_HEADER = "x-vigil-signature"
ALGORITHM = "VIGIL-AGENT-HMAC-SHA256"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
MAX_SKEW = dt.timedelta(minutes=5)
NONCE_PATTERN = re.compile(r"^[0-9a-f]{32}$")

# inventory kinds: OS packages only (the inventory association), or everything (deep inspection)
OS_KIND = "os"
FULL_KIND = "full"

# the associations an agent acts on (Inspector's names)
INVENTORY_ASSOCIATION = "InspectorInventoryCollection-do-not-delete"
SYNC_ASSOCIATION = "InspectorResourceDataSync-do-not-delete"
LINUX_DISTRIBUTOR = "InspectorLinuxDistributor-do-not-delete"
LINUX_PLUGIN = "InvokeInspectorLinuxSsmPlugin-do-not-delete"
WINDOWS_DISTRIBUTOR = "InspectorDistributor-do-not-delete"
WINDOWS_PLUGIN = "InvokeInspectorSsmPlugin-do-not-delete"
INVENTORY_DOCUMENT = "AWS-GatherSoftwareInventory"
PLUGIN_DOCUMENT = "AmazonInspector2-InvokeInspectorLinuxSsmPlugin"


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def string_to_sign(
    method: str, path: str, date: str, nonce: str, content_sha256: str, agent_id: str
) -> bytes:
    return "\n".join((ALGORITHM, method.upper(), path, date, nonce, content_sha256, agent_id)).encode()


def signature(secret: str, method: str, path: str, date: str, nonce: str, body: bytes, agent_id: str) -> str:
    message = string_to_sign(method, path, date, nonce, body_hash(body), agent_id)
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(
    secret: str, agent_id: str, method: str, path: str, body: bytes, now: dt.datetime
) -> dict[str, str]:
    """The headers of a signed request (a fresh nonce each call)."""
    date = now.astimezone(dt.UTC).strftime(DATE_FORMAT)
    nonce = secrets.token_hex(16)
    return {
        AGENT_HEADER: agent_id,
        DATE_HEADER: date,
        NONCE_HEADER: nonce,
        CONTENT_HEADER: body_hash(body),
        SIGNATURE_HEADER: signature(secret, method, path, date, nonce, body, agent_id),
    }


def network_digest(listeners: Sequence[Mapping[str, Any]], firewall: Mapping[str, Any] | None) -> str:
    """The digest of a heartbeat's network report (its listeners and firewall verdict): a heartbeat carries
    the report only when it differs from the one the server holds, and this digest otherwise."""
    return hashlib.sha256(_canonical({"listeners": listeners, "firewall": firewall}).encode()).hexdigest()


def parse_date(text: str) -> dt.datetime:
    """A signature's timestamp (ValueError when it is not one)."""
    return dt.datetime.strptime(text, DATE_FORMAT).replace(tzinfo=dt.UTC)


# the inventory diff


def package_edits(base: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    """`new`'s package list as edits of `base`'s: kept runs by position, added packages whole."""
    encode = [_canonical(p) for p in base], [_canonical(p) for p in new]
    matcher = difflib.SequenceMatcher(None, *encode, autojunk=False)
    edits: list[list[Any]] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            edits.append(["=", i1, i2])
        elif j2 > j1:  # replace or insert; a delete adds nothing
            edits.append(["+", [dict(p) for p in new[j1:j2]]])
    return edits


def apply_edits(base: Sequence[Mapping[str, Any]], edits: Any, *, limit: int) -> list[Mapping[str, Any]]:
    """The package list the edits make of `base` (ValueError when they are not edits of it, or would make
    more than `limit` packages)."""
    if not isinstance(edits, list):
        raise ValueError("packageEdits: a list of edits")
    packages: list[Mapping[str, Any]] = []
    for edit in edits:
        if isinstance(edit, list) and len(edit) == 3 and edit[0] == "=":
            start, end = edit[1], edit[2]
            valid = isinstance(start, int) and isinstance(end, int) and 0 <= start <= end <= len(base)
            if not valid:
                raise ValueError(f"packageEdits: {edit[:3]!r} is not a range of the base's packages")
            packages.extend(base[start:end])
        elif isinstance(edit, list) and len(edit) == 2 and edit[0] == "+" and isinstance(edit[1], list):
            packages.extend(edit[1])
        else:
            raise ValueError('packageEdits: each edit is ["=", start, end] or ["+", [package, …]]')
        if len(packages) > limit:
            raise ValueError(f"packageEdits: more than {limit} packages")
    return packages


def diff_size(edits: list[list[Any]]) -> int:
    """How many packages a diff carries whole."""
    return sum(len(edit[1]) for edit in edits if edit[0] == "+")


def _canonical(package: Mapping[str, Any]) -> str:
    return json.dumps(package, sort_keys=True, separators=(",", ":"))


# schedule expressions, as SSM writes them: rate(30 minutes), rate(6 hours), rate(1 day)

_RATE = re.compile(r"^rate\((\d{1,5}) (minute|minutes|hour|hours|day|days)\)$")
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True, slots=True)
class Rate:
    seconds: int

    def __str__(self) -> str:
        for unit in ("day", "hour", "minute"):
            count, rest = divmod(self.seconds, _UNITS[unit])
            if not rest:
                return f"rate({count} {unit}{'' if count == 1 else 's'})"
        raise ValueError(f"{self.seconds} s is not a whole number of minutes")


def parse_rate(expression: str) -> Rate:
    """`rate(N minutes|hours|days)` (ValueError otherwise; SSM's cron expressions are not supported)."""
    match = _RATE.match(expression.strip())
    if match is None:
        raise ValueError(f"{expression!r}: a schedule is rate(N minutes), rate(N hours) or rate(N days)")
    count, unit = int(match[1]), match[2].rstrip("s")
    if count < 1:
        raise ValueError(f"{expression!r}: the rate must be at least 1")
    if (count == 1 and match[2].endswith("s")) or (count > 1 and not match[2].endswith("s")):
        raise ValueError(f"{expression!r}: write rate(1 {unit}) or rate(N {unit}s)")
    return Rate(count * _UNITS[unit])
