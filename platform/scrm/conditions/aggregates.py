"""Aggregates over child rows in SQL, for :class:`~.sql.SqlCompiler`: a grouped derived table
joined once (set-wide queries: lists, batch rules on PostgreSQL) or a correlated subquery (one
record, SQLite, or a ``where`` that reads the parent row).

Aggregates are keyed by their structure (:func:`signature`), so a named metric expanded in several
places is computed once; ``first``/``last`` picks that differ only in the value they read share one
ranking (:meth:`AggregateCompiler.share_picks`).
"""

from __future__ import annotations

import dataclasses
import math
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import distinct_on

from ..meta.model import EntityDef, FieldDef
from . import ir
from .dialect import CodePointOrder
from .python import PythonCompiler, Row
from .sqlvalues import Num, Val, apply, bind
from .values import test


class AggregateCompiler:
    """The aggregate half of the SQL compiler (mixed into :class:`~.sql.SqlCompiler`, which
    provides ``tables``, ``batch``, ``name``, ``condition``, ``operand`` and ``_field``)."""

    def _init_aggregates(self) -> None:
        self._required: set[Any] = set()  # signatures of aggregates the condition needs child rows for
        self.inner_joins: set[int] = set()  # ids of the derived tables a statement may join inner
        self.guards: list[sa.ColumnElement[bool]] = []  # "some child row counts at all", evaluated once
        self._aggs: dict[tuple[Any, int], Any] = {}
        self._pick_groups: dict[Any, list[ir.Field]] = {}  # first/last sharing one ranking
        self._picks: dict[tuple[Any, int], tuple[Any, dict]] = {}

    def share_picks(self, aggs: list[ir.Agg]) -> None:
        """``first``/``last`` aggregates that differ only in the value they pick (the latest
        snapshot's tech weight and its market value) rank the child rows once, in one derived
        table with a column per value, instead of once each."""
        groups: dict[Any, dict[Any, ir.Field]] = {}
        for agg in aggs:
            if agg.fn in ("first", "last") and agg.of is not None and len(agg.of.steps) == 1 and not agg.uses_record:
                groups.setdefault(_pick_key(agg), {})[signature(agg.of)] = agg.of
        self._pick_groups = {k: list(v.values()) for k, v in groups.items() if len(v) > 1}

    def require_rows(self, node: ir.Node) -> None:
        """Note the aggregates without whose child rows ``node`` cannot hold (:func:`needs_rows`):
        their derived tables may be joined inner, so the database can start from the smaller
        side, and each gets a guard (:attr:`guards`) that no row is tested when none counts."""
        self._required = needs_rows(node, self.env)

    def semi_join(self, n: ir.Node, scope) -> sa.ColumnElement[bool] | None:
        """``exists(…) = true`` and ``count(…)`` or ``count_distinct(…) >= k`` (k ≥ 1) tested
        positively, as the parents among the child rows that count: ``id IN (SELECT fk …
        [GROUP BY fk HAVING count >= k])``;
        an ``any`` of such leaves as one ``IN`` of their union. The database starts from the few
        child rows in the window (their index) instead of testing every parent. None when the
        node is not of that form."""
        if isinstance(n, ir.AnyOf):
            parts = [self._semi_rows(item, scope) if isinstance(item, ir.Cmp) else None for item in n.items]
            if not parts or any(p is None for p in parts):
                return None
            return scope.table.c.id.in_(sa.union(*parts) if len(parts) > 1 else parts[0])
        rows = self._semi_rows(n, scope) if isinstance(n, ir.Cmp) else None
        return scope.table.c.id.in_(rows) if rows is not None else None

    def _semi_rows(self, n: ir.Cmp, scope) -> sa.Select | None:
        a = n.left
        semi = ("exists", "count", "count_distinct")
        if not isinstance(a, ir.Agg) or a.uses_record or a.fn not in semi or len(n.args) != 1:
            return None
        if n.args[0] is None or not ir.is_constant(n.args[0]):
            return None
        value = self.operand(n.args[0], scope).value
        if a.fn == "exists":
            if not (n.op == "eq" and value is True):
                return None
            least = 1
        elif isinstance(value, int | Decimal) and not isinstance(value, bool) and n.op in ("gte", "gt"):
            least = math.floor(value) + 1 if n.op == "gt" else math.ceil(value)
            if least < 1:
                return None
        else:
            return None
        source, fk, conds, of, _order, _child = self._agg_parts(a, scope)
        rows = sa.select(fk).select_from(source).where(*conds, fk.is_not(None))
        if of is not None and a.fn != "exists":
            rows = rows.where(_of_expr(of).is_not(None))  # the rows that count
        if least > 1:
            if a.fn == "count_distinct":
                counted = sa.func.count(sa.distinct(_of_expr(of)))
            else:
                counted = sa.func.count() if of is None else sa.func.count(_of_expr(of))
            rows = rows.group_by(fk).having(counted >= least)
        return rows

    def _agg(self, o: ir.Agg, scope):
        # by structure, not identity: a metric expanded in several places of a condition (and in
        # the SELECT) is one derived table, one scan of the child table
        key = (signature(o), id(scope.table))
        if key in self._aggs:
            return self._aggs[key]
        source, fk, conds, of, order, child = self._agg_parts(o, scope)
        if scope.parent is None and scope_free(o) and signature(o) in self._required:
            # uncorrelated: the database tests it once and, when no child row counts (a window
            # before the history began), skips the whole statement
            rows = sa.select(sa.literal_column("1")).select_from(source).where(*conds, fk.is_not(None))
            self.guards.append(sa.exists(rows))
        if self.batch and not o.uses_record:
            value = self._grouped(o, scope, source, fk, conds, of, order, child)
        else:
            value = self._correlated(o, scope, source, fk, conds, of, order, child)
        self._aggs[key] = value
        return value

    def _agg_parts(self, o: ir.Agg, scope):
        """The child rows an aggregate reads: (source with joins, foreign key, conditions, value,
        order, child table)."""
        child = self.tables[o.child.name].main.alias(self.name("c"))
        inner = _scope(o.child, child, scope)
        conds = [child.c.deleted_at.is_(None)]
        if o.window is not None:  # rows whose window field is empty are in no window
            moment = self._field(o.window.field, inner)
            if o.window.start is None and o.window.end is None:
                conds.append(moment.expr.is_not(None))
            for end, op in ((o.window.start, "gte"), (o.window.end, "lt")):
                if end is not None:
                    conds.append(apply(op, moment.expr, bind(self.operand(end, inner).value, moment.kind)))
        if o.where is not None:
            clause = self.condition(o.where, inner)
            if clause is not None:
                conds.append(clause)
        of = self._field(o.of, inner) if o.of is not None else None
        order = self._field(o.order, inner) if o.order is not None else None
        fk = child.c[o.via.column]
        source = child
        for target, on in inner.joins:
            source = source.outerjoin(target, on)
        return source, fk, conds, of, order, child

    def _correlated(self, o, scope, source, fk, conds, of, order, child):
        where = [fk == scope.table.c.id, *conds]

        def sub(*cols):
            return sa.select(*cols).select_from(source).where(*where)

        ov = _of_expr(of)
        match o.fn:
            case "exists":
                return Val(sa.exists(sub(sa.literal(1))), "bool", False)
            case "count":
                counted = sa.func.count() if of is None else sa.func.count(ov)
                return Num(sub(counted).scalar_subquery(), None, 0, False)
            case "count_distinct":
                return Num(sub(sa.func.count(sa.distinct(ov))).scalar_subquery(), None, 0, False)
            case "sum":
                total = sa.func.coalesce(sub(sa.func.sum(ov)).scalar_subquery(), 0)
                return Num(total, None, of.scale, False, of.whole)
            case "avg":
                total = sub(sa.func.sum(ov)).scalar_subquery()
                count = sa.func.nullif(sub(sa.func.count(ov)).scalar_subquery(), 0)
                return Num(total, count, of.scale, True, of.whole, (sub, sa.func.sum(ov), sa.func.count(ov)))
            case "min" | "max":
                fn = sa.func.min if o.fn == "min" else sa.func.max
                return _like(of, sub(fn(_ordered(of))).scalar_subquery())
            case "first" | "last":
                ordering = _order_clauses(o.fn, order, child)
                picked = (
                    sa.select(ov)
                    .select_from(source)
                    .where(*where, *_has_order(o, order))
                    .order_by(*ordering)
                    .limit(1)
                    .scalar_subquery()
                )
                return _like(of, picked)
        raise ValueError(f"unknown aggregate {o.fn!r}")

    def _shared_pick(self, o, group, scope, source, fk, conds, of, order, child, name):
        """One ranked derived table for the whole group (see :meth:`share_picks`)."""
        key = (group, id(scope.table))
        if key not in self._picks:
            inner = _scope(o.child, child, scope)
            values = [self._field(f, inner) for f in self._pick_groups[group]]
            picked = [_of_expr(v).label(f"v{i}") for i, v in enumerate(values)]
            derived = self._first_rows(o, source, fk, conds, order, child, picked, name)
            scope.joins.append((derived, derived.c.k == scope.table.c.id))
            self._mark_inner(o, derived, scope)
            columns = {signature(f): derived.c[f"v{i}"] for i, f in enumerate(self._pick_groups[group])}
            self._picks[key] = (derived, columns)
        _derived, columns = self._picks[key]
        return _like(of, columns[signature(o.of)])

    def _mark_inner(self, o: ir.Agg, derived, scope) -> None:
        """The statement's own derived tables (not those inside another aggregate's rows)."""
        if scope.parent is None and scope_free(o) and signature(o) in self._required:
            self.inner_joins.add(id(derived))

    def _first_rows(self, o: ir.Agg, source, fk, conds, order, child, values: list, name: str):
        """Each parent's first (or last) child row in ``order``: ``k`` and the ``values``.
        PostgreSQL: ``DISTINCT ON (fk)`` (one sort, no window step); elsewhere ``row_number()``."""
        ordering = _order_clauses(o.fn, order, child)
        rows = sa.select(fk.label("k"), *values).select_from(source).where(*conds, *_has_order(o, order))
        if self.dialect == "postgresql":
            return rows.ext(distinct_on(fk)).order_by(fk, *ordering).subquery(name)
        rank = sa.func.row_number().over(partition_by=fk, order_by=ordering)
        ranked = rows.add_columns(rank.label("rn")).subquery(f"{name}r")
        return sa.select(*[c for c in ranked.c if c.name != "rn"]).where(ranked.c.rn == 1).subquery(name)

    def _grouped(self, o, scope, source, fk, conds, of, order, child):
        ov = _of_expr(of)
        name = self.name("a")
        group = _pick_key(o) if o.fn in ("first", "last") and o.of is not None else None
        if group in self._pick_groups:
            return self._shared_pick(o, group, scope, source, fk, conds, of, order, child, name)
        if o.fn in ("first", "last"):
            derived = self._first_rows(o, source, fk, conds, order, child, [ov.label("v")], name)
            scope.joins.append((derived, derived.c.k == scope.table.c.id))
            self._mark_inner(o, derived, scope)
            return _like(of, derived.c.v)
        cols = [fk.label("k")]
        match o.fn:
            case "exists" | "count":
                cols.append((sa.func.count() if of is None else sa.func.count(ov)).label("v"))
            case "count_distinct":
                cols.append(sa.func.count(sa.distinct(ov)).label("v"))
            case "sum":
                cols.append(sa.func.sum(ov).label("v"))
            case "avg":
                cols += [sa.func.sum(ov).label("v"), sa.func.count(ov).label("n")]
            case "min" | "max":
                fn = sa.func.min if o.fn == "min" else sa.func.max
                cols.append(fn(_ordered(of)).label("v"))
        derived = sa.select(*cols).select_from(source).where(*conds, fk.is_not(None)).group_by(fk).subquery(name)
        scope.joins.append((derived, derived.c.k == scope.table.c.id))
        self._mark_inner(o, derived, scope)
        match o.fn:
            case "exists":
                return Val(derived.c.k.is_not(None), "bool", False)
            case "count" | "count_distinct":
                return Num(sa.func.coalesce(derived.c.v, 0), None, 0, False)
            case "sum":
                return Num(sa.func.coalesce(derived.c.v, 0), None, of.scale, False, of.whole)
            case "avg":
                return Num(derived.c.v, sa.func.nullif(derived.c.n, 0), of.scale, True, of.whole)
        return _like(of, derived.c.v)


