"""The reference (many-to-one) field type and the opaque json type."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import sqlalchemy as sa

from ..i18n import _
from .base import FieldType

_leading_id = re.compile(r"^#?(\d+)(\s*·.*)?$")


def _plain(value):
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(type(value).__name__)


class RefType(FieldType):
    """A many-to-one link: the column holds the target record's id. Existence is checked on save."""

    name = "ref"
    value_kind = "ref"
    operators = frozenset({"eq", "ne", "in", "not_in", "is_null", "is_not_null"})
    widgets = ("lookup", "select", "display")
    options_schema = {
        "properties": {
            "target": {"$ref": "common.json#/$defs/identifier"},
            "on_delete": {"enum": ["restrict", "set_null"]},
        },
        "required": ["target"],
    }

    def column_type(self, f):
        return sa.BigInteger()

    def convert(self, value, f):
        if isinstance(value, bool):
            raise self.fail(_("Expected a record id, got {value}.").format(value=self.show(value)))
        if isinstance(value, dict) and "id" in value:
            value = value["id"]
        if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
            value = int(value.strip())
        if not isinstance(value, int) or value <= 0 or value > 2**63 - 1:
            raise self.fail(_("Expected a record id, got {value}.").format(value=self.show(value)))
        return value

    def parse_form(self, raw, f):
        """A lookup input sends ``123`` or ``123 · title`` (a type-ahead choice)."""
        if isinstance(raw, str):
            match = _leading_id.match(raw.strip())
            if match:
                raw = match.group(1)
        return super().parse_form(raw, f)

    def display(self, value, f):
        return "" if value is None else f"#{value}"

    def json_schema(self, f):
        return {"type": "integer", "minimum": 1, "description": f"id of a {f.target} record"}


class JsonType(FieldType):
    name = "json"
    value_kind = "json"
    sortable = False
    operators = frozenset({"is_null", "is_not_null"})
    widgets = ("json", "textarea", "display")
    max_size = 100_000

    def column_type(self, f):
        return sa.JSON(none_as_null=True)  # "no value" is SQL NULL, as for every other type

    def convert(self, value, f):
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise self.fail(_("This is not valid JSON: {detail}.").format(detail=exc.msg)) from None
        try:
            encoded = json.dumps(value, default=_plain, allow_nan=False)
        except (TypeError, ValueError):
            raise self.fail(_("This is not valid JSON.")) from None
        if len(encoded) > self.max_size:
            raise self.fail(_("At most {limit} characters of JSON.").format(limit=self.max_size))
        return json.loads(encoded)

    def validate(self, value, f):
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return self.convert(value, f)

    def format_input(self, value, f):
        return "" if value is None else json.dumps(value, ensure_ascii=False, indent=2)

    def display(self, value, f):
        return "" if value is None else json.dumps(value, ensure_ascii=False)[:200]

    def json_schema(self, f):
        return {}
