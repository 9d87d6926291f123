"""Rust: `Cargo.lock` files, and the cargo-auditable data in binaries (read by `language.binaries`)."""

from vigil.inventory.language.rust.auditable import auditable_packages, read_audit_data
from vigil.inventory.language.rust.cargolock import CargoLockExtractor

__all__ = ["CargoLockExtractor", "auditable_packages", "read_audit_data"]
