"""The collection configuration a heartbeat gives, and the collections themselves."""

from __future__ import annotations

import pytest

from vigil.agent.collect import CollectionConfig, Interrupted, InventoryCollector


def test_the_heartbeat_s_configuration_is_read():
    config = CollectionConfig.from_heartbeat(
        {"os": {"every": 1800}, "full": {"every": 7200, "paths": ["/opt/app", "/home/svc"]}}
    )
    assert config == CollectionConfig(1800, 7200, ("/opt/app", "/home/svc"))
    assert CollectionConfig.from_heartbeat({"os": None, "full": None}) == CollectionConfig(None, None, ())


def test_schedules_have_floors_against_a_broken_answer():
    config = CollectionConfig.from_heartbeat({"os": {"every": 1}, "full": {"every": 600, "paths": []}})
    assert (config.os_every, config.full_every) == (60, 1800)


@pytest.mark.parametrize(
    "collect",
    [None, [], {"os": {"every": "soon"}, "full": None}, {"os": {"every": True}, "full": None},
     {"os": None, "full": {"every": 3600, "paths": "/opt"}}, {"os": {"every": -5}, "full": None}],
)  # fmt: skip
def test_an_unusable_configuration_is_refused(collect):
    with pytest.raises(ValueError):
        CollectionConfig.from_heartbeat(collect)


def test_unusable_custom_paths_are_left_out(rootfs, caplog):
    full = InventoryCollector(str(rootfs)).collect("full", ["opt/shop", "/opt/shop", "/" + "x" * 300])
    assert any(p.get("name") == "qs" for p in full.document["packages"])
    assert "'opt/shop' left out" in caplog.text


def test_a_stopping_agent_abandons_a_deep_inspection():
    with pytest.raises(Interrupted):
        InventoryCollector("/").collect("full", (), should_stop=lambda: True)


def test_the_os_kind_walks_nothing(rootfs):
    inventory = InventoryCollector(str(rootfs)).collect("os", should_stop=lambda: True)
    assert inventory.document["stats"]["walked"] is False
    assert {p["name"] for p in inventory.document["packages"]} >= {"openssl", "apache2"}
