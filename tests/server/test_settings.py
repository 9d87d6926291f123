"""`DIR/vigil.toml`: defaults, durations, paths relative to DIR, keys of later parts kept, errors named."""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path

import pytest

from vigil.server.settings import (
    Listen,
    Settings,
    SettingsError,
    format_duration,
    load_settings,
    parse_duration,
    save_settings,
)


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("15m", 900), ("1h", 3600), ("24h", 86400), ("7d", 604800)]
)
def test_durations_read_and_write_back_as_written(text, seconds):
    assert parse_duration(text) == dt.timedelta(seconds=seconds)
    assert format_duration(parse_duration(text)) == text


@pytest.mark.parametrize("text", ["", "0s", "1.5h", "10", "h", "1 week", "-1h"])
def test_a_duration_is_a_positive_whole_number_of_one_unit(text):
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_a_new_servers_settings_have_the_issues_defaults(tmp_path):
    save_settings(Settings(tmp_path))
    settings = load_settings(tmp_path)
    assert settings.region == "local" and str(settings.listen) == "127.0.0.1:8443"
    assert settings.store_url == f"sqlite:///{tmp_path / 'vigil.db'}"
    assert {k: format_duration(v) for k, v in settings.schedule.items()} == {
        "discovery": "1h",
        "agentless": "24h",
        "feeds": "6h",
        "purge": "1h",
        "reevaluate": "30s",
        "sweep": "1h",
        "reconcile": "30m",  # the agents' associations (issue "Agent-based scanning")
    }
    assert settings.path(settings.advisory_db) == tmp_path / "advisories.db"
    assert (tmp_path / "vigil.toml").stat().st_mode & 0o777 == 0o600


def test_shortened_schedules_and_keys_of_later_parts_are_kept(tmp_path):
    (tmp_path / "vigil.toml").write_text(
        'region = "eu-west-3"\n'
        'network_scan = "24h"\n'
        '[agents]\nstale_after = "7d"\n'
        '[schedule]\nagentless = "30s"\nnetwork = "12h"\n'
    )
    settings = load_settings(tmp_path)
    assert settings.schedule["agentless"] == dt.timedelta(seconds=30)
    assert settings.schedule["network"] == dt.timedelta(hours=12)
    assert settings.schedule["discovery"] == dt.timedelta(hours=1)
    save_settings(settings.replace(listen=Listen.parse("[::1]:9443")))
    again = load_settings(tmp_path)
    assert again.extra == {"network_scan": "24h", "agents": {"stale_after": "7d"}}
    assert again.region == "eu-west-3" and again.listen == Listen("::1", 9443)
    assert again.schedule == settings.schedule


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ('[schedule]\nfeeds = "often"\n', "schedule.feeds"),
        ('region = "EU West"\n', "region"),
        ('listen = "8443"\n', "listen"),
        ("region = 3\n", "region"),
        ("schedule = 5\n", "[schedule]"),
        ("region = [", "not valid TOML"),
    ],
)
def test_a_wrong_setting_is_named_with_its_file(tmp_path, content, named):
    (tmp_path / "vigil.toml").write_text(content)
    with pytest.raises(SettingsError) as excinfo:
        load_settings(tmp_path)
    assert str(tmp_path / "vigil.toml") in str(excinfo.value) and named in str(excinfo.value)


def test_a_directory_without_settings_says_so(tmp_path):
    with pytest.raises(SettingsError, match="vigil server init"):
        load_settings(tmp_path / "nothing")


@pytest.mark.parametrize(
    ("text", "loopback"),
    [("127.0.0.1:8443", True), ("127.0.0.2:1", True), ("localhost:80", True), ("[::1]:8443", True),
     ("0.0.0.0:8443", False), ("192.0.2.10:8443", False), ("vigil.example:8443", False)],
)  # fmt: skip
def test_loopback_addresses_are_recognised(text, loopback):
    assert Listen.parse(text).loopback is loopback


def test_paths_may_be_absolute(tmp_path):
    elsewhere = Path("/var/lib/vigil/advisories.db")
    save_settings(Settings(tmp_path, advisory_db=elsewhere))
    settings = load_settings(tmp_path)
    assert settings.path(settings.advisory_db) == elsewhere


def test_a_wildcard_listen_address_is_reached_by_this_hosts_name():
    assert Listen.parse("0.0.0.0:8443").url() == f"https://{socket.gethostname()}:8443"
    assert Listen.parse("[::1]:8443").url("http", port=9) == "http://[::1]:9"


def test_an_nvd_api_key_in_the_settings_reaches_the_nvd_updater(tmp_path):
    from vigil.advisories.feeds import NVD_UPDATER, feed_updaters

    save_settings(Settings(tmp_path, nvd_api_key="k-123"))
    settings = load_settings(tmp_path)
    assert settings.nvd_api_key == "k-123"
    updater = feed_updaters(settings.nvd_api_key)[NVD_UPDATER]
    assert updater.options.api_key == "k-123"  # type: ignore[attr-defined]
    assert load_settings(tmp_path).replace(nvd_api_key=None).nvd_api_key is None
