"""PHP: Composer's record of installed packages (`vendor/composer/installed.json`) and `composer.lock`."""

from vigil.inventory.language.php.composer import ComposerInstalledExtractor, ComposerLockExtractor

__all__ = ["ComposerInstalledExtractor", "ComposerLockExtractor"]
