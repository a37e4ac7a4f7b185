"""The Python back-end: a prepared condition compiled once into closures over a record mapping.

Used for one record — unsaved form state, check constraints on save, workflow guards — and as
the reference the SQL back-end is tested against. Values are the canonical ones of the field
types (``Decimal``, aware ``datetime``, ``frozenset`` for tags …); every operator means what
:mod:`.values` says. Paths and child rows come from the environment's data source; on saved
records an aggregate can be delegated to SQL (``Environment.aggregate``).

A leaf whose parameter has no value is left out (``None`` internally): an ``all`` or ``any``
without remaining members is left out too, and a condition left out entirely holds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from . import functions, ir
from .env import Environment
from .messages import ConditionError
from .reltime import resolve_date, resolve_instant
from .values import CALC, DATE_CALC, ValueProblem, aware, date_part, is_empty_param, number, round_half_away, show, test
from .values import convert as convert_kind


@dataclass(frozen=True, slots=True)
class Row:
    """The row a scope reads: ``values`` by field name, ``parent`` the enclosing row inside an
    aggregate's ``where``."""

    values: Mapping[str, Any]
    parent: Row | None = None


class _Pruned(Exception):
    """Raised by a parameter without a value: the leaf reading it is left out."""


Getter = Callable[[Row, Environment], Any]
Test = Callable[[Row, Environment], "bool | None"]


class PythonCompiler:
    def __init__(self):
        self.getters: dict[int, Getter] = {}
        self.tests: dict[int, Test] = {}

    # -- conditions -----------------------------------------------------------------------------
    def node(self, n: ir.Node) -> Test:
        fn = self.tests.get(id(n))
        if fn is None:
            fn = self.tests[id(n)] = self._node(n)
        return fn

    def _node(self, n: ir.Node) -> Test:
        if isinstance(n, ir.Const):
            value = n.value
            return lambda row, env: value
        if isinstance(n, ir.Not):
            inner = self.node(n.item)

            def negation(row, env):
                r = inner(row, env)
                return None if r is None else not r

            return negation
        if isinstance(n, ir.All | ir.AnyOf):
            items = [self.node(i) for i in n.items]
            stop = not isinstance(n, ir.All)  # the answer that decides: False for all, True for any

            def group(row, env):
                seen = False
                for item in items:
                    r = item(row, env)
                    if r is None:
                        continue
                    if r == stop:
                        return stop
                    seen = True
                return (not stop) if seen else None

            return group
        return self._cmp(n)

    def _cmp(self, n: ir.Cmp) -> Test:
        left = self.operand(n.left)
        args = tuple(self.operand(a) for a in n.args)
        op, ci = n.op, n.ci

        def leaf(row, env):
            try:
                a = left(row, env)
                values = tuple(g(row, env) for g in args)
            except _Pruned:
                return None
            return test(op, a, values, ci=ci, tz=env.tz)

        return leaf

    # -- operands -------------------------------------------------------------------------------
    def operand(self, o: ir.Operand | None) -> Getter:
        if o is None:
            return lambda row, env: None
        fn = self.getters.get(id(o))
        if fn is None:
            fn = self.getters[id(o)] = getattr(self, f"_{type(o).__name__.lower()}")(o)
        return fn

    def _lit(self, o: ir.Lit) -> Getter:
        value = o.value
        return lambda row, env: value

    def _reltime(self, o: ir.RelTime) -> Getter:
        key, expr = (o.expr, o.kind), o.expr
        resolve = resolve_date if o.kind == "date" else resolve_instant

        def get(row, env):
            cache = env.cache
            if key not in cache:
                cache[key] = resolve(expr, env.now, env.tz)
            return cache[key]

        return get

    def _ctx(self, o: ir.Ctx) -> Getter:
        key, kind = o.key, o.kind

        def get(row, env):
            value = env.ctx(key)
            if kind == "set":
                return frozenset(value or ())
            if kind == "ids":
                return tuple(value or ())
            return value

        return get

    def _param(self, o: ir.Param) -> Getter:
        name, kind, path = o.name, o.kind, o.path

        def get(row, env):
            raw = env.params.get(name)
            if is_empty_param(raw):
                raise _Pruned
            return param_value(kind, raw, name, path)

        return get

    def _field(self, o: ir.Field) -> Getter:
        names = [f.name for f in o.steps]
        targets = [f.target for f in o.steps[:-1]]
        last, kind, scope, top = names[-1], o.kind, o.scope, o.top
        computed = self.operand(o.computed) if o.computed is not None else None
        digits = o.digits
        label = o.dotted

        def get(row, env):
            if scope == "field":
                values = row.values
            elif scope == "old":
                values = env.old or {}
            elif top:
                values = env.record or {}
            else:
                values = row.parent.values
            for name, target in zip(names, targets, strict=False):
                ref = values.get(name)
                if ref is None:
                    return None
                if env.data is None:
                    raise RuntimeError(f"the path {label!r} needs a data source")
                values = env.data.get(target, ref)
                if values is None:
                    return None
            if computed is not None:
                value = computed(Row(values), env)
                if digits is not None and value is not None:
                    value = round_half_away(number(value), digits)
                return value
            return canonical(values.get(last), kind)

        return get

    def _calc(self, o: ir.Calc) -> Getter:
        args = [self.operand(a) for a in o.args]
        if o.function is not None:  # a plugin's: NULL when it fails (recorded against the plugin)
            function = o.function
            return lambda row, env: functions.call(function, [g(row, env) for g in args])
        if o.fn == "round":
            digits = o.digits
            return lambda row, env: CALC["round"](args[0](row, env), digits)
        if o.fn == "date_part":
            part = o.part
            return lambda row, env: date_part(part, args[0](row, env), env.tz)
        if o.fn in DATE_CALC:
            fn = DATE_CALC[o.fn]
            return lambda row, env: fn(args[0](row, env), args[1](row, env), env.tz)
        fn = CALC[o.fn]
        return lambda row, env: fn(*(g(row, env) for g in args))

    def _agg(self, o: ir.Agg) -> Getter:
        where = self.node(o.where) if o.where is not None else None
        of = self.operand(o.of) if o.of is not None else None
        order = self.operand(o.order) if o.order is not None else None
        window = self.operand(o.window.field) if o.window is not None else None
        start = self.operand(o.window.start) if o.window is not None else None
        end = self.operand(o.window.end) if o.window is not None else None
        fn, rel, child, via = o.fn, o.relation.name, o.child.name, o.via.name

        def get(row, env):
            parent_id = row.values.get("id")
            if parent_id is not None and env.aggregate is not None:
                return env.aggregate(o, row.values, env)
            if parent_id is None:  # an unsaved record: its child rows travel with it
                rows = row.values.get(rel) or ()
            else:
                if env.data is None:
                    raise RuntimeError(f"the aggregate over {rel!r} needs a data source")
                rows = env.data.children(child, via, parent_id)
            lo = start(row, env) if window else None
            hi = end(row, env) if window else None
            chosen = []
            for values in rows:
                scoped = Row(values, row)
                if window is not None:
                    moment = window(scoped, env)
                    if moment is None or (lo is not None and moment < lo) or (hi is not None and moment >= hi):
                        continue
                if where is not None and where(scoped, env) is False:
                    continue
                chosen.append(scoped)
            return reduce(fn, chosen, of, order, env)

        return get


