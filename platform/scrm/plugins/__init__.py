"""The plugin system: hook specifications, the manager, and the built-in plugins."""

from .hookspecs import hookimpl

__all__ = ["hookimpl"]
