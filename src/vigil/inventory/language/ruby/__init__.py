"""Ruby: installed gem specifications and Bundler's `Gemfile.lock`."""

from vigil.inventory.language.ruby.gemfilelock import GemfileLockExtractor
from vigil.inventory.language.ruby.gemspec import GemspecExtractor

__all__ = ["GemfileLockExtractor", "GemspecExtractor"]
