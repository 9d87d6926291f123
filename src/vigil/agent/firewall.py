"""The host firewall's verdict on new inbound TCP and UDP connections, from nftables or iptables.

The input hook's filter chains (nftables' `ip`, `ip6` and `inet` families; iptables' and ip6tables' filter
INPUT) are read and evaluated, jumps and gotos followed, for each (family, protocol, port range) their
rules tell apart. A match that is not interpreted (a source address, an interface other than `lo`, a rate
limit, an iptables-nft `xt` match...) makes its rule undecided: the verdict is then taken both ways, and
where the two differ it is "unknown" and the whole summary is not `exact`. Nothing is guessed.

Loopback-only rules (`iif lo`), ICMP rules and connection-tracking rules that cannot match a new connection
(`ct state established,related`) are left aside: they do not decide whether a listener is reachable.

Several base chains on the hook are all passed in priority order: a packet is accepted only if each
accepts it. Prerouting and ingress chains are not evaluated (noted when they can drop).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import shlex
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

log = logging.getLogger("vigil.agent")

Action = Literal["accept", "drop", "reject", "unknown"]
Family = Literal["ipv4", "ipv6", "any"]

COMMAND_SECONDS = 10.0
MAX_OUTPUT = 16 * 1024 * 1024
MAX_RULES = 5000
MAX_STEPS = 2_000_000  # rule evaluations over all (family, protocol, port range) points
MAX_NOTES = 20
MAX_NOTE_LENGTH = 1024
MAX_SUMMARY_RULES = 4 * (2 * MAX_RULES + 1)  # disjoint ranges per protocol and family: a bound, not a guess
MAX_DEPTH = 32
PORTS = ((1, 65535),)
PROTOCOLS = ("tcp", "udp")
FAMILIES = ("ipv4", "ipv6")
_SBIN = os.pathsep.join(("/usr/local/sbin", "/usr/sbin", "/sbin"))

Intervals = tuple[tuple[int, int], ...]
Point = tuple[str, str, int]  # family, protocol, port
Memo = dict[tuple[str, int], frozenset[str]]  # (chain, first rule) -> outcomes
Runner = Callable[..., "subprocess.CompletedProcess[bytes]"]


@dataclass(frozen=True, slots=True)
class PortRule:
    """The verdict on new connections to a port range, where it differs from the input policy."""

    protocol: str
    from_port: int
    to_port: int
    action: Action
    family: Family = "any"

    @classmethod
    def from_json(cls, document: Any, where: str = "rule") -> PortRule:
        """`to_json`'s document, read strictly (ValueError)."""
        fields = _members(document, where, {"protocol", "from", "to", "action", "family"})
        low, high = _port_of(fields["from"], f"{where}.from"), _port_of(fields["to"], f"{where}.to")
        if low > high:
            raise ValueError(f"{where}: from {low} is above to {high}")
        return cls(
            _choice(fields["protocol"], f"{where}.protocol", PROTOCOLS),
            low,
            high,
            _choice(fields["action"], f"{where}.action", ("accept", "drop", "reject", "unknown")),
            _choice(fields["family"], f"{where}.family", ("any", *FAMILIES)),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "from": self.from_port,
            "to": self.to_port,
            "action": self.action,
            "family": self.family,
        }


