"""Inventories, stored once per content hash, and the (namespace, package) index that says which stored
inventories hold a package: re-evaluation after an advisory update is a lookup (DESIGN §8)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from vigil.store.base import Base

CONTENT_HASH = String(64)


class InventoryRow(Base):
    """One distinct inventory document (zlib-compressed JSON: package lists compress about tenfold)."""

    __tablename__ = "inventories"

    content_hash: Mapped[str] = mapped_column(CONTENT_HASH, primary_key=True)
    document: Mapped[bytes] = mapped_column(LargeBinary)
    packages: Mapped[int]
    stored_at: Mapped[dt.datetime]


class InventoryPackageRow(Base):
    """An inventory holds a package the matcher looks up under (namespace, package): the advisory
    database's change keys, spelled the same (`ChangeKey.namespace`, `ChangeKey.package`)."""

    __tablename__ = "inventory_packages"
    __table_args__ = (Index("ix_inventory_packages_content_hash", "content_hash"),)

    namespace: Mapped[str] = mapped_column(String(64), primary_key=True)
    package: Mapped[str] = mapped_column(String(512), primary_key=True)
    content_hash: Mapped[str] = mapped_column(
        CONTENT_HASH, ForeignKey("inventories.content_hash", ondelete="CASCADE"), primary_key=True
    )
