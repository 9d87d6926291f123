"""Network reachability's tables (DESIGN §6): each provider's description of an account's network, what the
analysis found per instance, and what an instance's agent says listens on it.

The description is kept as the EC2 and ELB APIs' shapes (`vigil.network.ec2` reads it): one format for the
`aws` provider's Describe* answers and the fleet file's `network:` section, its digest telling discovery
whether anything changed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from vigil.store.base import Base

ACCOUNT_ID = String(12)
INSTANCE_ID = String(32)


class NetworkDescriptionRow(Base):
    """The network of an account as one of its providers last described it."""

    __tablename__ = "network_descriptions"

    account_id: Mapped[str] = mapped_column(ACCOUNT_ID, primary_key=True)
    provider: Mapped[str] = mapped_column(String(16), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))  # sha256 of the canonical JSON
    description: Mapped[dict[str, Any]]
    described_at: Mapped[dt.datetime]
    changed_at: Mapped[dt.datetime]  # when the digest last changed: the analysis is due after it
    analyzed_at: Mapped[dt.datetime | None]  # the last analysis of this description
    analyzed_digest: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(String(2048))  # why the last analysis could not read it


class NetworkExposureRow(Base):
    """What the last analysis found on one instance: every reachable (protocol, port range, path)."""

    __tablename__ = "network_exposures"

    account_id: Mapped[str] = mapped_column(ACCOUNT_ID, primary_key=True)
    instance_id: Mapped[str] = mapped_column(INSTANCE_ID, primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    reachable: Mapped[list[Any]]  # [{edge, protocol, begin, end, networkInterfaceId, steps}]
    analyzed_at: Mapped[dt.datetime]


class ListenerReportRow(Base):
    """What an instance's agent last said listens on it, and its host firewall's verdict if it could read
    it (`vigil.agent.listeners`, `vigil.agent.firewall`)."""

    __tablename__ = "listener_reports"

    account_id: Mapped[str] = mapped_column(ACCOUNT_ID, primary_key=True)
    instance_id: Mapped[str] = mapped_column(INSTANCE_ID, primary_key=True)
    listeners: Mapped[list[Any]]  # [{protocol, address, port, pid, process, executable, package?}]
    firewall: Mapped[dict[str, Any] | None]  # {tool, inputPolicy, rules, exact, notes}; None: not readable
    reported_at: Mapped[dt.datetime]
