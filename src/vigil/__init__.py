"""Vigil: continuous vulnerability scanning for fleets of Linux virtual machines."""

__version__ = "0.1.0"
