"""The SQL back-end: a prepared condition compiled to one SQLAlchemy Core boolean expression.

* ``not`` is pushed down to the leaves (negation normal form). A negated leaf that SQL could find
  UNKNOWN gets ``OR <operand> IS NULL`` guards for exactly the operands that can be NULL, so
  SQL's three-valued logic never reaches the user and positive leaves stay plain, index-friendly
  predicates.
* Every value is a bind parameter; every column comes from metadata.
* Numbers are exact on both databases: quotients keep a denominator and comparisons
  cross-multiply (:mod:`.sqlvalues`).
* Paths through references become aliased ``LEFT OUTER JOIN``s (once per path and statement);
  aggregates become correlated scalar subqueries (one record, or a ``where`` that reads the
  outer row) or derived tables grouped by the foreign key and joined once (batch).
* Constant parts (literals, relative times, the user, parameters, the outer record and the old
  values) are computed in Python with the same functions as the Python back-end; a leaf whose
  operands are all constant is decided in Python.

:func:`compile_sql` returns a :class:`Compiled`: the ``where`` clause and the joins it needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import sqlalchemy as sa

from ..fields.sqltypes import ExactDecimal
from . import functions, ir
from .aggregates import AggregateCompiler, all_aggregates
from .dialect import CodePointOrder, DaysBetween, UnicodeLower, date_part, local_date, text_match
from .env import Environment
from .python import PythonCompiler, Row, _Pruned
from .sqlvalues import (
    Known,
    Num,
    SealedVal,
    SetVal,
    Val,
    add,
    apply,
    as_num,
    bind,
    coalesce,
    compare_numbers,
    divide,
    from_sql,
    multiply,
    numbers_in,
    pct_change,
    plain_sql,
    raw_number,
    round_half_away,
    typed,
    unknown_when,
)
from .values import leap, test

NUMERIC_KINDS = frozenset({"integer", "decimal", "ref"})
ORDERING = frozenset({"lt", "lte", "gt", "gte"})
FLIP = {"lt": "gt", "gt": "lt", "lte": "gte", "gte": "lte", "eq": "eq"}


class Pruned(Exception):
    """A leaf whose parameter has no value: it is left out of its group."""


# -- results ---------------------------------------------------------------------------------
@dataclass
class Compiled:
    where: sa.ColumnElement[bool]
    joins: list[tuple[Any, Any]] = field(default_factory=list)
    inner: frozenset[int] = frozenset()  # ids of the joined tables the condition needs a row of
    guards: tuple = ()  # uncorrelated tests the condition needs (some child row counts at all)

    def apply(self, stmt: sa.Select) -> sa.Select:
        """``stmt`` with the joins the condition needs, filtered by it."""
        for target, on in self.joins:
            stmt = stmt.join(target, on) if id(target) in self.inner else stmt.outerjoin(target, on)
        return stmt.where(self.where, *self.guards)


@dataclass(eq=False)
class Scope:
    entity: Any
    table: Any
    joins: list
    parent: Scope | None = None
    paths: dict = field(default_factory=dict)  # (step ids …) -> alias


class SqlCompiler(AggregateCompiler):
    def __init__(
        self, tables: Mapping[str, Any], env: Environment, dialect: str, *, batch: bool = True, semi_joins: bool = False
    ):
        """``batch``: aggregates as grouped derived tables (else correlated subqueries);
        ``semi_joins``: the statement reads the whole table (a rule's night run), so a positive
        ``exists``/``count >= k`` becomes ``id IN (child rows)`` (:meth:`semi_join`)."""
        self.tables = tables
        self.env = env
        self.dialect = dialect
        self.batch = batch
        self.semi_joins = semi_joins
        self.python = PythonCompiler()
        self._names = 0
        self._init_aggregates()

    def name(self, prefix: str) -> str:
        self._names += 1
        return f"{prefix}{self._names}"

    # -- conditions -----------------------------------------------------------------------------
    def condition(self, n: ir.Node, scope: Scope, neg: bool = False) -> sa.ColumnElement[bool] | None:
        if isinstance(n, ir.Const):
            return sa.true() if n.value != neg else sa.false()
        if isinstance(n, ir.Not):
            return self.condition(n.item, scope, not neg)
        if isinstance(n, ir.AnyOf) and self.semi_joins and not neg:
            try:
                semi = self.semi_join(n, scope)
            except Pruned:
                semi = None
            if semi is not None:
                return semi
        if isinstance(n, ir.All | ir.AnyOf):
            # cheap tests first: a database that evaluates in order (SQLite) skips the aggregates
            items = sorted(n.items, key=_cost)
            parts = [p for p in (self.condition(i, scope, neg) for i in items) if p is not None]
            if not parts:
                return None
            conjunction = isinstance(n, ir.All) != neg
            return sa.and_(*parts) if conjunction else sa.or_(*parts)
        try:  # constant arguments first: one without a value leaves the leaf out before it joins anything
            semi = self.semi_join(n, scope) if self.semi_joins and not neg else None
            if semi is not None:
                return semi
            known = {i: self.operand(a, scope) for i, a in enumerate(n.args) if a is not None and ir.is_constant(a)}
            left = self.operand(n.left, scope)
            args = tuple(
                known[i] if i in known else self.operand(a, scope) if a is not None else Known(None, None)
                for i, a in enumerate(n.args)
            )
        except Pruned:
            return None
        if isinstance(left, Known) and all(isinstance(a, Known) for a in args):
            decided = test(n.op, left.value, tuple(a.value for a in args), ci=n.ci, tz=self.env.tz)
            return sa.true() if decided != neg else sa.false()
        expr, unknown = self.leaf(n, left, args)
        if not neg:
            return expr
        return sa.or_(sa.not_(expr), unknown) if unknown is not None else sa.not_(expr)

    def leaf(self, n: ir.Cmp, a, args) -> tuple[Any, Any]:
        """(the positive test, an expression true where SQL would find the test UNKNOWN)."""
        op = n.op
        if isinstance(a, SealedVal):  # equality on the blind index (the preparer allows no more)
            args = tuple(_blinded(x, a.blind) for x in args)
            a = Val(a.expr, a.kind, a.nullable)
        match op:
            case "is_null":
                if isinstance(a, SetVal):
                    return sa.false(), None
                return (a.null() if isinstance(a, Num) else a.expr.is_(None)), None
            case "is_empty":
                if isinstance(a, SetVal):
                    return sa.not_(sa.exists(self._members(a))), None
                if isinstance(a, Val) and a.kind == "string":
                    return sa.or_(a.expr.is_(None), a.expr == sa.literal("", sa.String())), None
                return (a.null() if isinstance(a, Num) else a.expr.is_(None)), None
            case "has_any" | "has_all":
                return self._set_test(op, a, args[0].value), None
            case "in":
                return self._in(a, args[0].value), unknown_when(a)
            case "contains" | "starts_with" | "ends_with":
                value = args[0].value
                if value is None:
                    return sa.false(), None
                return text_match(a.expr, op, value, n.ci), unknown_when(a)
            case "in_period":
                lo, hi = args[0].value, args[1].value
                parts = []
                if lo is not None:
                    parts.append(a.expr >= bind(lo, a.kind))
                if hi is not None:
                    parts.append(a.expr < bind(hi, a.kind))
                if not parts:
                    return a.expr.is_not(None), None
                return sa.and_(*parts), unknown_when(a)
            case "anniversary_is":
                target = args[0].value
                if target is None:
                    return sa.false(), None
                day = local_date(a.expr, a.kind, self.env.tz.key)
                month_of, day_of = date_part("month", day, "date", ""), date_part("day", day, "date", "")
                target = target if not hasattr(target, "date") else target.astimezone(self.env.tz).date()
                if (target.month, target.day) == (2, 28) and not leap(target.year):
                    return sa.and_(month_of == 2, day_of.in_([28, 29])), unknown_when(a)
                return sa.and_(month_of == target.month, day_of == target.day), unknown_when(a)
            case "between":
                lo, hi = args
                if any(isinstance(x, Known) and x.value is None for x in (lo, hi)):
                    return sa.false(), None
                expr = sa.and_(self.compare("gte", a, lo), self.compare("lte", a, hi))
                return expr, unknown_when(a, lo, hi)
        b = args[0]
        if isinstance(b, Known) and b.value is None:
            return sa.false(), None
        return self.compare(op, a, b), unknown_when(a, b)

    # -- comparisons ----------------------------------------------------------------------------
    def compare(self, op: str, a, b) -> sa.ColumnElement[bool]:
        if isinstance(a, Known) and not isinstance(b, Known):
            a, b, op = b, a, FLIP[op]
        if isinstance(a, Num) or (isinstance(b, Num) and not isinstance(a, Val)):
            return compare_numbers(op, as_num(a), b)
        left = a.expr
        right = bind(b.value, a.kind, left) if isinstance(b, Known) else b.expr
        if a.kind == "string" and op in ORDERING:
            left = CodePointOrder(left)
            right = CodePointOrder(right) if not isinstance(b, Known) else right
        return apply(op, left, right)

    def _in(self, a, values) -> sa.ColumnElement[bool]:
        values = tuple(v for v in values or () if v is not None)
        if not values:
            return sa.false()
        if isinstance(a, Num):
            return numbers_in(a, values)
        return a.expr.in_([bind(v, a.kind, a.expr) for v in values])

    def _members(self, s: SetVal):
        return sa.select(s.link.c.record_id).where(s.link.c.record_id == s.owner)

    def _set_test(self, op: str, a: SetVal, wanted) -> sa.ColumnElement[bool]:
        wanted = sorted(set(wanted or ()))
        if op == "has_all" and not wanted:
            return sa.true()
        if not wanted:
            return sa.false()
        matching = self._members(a).where(a.link.c.value.in_([sa.literal(w, sa.String()) for w in wanted]))
        if op == "has_any":
            return sa.exists(matching)
        count = (
            sa.select(sa.func.count(sa.distinct(a.link.c.value)))
            .where(a.link.c.record_id == a.owner, a.link.c.value.in_([sa.literal(w, sa.String()) for w in wanted]))
            .scalar_subquery()
        )
        return count == len(wanted)

    # -- operands -------------------------------------------------------------------------------
    def operand(self, o: ir.Operand, scope: Scope):
        if ir.is_constant(o):
            try:
                return Known(self.python.operand(o)(Row({}), self.env), o.kind)
            except _Pruned:
                raise Pruned from None
        if isinstance(o, ir.Field):
            return self._field(o, scope)
        if isinstance(o, ir.Agg):
            return self._agg(o, scope)
        return self._calc(o, scope)

    def column(self, table, f, kind: str, nullable: bool):
        col = table.c[f.column]
        if kind in NUMERIC_KINDS:
            ftype_scale = getattr(col.type, "scale", None) if isinstance(col.type, ExactDecimal) else None
            if ftype_scale is not None:
                if self.dialect == "sqlite":
                    return Num(sa.type_coerce(col, sa.BigInteger()), None, ftype_scale, nullable, True)
                return Num(sa.type_coerce(col, sa.Numeric()), None, 0, nullable, False)
            return Num(col, None, 0, nullable, True)
        return Val(col, kind, nullable)

    def _field(self, o: ir.Field, scope: Scope):
        base = scope if o.scope == "field" else scope.parent
        table, key = base.table, ()
        for step, owner in zip(o.steps[:-1], o.entities[1:], strict=False):
            key += (step.id,)
            alias = base.paths.get(key)
            if alias is None:
                alias = self.tables[owner.name].main.alias(self.name("p"))
                on = sa.and_(alias.c.id == table.c[step.column], alias.c.deleted_at.is_(None))
                base.joins.append((alias, on))
                base.paths[key] = alias
            table = alias
        last = o.last
        if o.computed is not None:
            inner = Scope(o.owner, table, base.joins, None, {})
            value = self.operand(o.computed, inner)
            if o.digits is not None and not isinstance(value, Known):
                value = round_half_away(as_num(value), o.digits)
            return value
        if o.kind == "set":
            return SetVal(self.tables[o.owner.name].links[last.id], table.c.id)
        nullable = len(o.steps) > 1 or table.c[last.column].nullable
        if last.encrypted and last.index_column in table.c:
            if self.env.blind is None:
                raise ValueError("encrypted fields are compared through a blind index: the environment has no key")
            return SealedVal(table.c[last.index_column], "string", True, self.env.blind)
        return self.column(table, last, o.kind, nullable)

    # -- functions ------------------------------------------------------------------------------
    def _calc(self, o: ir.Calc, scope: Scope):
        args = [self.operand(a, scope) for a in o.args]
        if o.function is not None:
            return self._plugin_calc(o, args)
        fn = o.fn
        if fn in ("add", "sub"):
            return add(as_num(args[0]), as_num(args[1]), subtract=fn == "sub")
        if fn == "mul":
            return multiply(as_num(args[0]), as_num(args[1]))
        if fn == "neg":
            a = as_num(args[0])
            return Num(-a.num, a.den, a.scale, a.nullable, a.whole)
        if fn == "abs":
            a = as_num(args[0])
            return Num(sa.func.abs(a.num), a.den, a.scale, a.nullable, a.whole)
        if fn == "div":
            return divide(as_num(args[0]), as_num(args[1]))
        if fn == "pct_change":
            return pct_change(as_num(args[0]), as_num(args[1]))
        if fn == "round":
            return round_half_away(as_num(args[0]), o.digits)
        if fn == "coalesce":
            return self._coalesce(o, args)
        tz = self.env.tz.key
        if fn == "days_between":
            a, b = (self._temporal(x) for x in args)
            return Num(DaysBetween(local_date(a.expr, a.kind, tz), local_date(b.expr, b.kind, tz)), None, 0, True)
        if fn == "years_between":
            a, b = (self._temporal(x) for x in args)
            da, db = local_date(a.expr, a.kind, tz), local_date(b.expr, b.kind, tz)
            ya, yb = date_part("year", da, "date", tz), date_part("year", db, "date", tz)
            ma = date_part("month", da, "date", tz) * 100 + date_part("day", da, "date", tz)
            mb = date_part("month", db, "date", tz) * 100 + date_part("day", db, "date", tz)
            return Num(yb - ya - sa.case((mb < ma, 1), else_=0), None, 0, True)
        if fn == "date_part":
            a = self._temporal(args[0])
            return Num(date_part(o.part, a.expr, a.kind, tz), None, 0, True)
        if fn == "lower":
            a = self._text(args[0])
            return Val(UnicodeLower(a.expr), "string", a.nullable)
        if fn == "concat":
            parts = [sa.func.coalesce(self._text(x).expr, sa.literal("", sa.String())) for x in args]
            joined = parts[0]
            for p in parts[1:]:
                joined = joined.concat(p)
            return Val(joined, "string", False)
        raise ValueError(f"unknown function {fn!r}")

    def _plugin_calc(self, o: ir.Calc, args: list):
        """A plugin's function through its SQL builder, over plain column expressions; a builder
        that fails makes the value unknown (NULL), like a failing Python function."""
        fn = o.function
        if fn.sql is None:  # the preparer refuses this where a condition compiles to SQL
            raise ValueError(f"the function {fn.name!r} has no SQL translation")
        try:
            expr = fn.sql(*(plain_sql(a, self.dialect) for a in args))
            if not isinstance(expr, sa.sql.ClauseElement):
                raise TypeError(f"the SQL builder returned {type(expr).__name__}, not an expression")
        except Exception as exc:  # a plugin's error is its own
            functions.report(fn, exc)
            return Known(None, o.kind)
        functions.compiled(fn)
        return from_sql(expr, o.kind)

    def _coalesce(self, o: ir.Calc, args: list):
        if o.kind in NUMERIC_KINDS:
            return coalesce([as_num(a) for a in args])
        vals = [a if isinstance(a, Val) else Val(bind(a.value, o.kind), o.kind, a.value is None) for a in args]
        return Val(sa.func.coalesce(*[v.expr for v in vals]), o.kind, all(v.nullable for v in vals))

    def _temporal(self, v) -> Val:
        if isinstance(v, Known):
            kind = "datetime" if hasattr(v.value, "hour") else "date"
            return Val(bind(v.value, kind), kind, v.value is None)
        return v

    def _text(self, v) -> Val:
        if isinstance(v, Known):
            return Val(sa.literal(v.value, sa.String()), "string", v.value is None)
        return v


# -- helpers ---------------------------------------------------------------------------------
def _blinded(known, blind):
    if not isinstance(known, Known) or known.value is None:
        return known
    if isinstance(known.value, list | tuple | set | frozenset):
        return Known(type(known.value)(blind(str(v)) for v in known.value if v is not None), known.kind)
    return Known(blind(str(known.value)), known.kind)


def _cost(n: ir.Node) -> int:
    """A rough price of evaluating a node per row: aggregates and paths cost, columns do not."""
    total = 0
    for leaf in ir.leaves(n):
        for op in (leaf.left, *leaf.args):
            for inner in ir.operands(op):
                if isinstance(inner, ir.Agg):
                    total += 100
                elif isinstance(inner, ir.Field) and (len(inner.steps) > 1 or inner.computed is not None):
                    total += 10
    return total


def _root(entity, tables: Mapping[str, Any], table=None) -> Scope:
    return Scope(entity, table if table is not None else tables[entity.name].main, [])


def grouped_by_default(dialect: str) -> bool:
    """The aggregate strategy of a set-wide query when the caller does not choose: derived tables
    grouped by the foreign key on PostgreSQL (hash joins), correlated subqueries on SQLite, whose
    index lookups beat materialising a grouped table by an order of magnitude (bench/conditions.py)."""
    return dialect != "sqlite"


def compile_sql(
    node: ir.Node | None,
    entity,
    tables: Mapping[str, Any],
    env: Environment,
    dialect: str,
    *,
    batch: bool | None = None,
    table=None,
    set_wide: bool = False,
) -> Compiled:
    """The condition as a WHERE clause over ``entity``'s table (or ``table``, an alias of it).
    ``batch``: aggregates as grouped derived tables (True) or correlated subqueries (False).
    ``set_wide``: the statement reads the whole table (a rule's night run): positive ``exists``
    and ``count >= k`` become semi-joins, and derived tables the condition needs a row of are
    joined inner."""
    scope = _root(entity, tables, table)
    if node is None:
        return Compiled(sa.true(), [])
    batch = grouped_by_default(dialect) if batch is None else batch
    compiler = SqlCompiler(tables, env, dialect, batch=batch, semi_joins=set_wide)
    compiler.share_picks(all_aggregates([node]))
    if set_wide:
        compiler.require_rows(node)
    where = compiler.condition(node, scope)
    return Compiled(
        where if where is not None else sa.true(),
        scope.joins,
        frozenset(compiler.inner_joins),
        tuple(compiler.guards),
    )


def compile_operand(
    operand: ir.Operand,
    entity,
    tables: Mapping[str, Any],
    env: Environment,
    dialect: str,
    *,
    batch: bool = True,
    table=None,
) -> tuple[Any, list]:
    """A computed value as a typed column expression for a SELECT, and the joins it needs
    (``batch=False``: aggregates as correlated subqueries, computed for the rows returned only)."""
    scope = _root(entity, tables, table)
    compiler = SqlCompiler(tables, env, dialect, batch=batch)
    value = compiler.operand(operand, scope)
    return typed(value, dialect), scope.joins


def aggregate_value(agg: ir.Agg, parent_id: int, entity, tables, env: Environment, dialect: str, run):
    """One aggregate of one saved record, computed by the database (the Python back-end's
    delegate), as a Python value."""
    main = tables[entity.name].main
    scope = Scope(entity, main, [])
    compiler = SqlCompiler(tables, env, dialect, batch=False)
    value = compiler._agg(agg, scope)
    if isinstance(value, Num):
        cols = [raw_number(value.num, dialect)] + ([raw_number(value.den, dialect)] if value.den is not None else [])
    else:
        cols = [value.expr]
    row = run(sa.select(*cols).select_from(main).where(main.c.id == parent_id)).first()
    if row is None:
        return None
    if not isinstance(value, Num):
        return row[0]
    if row[0] is None or (value.den is not None and row[1] is None):
        return None
    result = Fraction(row[0]) / (Fraction(row[1]) if value.den is not None else 1) / 10**value.scale
    return int(result) if result.denominator == 1 and agg.kind == "integer" else result
