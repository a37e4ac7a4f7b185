"""A dashboard document prepared against the published entities: datasets with their time field
and filter, and per widget its groups and measures, each typed and checked.

Measures are the condition language's operands with one addition: an ``agg`` without ``rel``
aggregates the dataset's rows (``{"agg": "count", "where": …}`` is a filtered count), and
``calc`` combines aggregates (ratios, NPS). The definition checker runs :func:`prepare` in
collecting mode, so what it accepts is exactly what runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from ..conditions import ConditionError, Preparer, Source, ir
from ..conditions.grammar import AGGREGATES, NUMERIC_AGGS
from ..conditions.values import ValueProblem
from ..i18n import _
from ..meta.model import EntityDef
from .buckets import UNITS

ARITHMETIC = {"add": 2, "sub": 2, "mul": 2, "div": 2, "neg": 1, "abs": 1, "round": 2, "coalesce": 8, "pct_change": 2}
MEASURE_AGGS = frozenset(AGGREGATES) - {"first", "last", "exists"}
CHARTS = frozenset({"line", "bar", "stacked_bar", "pie", "funnel", "heatmap"})
COUNT_COLUMN = "_n"  # rows behind each result row: the minimum-sample rule and tooltips read it
# what a widget with a plugin's source cannot have: its rows are the source's
SOURCE_EXCLUDES = ("dataset", "filter", "group_by", "measure", "measures", "compare", "drilldown", "min_sample")


class PlanError(Exception):
    """A problem of the dashboard document: a checker code, a JSON path, message parameters."""

    def __init__(self, code: str, path: str, **params):
        super().__init__(code)
        self.code, self.path, self.params = code, path, params


@dataclass(eq=False)
class Dataset:
    name: str
    entity: EntityDef
    time: ir.Field | None
    filter: ir.Node | None
    raw: dict


@dataclass(eq=False)
class Group:
    alias: str
    kind: str  # field | time | bins | tree
    field: ir.Field | None
    unit: str | None = None
    bins: list[dict] = field(default_factory=list)
    tree: str | None = None
    label: Any = None


@dataclass(frozen=True, eq=False)
class MAgg:
    fn: str
    of: ir.Field | None
    where: ir.Node | None
    kind: str


@dataclass(frozen=True, eq=False)
class MCalc:
    fn: str
    args: tuple
    digits: int = 0
    kind: str = "decimal"


@dataclass(frozen=True, eq=False)
class MLit:
    value: Fraction
    kind: str = "decimal"


@dataclass(frozen=True, eq=False)
class MSource:
    """A measure column of a plugin's data source (its rows carry the values)."""

    kind: str = "decimal"


@dataclass(eq=False)
class Measure:
    name: str
    node: Any
    format: str | None
    label: Any
    hidden: bool = False

    @property
    def kind(self) -> str:
        return self.node.kind

    @property
    def is_ratio(self) -> bool:
        return isinstance(self.node, MCalc) or (isinstance(self.node, MAgg) and self.node.fn == "avg")


@dataclass(eq=False)
class WidgetPlan:
    id: str
    type: str
    raw: dict
    dataset: Dataset | None  # None: the widget's data comes from a plugin's ``source``
    filter: ir.Node | None
    groups: list[Group]
    measures: list[Measure]
    source: str | None = None
    params: dict = field(default_factory=dict)  # the source's parameters

    @property
    def columns(self) -> list[str]:
        return [g.alias for g in self.groups] + [m.name for m in self.measures]

    def measure(self, name: str) -> Measure | None:
        return next((m for m in self.measures if m.name == name), None)

    def group(self, name: str) -> Group | None:
        return next((g for g in self.groups if g.alias == name), None)


@dataclass(eq=False)
class Plan:
    name: str
    doc: dict
    datasets: dict[str, Dataset]
    widgets: dict[str, WidgetPlan]
    filters: dict[str, dict]
    problems: list[tuple[str, str, dict]] = field(default_factory=list)


