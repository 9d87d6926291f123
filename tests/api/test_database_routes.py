"""The Vigil API's advisory database routes on a live server whose feeds file names a real feed (CISA KEV
records) served over loopback: status, feeds, an update now; JSON in Inspector's error shape."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.advisories.feedserver import FeedServer
from tests.support.server import LiveServer, init_server

KEV = (
    Path(__file__).parents[1]
    / "advisories/importers/fixtures/kev/known_exploited_vulnerabilities.subset.json"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with FeedServer() as feeds:
        url = feeds.serve("/kev.json", KEV)
        directory = tmp_path_factory.mktemp("feeds") / "vigil"
        live = LiveServer(directory, init_server(directory))
        (directory / "feeds.yaml").write_text(
            f"feeds:\n  - {{name: kev, url: '{url}', importer: kev, licence: CC0-1.0, kind: enrichment}}\n"
        )
        live.update_settings(feeds_file=Path("feeds.yaml"))
        live.start()
        yield live
        live.stop()


def test_the_database_status_of_a_new_server_is_version_0_and_empty(server_factory):
    status = server_factory().request("GET", "/vigil/v1/database")
    assert status.status_code == 200
    document = status.json()
    assert document["version"] == 0 and document["sources"] == []
    assert document["counts"]["advisories"] == 0 and document["sizeBytes"] > 0
    releases = {r["namespace"]: r for r in document["releases"]}
    assert releases["amzn:2023"] == {"namespace": "amzn:2023", "name": "Amazon Linux 2023", "covered": False,
                                     "entries": 0}  # fmt: skip


def test_the_management_account_updates_the_feeds_now_and_everyone_sees_the_result(server: LiveServer):
    before = server.request("GET", "/vigil/v1/feeds").json()["feeds"]
    assert [(f["name"], f["importer"], f["source"]) for f in before] == [("kev", "kev", None)]
    updated = server.request("POST", "/vigil/v1/feeds/update", json_body={})
    assert updated.status_code == 200, updated.text
    (result,) = updated.json()["results"]
    assert result["feed"] == "kev" and result["status"] == "updated"
    reader = server.new_account("reader")
    database = server.request("GET", "/vigil/v1/database", keys=reader).json()
    assert updated.json()["version"] == database["version"]
    assert database["counts"]["kev"] == 6
    assert [s["name"] for s in database["sources"]] == ["kev"]
    feeds = server.request("GET", "/vigil/v1/feeds", keys=reader).json()["feeds"]
    assert feeds[0]["source"]["records"] == 6 and feeds[0]["source"]["updatedAt"]
    assert feeds[0]["covers"] == []  # a feeds file's entry names nothing it covers unless it says so


def test_a_feed_the_settings_do_not_name_is_refused_with_its_field(server: LiveServer):
    response = server.request("POST", "/vigil/v1/feeds/update", json_body={"feeds": ["nvd"]})
    assert response.status_code == 400
    assert response.headers["x-amzn-errortype"] == "ValidationException"
    assert response.json()["fields"] == [{"name": "feeds", "message": "no configured feed named nvd"}]


def test_a_body_of_the_wrong_shape_is_a_validation_exception_not_fastapis_own(server: LiveServer):
    response = server.request("POST", "/vigil/v1/feeds/update", json_body={"feeds": "kev"})
    assert response.status_code == 400
    body = response.json()
    assert body["reason"] == "FIELD_VALIDATION_FAILED" and body["fields"][0]["name"] == "feeds"


def test_an_unknown_vigil_route_answers_in_json(server: LiveServer):
    response = server.request("GET", "/vigil/v1/no-such-thing")
    assert response.status_code == 404
    assert response.headers["x-amzn-errortype"] == "UnknownOperationException"
    assert "/vigil/v1/no-such-thing" in response.json()["message"]


def test_the_openapi_document_describes_the_routes_under_their_prefix(server: LiveServer):
    document = server.request("GET", "/vigil/v1/openapi.json").json()
    assert {"/database", "/feeds", "/feeds/update"} <= set(document["paths"])
    assert document["servers"] == [{"url": "/vigil/v1"}]
    schema = document["components"]["schemas"]["DatabaseOut"]["properties"]
    assert "sizeBytes" in schema
