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

from collections.abc import Callable
from typing import Any

from ..fields import ConversionError, FieldTypes
from ..i18n import _, text
from ..meta.model import EntityDef
from . import ir
from .grammar import (
    ALL_OPS,
    ALLOWED,
    CHANGE_OPS,
    CONTEXT_NAMES,
    CONTEXTS,
    FLIPPED,
    GROUP_KEYS,
    LEAF_KEYS,
    MAX_DEPTH,
    MAX_EXPANDED,
    MAX_NODES,
    MAX_TEXT,
    NEGATIVE,
    NO_VALUE,
    OPERATORS,
    TEXT_MATCH,
    comparable,
    measure,
)
from .messages import ConditionError
from .operands import Lookup, OperandPreparer, Scope, Source, computed_digits
from .reltime import RelTimeError, amount

__all__ = ["CONTEXTS", "Preparer", "Scope", "Source", "computed_digits", "measure"]


SEALED_OPS = frozenset(
    {"eq", "ne", "in", "not_in", "is_null", "is_not_null", "is_empty", "is_not_empty", "changed", "changed_to",
     "changed_from"}
)  # fmt: skip


class Preparer(OperandPreparer):
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
        self._check_sealed(op, left, node.get("value"), scope, path)
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

    def _check_sealed(self, op: str, left: ir.Operand, raw: Any, scope: Scope, path: str) -> None:
        """Encrypted fields are compared through their blind index: equality with fixed values and
        emptiness only; inside expressions, aggregates or on the right they mean nothing in SQL."""
        plain = isinstance(left, ir.Field) and left.computed is None
        if plain and left.last.encrypted:
            if (
                op not in SEALED_OPS
                or isinstance(raw, dict)
                or (isinstance(raw, list) and any(isinstance(v, dict) for v in raw))
            ):
                raise ConditionError("E-COND-015", f"{path}.op", field=left.last.name)
            return
        used = ir.deps(left).fields
        if isinstance(raw, dict) and op not in ("in_period", "within_last", "within_next"):
            used |= ir.deps(self._operand(raw, scope, f"{path}.value")).fields
        for dotted in sorted(used):
            owner, _dot, name = dotted.partition(".")
            entity = self.lookup(owner)
            f = entity.field(name) if entity is not None else None
            if f is not None and f.encrypted:
                raise ConditionError("E-COND-015", path, field=name)

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


def _adopt(operand: ir.Operand, kind: str | None) -> ir.Operand:
    """A parameter declared without a type takes the type of what it is compared with."""
    if isinstance(operand, ir.Param) and operand.kind is None:
        return ir.Param(kind, operand.path, operand.name)
    return operand