def prepare(field_types, lookup, doc: dict, *, collect: bool = False) -> Plan:
    """The dashboard prepared; with ``collect`` every problem is listed in ``plan.problems`` (and
    the widgets that have one are left out) instead of raising the first."""
    filters = {f["name"]: f for f in doc.get("filters", [])}
    source = Source(params=dict.fromkeys(filters))
    plan = Plan(doc.get("name", ""), doc, {}, {}, filters)

    def guarded(path: str, build):
        try:
            return build()
        except ConditionError as exc:
            if not collect:
                raise
            plan.problems.append((exc.code, exc.path, exc.params))
        except PlanError as exc:
            if not collect:
                raise
            plan.problems.append((exc.code, exc.path, exc.params))
        return None

    for name, raw in doc.get("datasets", {}).items():
        entity = lookup(raw.get("entity"))
        if entity is None:
            if not collect:
                raise PlanError("E-REF-001", f"$.datasets.{name}.entity", entity=raw.get("entity"))
            continue  # reported by the checker
        ds = guarded(
            f"$.datasets.{name}", lambda n=name, r=raw, e=entity: _dataset(field_types, lookup, source, n, r, e)
        )
        if ds is not None:
            plan.datasets[name] = ds
    seen: set[str] = set()
    for i, raw in enumerate(doc.get("widgets", [])):
        path = f"$.widgets[{i}]"
        if raw.get("id") in seen:
            guarded(path, lambda r=raw, p=path: _raise(PlanError("E-DASH-004", f"{p}.id", id=r.get("id"))))
            continue
        seen.add(raw.get("id"))
        if "source" in raw:
            widget = guarded(path, lambda r=raw, p=path: _source_widget(r, p))
            if widget is not None:
                plan.widgets[widget.id] = widget
            continue
        ds = plan.datasets.get(raw.get("dataset"))
        if ds is None:
            continue  # an unknown or broken dataset is reported where it is declared
        preparer = Preparer(field_types, lookup, "dashboard", source=source, collect=collect)
        widget = guarded(path, lambda r=raw, p=path, d=ds, pr=preparer: _widget(pr, filters, r, p, d))
        if collect:
            plan.problems += [(e.code, e.path, e.params) for e in preparer.problems]
        if widget is not None:
            plan.widgets[widget.id] = widget
    return plan


def _raise(exc: Exception):
    raise exc


def _dataset(field_types, lookup, source, name: str, raw: dict, entity: EntityDef) -> Dataset:
    preparer = Preparer(field_types, lookup, "dashboard", source=source)
    at = f"$.datasets.{name}"
    time = None
    if raw.get("time_field"):
        time = preparer.field(raw["time_field"], entity, f"{at}.time_field")
        if time.kind not in ("date", "datetime"):
            raise PlanError("E-DASH-005", f"{at}.time_field", type="dataset", needs="a date or datetime time_field")
    node = preparer.condition(raw["filter"], entity, f"{at}.filter") if raw.get("filter") else None
    return Dataset(name, entity, time, node, raw)


def _widget(preparer: Preparer, filters: dict, raw: dict, path: str, ds: Dataset) -> WidgetPlan:
    entity = ds.entity
    node = preparer.condition(raw["filter"], entity, f"{path}.filter") if raw.get("filter") else None
    groups = [_group(preparer, filters, g, f"{path}.group_by[{i}]", ds) for i, g in enumerate(raw.get("group_by", []))]
    raws = raw.get("measures") or (
        [dict(raw["measure"], name=raw["measure"].get("name", "value"))] if "measure" in raw else []
    )
    if not raws:
        raws = [{"name": "value", "agg": "count"}]
    formats, labels = raw.get("formats", {}), raw.get("labels", {})
    measures = []
    for i, m in enumerate(raws):
        at = f"{path}.measures[{i}]" if "measures" in raw else f"{path}.measure"
        name = m.get("name") or f"m{i + 1}"
        body = {k: v for k, v in m.items() if k not in ("name", "format")}
        fmt = m.get("format") or formats.get(name) or (raw.get("format") if i == 0 else None)
        measures.append(Measure(name, _measure(preparer, body, entity, at), fmt, labels.get(name)))
    measures.append(Measure(COUNT_COLUMN, MAgg("count", None, None, "integer"), "0", None, hidden=True))
    widget = WidgetPlan(raw["id"], raw["type"], raw, ds, node, groups, measures)
    _check_columns(widget, raw, path)
    if raw["type"] in CHARTS and not groups:
        raise PlanError("E-DASH-005", f"{path}.group_by", type=raw["type"], needs="at least one group_by")
    if raw["type"] == "heatmap" and len(groups) < 2:
        raise PlanError("E-DASH-005", f"{path}.group_by", type="heatmap", needs="two group_by entries")
    return widget