@dataclass(frozen=True, slots=True)
class FirewallVerdict:
    """`rules` are disjoint: a port none names gets `input_policy` (IPv4's; IPv6's differences are rules)."""

    tool: Literal["nftables", "iptables"]
    input_policy: Literal["accept", "drop"]
    rules: list[PortRule]
    exact: bool
    notes: list[str] = field(default_factory=list)

    def allows(self, protocol: str, port: int, family: str | None = None) -> bool | None:
        """Whether a new connection to the port is accepted; None: unknown (or the families disagree)."""
        answers = {self._allows(protocol, port, f) for f in ((family,) if family else FAMILIES)}
        return answers.pop() if len(answers) == 1 else None

    def admits_any(self, protocol: str, begin: int, end: int) -> bool:
        """Whether a new connection may be accepted on some port of `begin`..`end`: False only where every
        port is surely dropped or rejected (an unknown verdict may accept)."""
        # the verdict is constant between the rules' boundaries: one port of each piece decides it
        bounds = {p for r in self.rules for p in (r.from_port, r.to_port + 1) if begin <= p <= end}
        return any(self.allows(protocol, port) is not False for port in {begin} | bounds)

    def _allows(self, protocol: str, port: int, family: str) -> bool | None:
        action: str = self.input_policy
        for rule in self.rules:
            covered = rule.from_port <= port <= rule.to_port
            if covered and rule.protocol == protocol and rule.family in (family, "any"):
                action = rule.action
                break
        return None if action == "unknown" else action == "accept"

    def to_json(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "inputPolicy": self.input_policy,
            "rules": [rule.to_json() for rule in self.rules],
            "exact": self.exact,
            "notes": self.notes,
        }

    @classmethod
    def from_json(cls, document: Any) -> FirewallVerdict:
        """`to_json`'s document, read strictly: it comes from an agent (ValueError saying what is wrong)."""
        fields = _members(document, "firewall", {"tool", "inputPolicy", "rules", "exact"}, {"notes"})
        rules, notes = fields["rules"], fields.get("notes", [])
        if not isinstance(rules, list) or len(rules) > MAX_SUMMARY_RULES:
            raise ValueError(f"firewall.rules: a list of at most {MAX_SUMMARY_RULES} rules")
        if not isinstance(notes, list) or len(notes) > MAX_NOTES:
            raise ValueError(f"firewall.notes: a list of at most {MAX_NOTES} notes")
        if not all(isinstance(n, str) and len(n) <= MAX_NOTE_LENGTH and "\x00" not in n for n in notes):
            raise ValueError(f"firewall.notes: each a string of at most {MAX_NOTE_LENGTH} characters, no NUL")
        if not isinstance(fields["exact"], bool):
            raise ValueError("firewall.exact: true or false")
        return cls(
            _choice(fields["tool"], "firewall.tool", ("nftables", "iptables")),
            _choice(fields["inputPolicy"], "firewall.inputPolicy", ("accept", "drop")),
            [PortRule.from_json(rule, f"firewall.rules[{i}]") for i, rule in enumerate(rules)],
            fields["exact"],
            list(notes),
        )


def _members(document: Any, where: str, required: set[str], optional: frozenset[str] | set[str] = frozenset()
             ) -> dict[str, Any]:  # fmt: skip
    if not isinstance(document, dict):
        raise ValueError(f"{where}: an object")
    missing, unknown = required - document.keys(), document.keys() - required - optional
    if missing or unknown:
        raise ValueError(f"{where}: members {sorted(required)} (missing {sorted(missing)}, unknown "
                         f"{sorted(str(k)[:40] for k in unknown)[:5]})")  # fmt: skip
    return document


def _choice(value: Any, where: str, choices: Sequence[str]) -> Any:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{where}: one of {', '.join(choices)}")
    return value


def _port_of(value: Any, where: str) -> int:
    try:
        return _port(value)
    except ValueError:
        raise ValueError(f"{where}: a port, 0 to 65535") from None


# -- the ruleset, as read from either tool ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scope:
    """What a rule can match: families, and per protocol the destination ports."""

    families: frozenset[str]
    ports: dict[str, Intervals]

    def covers(self, family: str, protocol: str, port: int) -> bool:
        return family in self.families and any(lo <= port <= hi for lo, hi in self.ports.get(protocol, ()))


@dataclass(frozen=True, slots=True)
class Rule:
    scope: Scope
    verdict: str  # accept, drop, reject, unknown, return, jump, goto
    target: str | None = None  # the chain of a jump or goto
    condition: str | None = None  # a match not interpreted: the rule may or may not match


@dataclass(frozen=True, slots=True)
class Base:
    chain: str
    families: frozenset[str]
    priority: int
    policy: Literal["accept", "drop"]


@dataclass
class Ruleset:
    chains: dict[str, list[Rule]] = field(default_factory=dict)
    bases: list[Base] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    exact: bool = True
    rules: int = 0

    def note(self, text: str, *, inexact: bool = True) -> None:
        self.exact = self.exact and not inexact
        if len(self.notes) < MAX_NOTES:
            self.notes.append(text[:MAX_NOTE_LENGTH])

    def add(self, chain: str, rule: Rule | None) -> None:
        if rule is None:
            return
        self.rules += 1
        if self.rules > MAX_RULES:
            if self.rules == MAX_RULES + 1:
                self.note(f"more than {MAX_RULES} rules: the rest are undecided")
            rule = Rule(rule.scope, "unknown")
        self.chains.setdefault(chain, []).append(rule)


