"""Marshmallow schemas generated from entities, one per entity version and locale (cached).

Each field is a :class:`TypedField` that delegates to the field type's ``validate``, so
conversion rules live in one place and every message is anchored at its field.
"""

from __future__ import annotations

import marshmallow as ma

from ..fields import ConversionError, FieldType
from ..i18n import _, current_locale
from ..meta.model import EntityDef, FieldDef


class TypedField(ma.fields.Field):
    def __init__(self, ftype: FieldType, fdef: FieldDef, **kwargs):
        super().__init__(**kwargs)
        self.ftype = ftype
        self.fdef = fdef

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return self.ftype.validate(value, self.fdef)
        except ConversionError as exc:
            raise ma.ValidationError(exc.message) from None

    def deserialize(self, value, attr=None, data=None, **kwargs):
        if value is None and self.ftype.multi:
            return []
        return super().deserialize(value, attr, data, **kwargs)


def writable_fields(entity: EntityDef, system: bool = False) -> list[FieldDef]:
    """Fields a user may write; ``system`` writers (imports, feeds) may also fill read-only ones."""
    return [f for f in entity.active_fields if not f.computed and (system or not f.readonly)]


def generated(f: FieldDef) -> bool:
    """A field the system fills on save when it is empty: a workflow's (``"source":
    "workflow:numbering"``) or a plugin's derivation (``"source": "derived:account.customer"``).
    Whether it is then filled is checked with the entity's rules, after the derivation."""
    return str(f.get("source") or "").startswith(("workflow:", "derived:"))


def build_schema(entity: EntityDef, field_types, partial: bool, system: bool = False) -> ma.Schema:
    messages = {"required": _("This field is required."), "null": _("This field is required.")}
    declared = {}
    for f in writable_fields(entity, system):
        ftype = field_types[f.type]
        required = f.required and not partial and not f.has_default and not generated(f)
        declared[f.name] = TypedField(
            ftype, f, required=required, allow_none=not f.required or ftype.multi, error_messages=messages
        )
    schema_cls = type(
        f"{entity.name.title()}Schema",
        (ma.Schema,),
        {**declared, "error_messages": {"unknown": _("Unknown field."), "type": _("Expected an object.")}},
    )
    return schema_cls(unknown=ma.RAISE, partial=partial)


def schema_for(snapshot, entity: EntityDef, partial: bool, system: bool = False) -> ma.Schema:
    key = ("schema", entity.name, entity.version, partial, system, current_locale())
    return snapshot.cached(key, lambda: build_schema(entity, snapshot.field_types, partial, system))
