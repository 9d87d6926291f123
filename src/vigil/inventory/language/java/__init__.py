"""Java: Maven artifacts in `.jar`, `.war`, `.ear` and `.par` archives, nested ones included."""

from vigil.inventory.language.java.extractor import JavaArchiveExtractor

__all__ = ["JavaArchiveExtractor"]