class _Never(Exception):
    """The rule cannot match a new TCP or UDP connection from the network."""


def _full(families: Iterable[str]) -> Scope:
    return Scope(frozenset(families), dict.fromkeys(PROTOCOLS, PORTS))


def _intersect(a: Intervals, b: Intervals) -> Intervals:
    out = [(max(x, y), min(z, w)) for x, z in a for y, w in b if max(x, y) <= min(z, w)]
    return tuple(sorted(out))


def _complement(a: Intervals) -> Intervals:
    out, start = [], 1
    for lo, hi in sorted(a):
        if lo > start:
            out.append((start, lo - 1))
        start = max(start, hi + 1)
    if start <= 65535:
        out.append((start, 65535))
    return tuple(out)


def _restrict(scope: Scope, protocols: Iterable[str] | None = None, ports: Intervals | None = None) -> Scope:
    kept = {
        p: (i if ports is None else _intersect(i, ports))
        for p, i in scope.ports.items()
        if protocols is None or p in protocols
    }
    kept = {p: i for p, i in kept.items() if i}
    if not kept or not scope.families:
        raise _Never
    return Scope(scope.families, kept)


def _families(scope: Scope, families: Iterable[str]) -> Scope:
    kept = scope.families & frozenset(families)
    if not kept:
        raise _Never
    return Scope(kept, scope.ports)


def _port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise ValueError(f"not a port: {value!r}")
    return value


# -- evaluation ------------------------------------------------------------------------------------------


class _Evaluator:
    """The outcomes of the chains for one (family, protocol, port): a set, since a rule may be undecided."""

    def __init__(self, ruleset: Ruleset) -> None:
        self.ruleset = ruleset
        self.steps = 0

    def base(self, base: Base, family: str, protocol: str, port: int) -> frozenset[str]:
        memo: Memo = {}
        outcomes = self._chain(base.chain, 0, (family, protocol, port), memo, 0)
        return frozenset(base.policy if o == "fall" else o for o in outcomes)

    def _chain(self, chain: str, start: int, point: Point, memo: Memo, depth: int) -> frozenset[str]:
        key = (chain, start)
        if key in memo:
            return memo[key]
        rules = self.ruleset.chains.get(chain, [])
        result: frozenset[str] = frozenset({"fall"})
        for index in range(start, len(rules)):
            self.steps += 1
            rule = rules[index]
            if self.steps > MAX_STEPS or depth > MAX_DEPTH:
                result = frozenset({"unknown"})
                break
            if not rule.scope.covers(*point):
                continue
            matched = self._verdict(rule, chain, index, point, memo, depth)
            if rule.condition is not None:
                matched = matched | self._chain(chain, index + 1, point, memo, depth)
            result = matched
            break
        memo[key] = result
        return result

    def _verdict(
        self, rule: Rule, chain: str, index: int, point: Point, memo: Memo, depth: int
    ) -> frozenset[str]:
        if rule.verdict == "return":
            return frozenset({"fall"})
        if rule.verdict in ("jump", "goto") and rule.target in self.ruleset.chains:
            called = self._chain(rule.target, 0, point, memo, depth + 1)
            if rule.verdict == "goto" or "fall" not in called:
                return called
            return (called - {"fall"}) | self._chain(chain, index + 1, point, memo, depth)
        if rule.verdict == "goto":  # to an empty chain: nothing there decides
            return frozenset({"fall"})
        if rule.verdict == "jump":
            return self._chain(chain, index + 1, point, memo, depth)
        return frozenset({rule.verdict})


def _combine(results: Sequence[frozenset[str]]) -> Action:
    """All base chains in priority order: any sure drop blocks; accepted only when each surely accepts."""
    undecided = False
    for outcomes in results:
        if outcomes <= {"drop", "reject"}:
            return "reject" if outcomes == {"reject"} else "drop"
        if outcomes != {"accept"}:
            undecided = True
    return "unknown" if undecided else "accept"