NULL_WHEN_EMPTY = frozenset({"avg", "min", "max", "first", "last"})
ZERO_WHEN_EMPTY = frozenset({"count", "count_distinct", "sum"})
REJECTS_NULL = frozenset({"gt", "gte", "lt", "lte", "eq", "between"})


def needs_rows(node: ir.Node, env, neg: bool = False) -> set[Any]:
    """Signatures of the aggregates that must have child rows for ``node`` to hold: those a
    positive comparison in every alternative reads (``avg(…) > x`` is UNKNOWN without rows;
    ``count(…) > 10`` is false at 0). An ``any`` needs what each of its branches needs."""
    if isinstance(node, ir.Not):
        return needs_rows(node.item, env, not neg)
    if isinstance(node, ir.All | ir.AnyOf):
        found = [needs_rows(item, env, neg) for item in node.items]
        if not found:
            return set()
        return set().union(*found) if isinstance(node, ir.All) != neg else set.intersection(*found)
    if not isinstance(node, ir.Cmp) or neg or node.op not in REJECTS_NULL:
        return set()
    constants = [a for a in node.args if a is not None and ir.is_constant(a)]
    try:
        values = tuple(PythonCompiler().operand(a)(Row({}), env) for a in constants)
    except Exception:  # a parameter without a value (the leaf is left out) or a context not given
        return set()
    if any(v is None for v in values):
        return set()
    out = set()
    for o in (node.left, *node.args):
        if not isinstance(o, ir.Agg) or not scope_free(o):
            continue
        if o.fn in NULL_WHEN_EMPTY:
            out.add(signature(o))
        elif o.fn in ZERO_WHEN_EMPTY and o is node.left and len(constants) == len(node.args):
            if not test(node.op, 0, values, ci=node.ci, tz=env.tz):
                out.add(signature(o))
    return out