def _source_widget(raw: dict, path: str) -> WidgetPlan:
    """A widget whose rows a plugin's data source gives: its columns are the source's."""
    from .sources import current

    kind, name = raw["type"], raw["source"]
    found = current().get(name)
    if found is None:
        known = ", ".join(sorted(current())) or "—"
        needs = _("a data source that a plugin provides: {source!r} is not one (known: {known})")
        raise PlanError("E-DASH-005", f"{path}.source", type=kind, needs=needs.format(source=name, known=known))
    for key in SOURCE_EXCLUDES:
        if key in raw:
            needs = _("its data from the source {source!r} alone (leave out {key})").format(key=key, source=name)
            raise PlanError("E-DASH-005", f"{path}.{key}", type=kind, needs=needs)
    formats, labels = raw.get("formats", {}), raw.get("labels", {})
    groups = [Group(g, "source", None) for g in found.groups]
    measures = [
        Measure(m, MSource(), formats.get(m) or (raw.get("format") if i == 0 else None), labels.get(m))
        for i, m in enumerate(found.measures)
    ]
    widget = WidgetPlan(raw["id"], kind, raw, None, None, groups, measures, name, dict(raw.get("params") or {}))
    _check_columns(widget, raw, path)
    if (kind in CHARTS and not groups) or (kind == "heatmap" and len(groups) < 2):
        needs = _("a data source with at least {n} group columns; {source!r} has {m}")
        raise PlanError(
            "E-DASH-005", f"{path}.source", type=kind,
            needs=needs.format(n=2 if kind == "heatmap" else 1, source=name, m=len(groups)),
        )  # fmt: skip
    return widget


def _check_columns(widget: WidgetPlan, raw: dict, path: str) -> None:
    """The columns the encoding and the sort name are the widget's."""
    names = set(widget.columns)
    for key in ("x", "y", "series"):
        value = raw.get("encoding", {}).get(key)
        if value is not None and value not in names:
            raise PlanError("E-DASH-002", f"{path}.encoding.{key}", column=value, **_names(widget))
    for j, name in enumerate(raw.get("encoding", {}).get("tooltip", [])):
        if name not in names:
            raise PlanError("E-DASH-002", f"{path}.encoding.tooltip[{j}]", column=name, **_names(widget))
    for j, s in enumerate(raw.get("sort", [])):
        if s["by"] not in names:
            raise PlanError("E-DASH-002", f"{path}.sort[{j}].by", column=s["by"], **_names(widget))


def _names(widget: WidgetPlan) -> dict:
    return {
        "groups": ", ".join(g.alias for g in widget.groups) or "—",
        "measures": ", ".join(m.name for m in widget.measures if not m.hidden),
    }


def _group(preparer: Preparer, filters: dict, raw: dict, path: str, ds: Dataset) -> Group:
    alias, label = raw["as"], raw.get("label")
    if "time_bucket" in raw:
        unit = raw["time_bucket"]
        if unit not in UNITS:
            raise PlanError("E-DASH-006", f"{path}.time_bucket", field=alias, needs="needs a unit: " + ", ".join(UNITS))
        f = preparer.field(raw["field"], ds.entity, f"{path}.field") if raw.get("field") else ds.time
        if f is None or f.kind not in ("date", "datetime"):
            raise PlanError(
                "E-DASH-006", path, field=alias, needs="needs a date or datetime field (or the dataset's time_field)"
            )
        return Group(alias, "time", f, unit=unit, label=label)
    if not raw.get("field"):
        raise PlanError("E-DASH-006", path, field=alias, needs="needs a field or a time_bucket")
    f = preparer.field(raw["field"], ds.entity, f"{path}.field")
    if f.kind in ("set", "json"):
        raise PlanError("E-DASH-006", f"{path}.field", field=alias, needs="needs a single-valued field")
    if "bins" in raw:
        if f.kind not in ("integer", "decimal"):
            raise PlanError("E-DASH-006", f"{path}.bins", field=alias, needs="with bins needs a numeric field")
        bins = []
        for j, b in enumerate(raw["bins"]):
            bound = {}
            for k in ("lt", "lte", "gt", "gte"):
                if k in b:
                    try:
                        bound[k] = exact(b[k])
                    except (ValueProblem, TypeError, ValueError, InvalidOperation, OverflowError):
                        raise PlanError(
                            "E-DASH-006", f"{path}.bins[{j}].{k}", field=alias, needs="has a bound that is not a number"
                        ) from None
            bins.append({"label": b["label"], **bound})
        return Group(alias, "bins", f, bins=bins, label=label)
    if "tree" in raw:
        spec = filters.get(raw["tree"])
        if spec is None or spec.get("type") != "org":
            raise PlanError("E-DASH-003", f"{path}.tree", filter=raw["tree"])
        if f.kind != "ref":
            raise PlanError(
                "E-DASH-006", f"{path}.field", field=alias, needs="grouped by the org tree needs a reference"
            )
        return Group(alias, "tree", f, tree=raw["tree"], label=label)
    return Group(alias, "field", f, label=label)


