"""Java archives for the tests: osv-scalibr's test jars, and archives built here with zipfile."""

import io
import zipfile
from pathlib import Path

from tests.inventory.extracting import RecordingContext, place, run_extractor

from vigil.inventory.language.java import JavaArchiveExtractor
from vigil.inventory.model import Package

SCALIBR = Path(__file__).parent / "fixtures" / "scalibr"
FILE_NAME_NOTE = ("version from the file name: the archive's pom.properties and MANIFEST.MF do not name it",)


def jar(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def pom(group: str, artifact: str, version: str) -> bytes:
    """A pom.properties as maven-archiver writes it."""
    return f"#Created by Apache Maven 3.8.7\nversion={version}\ngroupId={group}\nartifactId={artifact}\n".encode()


def extract(tmp_path: Path, path: str, content: bytes) -> tuple[list[Package], RecordingContext]:
    """The packages JavaArchiveExtractor finds in `content` placed at `path`."""
    root = place(tmp_path, path, content)
    return run_extractor(JavaArchiveExtractor(), root, path)
