"""Every layer's stream (a container's disk, a partition, a logical volume) reads like one raw file.

They share one base (`RawReader`): a read past the end is short, a seek before the start is an error and
moves nothing, a positional read leaves the position alone, a closed stream refuses reads, and
`io.BufferedReader` reads through it as through a host file.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator

import pytest
from tests.support.catalog import Built

from vigil.fs import open_image
from vigil.fs.image.lvm import LogicalVolume
from vigil.fs.image.qcow2 import Qcow2Stream
from vigil.fs.image.reader import RawReader, Window

LayoutImage = Callable[[str], Built]
EXT_MAGIC = (1024 + 56, b"\x53\xef")  # the ext4 superblock's magic, in a partition or a logical volume
GPT_HEADER = (512, b"EFI PART")  # on a whole disk


@pytest.fixture(params=["qcow2 disk", "partition", "logical volume"])
def stream(
    request: pytest.FixtureRequest, layout_image: LayoutImage
) -> Iterator[tuple[RawReader, int, bytes]]:
    """A stream of one layer, with where a known signature lies in it."""
    kind: str = request.param
    layout = {"qcow2 disk": "qcow2", "partition": "gpt-debian", "logical volume": "lvm"}[kind]
    with open_image(layout_image(layout).sources, timeout=30) as fs:
        if kind == "qcow2 disk":
            disk_stream = fs.disks[0].stream
            assert isinstance(disk_stream, Qcow2Stream)
            yield disk_stream, *GPT_HEADER
            return
        wanted = LogicalVolume if kind == "logical volume" else Window
        found = next(
            v.stream for v in fs.volumes if isinstance(v.stream, wanted) and v.probe.kind.startswith("ext")
        )
        yield found, *EXT_MAGIC


def test_a_read_returns_what_is_at_the_position_and_moves_it(stream: tuple[RawReader, int, bytes]) -> None:
    s, at, signature = stream
    assert s.seek(at) == at
    assert s.read(len(signature)) == signature
    assert s.tell() == s.get_offset() == at + len(signature)
    s.seek(-len(signature), os.SEEK_CUR)
    assert s.read(len(signature)) == signature


def test_a_read_past_the_end_is_short_then_empty(stream: tuple[RawReader, int, bytes]) -> None:
    s, _, _ = stream
    size = s.get_size()
    assert s.seek(-10, os.SEEK_END) == size - 10
    assert len(s.read(4096)) == 10
    assert s.read(4096) == b""
    s.seek(size + 4096)
    assert s.read(10) == b""
    assert s.read_at(size - 3, 100) == s.read_at(size - 3, 3)
    assert len(s.read_at(size - 3, 100)) == 3


def test_a_seek_before_the_start_is_an_error_and_moves_nothing(stream: tuple[RawReader, int, bytes]) -> None:
    s, _, _ = stream
    s.seek(100)
    with pytest.raises(OSError, match="before the start"):
        s.seek(-1)
    with pytest.raises(OSError, match="before the start"):
        s.seek(-101, os.SEEK_CUR)
    assert s.tell() == 100


def test_a_positional_read_leaves_the_position_alone(stream: tuple[RawReader, int, bytes]) -> None:
    s, at, signature = stream
    s.seek(7)
    assert s.read_at(at, len(signature)) == signature
    assert s.tell() == 7


def test_readinto_and_a_buffered_reader_read_the_same_bytes(stream: tuple[RawReader, int, bytes]) -> None:
    s, at, signature = stream
    expected = s.read_at(0, 1 << 16)
    s.seek(0)
    buffer = bytearray(1 << 16)
    assert s.readinto(buffer) == len(buffer)
    assert bytes(buffer) == expected
    assert isinstance(s, io.RawIOBase)
    s.seek(0)
    buffered = io.BufferedReader(s, 4096)  # type: ignore[arg-type]
    assert buffered.read(at)[:16] == expected[:16]
    assert buffered.read(len(signature)) == signature


def test_a_closed_stream_refuses_reads(stream: tuple[RawReader, int, bytes]) -> None:
    s, _, _ = stream
    with s:
        assert not s.closed
    assert s.closed
    with pytest.raises(ValueError, match="closed"):
        s.read(1)
    with pytest.raises(ValueError, match="closed"):
        s.seek(0)