def summarise(tool: Literal["nftables", "iptables"], ruleset: Ruleset) -> FirewallVerdict:
    """The disjoint port ranges whose verdict differs from the input policy."""
    evaluator = _Evaluator(ruleset)
    policies = {f: _policy(ruleset, f) for f in FAMILIES}
    policy = policies["ipv4"]
    found: dict[tuple[str, int, int, Action], set[str]] = {}
    for family in FAMILIES:
        bases = sorted((b for b in ruleset.bases if family in b.families), key=lambda b: b.priority)
        for protocol in PROTOCOLS:
            for lo, hi, action in _segments(ruleset, evaluator, bases, family, protocol):
                if action != policy:
                    found.setdefault((protocol, lo, hi, action), set()).add(family)
    rules = []
    for (protocol, lo, hi, action), families in found.items():
        which: Family = "any" if len(families) == 2 else ("ipv4" if "ipv4" in families else "ipv6")
        rules.append(PortRule(protocol, lo, hi, action, which))
    rules.sort(key=lambda r: (r.protocol, r.from_port, r.family))
    exact = ruleset.exact and all(r.action != "unknown" for r in rules)
    return FirewallVerdict(tool, policy, rules, exact, list(ruleset.notes))


def _policy(ruleset: Ruleset, family: str) -> Literal["accept", "drop"]:
    dropping = any(b.policy == "drop" for b in ruleset.bases if family in b.families)
    return "drop" if dropping else "accept"


def _segments(
    ruleset: Ruleset, evaluator: _Evaluator, bases: list[Base], family: str, protocol: str
) -> list[tuple[int, int, Action]]:
    bounds = {1, 65536}
    for rules in ruleset.chains.values():
        for rule in rules:
            for lo, hi in rule.scope.ports.get(protocol, ()):
                bounds.update((lo, hi + 1))
    points = sorted(b for b in bounds if 1 <= b <= 65536)
    merged: list[tuple[int, int, Action]] = []
    for lo, next_lo in itertools.pairwise(points):
        action = _combine([evaluator.base(b, family, protocol, lo) for b in bases])
        if merged and merged[-1][2] == action and merged[-1][1] == lo - 1:
            merged[-1] = (merged[-1][0], next_lo - 1, action)
        else:
            merged.append((lo, next_lo - 1, action))
    return merged


# -- nftables --------------------------------------------------------------------------------------------

_NFT_FAMILIES = {"ip": ("ipv4",), "ip6": ("ipv6",), "inet": FAMILIES}
_HARMLESS = {"counter", "log", "mangle", "notrack", "set", "comment"}
_PROTOCOL_NUMBERS = {6: "tcp", 17: "udp"}


def parse_nft(document: Any) -> Ruleset:
    """The input filter chains of `nft -j list ruleset`'s document."""
    ruleset = Ruleset()
    items = document.get("nftables") if isinstance(document, dict) else None
    if not isinstance(items, list):
        ruleset.note("nft: not a ruleset document")
        return ruleset
    sets: dict[str, Intervals | None] = {}
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("set"), dict):
            entry = item["set"]
            sets[_key(entry, entry.get("name"))] = _named_set(entry)
    for item in items:
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("chain"), dict):
            _nft_chain(ruleset, item["chain"])
        elif isinstance(item.get("rule"), dict):
            entry = item["rule"]
            families = _NFT_FAMILIES.get(entry.get("family", ""))
            if families is not None:
                ruleset.add(_key(entry, entry.get("chain")), _nft_rule(ruleset, entry, families, sets))
    return ruleset


def _key(entry: dict[str, Any], name: Any) -> str:
    return f"{entry.get('family')} {entry.get('table')} {name}"


def _named_set(entry: dict[str, Any]) -> Intervals | None:
    flags = entry.get("flags") or []
    if entry.get("type") != "inet_service" or "dynamic" in flags or "timeout" in flags:
        return None
    try:
        return _nft_ports(entry.get("elem") or [], {}) if entry.get("elem") else ()
    except (ValueError, TypeError, KeyError):
        return None


def _nft_chain(ruleset: Ruleset, chain: dict[str, Any]) -> None:
    families = _NFT_FAMILIES.get(chain.get("family", ""))
    hook, policy = chain.get("hook"), chain.get("policy", "accept")
    if families is None or chain.get("type") != "filter" or hook is None:
        return
    name = _key(chain, chain.get("name"))
    if hook in ("prerouting", "ingress"):
        if policy == "drop":
            ruleset.note(f"nft: {name} ({hook}) drops by default: not evaluated")
        return
    if hook != "input":
        return
    if policy not in ("accept", "drop"):
        ruleset.note(f"nft: {name}: policy {policy!r} not interpreted")
        policy = "accept"
    priority = chain.get("prio", 0)
    priority = priority if isinstance(priority, int) and not isinstance(priority, bool) else 0
    ruleset.bases.append(Base(name, frozenset(families), priority, policy))
    ruleset.chains.setdefault(name, [])