def reduce(fn: str, rows: list[Row], of: Getter | None, order: Getter | None, env: Environment) -> Any:
    if fn == "exists":
        return bool(rows)
    if fn == "count" and of is None:
        return len(rows)
    if fn in ("first", "last"):
        ranked = [(order(r, env), r.values.get("id") or 0, r) for r in rows]
        ranked = [t for t in ranked if t[0] is not None]
        if not ranked:
            return None
        pick = min(ranked, key=lambda t: t[:2]) if fn == "first" else max(ranked, key=lambda t: t[:2])
        return of(pick[2], env)
    values = [v for v in (of(r, env) for r in rows) if v is not None]
    match fn:
        case "count":
            return len(values)
        case "count_distinct":
            return len(set(values))
        case "sum":
            return sum((number(v) for v in values), 0)
        case "avg":
            return Fraction(sum(number(v) for v in values), len(values)) if values else None
        case "min":
            return min(values) if values else None
        case "max":
            return max(values) if values else None
    raise ValueError(f"unknown aggregate {fn!r}")


def canonical(value: Any, kind: str | None) -> Any:
    """A stored or submitted value in the form conditions compare."""
    if kind == "set":
        return frozenset(value or ())
    if value is None:
        return None
    if kind == "datetime" and isinstance(value, datetime):
        return aware(value)
    return value


def param_value(kind: str | None, raw: Any, name: str, path: str) -> Any:
    """A parameter's value converted by its declared kind (lists convert item by item)."""
    try:
        if isinstance(raw, list | tuple):
            items = tuple(convert_kind(kind, item) for item in raw)
            return frozenset(items) if kind == "set" else items
        return convert_kind(kind, raw)
    except ValueProblem as exc:
        raise ConditionError("E-COND-003", path, field=name, detail=str(exc)) from None


class Predicate:
    """A prepared condition as a callable over a record mapping; build once, call often."""

    def __init__(self, node: ir.Node):
        self.node = node
        self._compiler = PythonCompiler()
        self._test = self._compiler.node(node)

    def __call__(self, record: Mapping[str, Any], env: Environment) -> bool:
        return self._test(Row(record), env) is not False

    def explain(self, record: Mapping[str, Any], env: Environment) -> dict:
        """The tree with each leaf's operand values and result: why a record matched or not."""
        return _explain(self.node, Row(record), env, self._compiler)


class OperandValue:
    """A prepared operand (a computed field, a metric) as a callable over a record mapping."""

    def __init__(self, operand: ir.Operand):
        self.operand = operand
        self._get = PythonCompiler().operand(operand)

    def __call__(self, record: Mapping[str, Any], env: Environment) -> Any:
        try:
            return self._get(Row(record), env)
        except _Pruned:
            return None


def _explain(n: ir.Node, row: Row, env: Environment, c: PythonCompiler) -> dict:
    result = c.node(n)(row, env)
    if (
        isinstance(n, ir.Not)
        and isinstance(n.item, ir.Cmp)
        and n.item.source in ("ne", "not_in", "not_contains", "has_none", "is_not_null", "is_not_empty")
    ):
        out = _explain(n.item, row, env, c)
        out.update(op=n.item.source, result=None if out["result"] is None else not out["result"])
        return out
    if isinstance(n, ir.Not):
        return {"path": n.path, "not": _explain(n.item, row, env, c), "result": result}
    if isinstance(n, ir.All | ir.AnyOf):
        key = "all" if isinstance(n, ir.All) else "any"
        return {"path": n.path, key: [_explain(i, row, env, c) for i in n.items], "result": result}
    if isinstance(n, ir.Const):
        return {"path": n.path, "const": n.value, "result": result}
    try:
        left = show(c.operand(n.left)(row, env))
        right = [show(c.operand(a)(row, env)) for a in n.args]
    except _Pruned:
        left, right = None, None
    return {"path": n.path, "op": n.source or n.op, "left": left, "right": right, "result": result}