def scope_free(agg: ir.Agg) -> bool:
    return not agg.uses_record


def _pick_key(agg: ir.Agg) -> Any:
    return (agg.fn, signature(agg.relation), signature(agg.where), signature(agg.window), signature(agg.order))


def all_aggregates(value, out: list | None = None) -> list[ir.Agg]:
    """Every aggregate inside prepared nodes and operands."""
    out = [] if out is None else out
    if isinstance(value, ir.Agg):
        out.append(value)
    if (
        dataclasses.is_dataclass(value)
        and not isinstance(value, type)
        and isinstance(value, ir.Node | ir.Operand | ir.Window)
    ):
        for f in dataclasses.fields(value):
            all_aggregates(getattr(value, f.name), out)
    elif isinstance(value, list | tuple):
        for v in value:
            all_aggregates(v, out)
    return out


def signature(value) -> Any:
    """A hashable description of a prepared node or operand, without its JSON path: two
    expansions of one named metric have the same signature."""
    if isinstance(value, FieldDef):
        return ("f", value.id, value.name)
    if isinstance(value, EntityDef):
        return ("e", value.name)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value).__name__,) + tuple(
            (f.name, signature(getattr(value, f.name))) for f in dataclasses.fields(value) if f.name != "path"
        )
    if isinstance(value, list | tuple):
        return tuple(signature(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, signature(v)) for k, v in value.items()))
    if isinstance(value, set | frozenset):
        return ("set", tuple(sorted(map(repr, value))))
    try:
        hash(value)
        return value
    except TypeError:
        return repr(value)


