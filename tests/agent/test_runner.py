"""The agent's loop, driven by a fake clock: heartbeats, schedules, change-triggered collections, delivery
(whole, diff, unchanged), the server down and back, restarts, exclusion, secret rotation, refusals."""

from __future__ import annotations

import pytest
from tests.agent.fakes import IDENTITY, FakeClient, FakeClock, FakeCollector, FakeWatcher

from vigil.agent.backoff import Backoff
from vigil.agent.runner import AgentFatal, AgentRunner
from vigil.agent.state import StateDir
from vigil.agent.transport import CertificateError, ServerError


class Agent:
    """A runner and its fakes, sharing one state directory across restarts."""

    def __init__(self, tmp_path, client: FakeClient | None = None, clock: FakeClock | None = None) -> None:
        self.state = StateDir(tmp_path / "state")
        if not self.state.has_identity():
            self.state.save_identity(IDENTITY)
        self.clock = clock or FakeClock()
        self.client = client or FakeClient()
        self.collector = FakeCollector()
        self.watcher = FakeWatcher(self.clock)
        self.runner = AgentRunner(
            identity=self.state.load_identity(), state=self.state, client=self.client, collector=self.collector,
            watcher=self.watcher, clock=self.clock, backoff=Backoff(random=lambda: 0.0),
        )  # fmt: skip

    def run_for(self, seconds: float) -> None:
        """Steps and waits until `seconds` of fake time have passed."""
        end = self.clock.now + seconds
        while self.clock.now < end:
            self.runner.step()
            self.runner.wait()

    def restart(self, tmp_path) -> Agent:
        return Agent(tmp_path, self.client, self.clock)


def _kinds(payloads):
    return [(p["kind"], "unchanged" if p.get("unchanged") else "diff" if "packageEdits" in p else "whole")
            for p in payloads]  # fmt: skip


def test_the_first_step_heartbeats_then_collects_and_delivers_both_kinds_whole(tmp_path):
    agent = Agent(tmp_path)
    agent.runner.step()
    assert [name for name, _ in agent.client.calls] == ["heartbeat", "inventory", "inventory"]
    assert agent.client.sent("heartbeat")[0]["inventory"] == {"os": None, "full": None}
    assert _kinds(agent.client.sent()) == [("os", "whole"), ("full", "whole")]
    assert agent.state.pending("os") is None and agent.state.accepted("os") is not None


def test_heartbeats_every_minute_and_report_the_accepted_hashes(tmp_path):
    agent = Agent(tmp_path)
    agent.run_for(301)
    beats = agent.client.sent("heartbeat")
    assert len(beats) == 6  # t = 0, 60, …, 300
    assert beats[-1]["inventory"] == agent.client.accepted


def test_collections_follow_the_schedules_the_heartbeat_gives(tmp_path):
    agent = Agent(tmp_path)
    agent.client.heartbeat_answer["collect"] = {
        "os": {"every": 600},
        "full": {"every": 3600, "paths": ["/opt/app"]},
    }
    agent.run_for(3600 + 1)
    assert agent.runner.collections == {("os", "schedule"): 7, ("full", "schedule"): 2}
    assert ("full", ("/opt/app",)) in agent.collector.calls


def test_deep_inspection_off_collects_no_language_packages(tmp_path):
    agent = Agent(tmp_path)
    agent.client.heartbeat_answer["collect"] = {"os": {"every": 1800}, "full": None}
    agent.run_for(7200)
    assert {kind for kind, _ in agent.collector.calls} == {"os"}


def test_a_deep_inspection_schedule_under_30_minutes_is_raised_to_30(tmp_path):
    agent = Agent(tmp_path)
    agent.client.heartbeat_answer["collect"] = {"os": None, "full": {"every": 60, "paths": []}}
    agent.run_for(3600)
    assert agent.runner.collections == {("full", "schedule"): 2}


def test_an_unchanged_inventory_on_schedule_is_sent_as_unchanged(tmp_path):
    agent = Agent(tmp_path)
    agent.run_for(1800 + 1)
    assert _kinds(agent.client.sent()) == [("os", "whole"), ("full", "whole"), ("os", "unchanged")]
    unchanged = agent.client.sent()[-1]
    assert set(unchanged) == {"kind", "contentHash", "unchanged"}