def _nft_rule(
    ruleset: Ruleset, entry: dict[str, Any], families: Sequence[str], sets: dict[str, Intervals | None]
) -> Rule | None:
    where = f"nft {_key(entry, entry.get('chain'))} rule {entry.get('handle')}"
    scope, conditions = _full(families), list[str]()
    verdict, target = None, None
    try:
        for statement in entry.get("expr") or []:
            if not isinstance(statement, dict) or len(statement) != 1:
                raise ValueError("statement")
            (kind, value), = statement.items()  # fmt: skip
            if kind == "match":
                scope = _nft_match(scope, value, conditions, entry, sets)
            elif kind in ("accept", "drop", "reject", "return"):
                verdict = kind
                break
            elif kind in ("jump", "goto"):
                verdict, target = kind, _key(entry, value.get("target"))
                break
            elif kind == "queue":
                verdict = "unknown"
                break
            elif kind == "continue":
                return None
            elif kind not in _HARMLESS:
                conditions.append(kind)
    except _Never:
        return None
    except (ValueError, TypeError, AttributeError, KeyError):
        ruleset.note(f"{where}: not understood")
        return Rule(_full(families), "unknown")
    if verdict is None:
        return None
    condition = None
    if conditions:
        condition = ", ".join(conditions)
        ruleset.note(f"{where}: {condition} not interpreted", inexact=False)
    return Rule(scope, verdict, target, condition)


def _nft_match(
    scope: Scope, match: dict[str, Any], conditions: list[str], entry: dict[str, Any],
    sets: dict[str, Intervals | None],
) -> Scope:  # fmt: skip
    op, left, right = match.get("op", "=="), match["left"], match["right"]
    negated = op == "!="
    if "payload" in left:
        protocol, name = left["payload"].get("protocol"), left["payload"].get("field")
        if protocol in PROTOCOLS or protocol == "th":
            protocols = PROTOCOLS if protocol == "th" else (protocol,)
            if name != "dport":
                conditions.append(f"{protocol} {name}")
                return _restrict(scope, protocols)
            ports = _nft_ports(right, sets, entry, op)
            if ports is None:
                conditions.append(f"{protocol} dport {right!r}")
                return _restrict(scope, protocols)
            return _restrict(scope, protocols, ports)
        if protocol in ("ip", "ip6"):
            scope = _families(scope, ("ipv4",) if protocol == "ip" else ("ipv6",))
            if name in ("protocol", "nexthdr"):
                return _restrict(scope, _nft_protocols(right, negated))
            conditions.append(f"{protocol} {name}")
            return scope
        raise _Never  # icmp, icmpv6, arp...: not a TCP or UDP packet
    if "meta" in left:
        key = left["meta"].get("key")
        if key == "l4proto":
            return _restrict(scope, _nft_protocols(right, negated))
        if key == "nfproto":
            wanted = {{"ipv4": "ipv4", "ipv6": "ipv6"}.get(v, v) for v in _values(right)}
            return _families(scope, (f for f in FAMILIES if (f in wanted) != negated))
        if key in ("iif", "iifname"):
            return _interface(scope, _values(right), negated, conditions, f"{key}")
        conditions.append(f"meta {key}")
        return scope
    if "ct" in left and left["ct"].get("key") == "state":
        new = "new" in _values(right)
        if new == negated:
            raise _Never  # established, related, invalid: not a new connection
        return scope
    conditions.append(next(iter(left), "match") if isinstance(left, dict) else "match")
    return scope


def _values(right: Any) -> list[Any]:
    if isinstance(right, dict) and "set" in right:
        right = right["set"]
    return list(right) if isinstance(right, list) else [right]


def _interface(scope: Scope, names: list[Any], negated: bool, conditions: list[str], what: str) -> Scope:
    if names == ["lo"]:
        if negated:
            return scope  # every packet from the network
        raise _Never
    conditions.append(f"{what} {'!= ' if negated else ''}{','.join(map(str, names))}")
    return scope


def _nft_protocols(right: Any, negated: bool) -> list[str]:
    wanted = {_PROTOCOL_NUMBERS.get(v, v) for v in _values(right)}
    return [p for p in PROTOCOLS if (p in wanted) != negated]


