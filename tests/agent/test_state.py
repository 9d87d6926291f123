"""The state directory: only the agent can read it, a write is whole or not at all, damage is named."""

from __future__ import annotations

import os
import stat

import pytest
from tests.support.cli import vigil

from vigil.agent.state import Identity, StateDir, StateError, StoredInventory

IDENTITY = Identity(
    "agent-1", "i-0123456789abcdef0", "111122223333", "s3cret", "https://127.0.0.1:8443", "ab" * 32
)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_directory_is_0700_and_every_file_0600(tmp_path):
    state = StateDir(tmp_path / "state")
    state.save_identity(IDENTITY)
    state.save_certificate("-----BEGIN CERTIFICATE-----\n")
    state.set_pending(StoredInventory("os", "h1", {"packages": []}))
    state.mark_accepted("os")
    assert _mode(state.path) == 0o700
    files = list(state.path.iterdir())
    assert {f.name for f in files} == {"identity.json", "server.pem", "accepted-os.json"}
    assert all(_mode(f) == 0o600 for f in files)


def test_an_existing_directory_open_to_others_is_closed(tmp_path):
    (tmp_path / "state").mkdir(mode=0o755)
    StateDir(tmp_path / "state").ensure()
    assert _mode(tmp_path / "state") == 0o700


def test_the_identity_reads_back(tmp_path):
    state = StateDir(tmp_path / "state")
    state.save_identity(IDENTITY)
    assert state.load_identity() == IDENTITY


def test_a_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    state = StateDir(tmp_path / "state")
    state.save_identity(IDENTITY)

    def full_disk(_fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(StateError, match="No space left on device"):
        state.save_identity(Identity("agent-2", "i-2", "2", "x", "https://127.0.0.1:1", None))
    monkeypatch.undo()
    assert state.load_identity() == IDENTITY
    assert [f.name for f in state.path.iterdir()] == ["identity.json"]


@pytest.mark.parametrize("content", [b"{not json", b'{"agent_id": "a"}', b"[1, 2]", b"\xff\xfe"])
def test_a_corrupt_identity_is_named_with_what_to_do(tmp_path, content):
    state = StateDir(tmp_path / "state")
    state.ensure()
    (state.path / "identity.json").write_bytes(content)
    with pytest.raises(
        StateError, match=r"identity.json: not a valid agent identity .*register again with --force"
    ):
        state.load_identity()


def test_running_with_a_corrupt_identity_is_one_clear_line(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / "identity.json").write_text("{")
    result = vigil("agent", "run", "--state", state, "--root", tmp_path, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("vigil: ") and "not a valid agent identity" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_running_unregistered_says_to_register(tmp_path):
    result = vigil("agent", "run", "--state", tmp_path / "none", "--root", tmp_path, check=False)
    assert result.returncode == 1 and "not registered (run `vigil agent register` first)" in result.stderr


def test_a_damaged_pending_inventory_is_dropped_not_fatal(tmp_path):
    state = StateDir(tmp_path / "state")
    state.ensure()
    (state.path / "pending-os.json").write_text('{"kind": "os", "contentHash": ')
    assert state.pending("os") is None
    assert not (state.path / "pending-os.json").exists()


def test_a_newer_pending_inventory_replaces_the_older_and_acceptance_makes_it_the_base(tmp_path):
    state = StateDir(tmp_path / "state")
    state.set_pending(StoredInventory("full", "old", {"packages": [1]}))
    state.set_pending(StoredInventory("full", "new", {"packages": [2]}))
    assert state.pending("full") == StoredInventory("full", "new", {"packages": [2]})
    state.mark_accepted("full")
    assert state.pending("full") is None
    assert state.accepted("full") == StoredInventory("full", "new", {"packages": [2]})
    assert state.accepted("os") is None


def test_forgetting_the_inventories_keeps_the_identity(tmp_path):
    state = StateDir(tmp_path / "state")
    state.save_identity(IDENTITY)
    state.set_pending(StoredInventory("os", "a", {}))
    state.save_last_collected({"os": 5.0})
    state.forget_inventories()
    assert state.pending("os") is None and state.last_collected() == {}
    assert state.load_identity() == IDENTITY