def test_a_package_change_is_reported_once_shortly_after_the_last_write(tmp_path):
    agent = Agent(tmp_path)
    agent.run_for(100)
    agent.collector.packages["os"].append("nginx")
    agent.watcher.changes = [200.0 + agent.clock.now, 200.5 + agent.clock.now, 201.0 + agent.clock.now]
    start = agent.clock.now
    agent.run_for(400)
    assert agent.runner.collections[("os", "change")] == 1
    diff = agent.client.sent()[-1]
    assert _kinds([diff]) == [("os", "diff")]
    assert diff["packageEdits"][-1] == ["+", [{"name": "nginx", "version": "1"}]]
    assert agent.client.accepted["os"] == diff["contentHash"]
    assert start + 203.0 <= agent.runner._last_collected["os"] <= start + 205.0


def test_a_change_that_changes_nothing_is_not_sent(tmp_path):
    agent = Agent(tmp_path)
    agent.run_for(100)
    sent = len(agent.client.sent())
    agent.watcher.changes = [agent.clock.now + 10]
    agent.run_for(100)
    assert agent.runner.collections[("os", "change")] == 1
    assert len(agent.client.sent()) == sent


def test_excluded_stops_collecting_but_not_heartbeating(tmp_path):
    agent = Agent(tmp_path)
    agent.client.heartbeat_answer["excluded"] = True
    agent.watcher.changes = [agent.clock.now + 30]
    agent.run_for(4 * 3600)
    assert agent.collector.calls == [] and agent.client.sent() == []
    assert len(agent.client.sent("heartbeat")) > 200
    agent.client.heartbeat_answer["excluded"] = False
    agent.run_for(120)
    assert {kind for kind, _ in agent.collector.calls} == {"os", "full"}


def test_the_server_down_keeps_the_latest_inventory_and_backs_off_until_it_is_back(tmp_path):
    agent = Agent(tmp_path)
    agent.client.down = True
    agent.run_for(4 * 1800 + 1)  # no heartbeat answered: the default schedules
    assert agent.runner.collections == {("os", "schedule"): 5, ("full", "schedule"): 1}
    assert agent.state.pending("os") is not None and agent.client.calls == []
    # backing off 1, 1, 2, … 128 s, then 150 s (the jitter draws its lowest): not a heartbeat a minute
    assert 50 <= agent.client.attempts <= 60
    agent.collector.packages["os"].append("nginx")
    agent.watcher.changes = [agent.clock.now + 5]
    agent.run_for(60)
    latest = agent.state.pending("os")
    agent.client.down = False
    agent.run_for(301)
    assert _kinds(agent.client.sent()) == [("os", "whole"), ("full", "whole")]  # only the newest, once
    assert agent.client.sent()[0]["contentHash"] == latest.content_hash
    assert agent.state.pending("os") is None


def test_a_pending_inventory_survives_a_restart_and_is_delivered_once(tmp_path):
    agent = Agent(tmp_path)
    agent.client.down = True
    agent.run_for(10)
    pending = agent.state.pending("os")
    assert pending is not None
    restarted = agent.restart(tmp_path)
    restarted.client.down = False
    restarted.run_for(10)
    assert restarted.collector.calls == []  # the schedule survived the restart too
    assert [p["contentHash"] for p in restarted.client.sent() if p["kind"] == "os"] == [pending.content_hash]
    restarted.run_for(600)
    assert len(restarted.client.sent()) == 2


def test_a_diff_refused_for_its_base_is_sent_whole_once(tmp_path):
    agent = Agent(tmp_path)
    agent.run_for(10)
    agent.client.accepted["os"] = "something-else"  # the server lost track of the base
    agent.collector.packages["os"].append("nginx")
    agent.watcher.changes = [agent.clock.now + 5]
    agent.run_for(30)
    assert _kinds(agent.client.sent())[-2:] == [("os", "diff"), ("os", "whole")]
    assert agent.state.pending("os") is None


