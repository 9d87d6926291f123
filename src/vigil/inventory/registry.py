"""The explicit list of extractors (STYLE habit 2): nothing registers itself on import."""

from __future__ import annotations

from vigil.inventory.extractor import Extractor
from vigil.inventory.model import Inventory
from vigil.inventory.os.apk import ApkExtractor
from vigil.inventory.os.dpkg import DpkgExtractor
from vigil.inventory.os.rpm.extractor import RpmExtractor

OS_EXTRACTORS: tuple[Extractor, ...] = (DpkgExtractor(), RpmExtractor(), ApkExtractor())


def language_extractors() -> tuple[Extractor, ...]:
    """Deep inspection: language packages, and the OS file lists that tell which of them the OS installed.

    Imported when asked for: an OS-only inventory of a host costs less than their imports (0.1 s).
    """
    from vigil.inventory.language.binaries import BinaryExtractor
    from vigil.inventory.language.dotnet import DepsJsonExtractor
    from vigil.inventory.language.java import JavaArchiveExtractor
    from vigil.inventory.language.node import NodeInstalledExtractor, NpmLockfileExtractor
    from vigil.inventory.language.php import ComposerInstalledExtractor, ComposerLockExtractor
    from vigil.inventory.language.python import PythonInstalledExtractor
    from vigil.inventory.language.ruby import GemfileLockExtractor, GemspecExtractor
    from vigil.inventory.language.rust import CargoLockExtractor
    from vigil.inventory.os.dpkg_files import DpkgFileListExtractor

    return (
        DpkgFileListExtractor(),
        PythonInstalledExtractor(),
        NodeInstalledExtractor(),
        NpmLockfileExtractor(),
        JavaArchiveExtractor(),
        BinaryExtractor(),
        CargoLockExtractor(),
        GemspecExtractor(),
        GemfileLockExtractor(),
        ComposerInstalledExtractor(),
        ComposerLockExtractor(),
        DepsJsonExtractor(),
    )


def extractors(*, os_only: bool = False) -> list[Extractor]:
    return list(OS_EXTRACTORS if os_only else OS_EXTRACTORS + language_extractors())


def unusable_package_databases(inventory: Inventory) -> list[str]:
    """The OS package databases that could not be read at all: the target's OS packages are unknown.

    (A database with a few damaged records still gave packages: those errors are warnings.)
    """
    names = {e.name for e in OS_EXTRACTORS}
    return [
        f"{error.path}: {error.error}"
        for run in inventory.extractors
        if run.name in names and run.packages == 0
        for error in run.errors
    ]
