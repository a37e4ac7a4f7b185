"""The operand half of the preparer: fields and paths (computed fields expanded), context values,
parameters, metrics, relative times, aggregates and functions, each typed and checked against
the context. :class:`~.prepare.Preparer` combines it with conditions and leaves."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..fields import ConversionError, FieldTypes
from ..i18n import _
from ..meta.model import EntityDef, FieldDef, system_field
from . import functions, ir
from .functions import ConditionFunction
from .grammar import (
    AGGREGATES,
    CONTEXT_NAMES,
    CTX_KINDS,
    DATE_PARTS,
    EXTRA_KEYS,
    NUMERIC_AGGS,
    OPERAND_KEYS,
    PYTHON_ONLY,
    agg_kind,
    calc_arguments_ok,
    calc_kind,
    comparable,
)
from .messages import ConditionError
from .reltime import RelTimeError, parse
from .values import ValueProblem
from .values import convert as convert_kind

Lookup = Callable[[str], EntityDef | None]


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


class OperandPreparer:
    """Operands for :class:`~.prepare.Preparer` (which provides the state and the condition
    methods an aggregate's ``where`` needs)."""

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
            inner = type(self)(
                self.field_types, self.lookup, "stored" if f.get("stored") else "computed", collect=False
            )
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
        found = functions.current().get(fn) if isinstance(fn, str) else None
        if found is None:
            raise ConditionError("E-COND-013", f"{path}.calc", detail=_("{fn!r} is not a function").format(fn=fn))
        args = raw.get("args")
        low, high = found.arity
        if not isinstance(args, list) or not low <= len(args) <= high:
            needs = (
                _("takes {n} arguments").format(n=low)
                if low == high
                else _("takes {low} to {high} arguments").format(low=low, high=high)
            )
            raise ConditionError("E-COND-010", f"{path}.args", fn=fn, needs=needs)
        if not found.builtin:
            return self._plugin_calc(found, args, scope, path)
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

    def _plugin_calc(self, fn: ConditionFunction, args: list, scope: Scope, path: str) -> ir.Calc:
        """A plugin's function: its arguments typed by the kinds it declares; where the condition
        may compile to SQL it needs a SQL builder."""
        if fn.sql is None and self.context not in PYTHON_ONLY:
            raise ConditionError(
                "E-COND-004",
                f"{path}.calc",
                construct=_("The function {fn!r}, which has no SQL translation,").format(fn=fn.name),
                context=_(CONTEXT_NAMES[self.context]),
            )
        operands = []
        for i, a in enumerate(args):
            at, want = f"{path}.args[{i}]", fn.argument_kind(i)
            o = self._operand(a, scope, at)
            if isinstance(o, ir.Lit) and o.kind == "string" and want not in (None, "string"):
                o = ir.Lit(want, at, self._kind_literal(want, o.value, at))
            if o.kind in ("set", "ids", "json") or (want is not None and not comparable(want, o.kind)):
                raise ConditionError(
                    "E-COND-010", at, fn=fn.name, needs=_("cannot take a value of type {kind}").format(kind=o.kind)
                )
            operands.append(o)
        return ir.Calc(fn.result, path, fn.name, tuple(operands), function=fn)

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


def computed_digits(f: FieldDef, field_types: FieldTypes) -> int | None:
    """Decimals a computed field keeps (its declared scale); ``None`` for non-decimal fields."""
    ftype = field_types.get(f.type)
    if ftype is None or ftype.value_kind != "decimal":
        return None
    return ftype.scale(f) if hasattr(ftype, "scale") else 4
