"""Drill-down: the condition, in the condition language, selecting the records behind a clicked
bar, point, slice, row or KPI — the dataset's filter with the parameters written in, the period,
the widget's filter, a KPI's filtered count and the clicked group values — for the record list,
which applies it through the viewer's scope like any filter."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..conditions.values import is_empty_param
from ..errors import BadRequest, Detail
from ..i18n import _
from . import buckets
from .plan import MAgg, Plan, WidgetPlan
from .query import TimeRange
from .service import Params


def drill(ds, plan: Plan, widget: WidgetPlan, params: Params, picks: dict[str, str]) -> dict:
    """The condition selecting the records behind a clicked bar, point, slice or row: the
    dataset's filter with the parameters written in, the time range, the widget's filter,
    a KPI's filtered count, and the clicked group values."""
    dataset = widget.dataset
    if dataset is None:  # a plugin's source: no records of ours behind its numbers
        raise BadRequest(_("This widget's data comes from a plugin: it has no records to show."), code="no_drill")
    leaves = []
    if dataset.raw.get("filter"):
        leaves.append(substitute(dataset.raw["filter"], params.values))
    if widget.raw.get("filter"):
        leaves.append(substitute(widget.raw["filter"], params.values))
    first = next(m for m in widget.measures if not m.hidden)
    if not widget.groups and isinstance(first.node, MAgg):
        raw_measure = (widget.raw.get("measures") or [widget.raw.get("measure") or {}])[0]
        if raw_measure.get("where"):
            leaves.append(substitute(raw_measure["where"], params.values))
    if dataset.time is not None:
        tr = ds.time_for(widget, params)
        leaves += time_leaves(dataset.raw["time_field"], dataset.time.kind, tr.local_start, tr.local_end, tr)
    tz = ds.svc.environment().tz
    for g in widget.groups:
        if g.alias not in picks:
            continue
        raw_key = picks[g.alias]
        leaves += _group_leaves(ds, plan, widget, g, raw_key, params, tz)
    leaves = [x for x in leaves if x is not None]
    return {"all": leaves} if leaves else {"all": []}


def _group_leaves(ds, plan, widget, g, raw_key: str, params: Params, tz) -> list[dict]:
    path = _path_of(widget, g)
    if raw_key == "":
        return [{"field": path, "op": "is_null"}]
    try:
        if g.kind == "time":
            start, end = buckets.bounds(g.unit, raw_key)
            tf = path
            return time_leaves(tf, g.field.kind, start, end, None, tz)
        if g.kind == "bins":
            b = g.bins[int(raw_key)]
            return [{"field": path, "op": op, "value": str(float(b[op])) if b[op].denominator != 1 else int(b[op])}
                    for op in ("gt", "gte", "lt", "lte") if op in b]  # fmt: skip
        if g.kind == "tree":
            unit = int(raw_key)
            selected = ds.selected_unit(plan, g, params)
            ids = [unit] if unit == selected else sorted(ds.subtree(unit))
            return [{"field": path, "op": "in", "value": ids}]
    except (ValueError, IndexError):
        raise BadRequest(
            _("The clicked value does not fit the widget."), [Detail(g.alias, _("Unknown value."), "invalid_value")]
        ) from None
    kind = g.field.kind
    if kind in ("integer", "ref"):
        if not raw_key.lstrip("-").isdigit():
            raise BadRequest(
                _("The clicked value does not fit the widget."),
                [Detail(g.alias, _("Unknown value."), "invalid_value")],
            )
        return [{"field": path, "op": "eq", "value": int(raw_key)}]
    if kind == "bool":
        return [{"field": path, "op": "eq", "value": raw_key in ("true", "True", "1")}]
    return [{"field": path, "op": "eq", "value": raw_key[:200]}]


def time_leaves(
    path: str, kind: str, local_start: datetime, local_end: datetime, tr: TimeRange | None, tz=None
) -> list[dict]:
    """``start <= field < end`` in the condition language (dates for date fields)."""
    if kind == "date":
        if tr is not None:
            first, after = tr.dates()
        else:
            first, after = local_start.date(), local_end.date()
        return [{"field": path, "op": "gte", "value": first.isoformat()},
                {"field": path, "op": "lt", "value": after.isoformat()}]  # fmt: skip
    if tr is not None:
        start, end = tr.start, tr.end
    else:
        start, end = local_start.replace(tzinfo=tz).astimezone(UTC), local_end.replace(tzinfo=tz).astimezone(UTC)
    return [{"field": path, "op": "gte", "value": start.isoformat()},
            {"field": path, "op": "lt", "value": end.isoformat()}]  # fmt: skip


def substitute(cond: Any, values: dict) -> Any:
    """A condition with the parameters' values written in; a leaf whose parameter is empty is
    left out (and a group left empty with it), as the dashboard leaves it out."""
    if isinstance(cond, list):
        return [substitute(c, values) for c in cond]
    if not isinstance(cond, dict):
        return cond
    if set(cond) == {"param"}:
        return values.get(cond["param"])
    for key in ("all", "any"):
        if key in cond:
            items = [x for x in (substitute(c, values) for c in cond[key]) if x is not None]
            return {key: items} if items else None
    if "not" in cond:
        inner = substitute(cond["not"], values)
        return {"not": inner} if inner is not None else None
    if "op" in cond and _uses_empty_param(cond, values):
        return None
    return {k: substitute(v, values) for k, v in cond.items()}


def _uses_empty_param(leaf: dict, values: dict) -> bool:
    for key in ("value", "field", "expr"):
        v = leaf.get(key)
        if isinstance(v, dict) and set(v) == {"param"} and is_empty_param(values.get(v["param"])):
            return True
        if isinstance(v, list) and any(
            isinstance(x, dict) and set(x) == {"param"} and is_empty_param(values.get(x["param"])) for x in v
        ):
            return True
    return False


def _path_of(widget: WidgetPlan, g) -> str:
    for raw in widget.raw.get("group_by", []):
        if raw["as"] == g.alias:
            return raw.get("field") or widget.dataset.raw["time_field"]
    raise KeyError(g.alias)
