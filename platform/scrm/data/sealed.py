"""How field values meet the database when a field is encrypted: the columns a value is
written to (the sealed value and its blind index), equality in SQL, and sealed history."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ..meta.model import EntityDef, FieldDef
from ..security.crypto import context_of, keyring
from .tables import EntityTables, equality_column


def stored_columns(f: FieldDef, value: Any) -> dict[str, Any]:
    """The columns a field's value is written to: an encrypted field also sets its blind index
    (the column's type seals the value itself)."""
    if not f.encrypted:
        return {f.column: value}
    empty = value is None or value == ""
    return {f.column: None if empty else value, f.index_column: None if empty else keyring().blind(str(value))}


def equals(et: EntityTables, f: FieldDef, value: Any) -> sa.ColumnElement[bool]:
    """``field = value`` in SQL; for an encrypted field, on its blind index."""
    column = equality_column(et.main, f)
    if column.name != f.column:
        return column == keyring().blind(str(value))
    return column == value


def history_value(entity: EntityDef, f: FieldDef, value: Any) -> Any:
    """Change history keeps an encrypted field's old and new values sealed too."""
    if not f.encrypted or value in (None, ""):
        return value
    return keyring().seal(str(value), context_of(entity.name, f.id))
