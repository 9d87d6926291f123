"""The agent's state directory: its identity, the server's pinned certificate, and per inventory kind the
last inventory the server accepted (the base of the next diff) and the one still to deliver.

Only the agent reads it, so the directory is 0700 and every file 0600; each file is written whole to a
temporary file and renamed over the old one, so a crash or a full disk never leaves half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vigil.agent import protocol

DEFAULT_STATE_DIR = Path("/var/lib/vigil-agent")
IDENTITY_FILE = "identity.json"
CERTIFICATE_FILE = "server.pem"
SCHEDULE_FILE = "schedule.json"
KINDS = (protocol.OS_KIND, protocol.FULL_KIND)


class StateError(Exception):
    """The state directory cannot be used (unreadable, corrupt, not registered)."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the agent is to its server, and how it knows the server: `fingerprint` is the SHA-256 of the
    DER leaf certificate pinned at registration, `public_key` that of its public key (both None for a
    plain-HTTP loopback server)."""

    agent_id: str
    instance_id: str
    account_id: str
    secret: str
    server_url: str
    fingerprint: str | None
    public_key: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> Identity:
        """ValueError when `data` is not an identity."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        text_fields = ("agent_id", "instance_id", "account_id", "secret", "server_url")
        for name in text_fields:
            if not isinstance(data.get(name), str) or not data[name]:
                raise ValueError(f"{name}: missing or not a string")
        for name in ("fingerprint", "public_key"):
            if data.get(name) is not None and not isinstance(data[name], str):
                raise ValueError(f"{name}: not a string")
        return cls(
            agent_id=data["agent_id"],
            instance_id=data["instance_id"],
            account_id=data["account_id"],
            secret=data["secret"],
            server_url=data["server_url"],
            fingerprint=data.get("fingerprint"),
            public_key=data.get("public_key"),
        )


@dataclass(frozen=True, slots=True)
class StoredInventory:
    """An inventory document and its content hash, as kept on disk."""

    kind: str
    content_hash: str
    document: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "contentHash": self.content_hash, "document": self.document}


class StateDir:
    """The files of one agent's state directory."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def ensure(self) -> None:
        """Create the directory (0700) if needed and make sure only its owner can enter it."""
        try:
            self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(self.path, 0o700)
        except OSError as exc:
            raise StateError(f"{self.path}: {exc.strerror or exc}") from None

    # -- identity ---------------------------------------------------------------------------------
    def has_identity(self) -> bool:
        return (self.path / IDENTITY_FILE).exists()

    def load_identity(self) -> Identity:
        path = self.path / IDENTITY_FILE
        if not path.exists():
            raise StateError(f"{self.path}: not registered (run `vigil agent register` first)")
        try:
            return Identity.from_json(self._read_json(IDENTITY_FILE))
        except ValueError as exc:
            raise StateError(
                f"{path}: not a valid agent identity ({exc}); register again with --force"
            ) from None

    def save_identity(self, identity: Identity) -> None:
        self.write_json(IDENTITY_FILE, identity.to_json())

    def save_certificate(self, pem: str) -> None:
        self.write_bytes(CERTIFICATE_FILE, pem.encode())

    # -- inventories ------------------------------------------------------------------------------
    def accepted(self, kind: str) -> StoredInventory | None:
        """The last inventory of this kind the server accepted."""
        return self._inventory(_accepted_file(kind), kind)

    def pending(self, kind: str) -> StoredInventory | None:
        """The inventory of this kind still to deliver."""
        return self._inventory(_pending_file(kind), kind)

    def set_pending(self, inventory: StoredInventory) -> None:
        """Keep `inventory` to deliver, replacing an older one of its kind."""
        self.write_json(_pending_file(inventory.kind), inventory.to_json())

    def drop_pending(self, kind: str) -> None:
        self._remove(_pending_file(kind))

    def mark_accepted(self, kind: str) -> None:
        """The pending inventory of this kind was accepted: it becomes the base of the next diff."""
        try:
            os.replace(self.path / _pending_file(kind), self.path / _accepted_file(kind))
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StateError(f"{self.path}: {exc.strerror or exc}") from None
        _sync_dir(self.path)

    def forget_inventories(self) -> None:
        """A new identity: the server knows none of the inventories kept for the old one."""
        for kind in KINDS:
            self._remove(_pending_file(kind))
            self._remove(_accepted_file(kind))
        self._remove(SCHEDULE_FILE)

    # -- when each kind was last collected (wall-clock seconds), so a restart keeps the schedule ------
    def last_collected(self) -> dict[str, float]:
        try:
            data = self._read_json(SCHEDULE_FILE)
        except (OSError, StateError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {k: float(v) for k, v in data.items() if k in KINDS and isinstance(v, int | float)}

    def save_last_collected(self, times: dict[str, float]) -> None:
        self.write_json(SCHEDULE_FILE, times)

    # -- files ------------------------------------------------------------------------------------
    def write_json(self, name: str, data: Any) -> None:
        self.write_bytes(name, json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode())

    def write_bytes(self, name: str, content: bytes) -> None:
        """Write `name` atomically, mode 0600."""
        self.ensure()
        fd, temporary = tempfile.mkstemp(prefix=f".{name}.", dir=self.path)  # mkstemp makes it 0600
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(content)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, self.path / name)
        except OSError as exc:
            try:
                os.unlink(temporary)
            except OSError:
                pass
            raise StateError(f"{self.path / name}: {exc.strerror or exc}") from None
        _sync_dir(self.path)

    def _read_json(self, name: str) -> Any:
        path = self.path / name
        try:
            return json.loads(path.read_bytes())
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise StateError(f"{path}: {exc.strerror or exc}") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not JSON: {exc}") from None

    def _inventory(self, name: str, kind: str) -> StoredInventory | None:
        try:
            data = self._read_json(name)
        except FileNotFoundError:
            return None
        except ValueError:
            data = None
        valid = (
            isinstance(data, dict)
            and data.get("kind") == kind
            and isinstance(data.get("contentHash"), str)
            and isinstance(data.get("document"), dict)
        )
        if not valid:  # a damaged copy is worth less than none: the next collection replaces it
            self._remove(name)
            return None
        assert isinstance(data, dict)
        return StoredInventory(kind, data["contentHash"], data["document"])

    def _remove(self, name: str) -> None:
        try:
            os.unlink(self.path / name)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StateError(f"{self.path / name}: {exc.strerror or exc}") from None


def _accepted_file(kind: str) -> str:
    return f"accepted-{kind}.json"


def _pending_file(kind: str) -> str:
    return f"pending-{kind}.json"


def _sync_dir(path: Path) -> None:
    """Make a rename durable."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
