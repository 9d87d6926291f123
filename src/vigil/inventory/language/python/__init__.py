"""Python: installed distributions (`.dist-info`, `.egg-info`) in site-packages, virtualenvs and targets."""

from vigil.inventory.language.python.installed import PythonInstalledExtractor

__all__ = ["PythonInstalledExtractor"]
