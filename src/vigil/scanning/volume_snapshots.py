"""Where an agentless scan's snapshots come from, by the instance's provider: a local fleet's disk images
(`snapshots.SnapshotStore`: reflink copies or read in place), an AWS account's EBS snapshots read through the
EBS direct APIs (`vigil.fleet.providers.aws`). The scanner asks for the instance's snapshots, reads what it
is given as disks, and has them deleted however the scan ends; the sweeper asks every source.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from vigil.fleet.model import Instance, Volume
from vigil.scanning.snapshots import Snapshot, SnapshotStore
from vigil.store.fleet import ProviderRow

AWS = "aws"
log = logging.getLogger("vigil.scanning")


class SnapshotUnreadable(Exception):
    """A snapshot's blocks could not be read (past retries): the scan fails with INTERNAL_ERROR and is tried
    again later; what was read is never taken for the whole disk."""


@dataclass
class Taken:
    """A scan's snapshots and what to open as its disks (paths, or readable file objects)."""

    snapshots: list[Snapshot]
    sources: list[str | BinaryIO]
    readers: list[Any] = field(default_factory=list)  # block readers to close and count

    def check(self) -> None:
        """SnapshotUnreadable when a reader met a block it could not read."""
        for reader in self.readers:
            failure = getattr(reader, "failure", None)
            if failure is not None:
                raise SnapshotUnreadable(f"snapshot {getattr(reader, 'name', '?')}: {failure}")

    def records(self) -> list[dict[str, Any]]:
        """The snapshots as the scan's record keeps them, with the blocks each reader fetched."""
        made = []
        for index, snapshot in enumerate(self.snapshots):
            data = snapshot.to_json()
            if index < len(self.readers):
                data["reads"] = self.readers[index].counted()
            made.append(data)
        return made

    def close(self) -> None:
        for reader in self.readers:
            reader.close()


class VolumeSnapshots(Protocol):
    def take(
        self, scan_id: str, instance: Instance, volumes: Sequence[Volume], left_out: Sequence[Volume]
    ) -> Taken:
        """Snapshot `volumes` (not `left_out`: their KMS key is excluded), tagged with the scan."""
        ...

    def delete(self, scan_id: str) -> None: ...

    def sweep(self, running: Collection[str]) -> list[str]: ...


class LocalSnapshots:
    """A local fleet's disk images (`SnapshotStore`)."""

    def __init__(self, store: SnapshotStore) -> None:
        self.store = store

    def take(
        self, scan_id: str, instance: Instance, volumes: Sequence[Volume], left_out: Sequence[Volume]
    ) -> Taken:
        taken = self.store.take(scan_id, volumes)
        return Taken(taken, [s.path for s in taken])

    def delete(self, scan_id: str) -> None:
        self.store.delete(scan_id)

    def sweep(self, running: Collection[str]) -> list[str]:
        return self.store.sweep(running)


class _WatchedBlocks(io.RawIOBase):
    """A snapshot's block reader that remembers the first read it could not do: the image stack may take
    an unreadable block for a damaged file and go on, and the scan must not."""

    def __init__(self, reader: Any) -> None:
        super().__init__()
        self.reader = reader
        self.name = getattr(reader, "name", None) or "snapshot"
        self._failure: str | None = None

    @property
    def failure(self) -> str | None:
        """The first read it could not do (its own, or one the reader met fetching ahead)."""
        inner = getattr(self.reader, "failure", None)
        return self._failure or (str(inner) if inner is not None else None)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return int(self.reader.seek(offset, whence))

    def tell(self) -> int:
        return int(self.reader.tell())

    def readinto(self, buffer: Any) -> int:
        try:
            return int(self.reader.readinto(buffer))
        except OSError as exc:
            self._failure = self._failure or str(exc)
            raise

    def read(self, size: int = -1) -> bytes:
        try:
            data: bytes = self.reader.read(size)
        except OSError as exc:
            self._failure = self._failure or str(exc)
            raise
        return data

    def counted(self) -> dict[str, Any]:
        """What reading it cost so far (`BlockStats`: requests, blocks and bytes fetched, …)."""
        stats = getattr(self.reader, "stats", None)
        return (
            dataclasses.asdict(stats)
            if dataclasses.is_dataclass(stats) and not isinstance(stats, type)
            else {}
        )

    def close(self) -> None:
        try:
            self.reader.close()
        finally:
            super().close()