def _nft_ports(
    right: Any, sets: dict[str, Intervals | None], entry: Any = None, op: str = "=="
) -> Intervals | None:
    """The ports a dport match's right side names (None: a set not known, or a name)."""
    if isinstance(right, str) and right.startswith("@"):
        found = sets.get(_key(entry, right[1:])) if isinstance(entry, dict) else None
        ports = found
    elif op in ("<", "<=", ">", ">="):
        n = _port(right)
        ports = {"<": ((1, n - 1),), "<=": ((1, n),), ">": ((n + 1, 65535),), ">=": ((n, 65535),)}[op]
        return tuple((lo, hi) for lo, hi in ports if lo <= hi)
    else:
        intervals = []
        for value in _values(right):
            if isinstance(value, dict) and "elem" in value:
                value = value["elem"].get("val")
            if isinstance(value, dict) and "range" in value:
                lo, hi = value["range"]
                intervals.append((_port(lo), _port(hi)))
            elif isinstance(value, int):
                intervals.append((_port(value), _port(value)))
            else:
                return None
        ports = tuple(sorted(intervals))
    if ports is None:
        return None
    return _complement(ports) if op == "!=" else ports


# -- iptables --------------------------------------------------------------------------------------------

_TERMINAL = {"ACCEPT": "accept", "DROP": "drop", "REJECT": "reject", "RETURN": "return"}
_NON_TERMINAL = {"LOG", "NFLOG", "ULOG", "MARK", "CONNMARK", "TRACE", "AUDIT", "NOTRACK", "CT", "CLASSIFY"}
_IGNORED = {"-m", "--match", "--comment"}  # with their one argument


def parse_iptables_save(text: str, family: str, ruleset: Ruleset | None = None) -> Ruleset:
    """The filter table's INPUT chain (and the chains it jumps to) of `iptables-save` output."""
    ruleset = ruleset if ruleset is not None else Ruleset()
    table, lines = None, text.splitlines()[: MAX_RULES * 2]
    chains = {line[1:].split()[0] for line in lines if line.startswith(":") and len(line) > 1}
    for number, line in enumerate(lines, 1):
        if line.startswith("*"):
            table = line[1:].strip()
        elif table != "filter":
            continue
        elif line.startswith(":INPUT "):
            policy = line.split()[1].lower() if len(line.split()) > 1 else ""
            if policy not in ("accept", "drop"):
                ruleset.note(f"{family} INPUT: policy {policy!r} not interpreted")
                policy = "accept"
            name = f"{family} filter INPUT"
            ruleset.bases.append(Base(name, frozenset((family,)), 0, policy))  # type: ignore[arg-type]
            ruleset.chains.setdefault(name, [])
        elif line.startswith("-A ") or (line.startswith("[") and " -A " in line):
            _iptables_line(ruleset, line, family, chains, number)
    return ruleset


def _iptables_line(ruleset: Ruleset, line: str, family: str, chains: set[str], number: int) -> None:
    try:
        words = shlex.split(line)
    except ValueError:
        ruleset.note(f"{family} line {number}: not understood")
        return
    if words and words[0].startswith("["):  # iptables-save -c counters
        words = words[1:]
    if len(words) < 2:
        return
    chain = f"{family} filter {words[1]}"
    try:
        ruleset.add(chain, _iptables_rule(words[2:], family, chains, ruleset, number))
    except (ValueError, IndexError):
        ruleset.note(f"{family} line {number}: not understood")
        ruleset.add(chain, Rule(_full((family,)), "unknown"))


