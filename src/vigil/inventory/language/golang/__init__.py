"""Go: the build information in Go binaries (read by `vigil.inventory.language.binaries`)."""

from vigil.inventory.language.golang.buildinfo import BuildInfo, Module, parse_modinfo, read_build_info
from vigil.inventory.language.golang.packages import go_packages, toolchain_version

__all__ = ["BuildInfo", "Module", "go_packages", "parse_modinfo", "read_build_info", "toolchain_version"]
