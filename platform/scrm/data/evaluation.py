"""Conditions at run time: prepared once per published revision, evaluated against the database.

:func:`prepared` caches the prepared form of a condition in the snapshot (a new publication
prepares again, against the new definitions). :func:`environment` captures ``now`` once and
wires the Python back-end to the database: references are read on demand and aggregates of
saved records are computed by SQL (the same statement the SQL back-end would use), so the Python
path never re-implements aggregation for stored data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from flask import current_app, has_app_context

from ..conditions import Environment, OperandValue, Predicate, Preparer, Source, UserContext, ir
from ..conditions.env import DEFAULT_TZ
from ..conditions.prepare import computed_digits
from ..conditions.sql import aggregate_value
from ..conditions.values import as_decimal, number, round_half_away
from ..db import dialect_name, run
from ..meta.model import EntityDef, FieldDef
from ..security.crypto import keyring


@dataclass(frozen=True, eq=False)
class PreparedCondition:
    node: ir.Node

    @cached_property
    def predicate(self) -> Predicate:
        return Predicate(self.node)

    @cached_property
    def deps(self) -> ir.Deps:
        return ir.deps(self.node)


def prepared(
    snapshot,
    cond: Any,
    entity: EntityDef,
    context: str = "filter",
    *,
    source: Source | None = None,
    outer: EntityDef | None = None,
    key: Any = None,
) -> PreparedCondition:
    """The condition prepared for ``context`` (raises :class:`ConditionError`); cached per
    published revision under ``key`` (a definition and path) or the condition's JSON."""
    if key is None:
        key = json.dumps(cond, sort_keys=True, default=str, ensure_ascii=False)
    cache_key = ("condition", context, entity.name, outer.name if outer else None, key)

    def build() -> PreparedCondition:
        preparer = Preparer(snapshot.field_types, snapshot.entity, context, source=source, outer=outer)
        return PreparedCondition(preparer.condition(cond, entity))

    return snapshot.cached(cache_key, build)


def computed_field(snapshot, entity: EntityDef, name: str) -> ir.Field:
    """A computed field as an operand (its expression, rounded to the field's scale)."""

    def build() -> ir.Field:
        return Preparer(snapshot.field_types, snapshot.entity, "computed").field(name, entity)

    return snapshot.cached(("computed", entity.name, name), build)


def stored_value(snapshot, entity: EntityDef, f: FieldDef):
    """How a stored computed field's value is computed on write: a callable over the record
    giving the field's canonical value (decimals rounded to its scale)."""

    def build():
        operand = Preparer(snapshot.field_types, snapshot.entity, "stored").operand(f.spec["computed"], entity)
        value = OperandValue(operand)
        digits = computed_digits(f, snapshot.field_types)

        def compute(record: Mapping[str, Any], env: Environment):
            result = value(record, env)
            if result is None or digits is None:
                return result
            return as_decimal(round_half_away(number(result), digits), digits)

        return compute

    return snapshot.cached(("stored", entity.name, f.id), build)


def time_zone() -> str:
    return current_app.config.get("SCRM_TIMEZONE", DEFAULT_TZ) if has_app_context() else DEFAULT_TZ


def environment(
    snapshot,
    *,
    user: UserContext | None = None,
    now: datetime | None = None,
    params: Mapping[str, Any] | None = None,
    record: Mapping[str, Any] | None = None,
    old: Mapping[str, Any] | None = None,
) -> Environment:
    """An evaluation environment: ``now`` captured once, the tenant's time zone, the database."""
    dialect = dialect_name()

    def aggregate(agg: ir.Agg, values: Mapping[str, Any], env: Environment):
        return aggregate_value(agg, values["id"], agg.parent, snapshot.tables, env, dialect, run)

    return Environment.at(
        now,
        time_zone(),
        user=user,
        params=params or {},
        record=record,
        old=old,
        data=RecordSource(snapshot),
        aggregate=aggregate,
        blind=keyring().blind if has_app_context() else None,
    )


class RecordSource:
    """Referenced records and child rows for the Python back-end, read once per evaluation."""

    def __init__(self, snapshot):
        self.snapshot = snapshot
        self._records: dict[tuple[str, int], Mapping[str, Any] | None] = {}

    def get(self, entity: str, record_id: int) -> Mapping[str, Any] | None:
        key = (entity, record_id)
        if key not in self._records:
            rows = self._rows(entity, lambda t: t.c.id == record_id)
            self._records[key] = rows[0] if rows else None
        return self._records[key]

    def prefetch(self, entity: str, ids: list[int]) -> None:
        """Read many records at once into the cache (``get`` then finds them)."""
        missing = [i for i in ids if (entity, i) not in self._records]
        for start in range(0, len(missing), 1000):
            part = missing[start : start + 1000]
            found = {r["id"]: r for r in self._rows(entity, lambda t, part=part: t.c.id.in_(part))}
            for i in part:
                self._records[(entity, i)] = found.get(i)

    def children(self, entity: str, via: str, parent_id: int) -> list[Mapping[str, Any]]:
        target = self.snapshot.entity(entity)
        column = target.field(via).column
        return self._rows(entity, lambda t: t.c[column] == parent_id)

    def _rows(self, entity_name: str, where) -> list[dict]:
        entity = self.snapshot.entity(entity_name)
        et = self.snapshot.tables[entity_name]
        cols = [et.main.c.id]
        stored = []
        for f in entity.active_fields:
            ftype = self.snapshot.field_types.get(f.type)
            if ftype is not None and not ftype.multi and f.column in et.main.c:
                cols.append(et.main.c[f.column].label(f.name))
                stored.append(f)
        rows = [dict(r) for r in run(sa.select(*cols).where(where(et.main), et.main.c.deleted_at.is_(None))).mappings()]
        for f in entity.active_fields:
            ftype = self.snapshot.field_types.get(f.type)
            if ftype is None or not ftype.multi or not rows:
                continue
            link = et.links[f.id]
            values: dict[int, set] = {r["id"]: set() for r in rows}
            for rid, value in run(sa.select(link.c.record_id, link.c.value).where(link.c.record_id.in_(list(values)))):
                values[rid].add(value)
            for r in rows:
                r[f.name] = frozenset(values[r["id"]])
        return rows
