"""Providers: where an account's instances come from. Each is a small class with one question to answer,
"what is the fleet now?", so that discovery, scanning and coverage never depend on which one it is
(STYLE habit 2: one explicit registry, plugins as Protocols). `local` reads a fleet file; `aws` asks EC2.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from vigil.fleet.model import Instance, KmsKey


class ProviderError(ValueError):
    """The provider cannot describe its fleet; the message says why, in a line the user can act on."""


@dataclass(frozen=True, slots=True)
class FleetDescription:
    """An account's instances and KMS keys as its provider describes them at one moment, and its network
    (`network`: the EC2 and ELB APIs' Describe* shapes that `vigil.network.ec2` reads; None when the
    provider knows nothing of it, as a fleet file without a `network:` section)."""

    instances: tuple[Instance, ...]
    kms_keys: tuple[KmsKey, ...] = ()
    network: Mapping[str, Any] | None = None
    network_error: str | None = None  # the network could not be read now (None too): keep the last one


class Provider(Protocol):
    kind: str

    def describe(self, account_id: str) -> FleetDescription:
        """The fleet now; `ProviderError` when it cannot be read."""
        ...

    def config(self) -> dict[str, Any]:
        """What the store keeps to make this provider again (`PROVIDERS[kind](config)`)."""
        ...


def _local(config: Mapping[str, Any]) -> Provider:
    from vigil.fleet.providers.local import LocalProvider

    return LocalProvider.from_config(config)


def _aws(config: Mapping[str, Any]) -> Provider:
    from vigil.fleet.providers.aws.provider import AwsProvider

    return AwsProvider.from_config(config)


PROVIDERS: dict[str, Callable[[Mapping[str, Any]], Provider]] = {"local": _local, "aws": _aws}


def provider_for(kind: str, config: Mapping[str, Any]) -> Provider:
    """The provider a stored (kind, config) names."""
    if kind not in PROVIDERS:
        raise ProviderError(f"unknown provider {kind!r} (known: {', '.join(sorted(PROVIDERS))})")
    return PROVIDERS[kind](config)


__all__ = ["PROVIDERS", "FleetDescription", "Provider", "ProviderError", "provider_for"]
