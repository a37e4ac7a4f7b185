"""Prepare a JSON condition for evaluation: resolve, type-check, convert, expand, desugar.

One pass does what the definition checker (phase B) reports and what both back-ends need: names
become field definitions, literals are converted by the field type (so a filter accepts exactly
what the field accepts), ``use`` and ``metric`` are expanded, negative and sugar operators are
rewritten into the positive core of :mod:`.ir`, and every construct is checked against the
context it is used in (``old`` only where there is a change, no aggregates in check constraints,
…). Problems carry a stable code and the JSON path of the offending part.

With ``collect=True`` the preparer keeps going after a problem and gathers all of them (the
checker); otherwise the first problem is raised as :class:`ConditionError` (the runtime).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..fields import ConversionError, FieldTypes
from ..i18n import _, text
from ..meta.model import EntityDef, FieldDef, system_field
from . import ir
from .messages import CONTEXT_NAMES, ConditionError
from .reltime import RelTimeError, amount, parse
from .types import AGGREGATES, CALC_ARITY, DATE_PARTS, OPERATORS, agg_kind, calc_arguments_ok, calc_kind, comparable
from .values import ValueProblem
from .values import convert as convert_kind

MAX_DEPTH = 12
MAX_NODES = 200
MAX_EXPANDED = 2000  # nodes after ``use`` / ``metric`` / computed fields are expanded
MAX_TEXT = 200  # longest text contains / starts_with / ends_with match

Lookup = Callable[[str], EntityDef | None]

# construct -> contexts that allow it (everything else: field paths, literals, calc, groups)
ALLOWED = {
    "agg": {"filter", "lookup", "form", "guard", "alert", "event", "dashboard", "computed", "named"},
    "ctx": {"filter", "lookup", "form", "guard", "dashboard", "permission", "named"},
    "old": {"check", "form", "guard", "event", "named"},
    "param": {"alert", "event", "dashboard"},
    "metric": {"alert", "event", "dashboard"},
    "time": {
        "filter",
        "lookup",
        "check",
        "form",
        "guard",
        "alert",
        "event",
        "dashboard",
        "computed",
        "permission",
        "named",
    },
    "use": {"filter", "lookup", "check", "form", "guard", "alert", "event", "dashboard", "permission", "named"},
    "record": {"lookup"},  # the outer record at the top level; inside agg.where it is always allowed
}
CONTEXTS = frozenset(CONTEXT_NAMES)

CTX_KINDS = {
    "user.id": "integer",
    "user.roles": "set",
    "user.org_unit": "ref",
    "user.org_units": "ids",
    "user.branches": "ids",
    "user.team": "ref",
    "user.employee": "ref",
    "tenant.tz": "string",
}
GROUP_KEYS = ("all", "any", "not", "use")
LEAF_KEYS = frozenset({"field", "expr", "op", "value", "ci"})
OPERAND_KEYS = ("field", "record", "old", "ctx", "param", "metric", "time", "date", "agg", "calc")
EXTRA_KEYS = {
    "agg": frozenset({"rel", "of", "where", "window", "order_by", "name", "format"}),
    "calc": frozenset({"args", "name", "format"}),
}
NO_VALUE = frozenset({"is_null", "is_not_null", "is_empty", "is_not_empty", "changed"})
NEGATIVE = {
    "ne": "eq",
    "not_in": "in",
    "not_contains": "contains",
    "has_none": "has_any",
    "is_not_null": "is_null",
    "is_not_empty": "is_empty",
}
TEXT_MATCH = frozenset({"contains", "not_contains", "starts_with", "ends_with"})
LIST_OPS = frozenset({"in", "not_in", "has_any", "has_all", "has_none"})
CHANGE_OPS = frozenset({"changed", "changed_to", "changed_from"})
ALL_OPS = frozenset(
    {"eq", "lt", "lte", "gt", "gte", "between", "in", "is_null", "is_empty", "contains", "starts_with", "ends_with"}
    | {"has_any", "has_all", "in_period", "within_last", "within_next", "anniversary_is"}
    | set(NEGATIVE)
    | CHANGE_OPS
)
FLIPPED = {"lt": "gt", "gt": "lt", "lte": "gte", "gte": "lte", "eq": "eq"}
NUMERIC_AGGS = frozenset({"sum", "avg"})


@dataclass(eq=False)
class Scope:
    entity: EntityDef
    parent: Scope | None = None
    used_parent: bool = False


@dataclass(frozen=True)
class Source:
    """Where ``use``, ``metric`` and ``param`` names come from: the document's own maps (the
    entity's ``conditions`` are looked up too)."""

    conditions: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, str | None] = field(default_factory=dict)  # name -> kind (None: as compared)


