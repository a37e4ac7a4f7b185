"""Sorting and keyset pagination for record lists: no OFFSET, no COUNT(*).

NULLs sort as the largest value (PostgreSQL's default: last when ascending, first when
descending) on both databases, and the cursor comparison follows the same rule, so every row
appears exactly once however the list is sorted.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ..errors import BadRequest, Detail
from ..fields import ConversionError, FieldType, FieldTypes
from ..i18n import _
from ..meta.model import SYSTEM_SORTABLE, EntityDef, FieldDef, system_field
from .tables import EntityTables


@dataclass(frozen=True)
class SortKey:
    field: FieldDef
    ftype: FieldType
    column: sa.ColumnElement
    desc: bool
    nullable: bool

    @property
    def spec(self) -> str:
        return ("-" if self.desc else "") + self.field.name


def parse_sort(
    spec: str | None,
    entity: EntityDef,
    tables: EntityTables,
    field_types: FieldTypes,
    computed: dict[str, sa.ColumnElement] | None = None,
) -> list[SortKey]:
    """``-tier,full_name`` into sort keys, always ending with ``id`` so the order is total.
    ``computed`` maps computed fields to their SQL expressions (they sort like columns)."""
    computed = computed or {}
    keys: list[SortKey] = []
    seen = set()
    for part in [p.strip() for p in (spec or "").split(",") if p.strip()][:4]:
        desc = part.startswith("-")
        name = part.lstrip("-")
        f = entity.field(name) if name not in SYSTEM_SORTABLE else system_field(entity, name)
        ftype = field_types.get(f.type) if f else None
        virtual = f is not None and f.computed and not f.get("stored")
        if (
            f is None
            or ftype is None
            or not ftype.sortable
            or ftype.multi
            or f.encrypted
            or (virtual and f.name not in computed)
        ):
            raise BadRequest(
                _("Cannot sort by {field!r}.").format(field=name),
                [
                    Detail(
                        "sort",
                        _("{field!r} is not a sortable field of {entity}.").format(field=name, entity=entity.name),
                    )
                ],
                "invalid_sort",
            )
        if f.name in seen:
            continue
        seen.add(f.name)
        column = computed[f.name] if virtual else tables.main.c[f.column]
        keys.append(SortKey(f, ftype, column, desc, f.name not in SYSTEM_SORTABLE))
        if f.name == "id":
            return keys
    id_field = system_field(entity, "id")
    last_desc = keys[-1].desc if keys else True
    keys.append(SortKey(id_field, field_types["integer"], tables.main.c.id, last_desc, False))
    return keys


def order_by(keys: list[SortKey]) -> list:
    out = []
    for k in keys:
        clause = k.column.desc() if k.desc else k.column.asc()
        if k.nullable:
            clause = clause.nulls_first() if k.desc else clause.nulls_last()
        out.append(clause)
    return out


def after(keys: list[SortKey], values: list[Any]) -> sa.ColumnElement[bool]:
    """Rows strictly after the row whose sort values are ``values``, in the order of ``keys``.

    The row is decided by ``k1 < v1 OR (k1 = v1 AND …)``; where the leading key allows it, an
    inclusive bound on it (``k1 <= v1`` when descending, ``k1 >= v1`` ascending and never NULL) is
    ANDed in front. It changes no result, but gives the planner a range to enter the sort index at:
    without it SQLite sorts the union of two range scans (everything after the cursor) and
    PostgreSQL reads every row before the cursor as a filter (bench/list_scale.py)."""
    condition = _after(keys, values)
    k, v = keys[0], values[0]
    if len(keys) == 1 or v is None or (k.nullable and not k.desc):
        return condition
    v = sa.literal(v, k.column.type)
    return sa.and_((k.column <= v) if k.desc else (k.column >= v), condition)


def _after(keys: list[SortKey], values: list[Any]) -> sa.ColumnElement[bool]:
    k, v = keys[0], values[0]
    rest = _after(keys[1:], values[1:]) if len(keys) > 1 else None
    col = k.column
    if v is None:
        # the cursor row sits among the NULLs: last when ascending, first when descending
        same = col.is_(None)
        beyond = sa.false() if not k.desc else col.is_not(None)
    else:
        v = sa.literal(v, k.column.type)  # typed bind: booleans and exact decimals compare correctly
        same = col == v
        beyond = (col < v) if k.desc else (col > v)
        if k.nullable and not k.desc:
            beyond = sa.or_(beyond, col.is_(None))
    if rest is None:
        return beyond
    return sa.or_(beyond, sa.and_(same, rest))


def encode_cursor(keys: list[SortKey], row: dict) -> str:
    values = [k.ftype.to_json(row.get(k.field.name), k.field) for k in keys]
    payload = json.dumps({"s": ",".join(k.spec for k in keys), "v": values}, separators=(",", ":"), default=str)
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(keys: list[SortKey], cursor: str) -> list[Any]:
    bad = BadRequest(
        _("The cursor is not valid for this list; start again from the first page."),
        [Detail("after", _("Invalid cursor."))],
        "invalid_cursor",
    )
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad from None
    if not isinstance(payload, dict) or payload.get("s") != ",".join(k.spec for k in keys):
        raise bad
    raw = payload.get("v")
    if not isinstance(raw, list) or len(raw) != len(keys):
        raise bad
    values = []
    for k, v in zip(keys, raw, strict=True):
        if v is None:
            if not k.nullable:
                raise bad
            values.append(None)
            continue
        try:
            values.append(k.ftype.convert(v, k.field))
        except (ConversionError, TypeError, ValueError):
            raise bad from None
    return values
