"""Stored inventories: each distinct one once (by content hash), indexed by the (namespace, package) keys the
matcher looks its packages up under, so that "which inventories hold a package an advisory update changed"
is one indexed query (DESIGN §8). Implements `InventorySource` for SBOM exports."""

from __future__ import annotations

import datetime as dt
import json
import threading
import zlib
from collections import OrderedDict
from collections.abc import Collection, Iterable, Iterator

from sqlalchemy import delete, exists, insert, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from vigil.advisories.namespaces import package_key
from vigil.fleet.instances import InstanceRecord
from vigil.fleet.model import Instance
from vigil.inventory.model import Inventory
from vigil.matching.targets import lookup_targets
from vigil.store.engine import transaction
from vigil.store.fleet import InstanceRow
from vigil.store.inventories import InventoryPackageRow, InventoryRow

_KEYS_PER_QUERY = 500  # bound on the (namespace, package) pairs of one IN clause


def lookup_keys(inventory: Inventory) -> set[tuple[str, str]]:
    """The (namespace, package) keys under which the matcher looks up the inventory's packages."""
    targets, _ = lookup_targets(inventory)
    return {(t.namespace, package_key(t.namespace, t.name)) for t in targets}


class InventoryStore:
    """Inventories in the fleet store, with a bounded cache of the parsed documents (they never change)."""

    def __init__(self, sessions: sessionmaker[Session], cache_size: int = 256) -> None:
        self.sessions = sessions
        self._cache: OrderedDict[str, Inventory] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def put(self, inventory: Inventory, now: dt.datetime, *, content_hash: str | None = None) -> str:
        """Store the inventory unless an identical one is stored; returns its content hash (given when the
        caller knows it: working it out serialises the whole inventory)."""
        content_hash = content_hash or inventory.content_hash
        with self.sessions() as session:
            if session.get(InventoryRow, content_hash) is not None:
                return content_hash
        document = zlib.compress(json.dumps(inventory.to_json(), separators=(",", ":")).encode(), 6)
        keys = [
            {"namespace": namespace, "package": package, "content_hash": content_hash}
            for namespace, package in sorted(lookup_keys(inventory))
        ]
        try:
            with transaction(self.sessions) as session:
                session.add(
                    InventoryRow(
                        content_hash=content_hash,
                        document=document,
                        packages=len(inventory.packages),
                        stored_at=now,
                    )
                )
                session.flush()
                if keys:
                    session.execute(insert(InventoryPackageRow), keys)
        except IntegrityError:
            pass  # stored by another scan of an identical machine meanwhile
        self._remember(content_hash, inventory)
        return content_hash

    def get(self, content_hash: str) -> Inventory | None:
        with self._lock:
            cached = self._cache.get(content_hash)
            if cached is not None:
                self._cache.move_to_end(content_hash)
                return cached
        with self.sessions() as session:
            document = session.scalar(
                select(InventoryRow.document).where(InventoryRow.content_hash == content_hash)
            )
        if document is None:
            return None
        inventory = Inventory.from_json(zlib.decompress(document))
        self._remember(content_hash, inventory)
        return inventory

    def in_memory_first(self, content_hashes: Collection[str]) -> list[str]:
        """These inventories in the order that reads the fewest from the store: those already in memory
        first (visiting them evicts none of them), then the others."""
        with self._lock:
            cached = [h for h in self._cache if h in content_hashes]
        held = set(cached)
        return cached + sorted(h for h in content_hashes if h not in held)

    def _remember(self, content_hash: str, inventory: Inventory) -> None:
        with self._lock:
            self._cache[content_hash] = inventory
            self._cache.move_to_end(content_hash)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def holders(self, keys: Iterable[tuple[str, str]]) -> set[str]:
        """The content hashes of the stored inventories holding any of these (namespace, package) keys."""
        wanted = sorted(set(keys))
        found: set[str] = set()
        with self.sessions() as session:
            for start in range(0, len(wanted), _KEYS_PER_QUERY):
                chunk = wanted[start : start + _KEYS_PER_QUERY]
                found.update(
                    session.scalars(
                        select(InventoryPackageRow.content_hash)
                        .where(tuple_(InventoryPackageRow.namespace, InventoryPackageRow.package).in_(chunk))
                        .distinct()
                    )
                )
        return found

    def stored(self) -> set[str]:
        with self.sessions() as session:
            return set(session.scalars(select(InventoryRow.content_hash)))

    def latest(
        self, account_ids: Collection[str], instance_ids: Collection[str] | None = None
    ) -> Iterator[tuple[Instance, Inventory]]:
        """Each instance of these accounts (or only these instances) that has an inventory, with it."""
        query = select(InstanceRow).where(
            InstanceRow.account_id.in_(sorted(account_ids)), InstanceRow.inventory_hash.is_not(None)
        )
        if instance_ids is not None:
            query = query.where(InstanceRow.instance_id.in_(sorted(instance_ids)))
        query = query.order_by(InstanceRow.account_id, InstanceRow.instance_id)
        with self.sessions() as session:
            records = [InstanceRecord.of(row) for row in session.scalars(query)]
        for record in records:
            inventory = self.get(record.inventory_hash or "")
            if inventory is not None:
                yield record.instance, inventory

    def drop_unused(self, stored_before: dt.datetime) -> int:
        """Delete the inventories stored before `stored_before` that no instance points at any more (a newer
        one may be a scan's that has not pointed its instance at it yet); returns how many."""
        unused = ~exists().where(InstanceRow.inventory_hash == InventoryRow.content_hash)
        old = InventoryRow.stored_at < stored_before
        with transaction(self.sessions) as session:
            hashes = list(session.scalars(select(InventoryRow.content_hash).where(unused, old)))
            if hashes:
                session.execute(
                    delete(InventoryPackageRow).where(InventoryPackageRow.content_hash.in_(hashes))
                )
                session.execute(delete(InventoryRow).where(InventoryRow.content_hash.in_(hashes)))
        with self._lock:
            for content_hash in hashes:
                self._cache.pop(content_hash, None)
        return len(hashes)