def _of_expr(v):
    if v is None:
        return None
    return v.num if isinstance(v, Num) else v.expr


def _ordered(v):
    """An aggregate argument whose order is the code-point order for texts."""
    if isinstance(v, Val) and v.kind == "string":
        return CodePointOrder(v.expr)
    return _of_expr(v)


def _like(template, expr):
    """A value of the same shape as ``template`` (a column aggregated by min, max, first …)."""
    if isinstance(template, Num):
        return Num(expr, None, template.scale, True, template.whole)
    return Val(expr, template.kind, True)


def _has_order(o: ir.Agg, order) -> list:
    """The test that a row has a value to be ordered by, unless the window (on the same field,
    with a bound) already requires one: the redundant ``IS NOT NULL`` tipped PostgreSQL from the
    date index to a scan of the whole snapshot table (``alr_drawdown_care`` 3× the hand-written)."""
    window = o.window
    if (
        window is not None
        and (window.start is not None or window.end is not None)
        and signature(window.field) == signature(o.order)
    ):
        return []
    return [_of_expr(order).is_not(None)]


def _order_clauses(fn: str, order, child) -> list:
    key = _ordered(order)
    if fn == "first":
        return [key.asc(), child.c.id.asc()]
    return [key.desc(), child.c.id.desc()]


def _scope(entity, table, parent):
    from .sql import Scope  # (the scope belongs to the compiler that mixes this in)

    return Scope(entity, table, [], parent)
