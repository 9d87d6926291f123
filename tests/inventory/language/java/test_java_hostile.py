"""Java archives as hostile input: bombs, deep nesting, huge directories, damaged and disguised archives."""

import io
import os
import struct
import zipfile

import pytest
from tests.inventory.extracting import RecordingContext, place
from tests.inventory.language.java.jars import SCALIBR, extract, jar, pom

from vigil.fs import LiveFS
from vigil.inventory.extractor import ExtractError, FoundFile
from vigil.inventory.language.java import JavaArchiveExtractor, zipread

SIMPLE = (SCALIBR / "simple.jar").read_bytes()  # com.some.package:package-name 1.2.3


def _zeros_member(name: str, size: int, others: dict[str, bytes] | None = None) -> bytes:
    """An archive with `others`, then a member inflating to `size` zero bytes (written in chunks)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for other, data in (others or {}).items():
            archive.writestr(other, data)
        with archive.open(name, "w") as member:
            chunk = bytes(1 << 20)
            for _ in range(size >> 20):
                member.write(chunk)
    return buffer.getvalue()


def _nested(depth: int, innermost: bytes) -> bytes:
    """`innermost` inside `depth` levels of lib/level-N.jar."""
    content = innermost
    for level in range(depth, 0, -1):
        content = jar({f"lib/level_{level}.jar": content})
    return content


@pytest.mark.timeout(10)
def test_a_zip_bomb_is_refused_without_inflating_it(tmp_path):
    bomb = _zeros_member("META-INF/maven/a/b/pom.properties", 100 << 20)
    assert len(bomb) < 1 << 20
    with pytest.raises(ExtractError, match="104857600 bytes, over the 1048576-byte limit"):
        extract(tmp_path, "/opt/bomb.jar", bomb)


@pytest.mark.timeout(10)
def test_a_member_inflating_past_what_its_header_declares_is_refused(tmp_path):
    content = bytearray(jar({"META-INF/maven/a/b/pom.properties": pom("a", "b", "1") + bytes(4 << 20)}))
    directory = content.rfind(b"PK\x01\x02")
    struct.pack_into("<L", content, directory + 24, 100)  # the central directory's uncompressed size: 100
    with pytest.raises(
        ExtractError, match="inflates past the 1048576-byte limit its header does not declare"
    ):
        extract(tmp_path, "/opt/liar.jar", bytes(content))


@pytest.mark.timeout(10)
def test_a_nested_bomb_is_reported_and_the_rest_of_the_archive_kept(tmp_path):
    own = {"META-INF/maven/com.example/app/pom.properties": pom("com.example", "app", "1.0")}
    app = _zeros_member("lib/b.jar", 48 << 20, own)  # a "jar" inflating 1000:1
    packages, ctx = extract(tmp_path, "/opt/app.jar", app)
    assert [p.name for p in packages] == ["com.example:app"]
    ((where, message),) = ctx.errors
    assert where == "/opt/app.jar"
    assert message.startswith("/opt/app.jar!/lib/b.jar: compressed ") and message.endswith(
        ", an archive bomb?"
    )


@pytest.mark.timeout(10)
def test_a_bomb_among_a_nested_jar_s_other_members_is_never_touched(tmp_path):
    inner = _zeros_member(
        "data/zeros.bin", 32 << 20, {"META-INF/maven/g/inner/pom.properties": pom("g", "inner", "2")}
    )
    packages, ctx = extract(tmp_path, "/opt/app.jar", jar({"lib/inner.jar": inner}))
    assert [p.purl for p in packages] == ["pkg:maven/g/inner@2"]
    assert ctx.errors == []


@pytest.mark.timeout(10)
def test_the_inflate_budget_stops_an_archive_but_keeps_what_was_found(tmp_path, monkeypatch):
    monkeypatch.setattr(zipread, "MAX_INFLATED", 4 << 20)
    inner = jar({"filler.bin": os.urandom(3 << 20)}, zipfile.ZIP_STORED)  # incompressible: a low ratio
    ear = jar({"lib/simple.jar": SIMPLE, **{f"lib/copy_{i}.jar": inner for i in range(10)}})
    packages, ctx = extract(tmp_path, "/opt/big.ear", ear)
    assert [p.name for p in packages] == ["com.some.package:package-name"]
    ((where, message),) = ctx.errors
    assert where == "/opt/big.ear"
    assert (
        message
        == "/opt/big.ear: more than 4194304 bytes to inflate: an archive bomb?; 1 packages found before it are kept"
    )


@pytest.mark.timeout(10)
def test_a_nested_archive_over_the_size_limit_is_reported_not_read(tmp_path, monkeypatch):
    monkeypatch.setattr(zipread, "MAX_NESTED", 1 << 20)
    big = jar({"META-INF/maven/g/big/pom.properties": pom("g", "big", "1"), "blob": os.urandom(2 << 20)})
    packages, ctx = extract(
        tmp_path, "/opt/app.war", jar({"WEB-INF/lib/big.jar": big, "WEB-INF/lib/s.jar": SIMPLE})
    )
    assert [p.name for p in packages] == ["com.some.package:package-name"]
    ((where, message),) = ctx.errors
    assert where == "/opt/app.war"
    assert (
        message.startswith("/opt/app.war!/WEB-INF/lib/big.jar: ") and "over the 1048576-byte limit" in message
    )


@pytest.mark.timeout(10)
@pytest.mark.parametrize("fixture", ["nested_at_10.jar", "nested_at_100.jar"])
def test_scalibr_s_deeply_nested_jars_are_reported_below_three_levels(tmp_path, fixture):
    """osv-scalibr reads nested_at_10 (its bound is 16 levels) and refuses nested_at_100; Vigil stops at 3."""
    packages, ctx = extract(tmp_path, "/opt/deep.jar", (SCALIBR / fixture).read_bytes())
    assert packages == []
    assert ctx.errors == [
        ("/opt/deep.jar", "/opt/deep.jar!/nested.jar!/nested.jar!/nested.jar!/nested.jar: nested more than 3 archives deep; not read")
    ]  # fmt: skip


@pytest.mark.timeout(10)
def test_nesting_is_read_three_levels_deep_and_no_deeper(tmp_path):
    packages, ctx = extract(tmp_path, "/opt/three.jar", _nested(3, SIMPLE))
    assert [p.locations for p in packages] == [
        ("/opt/three.jar", "/opt/three.jar!/lib/level_1.jar!/lib/level_2.jar!/lib/level_3.jar")
    ]
    assert ctx.errors == []
    packages, ctx = extract(tmp_path, "/opt/four.jar", _nested(4, SIMPLE))
    assert packages == []
    assert ctx.errors == [
        ("/opt/four.jar", "/opt/four.jar!/lib/level_1.jar!/lib/level_2.jar!/lib/level_3.jar!/lib/level_4.jar: nested more than 3 archives deep; not read")
    ]  # fmt: skip


@pytest.mark.timeout(10)
def test_too_many_entries_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(zipread, "MAX_MEMBERS", 100)
    with pytest.raises(ExtractError, match="150 entries, more than the 100 limit"):
        extract(tmp_path, "/opt/many.jar", jar({f"c/{i}.class": b"" for i in range(150)}))


@pytest.mark.timeout(10)
def test_ten_thousand_classes_are_never_read(tmp_path):
    """Only the central directory and pom.properties are read: not one class file is inflated."""
    members = {f"com/example/C{i}.class": os.urandom(400) for i in range(10_000)}
    members["META-INF/maven/com.example/big/pom.properties"] = pom("com.example", "big", "7.0")
    root = place(tmp_path, "/opt/big.jar", jar(members))
    fs = LiveFS(str(root))
    packages = list(
        JavaArchiveExtractor().extract(FoundFile(fs.stat("/opt/big.jar"), fs), RecordingContext())
    )
    assert [p.purl for p in packages] == ["pkg:maven/com.example/big@7.0"]
    size = fs.stat("/opt/big.jar").size
    assert fs.bytes_read() < size // 5, f"{fs.bytes_read()} bytes read of {size}"


@pytest.mark.timeout(20)
def test_a_zip64_archive_of_seventy_thousand_entries_is_read(tmp_path):
    """More than 65,535 entries take ZIP64 records between the directory and its end record."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("META-INF/maven/com.example/huge/pom.properties", pom("com.example", "huge", "2.1"))
        for i in range(70_000):
            archive.writestr(f"c/{i}.class", b"")
    content = buffer.getvalue()
    assert b"PK\x06\x06" in content[-200:]
    packages, _ = extract(tmp_path, "/opt/huge.jar", content)
    assert [p.purl for p in packages] == ["pkg:maven/com.example/huge@2.1"]
    packages, _ = extract(tmp_path, "/opt/launch.jar", b"#!/bin/sh\nexec java -jar $0\n" + content)
    assert [p.purl for p in packages] == ["pkg:maven/com.example/huge@2.1"]