class Preparer:
    def __init__(
        self,
        field_types: FieldTypes,
        lookup: Lookup,
        context: str = "filter",
        *,
        source: Source | None = None,
        outer: EntityDef | None = None,
        collect: bool = False,
    ):
        if context not in CONTEXTS:
            raise ValueError(f"unknown condition context {context!r}")
        self.field_types = field_types
        self.lookup = lookup
        self.context = context
        self.source = source or Source()
        self.outer = outer
        self.collect = collect
        self.problems: list[ConditionError] = []
        self._expanding: list[str] = []
        self._expanded = 0
        self._computed: dict[tuple[str, str], ir.Operand] = {}

    # -- entry points -------------------------------------------------------------------------
    def condition(self, cond: Any, entity: EntityDef, path: str = "$") -> ir.Node:
        def build() -> ir.Node:
            self._limits(cond, path)
            return self._node(cond, Scope(entity), path)

        return self._guarded(build, path)

    def field(self, name: str, entity: EntityDef, path: str = "$") -> ir.Field:
        """A field of ``entity`` as an operand (a computed one carries its expression)."""
        return self._field(name, Scope(entity), path, "field")

    def operand(self, raw: Any, entity: EntityDef, path: str = "$") -> ir.Operand | None:
        """A standalone operand (computed fields, metrics, dashboard measures)."""
        try:
            return self._operand(raw, Scope(entity), path)
        except ConditionError as exc:
            if not self.collect:
                raise
            self.problems.append(exc)
            return None

    # -- errors ---------------------------------------------------------------------------------
    def _guarded(self, build: Callable[[], ir.Node], path: str) -> ir.Node:
        try:
            return build()
        except ConditionError as exc:
            if not self.collect:
                raise
            self.problems.append(exc)
            return ir.Const(path, True)

    def _warn(self, code: str, path: str, **params) -> None:
        if self.collect:
            self.problems.append(ConditionError(code, path, **params))

    def _allow(self, construct: str, label: str, path: str) -> None:
        if self.context not in ALLOWED[construct]:
            raise ConditionError("E-COND-004", path, construct=label, context=_(CONTEXT_NAMES[self.context]))

    def _limits(self, cond: Any, path: str) -> None:
        depth, nodes = measure(cond)
        if depth > MAX_DEPTH or nodes > MAX_NODES:
            raise ConditionError("E-COND-006", path, depth=MAX_DEPTH, nodes=MAX_NODES)

    def _count(self, path: str) -> None:
        self._expanded += 1
        if self._expanded > MAX_EXPANDED:
            raise ConditionError("E-COND-006", path, depth=MAX_DEPTH, nodes=MAX_NODES)

    # -- groups ---------------------------------------------------------------------------------
    def _node(self, node: Any, scope: Scope, path: str) -> ir.Node:
        if not isinstance(node, dict):
            raise ConditionError("E-COND-013", path, detail=_("a condition must be an object"))
        self._count(path)
        group = [k for k in GROUP_KEYS if k in node]
        if group:
            key = group[0]
            if len(node) != 1:
                extra = sorted(k for k in node if k != key)[0]
                raise ConditionError(
                    "E-COND-013", path, detail=_("{key} cannot be combined with {other}").format(key=key, other=extra)
                )
            if key == "not":
                return ir.Not(path, self._node(node["not"], scope, f"{path}.not"))
            if key == "use":
                return self._use(node["use"], scope, f"{path}.use")
            items = node[key]
            if not isinstance(items, list) or not items:
                raise ConditionError(
                    "E-COND-013", path, detail=_("{key} needs a non-empty list of conditions").format(key=key)
                )
            built = []
            for i, child in enumerate(items):
                at = f"{path}.{key}[{i}]"
                built.append(self._guarded(lambda c=child, at=at: self._node(c, scope, at), at))
            return (ir.All if key == "all" else ir.AnyOf)(path, tuple(built))
        return self._leaf(node, scope, path)

    def _use(self, name: Any, scope: Scope, path: str) -> ir.Node:
        self._allow("use", "use", path)
        found = None
        if isinstance(name, str):
            found = self.source.conditions.get(name)
            if found is None:
                found = scope.entity.doc.get("conditions", {}).get(name)
        if found is None:
            raise ConditionError("E-COND-007", path, what=_("named condition"), ref=name)
        key = f"use:{scope.entity.name}.{name}"
        if key in self._expanding:
            chain = " → ".join([k.split(".", 1)[1] for k in self._expanding if k.startswith("use:")] + [name])
            raise ConditionError("E-COND-008", path, ref=name, chain=chain)
        return self._expand(key, path, lambda: self._node(found, scope, path))

    def _expand(self, key: str, path: str, build: Callable[[], Any]) -> Any:
        """Expand a named condition or metric; its problems are reported where it is used (its
        own definition is checked where it is declared)."""
        self._expanding.append(key)
        collect, self.collect = self.collect, False
        try:
            return build()
        except ConditionError as exc:
            raise ConditionError(exc.code, path, **exc.params) from None
        finally:
            self.collect = collect
            self._expanding.pop()

    # -- leaves ---------------------------------------------------------------------------------
    def _leaf(self, node: dict, scope: Scope, path: str) -> ir.Node:
        unknown = sorted(set(node) - LEAF_KEYS)
        if unknown:
            raise ConditionError(
                "E-COND-013", f"{path}.{unknown[0]}", detail=_("{key!r} is not allowed here").format(key=unknown[0])
            )
        if ("field" in node) == ("expr" in node):
            raise ConditionError("E-COND-013", path, detail=_("a condition compares either a field or an expr"))
        op = node.get("op")
        if not isinstance(op, str) or op not in ALL_OPS:
            raise ConditionError("E-COND-013", f"{path}.op", detail=_("{op!r} is not an operator").format(op=op))
        ci = node.get("ci", True)
        if not isinstance(ci, bool):
            raise ConditionError("E-COND-013", f"{path}.ci", detail=_("ci must be true or false"))
        if "field" in node:
            left = self._field(node["field"], scope, f"{path}.field", "field")
        else:
            left = self._operand(node["expr"], scope, f"{path}.expr")
        self._check_operator(op, left, path)
        if op in NO_VALUE:
            if "value" in node:
                raise ConditionError("E-COND-013", f"{path}.value", detail=_("this operator takes no value"))
        elif "value" not in node:
            raise ConditionError("E-COND-013", path, detail=_("the operator {op!r} needs a value").format(op=op))
        raw = node.get("value")
        vpath = f"{path}.value"
        if op in CHANGE_OPS:
            return self._change(op, left, raw, scope, path, vpath)
        base = NEGATIVE.get(op, op)
        if left.kind == "set" and base == "contains":
            base = "has_any"
            raw = [raw] if not isinstance(raw, list) else raw
        leaf = self._positive(base, left, raw, scope, path, vpath, ci, op)
        return ir.Not(path, leaf) if op in NEGATIVE else leaf

    def _check_operator(self, op: str, left: ir.Operand, path: str) -> None:
        plain = isinstance(left, ir.Field) and left.computed is None
        ftype = self.field_types.get(left.last.type) if plain else None
        if ftype is not None:
            allowed = set(ftype.operators) | (TEXT_MATCH if ftype.searchable else set())
            if not ftype.multi and ftype.value_kind != "json":
                allowed |= CHANGE_OPS
            type_name = left.last.type
        else:
            allowed = set(OPERATORS.get(left.kind or "", ()))
            type_name = left.kind
        if op not in allowed:
            raise ConditionError("E-COND-002", f"{path}.op", op=op, type=type_name)

    def _positive(self, op, left, raw, scope, path, vpath, ci, source) -> ir.Node:
        match op:
            case "is_null" | "is_empty":
                return ir.Cmp(path, op, left, (), ci, source)
            case "in" | "has_any" | "has_all":
                return ir.Cmp(path, op, left, (self._list(left, raw, scope, vpath),), ci, source)
            case "between":
                if not isinstance(raw, list) or len(raw) != 2:
                    raise ConditionError("E-COND-013", vpath, detail=_("between needs two values [low, high]"))
                lo = self._value(left, raw[0], scope, f"{vpath}[0]")
                hi = self._value(left, raw[1], scope, f"{vpath}[1]")
                return ir.Cmp(path, "between", left, (lo, hi), ci, source)
            case "contains" | "starts_with" | "ends_with":
                return ir.Cmp(path, op, left, (self._text(raw, scope, vpath),), ci, source)
            case "in_period":
                if not isinstance(raw, dict) or not raw or set(raw) - {"from", "to"}:
                    raise ConditionError(
                        "E-COND-013", vpath, detail=_('in_period needs {"from": …, "to": …} with relative times')
                    )
                ends = tuple(
                    self._reltime(raw[k], left.kind, f"{vpath}.{k}") if raw.get(k) is not None else None
                    for k in ("from", "to")
                )
                return ir.Cmp(path, "in_period", left, ends, ci, source)
            case "within_last" | "within_next":
                return ir.Cmp(path, "in_period", left, self._within(op, raw, left.kind, vpath), ci, source)
            case "anniversary_is":
                target = self._value(left, raw, scope, vpath, kind="date")
                if not ir.is_constant(target):
                    raise ConditionError(
                        "E-COND-013", vpath, detail=_('anniversary_is compares with a date such as {"date": "today"}')
                    )
                return ir.Cmp(path, op, left, (target,), ci, source)
        right = self._value(left, raw, scope, vpath)
        if isinstance(left, ir.Lit | ir.RelTime) and not isinstance(right, ir.Lit | ir.RelTime):
            left, right = right, left  # keep the row's side on the left
            op = FLIPPED[op]
        return ir.Cmp(path, op, left, (right,), ci, source)

    def _change(self, op, left, raw, scope, path, vpath) -> ir.Node:
        """``changed*`` in terms of the core, with ``old`` as the previous value of the field."""
        self._allow("old", "changed", f"{path}.op")
        if not isinstance(left, ir.Field) or left.scope != "field" or len(left.steps) != 1:
            raise ConditionError("E-COND-013", path, detail=_("{op} applies to a field of the record").format(op=op))
        old = ir.Field(left.kind, path, "old", left.steps, left.entities, left.computed, left.digits)
        if op == "changed":
            same = ir.AnyOf(
                path,
                (
                    ir.All(path, (ir.Cmp(path, "is_null", left), ir.Cmp(path, "is_null", old))),
                    ir.Cmp(path, "eq", left, (old,)),
                ),
            )
            return ir.Not(path, same)
        value = self._value(left, raw, scope, vpath)
        now_is, was = ir.Cmp(path, "eq", left, (value,)), ir.Cmp(path, "eq", old, (value,))
        if op == "changed_to":
            return ir.All(path, (now_is, ir.Not(path, was)))
        return ir.All(path, (was, ir.Not(path, now_is)))

    # -- right-hand values -------------------------------------------------------------------
    def _value(self, left: ir.Operand, raw: Any, scope: Scope, path: str, kind=None) -> ir.Operand:
        kind = kind or left.kind
        if isinstance(raw, dict):
            right = _adopt(self._operand(raw, scope, path), kind)
            if right.kind in ("set", "ids") or not comparable(kind, right.kind):
                raise ConditionError("E-COND-009", path, left=kind, right=right.kind)
            return right
        if raw is None:
            raise ConditionError("E-COND-005", path)
        if isinstance(raw, list):
            raise ConditionError("E-COND-013", path, detail=_("expected one value, not a list"))
        return ir.Lit(kind, path, self._literal(left, raw, path, kind))

    def _literal(self, left: ir.Operand, raw: Any, path: str, kind: str | None) -> Any:
        """Convert by the field's type when the left side is a stored field, else by kind."""
        if isinstance(left, ir.Field) and left.computed is None and kind == left.kind:
            f = left.last
            ftype = self.field_types.get(f.type)
            if ftype is not None:
                try:
                    return ftype.convert(raw if not ftype.multi else [raw], f)
                except ConversionError as exc:
                    raise ConditionError("E-COND-003", path, field=text(f.label), detail=exc.message) from None
        return self._kind_literal(kind, raw, path)

    def _kind_literal(self, kind: str | None, raw: Any, path: str) -> Any:
        if kind in (None, "json", "set", "ids"):
            raise ConditionError("E-COND-009", path, left=kind, right=type(raw).__name__)
        if kind in ("date", "datetime"):
            ftype = self.field_types[kind]
            try:
                return ftype.convert(raw, FieldDef("_", {"name": "value", "type": kind}))
            except ConversionError as exc:
                raise ConditionError("E-COND-003", path, field=kind, detail=exc.message) from None
        try:
            return convert_kind(kind, raw)
        except ValueProblem as exc:
            raise ConditionError("E-COND-003", path, field=kind, detail=str(exc)) from None

    def _list(self, left: ir.Operand, raw: Any, scope: Scope, path: str) -> ir.Operand:
        """The value of in / has_*: a literal list, or a constant list (a parameter, the user's roles)."""
        if isinstance(raw, dict):
            wanted = "string" if left.kind == "set" else left.kind
            right = _adopt(self._operand(raw, scope, path), "set" if left.kind == "set" else wanted)
            element = {"set": "string", "ids": "integer"}.get(right.kind or "", right.kind)
            if not ir.is_constant(right) or not comparable(wanted, element):
                raise ConditionError("E-COND-009", path, left=left.kind, right=right.kind)
            return right
        items = raw if isinstance(raw, list) else [raw]
        if len(items) > 1000:
            raise ConditionError("E-COND-013", path, detail=_("at most 1000 values"))
        if any(item is None for item in items):
            raise ConditionError("E-COND-005", path)
        values = []
        plain_field = isinstance(left, ir.Field) and left.computed is None
        element = "string" if left.kind == "set" else left.kind
        for i, item in enumerate(items):
            at = f"{path}[{i}]" if isinstance(raw, list) else path
            if isinstance(item, dict | list):
                raise ConditionError("E-COND-013", at, detail=_("the list holds plain values"))
            value = self._literal(left, item, at, left.kind) if plain_field else self._kind_literal(element, item, at)
            values.extend(value if isinstance(value, list | tuple | frozenset) else [value])
        if left.kind == "set":
            return ir.Lit("set", path, frozenset(values))
        return ir.Lit(left.kind, path, tuple(dict.fromkeys(values)))

    def _text(self, raw: Any, scope: Scope, path: str) -> ir.Operand:
        if isinstance(raw, dict):
            right = _adopt(self._operand(raw, scope, path), "string")
            if right.kind != "string" or not ir.is_constant(right):
                raise ConditionError("E-COND-009", path, left="string", right=right.kind)
            return right
        if not isinstance(raw, str) or not raw or len(raw) > MAX_TEXT:
            raise ConditionError(
                "E-COND-003",
                path,
                field=_("text"),
                detail=_("needs a text of 1 to {limit} characters").format(limit=MAX_TEXT),
            )
        return ir.Lit("string", path, raw)

    def _reltime(self, raw: Any, kind: str | None, path: str) -> ir.RelTime:
        if not isinstance(raw, str):
            raise ConditionError("E-COND-013", path, detail=_("expected a relative time such as now-30d"))
        try:
            parse(raw)
        except RelTimeError:
            raise ConditionError(
                "E-COND-013",
                path,
                detail=_("{value!r} is not a relative time such as now-30d or today/M").format(value=raw),
            ) from None
        return ir.RelTime("date" if kind == "date" else "datetime", path, raw)

    def _within(self, op: str, raw: Any, kind: str | None, path: str) -> tuple[ir.RelTime, ir.RelTime]:
        """``within_last 30d`` is [now-30d, now) on instants and [today-30d, today] on dates;
        ``within_next 7d`` is [now, now+7d) and [today, today+7d]."""
        try:
            n, unit = amount(raw if isinstance(raw, str) else "")
        except RelTimeError:
            raise ConditionError(
                "E-COND-013", path, detail=_("expected an amount of time such as 30d, 12h or 3M")
            ) from None
        if kind == "date":
            if unit in "mh":
                raise ConditionError("E-COND-013", path, detail=_("dates are counted in d, w, M, Q or y"))
            start, end = (f"today-{n}{unit}", "today+1d") if op == "within_last" else ("today", f"today+{n}{unit}+1d")
        else:
            start, end = (f"now-{n}{unit}", "now") if op == "within_last" else ("now", f"now+{n}{unit}")
        return self._reltime(start, kind, path), self._reltime(end, kind, path)

    # -- operands -------------------------------------------------------------------------------
    def _operand(self, raw: Any, scope: Scope, path: str) -> ir.Operand:
        if not isinstance(raw, dict):
            return self._bare_literal(raw, path)
        keys = [k for k in OPERAND_KEYS if k in raw]
        if len(keys) != 1:
            detail = (
                _("an operand needs exactly one of {keys}").format(keys=", ".join(OPERAND_KEYS))
                if not keys
                else _("{a} and {b} cannot be combined").format(a=keys[0], b=keys[1])
            )
            raise ConditionError("E-COND-013", path, detail=detail)
        key = keys[0]
        extra = sorted(set(raw) - {key} - EXTRA_KEYS.get(key, frozenset()))
        if extra:
            raise ConditionError(
                "E-COND-013", f"{path}.{extra[0]}", detail=_("{key!r} is not allowed here").format(key=extra[0])
            )
        value = raw[key]
        self._count(path)
        match key:
            case "field" | "record" | "old":
                return self._field(value, scope, f"{path}.{key}", key)
            case "ctx":
                self._allow("ctx", "ctx", path)
                if not isinstance(value, str) or value not in CTX_KINDS:
                    raise ConditionError("E-COND-007", f"{path}.ctx", what=_("context value"), ref=value)
                return ir.Ctx(CTX_KINDS[value], path, value)
            case "param":
                self._allow("param", "param", path)
                if not isinstance(value, str) or value not in self.source.params:
                    raise ConditionError("E-COND-007", f"{path}.param", what=_("parameter"), ref=value)
                return ir.Param(self.source.params[value], path, value)
            case "metric":
                return self._metric(value, scope, path)
            case "time" | "date":
                self._allow("time", key, path)
                return self._reltime(value, key if key == "date" else "datetime", f"{path}.{key}")
            case "agg":
                return self._agg(raw, scope, path)
        return self._calc(raw, scope, path)

    def _bare_literal(self, raw: Any, path: str) -> ir.Lit:
        """A literal where no field gives it a type (calc arguments): numbers and texts."""
        if isinstance(raw, bool):
            return ir.Lit("bool", path, raw)
        if isinstance(raw, int):
            return ir.Lit("integer", path, raw)
        if isinstance(raw, float):
            raw = str(raw)
        if isinstance(raw, str):
            return ir.Lit("string", path, raw)
        try:
            return ir.Lit("decimal", path, convert_kind("decimal", raw))
        except ValueProblem:
            raise ConditionError("E-COND-013", path, detail=_("expected a value or an operand")) from None

    def _field(self, name: Any, scope: Scope, path: str, which: str) -> ir.Field:
        top = True
        if which == "old":
            self._allow("old", "old", path)
            while scope.parent is not None:
                scope = scope.parent
        elif which == "record":
            if scope.parent is not None:
                scope.used_parent, scope, top = True, scope.parent, False
            else:
                self._allow("record", "record", path)
                if self.outer is None:
                    raise ConditionError("E-COND-004", path, construct="record", context=_(CONTEXT_NAMES[self.context]))
                scope = Scope(self.outer)
        if not isinstance(name, str) or not name:
            raise ConditionError("E-COND-013", path, detail=_("expected a field name"))
        entity = scope.entity
        steps: list[FieldDef] = []
        owners: list[EntityDef] = []
        parts = name.split(".")
        if len(parts) > 5:
            raise ConditionError("E-COND-013", path, detail=_("a path has at most five steps"))
        for i, part in enumerate(parts):
            f = entity.field(part) or system_field(entity, part)
            ftype = self.field_types.get(f.type) if f is not None else None
            if f is None or ftype is None:
                raise ConditionError("E-COND-001", path, ref=".".join(parts[: i + 1]), entity=entity.name)
            steps.append(f)
            owners.append(entity)
            if i < len(parts) - 1:
                target = self.lookup(f.target) if f.type == "ref" and f.target else None
                if target is None:
                    raise ConditionError("E-COND-001", path, ref=".".join(parts[: i + 2]), entity=entity.name)
                entity = target
        last = steps[-1]
        kind = self.field_types[last.type].value_kind
        computed = digits = None
        if last.computed and not last.get("stored"):  # a stored one is read like any column
            computed, digits = self._computed_field(last, owners[-1], path)
        return ir.Field(kind, path, which, tuple(steps), tuple(owners), computed, digits, top)

    def _computed_field(self, f: FieldDef, entity: EntityDef, path: str) -> tuple[ir.Operand, int | None]:
        key = (entity.name, f.id)
        if key in self._computed:
            op = self._computed[key]
        else:
            marker = f"computed:{entity.name}.{f.name}"
            if marker in self._expanding:
                chain = " → ".join(
                    [k.split(".", 1)[1] for k in self._expanding if k.startswith("computed:")] + [f.name]
                )
                raise ConditionError("E-COND-008", path, ref=f.name, chain=chain)
            self._expanding.append(marker)
            inner = Preparer(self.field_types, self.lookup, "stored" if f.get("stored") else "computed", collect=False)
            inner._expanding = self._expanding
            try:
                op = inner._operand(f.spec["computed"], Scope(entity), path)
            except ConditionError as exc:  # reported in full where the entity is checked
                raise ConditionError(exc.code, path, **exc.params) from None
            finally:
                self._expanding.pop()
            self._computed[key] = op
        return op, computed_digits(f, self.field_types)

    def _metric(self, name: Any, scope: Scope, path: str) -> ir.Operand:
        self._allow("metric", "metric", path)
        raw = self.source.metrics.get(name) if isinstance(name, str) else None
        if raw is None:
            raise ConditionError("E-COND-007", f"{path}.metric", what=_("metric"), ref=name)
        key = f"metric:{name}"
        if key in self._expanding:
            chain = " → ".join([k.split(":", 1)[1] for k in self._expanding if k.startswith("metric:")] + [name])
            raise ConditionError("E-COND-008", f"{path}.metric", ref=name, chain=chain)
        return self._expand(key, f"{path}.metric", lambda: self._operand(raw, scope, path))

    def _agg(self, raw: dict, scope: Scope, path: str) -> ir.Agg:
        self._allow("agg", _("An aggregate"), path)
        if scope.parent is not None:
            raise ConditionError(
                "E-COND-004",
                path,
                construct=_("An aggregate inside an aggregate"),
                context=_(CONTEXT_NAMES[self.context]),
            )
        fn = raw["agg"]
        if not isinstance(fn, str) or fn not in AGGREGATES:
            raise ConditionError("E-COND-013", f"{path}.agg", detail=_("{fn!r} is not an aggregate").format(fn=fn))
        parent = scope.entity
        rel = parent.relation(raw["rel"]) if isinstance(raw.get("rel"), str) else None
        child = self.lookup(rel.target) if rel is not None and rel.kind == "has_many" else None
        via = child.field(rel.via) if child is not None and rel.via else None
        if child is None or via is None or via.type != "ref" or via.target != parent.name:
            raise ConditionError("E-COND-011", f"{path}.rel", rel=raw.get("rel"), entity=parent.name)
        inner = Scope(child, parent=scope)
        of = None
        if fn in ("count", "exists"):
            if "of" in raw:
                of = self._field(raw["of"], inner, f"{path}.of", "field")
        else:
            if "of" not in raw:
                raise ConditionError("E-COND-012", path, agg=fn, needs=_("needs of: the field to aggregate"))
            of = self._field(raw["of"], inner, f"{path}.of", "field")
            if of.kind in ("set", "json"):
                raise ConditionError("E-COND-012", f"{path}.of", agg=fn, needs=_("needs a single-valued field"))
            if fn in NUMERIC_AGGS and of.kind not in ("integer", "decimal"):
                raise ConditionError("E-COND-012", f"{path}.of", agg=fn, needs=_("needs a numeric field"))
        window = None
        if "window" in raw:
            window = self._window(raw["window"], inner, f"{path}.window", rel.name, child)
        elif child.doc.get("options", {}).get("large"):
            self._warn("W-COND-014", path, rel=rel.name, entity=child.name)
        order = None
        if "order_by" in raw:
            order = self._field(raw["order_by"], inner, f"{path}.order_by", "field")
            if order.kind in ("set", "json", "bool"):
                raise ConditionError("E-COND-012", f"{path}.order_by", agg=fn, needs=_("needs a sortable order_by"))
        elif fn in ("first", "last"):
            if window is None:
                raise ConditionError(
                    "E-COND-012", path, agg=fn, needs=_("needs order_by (or a window, whose field then orders)")
                )
            order = window.field
        where = None
        if "where" in raw:
            where = self._guarded(lambda: self._node(raw["where"], inner, f"{path}.where"), f"{path}.where")
        kind = agg_kind(fn, of.kind if of is not None else None)
        return ir.Agg(kind, path, fn, rel, parent, child, via, of, where, window, order, inner.used_parent)

    def _window(self, raw: Any, inner: Scope, path: str, rel: str, child: EntityDef) -> ir.Window:
        if not isinstance(raw, dict) or "field" not in raw or set(raw) - {"field", "from", "to"}:
            raise ConditionError("E-COND-013", path, detail=_('a window is {"field": …, "from": …, "to": …}'))
        f = self._field(raw["field"], inner, f"{path}.field", "field")
        if f.kind not in ("date", "datetime"):
            raise ConditionError("E-COND-012", f"{path}.field", agg="window", needs=_("needs a date or datetime field"))
        self._allow("time", _("A window"), path)
        start = self._reltime(raw["from"], f.kind, f"{path}.from") if raw.get("from") is not None else None
        end = self._reltime(raw["to"], f.kind, f"{path}.to") if raw.get("to") is not None else None
        if start is None and child.doc.get("options", {}).get("large"):
            self._warn("W-COND-014", path, rel=rel, entity=child.name)
        return ir.Window(f, start, end)

    def _calc(self, raw: dict, scope: Scope, path: str) -> ir.Calc:
        fn = raw["calc"]
        if not isinstance(fn, str) or fn not in CALC_ARITY:
            raise ConditionError("E-COND-013", f"{path}.calc", detail=_("{fn!r} is not a function").format(fn=fn))
        args = raw.get("args")
        low, high = CALC_ARITY[fn]
        if not isinstance(args, list) or not low <= len(args) <= high:
            needs = (
                _("takes {n} arguments").format(n=low)
                if low == high
                else _("takes {low} to {high} arguments").format(low=low, high=high)
            )
            raise ConditionError("E-COND-010", f"{path}.args", fn=fn, needs=needs)
        digits, part = 0, None
        if fn == "round":
            if len(args) == 2:
                digits = args[1]
                if isinstance(digits, bool) or not isinstance(digits, int) or not 0 <= digits <= 10:
                    raise ConditionError(
                        "E-COND-010", f"{path}.args[1]", fn=fn, needs=_("takes a number of decimals from 0 to 10")
                    )
            args = args[:1]
        if fn == "date_part":
            part = args[0]
            if not isinstance(part, str) or part not in DATE_PARTS:
                raise ConditionError(
                    "E-COND-010",
                    f"{path}.args[0]",
                    fn=fn,
                    needs=_("takes a part: {parts}").format(parts=", ".join(sorted(DATE_PARTS))),
                )
            args = args[1:]
        operands = [self._operand(a, scope, f"{path}.args[{i + (fn == 'date_part')}]") for i, a in enumerate(args)]
        operands = self._type_literals(fn, operands)
        kinds = [o.kind for o in operands]
        if not calc_arguments_ok(fn, kinds) or (part in ("hour", "minute") and kinds[0] == "date"):
            raise ConditionError(
                "E-COND-010",
                f"{path}.args",
                fn=fn,
                needs=_("cannot take values of type {kinds}").format(kinds=", ".join(str(k) for k in kinds)),
            )
        kind = calc_kind(fn, kinds, digits)
        return ir.Calc(kind, path, fn, tuple(operands), digits, part)

    def _type_literals(self, fn: str, operands: list[ir.Operand]) -> list[ir.Operand]:
        """Texts written as calc arguments become numbers or dates where the function wants them."""
        want = None
        if fn in ("add", "sub", "mul", "div", "neg", "abs", "round", "pct_change"):
            want = "decimal"
        elif fn in ("days_between", "years_between", "date_part"):
            want = next((o.kind for o in operands if not isinstance(o, ir.Lit)), "date")
        elif fn == "coalesce":
            want = next((o.kind for o in operands if not isinstance(o, ir.Lit)), None)
        if want is None:
            return operands
        return [
            ir.Lit(want, o.path, self._kind_literal(want, o.value, o.path))
            if isinstance(o, ir.Lit) and o.kind == "string" and want != "string"
            else o
            for o in operands
        ]


