"""Resolve a leaf against entity metadata: its field, field type and converted value(s).

Both back-ends go through here, so literals are converted once, by the field type, the same
way for SQL and for Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..fields import ConversionError, FieldType, FieldTypes
from ..i18n import _, text
from ..meta.model import SYSTEM_COLUMNS, EntityDef, FieldDef
from .ast import LIST_VALUE, NO_VALUE, TEXT_MATCH, ConditionError


@dataclass(frozen=True)
class Leaf:
    field: FieldDef
    ftype: FieldType
    op: str
    value: Any
    ci: bool
    path: str


MAX_TEXT = 200  # longest text a contains/starts_with/ends_with matches (LIKE patterns have limits)

_SYSTEM_TYPES = {
    "id": "integer",
    "version": "integer",
    "created_by": "integer",
    "updated_by": "integer",
    "created_at": "datetime",
    "updated_at": "datetime",
    "deleted_at": "datetime",
}


def system_field(entity: EntityDef, name: str) -> FieldDef | None:
    """System columns are addressable by name in conditions and sorts (read-only)."""
    if name not in SYSTEM_COLUMNS:
        return None
    return FieldDef(
        entity.name,
        {"id": f"_{name}", "name": name, "column": name, "type": _SYSTEM_TYPES[name], "label": name, "readonly": True},
    )


def lookup_field(entity: EntityDef, name: str, path: str) -> FieldDef:
    if not isinstance(name, str):
        raise ConditionError(_("A condition needs a field name."), path, "E-COND-001")
    if "." in name:
        raise ConditionError(
            _("Paths through references ({path}) are not supported here yet.").format(path=name), path, "E-COND-004"
        )
    f = entity.field(name) or system_field(entity, name)
    if f is None:
        raise ConditionError(
            _("{ref!r} is not a field of {entity!r}.").format(ref=name, entity=entity.name), path, "E-COND-001"
        )
    if f.computed and not f.get("stored"):
        raise ConditionError(
            _("{construct} is not supported in this context yet.").format(construct=_("A computed field")), path
        )
    return f


def resolve_leaf(node: dict, entity: EntityDef, field_types: FieldTypes, path: str) -> Leaf:
    if "expr" in node:
        raise ConditionError(
            _("{construct} is not supported in this context yet.").format(construct="expr"), f"{path}.expr"
        )
    f = lookup_field(entity, node.get("field"), f"{path}.field")
    ftype = field_types[f.type]
    op = node.get("op")
    if not isinstance(op, str):
        raise ConditionError(_("A condition needs an operator such as eq or in."), f"{path}.op", "E-SCHEMA-004")
    if op not in ftype.operators and not (op in TEXT_MATCH and ftype.searchable):
        raise ConditionError(
            _("The operator {op!r} cannot be used with a field of type {type!r}.").format(op=op, type=f.type),
            f"{path}.op",
            "E-COND-002",
        )
    ci = node.get("ci", True)
    if op in NO_VALUE:
        return Leaf(f, ftype, op, None, ci, path)
    if "value" not in node:
        raise ConditionError(_("The operator {op!r} needs a value.").format(op=op), path, "E-COND-003")
    raw = node["value"]
    vpath = f"{path}.value"
    if isinstance(raw, dict):
        kind = next(iter(raw), "?")
        raise ConditionError(
            _("{construct} is not supported in this context yet.").format(
                construct=_("Comparing with {{{kind}: …}}").format(kind=kind)
            ),
            vpath,
        )
    if op in TEXT_MATCH and not ftype.multi:
        if not isinstance(raw, str) or not raw or len(raw) > MAX_TEXT:
            raise ConditionError(
                _("The operator {op!r} needs a text of 1 to {limit} characters.").format(op=op, limit=MAX_TEXT),
                vpath,
                "E-COND-003",
            )
        return Leaf(f, ftype, op, raw, ci, path)
    if op in LIST_VALUE or (ftype.multi and op == "contains") or op == "between":
        items = raw if isinstance(raw, list) else [raw]
        if op == "between" and len(items) != 2:
            raise ConditionError(_("between needs two values [low, high]."), vpath, "E-COND-003")
        if any(item is None for item in items):
            raise ConditionError(_("A list of values may not contain null."), vpath, "E-COND-005")
        values = [_convert(ftype, f, item, f"{vpath}[{i}]") for i, item in enumerate(items)]
        if ftype.multi:
            values = [v for group in values for v in group]
        op = "has_any" if (ftype.multi and op == "contains") else op
        return Leaf(f, ftype, op, values, ci, path)
    if raw is None:
        raise ConditionError(_("Use is_null or is_not_null to test for an empty value."), vpath, "E-COND-005")
    return Leaf(f, ftype, op, _convert(ftype, f, raw, vpath), ci, path)


def _convert(ftype: FieldType, f: FieldDef, value, path: str):
    try:
        if ftype.multi:
            return ftype.convert([value] if not isinstance(value, list) else value, f)
        return ftype.convert(value, f)
    except ConversionError as exc:
        raise ConditionError(
            _("The value does not fit the field {field!r}: {detail}").format(field=text(f.label), detail=exc.message),
            path,
            "E-COND-003",
        ) from None