def test_traversing_member_names_only_name_locations_inside_the_archive(tmp_path):
    packages, _ = extract(tmp_path, "/opt/app.jar", jar({"../../etc/evil.jar": SIMPLE}))
    assert [p.locations for p in packages] == [("/opt/app.jar", "/opt/app.jar!/../../etc/evil.jar")]
    assert not (tmp_path / "etc").exists()


def test_an_archive_with_a_launcher_script_before_it_is_read(tmp_path):
    """Spring Boot's "fully executable" jars start with a shell script: every offset is shifted."""
    launcher = b"#!/bin/bash\n# launch script\n" + b"#" * 5000 + b"\nexit 0\n"
    packages, _ = extract(tmp_path, "/opt/app/app.jar", launcher + (SCALIBR / "complex.jar").read_bytes())
    assert [p.name for p in packages] == [
        "com.some.package:package-name",
        "com.some.anotherpackage:another-package-name",
    ]


def test_an_archive_comment_before_the_end_is_skipped(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("META-INF/maven/g/a/pom.properties", pom("g", "a", "3"))
        archive.comment = b"x" * 60_000  # the end record is 60 KB before the end of the file
    packages, _ = extract(tmp_path, "/opt/commented.jar", buffer.getvalue())
    assert [p.purl for p in packages] == ["pkg:maven/g/a@3"]


@pytest.mark.parametrize("fixture", ["invalid_jar.jar", "not_jar"])
def test_a_file_that_is_not_a_zip_archive_is_a_clear_error(tmp_path, fixture):
    with pytest.raises(ExtractError, match=r"/opt/x\.jar: not a readable zip archive"):
        extract(tmp_path, "/opt/x.jar", (SCALIBR / fixture).read_bytes())


@pytest.mark.timeout(10)
def test_a_truncated_or_damaged_archive_is_a_clear_error(tmp_path):
    with pytest.raises(ExtractError, match="no end of central directory record"):
        extract(tmp_path, "/opt/cut.jar", SIMPLE[: len(SIMPLE) // 2])
    directory = SIMPLE.find(b"PK\x01\x02")  # the header of pom.properties, the first entry
    damaged = SIMPLE[:directory] + b"XX\x01\x02" + SIMPLE[directory + 4 :]
    with pytest.raises(ExtractError, match="a damaged central directory"):
        extract(tmp_path, "/opt/damaged.jar", damaged)
    tail_cut = SIMPLE[: SIMPLE.find(b"PK\x05\x06") - 10] + SIMPLE[SIMPLE.find(b"PK\x05\x06") :]
    with pytest.raises(ExtractError, match="not a readable zip archive"):
        extract(tmp_path, "/opt/holed.jar", tail_cut)


@pytest.mark.timeout(10)
def test_a_truncated_nested_jar_is_reported_and_its_siblings_read(tmp_path):
    war = jar({"WEB-INF/lib/cut.jar": SIMPLE[:200], "WEB-INF/lib/simple.jar": SIMPLE})
    packages, ctx = extract(tmp_path, "/opt/app.war", war)
    assert [p.locations[-1] for p in packages] == ["/opt/app.war!/WEB-INF/lib/simple.jar"]
    assert ctx.errors == [
        ("/opt/app.war", "/opt/app.war!/WEB-INF/lib/cut.jar: not a readable zip archive: no end of central directory record")
    ]  # fmt: skip


def test_an_encrypted_pom_properties_is_refused(tmp_path):
    content = bytearray(SIMPLE)
    for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = content.find(signature)
        struct.pack_into("<H", content, at + flags_at, 1)  # the encrypted flag on the first entry
    with pytest.raises(ExtractError, match=r"pom\.properties: encrypted"):
        extract(tmp_path, "/opt/locked.jar", bytes(content))
