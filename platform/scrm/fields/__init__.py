"""Field types: each one converts, validates, stores, serialises and displays one kind of value.

Built-in types register through the ``scrm_field_types`` plugin hook exactly like a plugin's
(see :mod:`scrm.plugins.builtins`); :class:`FieldTypes` is the registry the runtime consults.
"""

from .base import ConversionError, FieldType, FieldTypes

__all__ = ["ConversionError", "FieldType", "FieldTypes"]
