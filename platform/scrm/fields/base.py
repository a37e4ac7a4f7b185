"""The :class:`FieldType` protocol and the registry of field types."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from markupsafe import Markup, escape

from ..i18n import _

if TYPE_CHECKING:
    from ..meta.model import FieldDef

COMPARE_OPS = frozenset({"eq", "ne", "lt", "lte", "gt", "gte", "between", "in", "not_in", "is_null", "is_not_null"})
TEXT_OPS = frozenset(
    {
        "eq",
        "ne",
        "in",
        "not_in",
        "is_null",
        "is_not_null",
        "is_empty",
        "is_not_empty",
        "contains",
        "not_contains",
        "starts_with",
        "ends_with",
        "lt",
        "lte",
        "gt",
        "gte",
    }
)
SET_OPS = frozenset({"has_any", "has_all", "has_none", "is_empty", "is_not_empty", "contains"})


class ConversionError(ValueError):
    """A value that does not fit its field; ``message`` is shown beside the field."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class FieldType:
    """One kind of value. Subclasses override what differs; every method is pure.

    ``convert`` turns external input (JSON or form text) into the canonical Python value or
    raises :class:`ConversionError` with a message that shows the bad value; ``check`` applies
    the field's declared limits to a converted value.
    """

    name: str = ""
    value_kind: str = (
        "string"  # what conditions compare: string, integer, decimal, bool, date, datetime, set, ref, json
    )
    multi: bool = False  # stored in a link table, one row per value
    sortable: bool = True
    searchable: bool = False
    operators: frozenset[str] = COMPARE_OPS
    widgets: tuple[str, ...] = ("text",)
    options_schema: dict = {}
    # keys whose change alters which stored values are valid (a dry run decides)
    validation_keys: tuple[str, ...] = ()
    # keys whose change alters the physical column type
    storage_keys: tuple[str, ...] = ()
    encryptable: bool = False  # may be declared "pii": "encrypt" (stored sealed, with a blind index)

    # -- storage -------------------------------------------------------------------------
    def column_type(self, f: FieldDef) -> sa.types.TypeEngine:
        return sa.String(255)

    def storage_type(self, f: FieldDef) -> sa.types.TypeEngine:
        """The column as stored: an encrypted field keeps its sealed text, longer than the value."""
        if self.encryptable and f.get("pii") == "encrypt":
            return sa.Text()
        return self.column_type(f)

    # -- conversion and validation -------------------------------------------------------
    def convert(self, value: Any, f: FieldDef) -> Any:
        raise NotImplementedError

    def check(self, value: Any, f: FieldDef) -> None:
        """Declared limits (length, range, pattern, options). ``value`` is already converted."""

    def validate(self, value: Any, f: FieldDef) -> Any:
        """Convert then check; ``None`` and empty strings mean "no value"."""
        if value is None or (isinstance(value, str) and value.strip() == "" and not self.multi):
            return None
        converted = self.convert(value, f)
        if converted is not None:
            self.check(converted, f)
        return converted

    def parse_form(self, raw: Any, f: FieldDef) -> Any:
        """Form input (a string, or a list for multi-valued types) into a canonical value."""
        if isinstance(raw, str):
            raw = raw.strip()
        return self.validate(raw if raw != "" else None, f)

    def from_db(self, value: Any, f: FieldDef) -> Any:
        return value

    # -- output --------------------------------------------------------------------------
    def to_json(self, value: Any, f: FieldDef) -> Any:
        return value

    def format_input(self, value: Any, f: FieldDef) -> str:
        """The text an ``<input>`` shows for ``value``."""
        return "" if value is None else str(value)

    def display(self, value: Any, f: FieldDef) -> str | Markup:
        """Human text for lists and detail pages (escaped by the template unless Markup)."""
        return "" if value is None else str(value)

    def json_schema(self, f: FieldDef) -> dict:
        return {"type": "string"}

    def definition_problems(self, f: FieldDef) -> list[tuple[str, str, dict]]:
        """Phase-B checks of the field's own options: ``(code, relative json path, params)``."""
        return []

    # -- helpers -------------------------------------------------------------------------
    @staticmethod
    def show(value: Any) -> str:
        text = repr(value) if not isinstance(value, str) else f"“{value}”"
        return text if len(text) <= 60 else text[:57] + "…"

    def fail(self, message: str) -> ConversionError:
        return ConversionError(message)

    def __repr__(self) -> str:
        return f"<FieldType {self.name}>"


def badge(text: str, color: str | None) -> Markup:
    cls = f"text-bg-{color}" if color else "scrm-tag"
    return Markup(f'<span class="badge {escape(cls)}">{escape(text)}</span>')


class FieldTypes:
    """The registry of field types, filled from the ``scrm_field_types`` hook."""

    def __init__(self, types: list[FieldType] | None = None):
        self._types: dict[str, FieldType] = {}
        for t in types or ():
            self.add(t)

    def add(self, ftype: FieldType) -> None:
        if not ftype.name:
            raise ValueError(f"{ftype!r} has no name")
        self._types[ftype.name] = ftype

    def __getitem__(self, name: str) -> FieldType:
        return self._types[name]

    def __contains__(self, name: str) -> bool:
        return name in self._types

    def get(self, name: str) -> FieldType | None:
        return self._types.get(name)

    def names(self) -> list[str]:
        return sorted(self._types)

    def of(self, f: FieldDef) -> FieldType:
        return self._types[f.type]

    def __iter__(self):
        return iter(self._types.values())


def required_message() -> str:
    return _("This field is required.")