class EbsSnapshots:
    """An AWS account's EBS snapshots (its provider's credentials and regions)."""

    def __init__(self, provider: Any, wait: tuple[float, Callable[[float], None]] | None = None) -> None:
        from vigil.fleet.providers.aws.snapshots import AwsSnapshots

        self.access = provider.access
        self.snapshots = AwsSnapshots(provider.access, provider.access.regions)
        if wait is not None:  # how long snapshots may take to complete, and how to wait (tests)
            self.snapshots.wait_limit, self.snapshots.sleep = wait

    def take(
        self, scan_id: str, instance: Instance, volumes: Sequence[Volume], left_out: Sequence[Volume]
    ) -> Taken:
        from vigil.fleet.providers.aws.blocks import SnapshotBlocks

        region = instance.region or self.access.regions[0]
        excluded = {v.volume_id for v in left_out}
        made = self.snapshots.take(scan_id, instance.instance_id, region, instance.volumes, excluded)
        taken = Taken([], [])
        try:
            ebs = self.access.client("ebs", region)
            for snapshot in made:
                reader = _WatchedBlocks(SnapshotBlocks(ebs, snapshot.snapshot_id, name=snapshot.snapshot_id))
                taken.readers.append(reader)
                taken.sources.append(reader)  # type: ignore[arg-type]  # a seekable binary reader
                taken.snapshots.append(
                    Snapshot(snapshot.volume_id, snapshot.device, snapshot.snapshot_id, "ebs-snapshot")
                )
        except BaseException:
            taken.close()
            raise
        return taken

    def delete(self, scan_id: str) -> None:
        self.snapshots.delete(scan_id)

    def sweep(self, running: Collection[str]) -> list[str]:
        return self.snapshots.sweep(running)


class SnapshotStores:
    """Every source of snapshots of a server: the local store, and each account's AWS provider."""

    def __init__(self, sessions: sessionmaker[Session], local: SnapshotStore) -> None:
        self.sessions = sessions
        self.local = LocalSnapshots(local)
        self.aws_wait: tuple[float, Callable[[float], None]] | None = None  # None: AwsSnapshots' own

    def for_instance(self, instance: Instance) -> VolumeSnapshots:
        if instance.provider != AWS:
            return self.local
        provider = self._aws(instance.account_id)
        if provider is None:
            raise LookupError(f"account {instance.account_id} has no aws provider any more")
        return EbsSnapshots(provider, self.aws_wait)

    def _aws(self, account_id: str) -> Any:
        with self.sessions() as session:
            row = session.get(ProviderRow, (account_id, AWS))
            config = dict(row.config) if row is not None else None
        if config is None:
            return None
        from vigil.fleet.providers import provider_for

        return provider_for(AWS, config)

    def delete(self, scan_id: str, instance: Instance | None) -> None:
        """Delete the scan's snapshots (the local folder in any case: nothing there is harmless)."""
        self.local.delete(scan_id)
        if instance is not None and instance.provider == AWS:
            provider = self._aws(instance.account_id)
            if provider is not None:
                EbsSnapshots(provider).delete(scan_id)

    def sweep(self, running: Collection[str]) -> list[str]:
        """Delete every snapshot, local or in any account's AWS regions, whose scan is not running."""
        swept = list(self.local.sweep(running))
        with self.sessions() as session:
            configs = [
                dict(r.config) for r in session.scalars(select(ProviderRow).where(ProviderRow.kind == AWS))
            ]
        from vigil.fleet.providers import provider_for

        for config in configs:
            try:
                swept += EbsSnapshots(provider_for(AWS, config)).sweep(running)
            except Exception:  # one account's credentials or endpoint: the others are swept all the same
                log.exception("sweeping the EBS snapshots of an aws provider failed (tried again next sweep)")
        return sorted(set(swept))
