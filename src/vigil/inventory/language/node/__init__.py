"""Node.js: installed packages under `node_modules`, and npm lock files checked against the disk."""

from vigil.inventory.language.node.installed import NodeInstalledExtractor
from vigil.inventory.language.node.package_lock import NpmLockfileExtractor

__all__ = ["NodeInstalledExtractor", "NpmLockfileExtractor"]
