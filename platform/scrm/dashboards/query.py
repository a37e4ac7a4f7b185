"""A widget as one SQL statement: ``SELECT groups, measures FROM dataset WHERE scope AND dataset
filter AND time range AND widget filter GROUP BY groups ORDER BY … LIMIT …``.

Measures compile to exact numbers (:mod:`scrm.conditions.sqlvalues`): an average or a ratio keeps
its numerator and denominator, so ``div`` of two filtered counts is exact on both databases and
NULL (shown as "—") when the denominator is 0. Filtered aggregates are ``CASE WHEN`` inside the
aggregate, so every measure of a widget is computed in the same scan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Any

import sqlalchemy as sa

from ..conditions.sql import Pruned, Scope, SqlCompiler
from ..conditions.sqlvalues import (
    Known,
    Num,
    Val,
    add,
    as_num,
    bind,
    coalesce,
    divide,
    multiply,
    pct_change,
    raw_number,
    round_half_away,
)
from .buckets import bucket_expr
from .plan import Group, MAgg, MCalc, MLit, WidgetPlan

MAX_ROWS = 1000  # a chart or table never carries more rows than this


@dataclass(frozen=True)
class TimeRange:
    """``[start, end)`` as instants, and the same bounds as local wall-clock times."""

    start: datetime
    end: datetime
    local_start: datetime
    local_end: datetime

    def dates(self) -> tuple[date, date]:
        """The days the range covers, for date fields: ``[first, after_last)``."""
        last = (self.local_end - timedelta(microseconds=1)).date()
        return self.local_start.date(), last + timedelta(days=1)


@dataclass
class Compiled:
    stmt: sa.Select
    columns: list[tuple[str, str, Any]]  # (name, how to read: group|num|numden|val, extra)


def compile_widget(
    widget: WidgetPlan,
    tables,
    env,
    dialect: str,
    *,
    scoped,
    time_range: TimeRange | None,
    trees: dict[str, list[tuple[int, tuple[int, ...]]]],
    week_sunday: bool = False,
    extra: list | None = None,
) -> Compiled:
    """The widget's statement. ``scoped(stmt, entity)`` adds the viewer's record scope; ``trees``
    gives, per tree group, the units rows fall under with the ids of each one's subtree; ``extra``
    adds prepared conditions (a drill-down's bucket)."""
    ds = widget.dataset
    main = tables[ds.entity.name].main
    scope = Scope(ds.entity, main, [])
    compiler = SqlCompiler(tables, env, dialect, batch=False)
    where = [main.c.deleted_at.is_(None)]
    for node in (ds.filter, widget.filter, *(extra or [])):
        if node is not None:
            clause = compiler.condition(node, scope)
            if clause is not None:
                where.append(clause)
    if time_range is not None and ds.time is not None:
        where += range_clauses(compiler, scope, ds.time, time_range)
    cols, columns, keys = [], [], []
    tz = env.tz.key
    for i, g in enumerate(widget.groups):
        expr = group_expr(compiler, scope, g, tz, week_sunday, trees.get(g.alias, []))
        label = f"g{i}"
        cols.append(expr.label(label))
        keys.append(expr)
        columns.append((g.alias, "group", label))
    order_exprs = {}
    for j, m in enumerate(widget.measures):
        value = measure_value(compiler, scope, m.node)
        label = f"m{j}"
        if isinstance(value, Num):
            cols.append(raw_number(value.num, dialect).label(label))
            if value.den is not None:
                cols.append(raw_number(value.den, dialect).label(label + "d"))
            columns.append((m.name, "num", (label, value.den is not None, value.scale)))
            order_exprs[m.name] = _sortable(value)
        elif isinstance(value, Known):
            cols.append(sa.literal(str(value.value)).label(label))
            columns.append((m.name, "val", label))
        else:
            cols.append(value.expr.label(label))
            columns.append((m.name, "val", label))
            order_exprs[m.name] = value.expr
    for g, expr in zip(widget.groups, keys, strict=True):
        order_exprs[g.alias] = natural_order(g, expr)
    stmt = sa.select(*cols).select_from(main)
    for target, on in scope.joins:
        stmt = stmt.outerjoin(target, on)
    stmt = scoped(stmt.where(*where), ds.entity)
    if keys:
        stmt = stmt.group_by(*keys)
    order = widget_order(widget)
    clauses = []
    for name, direction in order:
        expr = order_exprs.get(name)
        if expr is not None:
            clauses.append(expr.desc().nulls_last() if direction == "desc" else expr.asc().nulls_last())
    sorted_by = {n for n, _d in order}
    for g, expr in zip(widget.groups, keys, strict=True):
        if g.alias not in sorted_by:
            natural = order_exprs[g.alias]
            clauses += [natural.asc()] if natural is expr else [natural.asc(), expr.asc().nulls_last()]
    if clauses:
        stmt = stmt.order_by(*clauses)
    if keys:
        stmt = stmt.limit(widget_limit(widget))
    return Compiled(stmt, columns)


def natural_order(g: Group, expr):
    """A choice field's groups in the order of its options (mass, affluent, wealth, hnw…), not
    alphabetically; other groups by their value."""
    options = g.field.last.options if g.kind == "field" and g.field is not None else ()
    if not options:
        return expr
    return sa.case({o.value: i for i, o in enumerate(options)}, value=expr, else_=len(options))


def widget_order(widget: WidgetPlan) -> list[tuple[str, str]]:
    """The declared sort; else time buckets in order; else rankings, pies and funnels by their
    first measure, largest first; else the groups' natural order."""
    if widget.raw.get("sort"):
        return [(s["by"], s.get("dir", "asc")) for s in widget.raw["sort"]]
    if any(g.kind == "time" for g in widget.groups):
        return [(g.alias, "asc") for g in widget.groups if g.kind == "time"]
    if widget.type in ("ranking", "pie", "funnel"):
        return [(next(m for m in widget.measures if not m.hidden).name, "desc")]
    return []


def widget_limit(widget: WidgetPlan) -> int:
    if "limit" in widget.raw:
        return min(widget.raw["limit"], MAX_ROWS)
    return 10 if widget.type == "ranking" else MAX_ROWS


def range_clauses(compiler, scope, time_field, tr: TimeRange) -> list:
    col = compiler._field(time_field, scope)
    if time_field.kind == "date":
        first, after = tr.dates()
        return [col.expr >= bind(first, "date"), col.expr < bind(after, "date")]
    return [col.expr >= bind(tr.start, "datetime"), col.expr < bind(tr.end, "datetime")]


def group_expr(compiler, scope, g: Group, tz: str, sunday: bool, tree: list[tuple[int, tuple[int, ...]]]):
    value = compiler._field(g.field, scope)
    expr = value.num if isinstance(value, Num) else value.expr
    if g.kind == "time":
        return bucket_expr(g.unit, expr, g.field.kind, tz, sunday)
    if g.kind == "bins":
        num = as_num(value)
        whens = []
        for i, b in enumerate(g.bins):
            tests = [_bound(num, op, b[op]) for op in ("gt", "gte", "lt", "lte") if op in b]
            whens.append((sa.and_(*tests) if tests else sa.true(), i))
        return sa.case(*whens, else_=sa.null())
    if g.kind == "tree":
        whens = [(expr.in_(ids), unit) for unit, ids in tree]
        return sa.case(*whens, else_=sa.null()) if whens else sa.null()
    return expr


def _bound(num: Num, op: str, bound: Fraction):
    from ..conditions.sqlvalues import compare_numbers

    return compare_numbers(op, num, Known(bound, "decimal"))


def measure_value(compiler, scope, node):
    if isinstance(node, MLit):
        return Known(node.value, "decimal")
    if isinstance(node, MCalc):
        args = [measure_value(compiler, scope, a) for a in node.args]
        nums = [as_num(a) for a in args]
        match node.fn:
            case "add" | "sub":
                return add(nums[0], nums[1], subtract=node.fn == "sub")
            case "mul":
                return multiply(nums[0], nums[1])
            case "div":
                return divide(nums[0], nums[1])
            case "neg":
                return Num(-nums[0].num, nums[0].den, nums[0].scale, nums[0].nullable, nums[0].whole)
            case "abs":
                return Num(sa.func.abs(nums[0].num), nums[0].den, nums[0].scale, nums[0].nullable, nums[0].whole)
            case "round":
                return round_half_away(nums[0], node.digits)
            case "coalesce":
                return coalesce(nums)
            case "pct_change":
                return pct_change(nums[0], nums[1])
        raise ValueError(node.fn)
    return _aggregate(compiler, scope, node)


def _aggregate(compiler, scope, node: MAgg):
    cond = None
    if node.where is not None:
        try:
            cond = compiler.condition(node.where, scope)
        except Pruned:
            cond = None
    of = compiler._field(node.of, scope) if node.of is not None else None
    if isinstance(of, Num) and of.den is not None:
        raise ValueError("a computed quotient cannot be aggregated")

    def guarded(expr):
        return sa.case((cond, expr), else_=sa.null()) if cond is not None else expr

    if of is None:
        counted = sa.func.count(guarded(sa.literal(1))) if cond is not None else sa.func.count()
        return Num(counted, None, 0, False)
    ov = of.num if isinstance(of, Num) else of.expr
    match node.fn:
        case "count":
            return Num(sa.func.count(guarded(ov)), None, 0, False)
        case "count_distinct":
            return Num(sa.func.count(sa.distinct(guarded(ov))), None, 0, False)
        case "sum":
            return Num(sa.func.coalesce(sa.func.sum(guarded(ov)), 0), None, of.scale, False, of.whole)
        case "avg":
            return Num(
                sa.func.sum(guarded(ov)), sa.func.nullif(sa.func.count(guarded(ov)), 0), of.scale, True, of.whole
            )
    fn = sa.func.min if node.fn == "min" else sa.func.max
    if isinstance(of, Num):
        return Num(fn(guarded(ov)), None, of.scale, True, of.whole)
    return Val(fn(guarded(ov)), of.kind, True)


def _sortable(value: Num):
    """A number's order as a float: rankings sort by ratios too."""
    expr = sa.cast(value.num, sa.Float())
    if value.den is not None:
        expr = expr / sa.cast(value.den, sa.Float())
    return expr


def read_rows(compiled: Compiled, rows) -> list[dict]:
    """Result rows as ``{column: value}``: numbers as exact Fractions (None where NULL)."""
    out = []
    for row in rows:
        m = row._mapping
        item = {}
        for name, how, extra in compiled.columns:
            if how == "group":
                item[name] = m[extra]
            elif how == "num":
                label, has_den, scale = extra
                num = m[label]
                den = m[label + "d"] if has_den else 1
                if num is None or den is None or den == 0:
                    item[name] = None
                else:
                    item[name] = Fraction(num) / Fraction(den) / 10**scale
            else:
                item[name] = m[extra]
        out.append(item)
    return out