def _adopt(operand: ir.Operand, kind: str | None) -> ir.Operand:
    """A parameter declared without a type takes the type of what it is compared with."""
    if isinstance(operand, ir.Param) and operand.kind is None:
        return ir.Param(kind, operand.path, operand.name)
    return operand


def computed_digits(f: FieldDef, field_types: FieldTypes) -> int | None:
    """Decimals a computed field keeps (its declared scale); ``None`` for non-decimal fields."""
    ftype = field_types.get(f.type)
    if ftype is None or ftype.value_kind != "decimal":
        return None
    return ftype.scale(f) if hasattr(ftype, "scale") else 4


def measure(node: Any, depth: int = 1) -> tuple[int, int]:
    """(depth, node count) of a condition tree, counting conditions inside aggregates."""
    if not isinstance(node, dict):
        return depth, 1
    children: list = []
    for key in ("all", "any"):
        if isinstance(node.get(key), list):
            children = node[key]
    if "not" in node:
        children = [node["not"]]
    for key in ("expr", "value"):
        if isinstance(node.get(key), dict):
            children = children + [node[key]]
    if isinstance(node.get("where"), dict):
        children = children + [node["where"]]
    if isinstance(node.get("args"), list):
        children = children + [a for a in node["args"] if isinstance(a, dict)]
    best, count = depth, 1
    for child in children:
        d, n = measure(child, depth + 1)
        best, count = max(best, d), count + n
    return best, count
