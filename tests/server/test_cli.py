"""`vigil server init` and `vigil server account create` as users run them: JSON out, refusals as one line."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

from cryptography import x509
from tests.support.cli import vigil

from vigil.server.settings import load_settings

KEYS = {"accountId", "accessKeyId", "secretAccessKey", "region", "endpoint", "caCert"}


def test_init_makes_a_server_and_prints_its_first_accounts_keys(tmp_path):
    directory = tmp_path / "vigil"
    printed = json.loads(vigil("server", "init", str(directory)).stdout)
    assert set(printed) == KEYS
    assert len(printed["accountId"]) == 12 and printed["accountId"].isdigit()
    assert printed["region"] == "local" and printed["endpoint"] == "https://127.0.0.1:8443"
    ssl.create_default_context(cafile=printed["caCert"])  # a certificate a client can trust
    certificate = x509.load_pem_x509_certificate(Path(printed["caCert"]).read_bytes())
    assert "127.0.0.1" in {str(a) for a in certificate.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value.get_values_for_type(x509.IPAddress)}  # fmt: skip
    for name in ("vigil.toml", "vigil.db", "advisories.db", "secrets.key", "exports", "snapshots"):
        assert (directory / name).exists(), name
    for secret in ("secrets.key", "tls/private-key.pem", "vigil.toml"):
        assert (directory / secret).stat().st_mode & 0o077 == 0, secret
    assert printed["secretAccessKey"] not in (directory / "vigil.db").read_bytes().decode("latin-1")


def test_init_takes_a_region(tmp_path):
    printed = json.loads(vigil("server", "init", str(tmp_path / "v"), "--region", "eu-west-3").stdout)
    assert printed["region"] == "eu-west-3" and load_settings(tmp_path / "v").region == "eu-west-3"


def test_init_refuses_an_existing_directory_and_leaves_it_alone(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    result = vigil("server", "init", str(tmp_path), check=False)
    assert result.returncode == 1 and "refusing to overwrite" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["precious.txt"]


def test_init_into_an_empty_directory_is_fine(tmp_path):
    assert json.loads(vigil("server", "init", str(tmp_path)).stdout)["accountId"]


def test_a_failed_init_leaves_nothing_behind(tmp_path):
    for args in (["--region", "Mars Base"], ["--database-url", "mysql://db.example.invalid/vigil"]):
        result = vigil("server", "init", str(tmp_path / "v"), *args, check=False)
        assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
        assert not (tmp_path / "v").exists()


def test_init_refuses_a_store_that_already_holds_a_servers_accounts(tmp_path, database_url):
    # trust authentication takes any password: the message must not repeat it
    database_url = database_url.replace("//postgres@", "//postgres:hunter2@")
    first = vigil("server", "init", str(tmp_path / "one"), "--database-url", database_url)
    assert json.loads(first.stdout)["accountId"]
    second = vigil("server", "init", str(tmp_path / "two"), "--database-url", database_url, check=False)
    assert second.returncode == 1 and "holds a server's accounts already" in second.stderr
    assert not (tmp_path / "two").exists()
    assert "hunter2" not in second.stderr


def test_account_create_prints_the_same_json_for_a_new_account(tmp_path):
    first = json.loads(vigil("server", "init", str(tmp_path / "v")).stdout)
    second = json.loads(vigil("server", "account", "create", str(tmp_path / "v"), "--name", "web").stdout)
    assert set(second) == KEYS and second["accountId"] != first["accountId"]
    assert {k: second[k] for k in ("region", "endpoint", "caCert")} == {
        k: first[k] for k in ("region", "endpoint", "caCert")
    }


def test_account_create_refuses_a_blank_name_and_a_directory_that_is_no_server(tmp_path):
    vigil("server", "init", str(tmp_path / "v"))
    blank = vigil("server", "account", "create", str(tmp_path / "v"), "--name", "  ", check=False)
    assert blank.returncode == 1 and "--name" in blank.stderr
    nowhere = vigil("server", "account", "create", str(tmp_path / "nothing"), "--name", "x", check=False)
    assert nowhere.returncode == 1 and "vigil server init" in nowhere.stderr


def test_run_refuses_plain_http_off_loopback(tmp_path):
    vigil("server", "init", str(tmp_path / "v"))
    for listen in ("0.0.0.0:0", "192.0.2.10:8443"):
        result = vigil("server", "run", str(tmp_path / "v"), "--listen", listen, "--http", check=False)
        assert result.returncode == 1 and "not a loopback address" in result.stderr


def test_run_names_a_wrong_setting(tmp_path):
    vigil("server", "init", str(tmp_path / "v"))
    toml = tmp_path / "v" / "vigil.toml"
    toml.write_text(toml.read_text().replace('feeds = "6h"', 'feeds = "six hours"'))
    result = vigil("server", "run", str(tmp_path / "v"), check=False)
    assert result.returncode == 1 and "schedule.feeds" in result.stderr