def _measure(preparer: Preparer, raw: Any, entity: EntityDef, path: str):
    if isinstance(raw, bool) or raw is None:
        raise PlanError("E-DASH-001", path, detail="is an aggregate (agg), a calc over aggregates, or a number")
    if not isinstance(raw, dict):
        try:
            return MLit(exact(raw))
        except (ValueProblem, TypeError, ValueError, InvalidOperation, OverflowError):
            raise PlanError(
                "E-DASH-001", path, detail="is an aggregate (agg), a calc over aggregates, or a number"
            ) from None
    if "agg" in raw:
        return _agg(preparer, raw, entity, path)
    if "calc" in raw:
        fn, args = raw["calc"], raw.get("args")
        if fn not in ARITHMETIC:
            raise PlanError("E-DASH-001", f"{path}.calc", detail="combines aggregates with " + ", ".join(ARITHMETIC))
        if not isinstance(args, list) or not args or len(args) > ARITHMETIC[fn]:
            raise PlanError("E-DASH-001", f"{path}.args", detail=f"calc {fn} takes at most {ARITHMETIC[fn]} arguments")
        digits = 0
        if fn == "round":
            digits = args[1] if len(args) > 1 else 0
            if isinstance(digits, bool) or not isinstance(digits, int) or not 0 <= digits <= 10:
                raise PlanError("E-DASH-001", f"{path}.args[1]", detail="rounds to 0 to 10 decimals")
            args = args[:1]
        parts = tuple(_measure(preparer, a, entity, f"{path}.args[{i}]") for i, a in enumerate(args))
        for i, p in enumerate(parts):
            if p.kind not in ("integer", "decimal"):
                raise PlanError("E-DASH-001", f"{path}.args[{i}]", detail="calc works on numbers")
        return MCalc(fn, parts, digits)
    raise PlanError("E-DASH-001", path, detail="is an aggregate (agg), a calc over aggregates, or a number")


def _agg(preparer: Preparer, raw: dict, entity: EntityDef, path: str) -> MAgg:
    fn = raw["agg"]
    if "rel" in raw or "window" in raw or "order_by" in raw:
        key = next(k for k in ("rel", "window", "order_by") if k in raw)
        raise PlanError("E-DASH-001", f"{path}.{key}", detail="aggregates the dataset's rows: leave out " + key)
    if fn not in MEASURE_AGGS:
        raise PlanError("E-DASH-001", f"{path}.agg", detail="is one of " + ", ".join(sorted(MEASURE_AGGS)))
    of = preparer.field(raw["of"], entity, f"{path}.of") if raw.get("of") else None
    if of is None and fn not in ("count",):
        raise PlanError("E-DASH-001", path, detail=f"{fn} needs of: the field to aggregate")
    if of is not None and of.kind in ("set", "json"):
        raise PlanError("E-DASH-001", f"{path}.of", detail="aggregates a single-valued field")
    if fn in NUMERIC_AGGS and of.kind not in ("integer", "decimal"):
        raise PlanError("E-DASH-001", f"{path}.of", detail=f"{fn} needs a numeric field")
    where = preparer.condition(raw["where"], entity, f"{path}.where") if raw.get("where") else None
    if fn in ("count", "count_distinct"):
        kind = "integer"
    elif fn == "avg":
        kind = "decimal"
    else:
        kind = of.kind
    return MAgg(fn, of, where, kind)


def exact(value: Any) -> Fraction:
    """A JSON number (or a numeric text) as an exact fraction: ``0.1`` is one tenth."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(value)
    if isinstance(value, int):
        return Fraction(value)
    result = Fraction(Decimal(str(value)))
    if not result.denominator or abs(result) > 10**18:
        raise ValueError(value)
    return result