def test_unchanged_refused_as_unknown_content_is_sent_whole(tmp_path):
    agent = Agent(tmp_path)
    agent.run_for(10)
    agent.client.contents.clear()
    agent.run_for(1800)
    assert _kinds(agent.client.sent())[-2:] == [("os", "unchanged"), ("os", "whole")]


def test_an_inventory_the_server_refuses_for_itself_is_dropped(tmp_path, caplog):
    agent = Agent(tmp_path)
    agent.client.failures = [ServerError(400, "ValidationException", "bad inventory")]
    agent.runner._next_heartbeat = float("inf")
    agent.run_for(10)
    assert agent.state.pending("os") is None and "os" not in agent.client.accepted
    assert "full" in agent.client.accepted  # the next inventory went on
    assert "refused, dropped" in caplog.text and "ValidationException" in caplog.text
    assert agent.runner.backoff.failures == 0


def test_a_server_error_keeps_the_inventory_for_later(tmp_path):
    agent = Agent(tmp_path)
    agent.client.failures = [ServerError(503, "ServiceUnavailable", "busy")]
    agent.runner._next_heartbeat = float("inf")
    agent.run_for(5)
    assert agent.client.accepted == {
        "os": agent.state.accepted("os").content_hash,
        "full": agent.state.accepted("full").content_hash,
    }
    assert len(agent.client.sent()) == 3  # os refused with 503, then both delivered after the backoff


def test_rotate_secret_stores_the_new_secret_and_uses_it(tmp_path):
    agent = Agent(tmp_path)
    agent.client.heartbeat_answer["rotateSecret"] = True
    agent.runner.step()
    assert agent.client.rotations == 1
    assert agent.state.load_identity().secret == "new-secret-1" == agent.client.used_secret
    assert agent.runner.identity.secret == "new-secret-1"


def test_a_skewed_clock_is_said_clearly_and_retried_forever(tmp_path, caplog):
    agent = Agent(tmp_path)
    agent.client.failures = [ServerError(401, "RequestTimeTooSkewed", "skew")] * 20
    agent.client.heartbeat_answer["collect"] = {"os": None, "full": None}
    agent.run_for(3 * 3600)
    assert "clock differs from the server's by more than 5 minutes" in caplog.text
    assert agent.runner.heartbeats > 0


def test_a_server_that_keeps_refusing_the_agent_stops_it_after_retries(tmp_path, caplog):
    agent = Agent(tmp_path)
    agent.client.failures = [ServerError(401, "InvalidSignature", "no")] * 5
    agent.client.heartbeat_answer["collect"] = {"os": None, "full": None}
    with pytest.raises(AgentFatal, match="InvalidSignature"):
        agent.run_for(3600)
    assert len(agent.client.sent("heartbeat")) == 5


def test_a_refusal_then_a_success_starts_the_count_again(tmp_path):
    agent = Agent(tmp_path)
    agent.client.failures = [ServerError(401, "UnknownAgent", "no")] * 4
    agent.client.heartbeat_answer["collect"] = {"os": None, "full": None}
    agent.run_for(3600)
    agent.client.failures = [CertificateError("another certificate")] * 4
    agent.run_for(3600)
    assert agent.runner.heartbeats > 40


def test_stop_ends_the_run(tmp_path):
    agent = Agent(tmp_path)
    waits = []

    def stop_after_three() -> None:
        waits.append(1)
        if len(waits) == 3:
            agent.runner.stop()

    agent.watcher.on_wait = stop_after_three
    agent.runner.run()
    assert agent.runner.stopping and len(waits) == 3


class TickingClock(FakeClock):
    """A real clock's habit: never the same reading twice."""

    def __call__(self) -> float:
        self.now += 1e-6
        return self.now


def test_a_clock_that_moves_between_two_readings_still_collects_at_start(tmp_path):
    agent = Agent(tmp_path, clock=TickingClock())
    agent.runner.step()
    assert agent.runner.collections == {("os", "schedule"): 1, ("full", "schedule"): 1}