def _iptables_rule(
    words: list[str], family: str, chains: set[str], ruleset: Ruleset, number: int
) -> Rule | None:
    scope, conditions = _full((family,)), list[str]()
    verdict, target, negated, i = None, None, False, 0
    try:
        while i < len(words):
            word = words[i]
            argument = words[i + 1] if i + 1 < len(words) else ""
            if word == "!":
                negated, i = True, i + 1
                continue
            if word in ("-p", "--protocol"):
                wanted = {"6": "tcp", "17": "udp"}.get(argument, argument.lower())
                if wanted != "all" or negated:
                    scope = _restrict(
                        scope, [p for p in PROTOCOLS if (p == wanted or wanted == "all") != negated]
                    )
            elif word in ("--dport", "--destination-port", "--dports", "--destination-ports"):
                ports = _iptables_ports(argument)
                scope = _restrict(scope, None, _complement(ports) if negated else ports)
            elif word in ("-i", "--in-interface"):
                scope = _interface(scope, [argument], negated, conditions, "-i")
            elif word in ("--ctstate", "--state"):
                if ("NEW" in argument.upper().split(",")) == negated:
                    raise _Never
            elif word in ("-j", "--jump", "-g", "--goto"):
                if argument in _TERMINAL:
                    verdict = _TERMINAL[argument]
                elif argument in chains:
                    verdict = "goto" if word in ("-g", "--goto") else "jump"
                    target = f"{family} filter {argument}"
                elif argument in _NON_TERMINAL:
                    return None
                else:
                    verdict = "unknown"
                    conditions.append(f"-j {argument}")
                break
            elif word in _IGNORED:
                pass
            else:
                conditions.append(word)
                while i + 1 < len(words) and not words[i + 1].startswith("-") and words[i + 1] != "!":
                    i += 1
                i, negated = i + 1, False
                continue
            i, negated = i + 2, False
    except _Never:
        return None
    if verdict is None:
        return None
    condition = None
    if conditions:
        condition = " ".join(conditions)
        ruleset.note(f"{family} line {number}: {condition} not interpreted", inexact=False)
    return Rule(scope, verdict, target, condition)


def _iptables_ports(text: str) -> Intervals:
    intervals = []
    for part in text.split(","):
        low, colon, high = part.partition(":")
        start = int(low) if low else 0
        end = (int(high) if high else 65535) if colon else start
        intervals.append((_port(start), _port(end)))
    return tuple(sorted(intervals))


# -- running the tools -----------------------------------------------------------------------------------


def firewall_verdict(runner: Runner = subprocess.run, proc: str = "/proc") -> FirewallVerdict | None:
    """The firewall's verdict; None when no tool can read it (not root, no tool): the reason is logged."""
    nft = _run(runner, "nft", "-j", "list", "ruleset")
    empty_nft = None
    if nft is not None:
        try:
            ruleset = parse_nft(json.loads(nft))
        except ValueError as error:
            log.debug("firewall: nft output unreadable: %s", error)
        else:
            if ruleset.bases:
                if _legacy_filter(proc):
                    ruleset.note("legacy iptables filter table loaded too: not read")
                return summarise("nftables", ruleset)
            empty_nft = ruleset
    v4 = _run(runner, "iptables-save", "-t", "filter")
    if v4 is None:
        if empty_nft is None:
            return None
        if _legacy_filter(proc):
            empty_nft.note("legacy iptables filter table loaded: not readable")
        return summarise("nftables", empty_nft)
    ruleset = parse_iptables_save(v4.decode("utf-8", "replace"), "ipv4")
    v6 = _run(runner, "ip6tables-save", "-t", "filter")
    if v6 is None:
        ruleset.note("ip6tables-save: not read, IPv6 unknown")
        ruleset.bases.append(Base("ipv6 unknown", frozenset({"ipv6"}), 0, "accept"))
        ruleset.chains["ipv6 unknown"] = [Rule(_full(("ipv6",)), "unknown")]
    else:
        parse_iptables_save(v6.decode("utf-8", "replace"), "ipv6", ruleset)
    return summarise("iptables", ruleset)


def _run(runner: Runner, tool: str, *arguments: str) -> bytes | None:
    search = os.pathsep.join(p for p in (os.environ.get("PATH", ""), _SBIN) if p)
    try:
        done = runner(
            [tool, *arguments], capture_output=True, timeout=COMMAND_SECONDS, check=False,
            env={"PATH": search, "LC_ALL": "C"},
        )  # fmt: skip
    except FileNotFoundError:
        log.debug("firewall: %s not installed", tool)
        return None
    except (OSError, subprocess.SubprocessError) as error:
        log.debug("firewall: %s failed: %s", tool, error)
        return None
    if done.returncode != 0:
        reason = (done.stderr or b"")[:300].decode("utf-8", "replace").strip()
        log.debug("firewall: %s exited %s (not root?): %s", tool, done.returncode, reason)
        return None
    if len(done.stdout) > MAX_OUTPUT:
        log.debug("firewall: %s printed more than %d bytes", tool, MAX_OUTPUT)
        return None
    output: bytes = done.stdout
    return output


def _legacy_filter(proc: str) -> bool:
    """Whether legacy (x_tables) iptables has a filter table, which nft does not show."""
    try:
        with open(os.path.join(proc, "net", "ip_tables_names"), encoding="ascii", errors="replace") as f:
            return "filter" in f.read(4096).split()
    except OSError:
        return False
