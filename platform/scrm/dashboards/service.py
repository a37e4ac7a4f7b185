"""Dashboards for one viewer: which they may open, their parameters (from the request, else the
document's defaults, which may read the viewer's context), each widget's data computed through
the viewer's record scope and cached per (dashboard revision, widget, parameters, time range,
viewer) for a short time, and the condition behind a clicked bucket (drill-down).
"""

from __future__ import annotations

import threading
import time as clock
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app, has_app_context

from ..conditions import ConditionError, Preparer
from ..conditions.ir import deps
from ..conditions.reltime import RelTimeError, resolve_instant, shift
from ..db import TimeLimitExceeded, dialect_name, run, within
from ..errors import Detail, Forbidden, NotFound
from ..i18n import _, text
from ..meta.model import SYSTEM_COLUMNS
from ..security.scopes import tree_entity
from . import buckets, sources
from .plan import COUNT_COLUMN, MAgg, Plan, PlanError, WidgetPlan, prepare
from .query import TimeRange, compile_widget, read_rows, widget_limit

DEFAULT_TIME = {"from": "now-30d/d", "to": "now"}
PERIODS = {  # quick choices of the time picker
    "today": ("today", "now"),
    "7d": ("today-6d", "now"),
    "30d": ("today-29d", "now"),
    "90d": ("today-89d", "now"),
    "mtd": ("today/M", "now"),
    "qtd": ("today/Q", "now"),
    "ytd": ("today/y", "now"),
    "12m": ("today-11M/M", "now"),
    "last_month": ("today-1M/M", "today/M"),
    "last_quarter": ("today-1Q/Q", "today/Q"),
}
SHIFT_UNITS = {"d": "d", "w": "w", "M": "M", "Q": "Q", "y": "y"}


# -- cache -----------------------------------------------------------------------------------
class ResultCache:
    """Widget results for a short time, per process (keys name the definition revision, so a
    published change is never served stale)."""

    def __init__(self, size: int = 2000):
        self.size = size
        self.items: OrderedDict = OrderedDict()
        self.lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key, ttl: float, build):
        now = clock.monotonic()
        with self.lock:
            found = self.items.get(key)
            if found is not None and found[0] > now:
                self.items.move_to_end(key)
                self.hits += 1
                return found[1]
        value = build()
        with self.lock:
            self.misses += 1
            if ttl > 0:
                self.items[key] = (now + ttl, value)
                self.items.move_to_end(key)
                while len(self.items) > self.size:
                    self.items.popitem(last=False)
        return value

    def forget(self, key) -> None:
        with self.lock:
            self.items.pop(key, None)

    def clear(self) -> None:
        with self.lock:
            self.items.clear()


CACHE = ResultCache()


def database_key() -> str:
    """Which database a cached result came from (a process may serve several: tests, tenants)."""
    from ..db import db

    return db.engine.url.render_as_string(hide_password=True) if has_app_context() else ""


def cache_seconds() -> float:
    return float(current_app.config.get("SCRM_DASHBOARD_CACHE_SECONDS", 60)) if has_app_context() else 0.0


# -- parameters ------------------------------------------------------------------------------
@dataclass
class Params:
    """The dashboard's parameters as chosen: filter values, the time range, and the problems
    of values that did not fit (each left out, reported at its parameter)."""

    values: dict[str, Any]
    shown: dict[str, Any]  # as the form shows them (ids, texts)
    time: TimeRange
    time_raw: dict[str, str]
    problems: list[Detail] = field(default_factory=list)

    def query(self) -> list[tuple[str, str]]:
        """The parameters as URL query arguments."""
        out = [(k, v) for k, v in self.time_raw.items() if v]
        for name, value in self.shown.items():
            if isinstance(value, list):
                out += [(name, str(v)) for v in value]
            elif value not in (None, ""):
                out.append((name, str(value)))
        return out

    def key(self) -> tuple:
        return (
            tuple(sorted((k, repr(v)) for k, v in self.values.items())),
            self.time.start.isoformat(),
            self.time.end.isoformat(),
        )


@dataclass
class WidgetData:
    widget: WidgetPlan
    rows: list[dict]
    labels: dict[str, dict]  # group alias -> key -> display label
    compare: dict | None
    time: TimeRange
    truncated: bool = False
    error: str = ""  # why the widget has no data (its plugin source failed, its query ran too long)
    error_code: str = "source_failed"


class DashboardService:
    def __init__(self, svc):
        self.svc = svc
        self.snapshot = svc.snapshot

    # -- definitions ----------------------------------------------------------------------------
    def names(self) -> list[str]:
        """The dashboards the viewer may open, in menu order."""
        docs = self.snapshot.documents_of("dashboard")
        names = [n for n in docs if self.allowed(docs[n])]
        return sorted(names, key=lambda n: (docs[n].get("order", 100), n))

    def allowed(self, doc: dict) -> bool:
        perms = self.svc.permissions
        if perms.system:
            return True
        roles = doc.get("roles")
        if roles and not set(roles) & set(perms.roles) and "admin" not in perms.roles:
            return False
        return any(perms.can(ds.get("entity"), "read") for ds in doc.get("datasets", {}).values())

    def plan(self, name: str) -> Plan:
        doc = self.snapshot.documents_of("dashboard").get(name)
        if doc is None or not self.allowed(doc):
            raise NotFound(_("There is no dashboard {name!r}.").format(name=name))

        def build() -> Plan:
            return prepare(self.snapshot.field_types, self.snapshot.entity, doc, collect=True)

        return self.snapshot.cached(("dashboard-plan", name), build)

    def draft_plan(self, doc: dict, etag: str) -> Plan:
        """The plan of an unpublished dashboard document (the designer's preview)."""

        def build() -> Plan:
            return prepare(self.snapshot.field_types, self.snapshot.entity, doc, collect=True)

        return self.snapshot.cached(("dashboard-draft", doc.get("name"), etag), build)

    def widget(self, plan: Plan, widget_id: str) -> WidgetPlan:
        widget = plan.widgets.get(widget_id)
        if widget is None:
            raise NotFound(_("The dashboard has no widget {id!r}.").format(id=widget_id))
        return widget

    def readable(self, widget: WidgetPlan) -> str | None:
        """Why the viewer may not see the widget (None: they may): its entity or a field it
        groups, measures or filters by is closed to them."""
        perms = self.svc.permissions
        if perms.system or widget.source is not None:  # a source reads through the viewer's service
            return None
        entity = widget.dataset.entity
        if not perms.can(entity, "read"):
            return _("You may not read {entity}.").format(entity=text(entity.label))
        fields = set()
        for node in (widget.dataset.filter, widget.filter):
            if node is not None:
                fields |= deps(node).fields
        for g in widget.groups:
            fields |= _path_fields(g.field)
        for m in widget.measures:
            fields |= _measure_fields(m.node)
        for dotted in sorted(fields):
            owner, _dot, name = dotted.partition(".")
            ent = self.snapshot.entity(owner)
            f = ent.field(name) if ent is not None else None
            if f is None or name in SYSTEM_COLUMNS:
                continue
            if not perms.can(ent, "read") or not perms.readable(ent, f):
                return _("The widget uses {field}, which you may not read.").format(field=text(f.label) or f.name)
        return None

    # -- parameters -----------------------------------------------------------------------------
    def params(self, plan: Plan, args) -> Params:
        env = self.svc.environment()
        now = minute_end(env.now)  # results may be cached within the minute
        tz = env.tz
        problems: list[Detail] = []
        spec = {**DEFAULT_TIME, **(plan.doc.get("time", {}).get("default") or {})}
        raw = {"period": (args.get("period") or "").strip(), "from": (args.get("from") or "").strip(),
               "to": (args.get("to") or "").strip()}  # fmt: skip
        start_expr, end_expr = spec.get("from", DEFAULT_TIME["from"]), spec.get("to", DEFAULT_TIME["to"])
        if raw["period"]:
            if raw["period"] in PERIODS:
                start_expr, end_expr = PERIODS[raw["period"]]
            else:
                problems.append(Detail("period", _("Choose one of the offered periods."), "invalid_period"))
                raw["period"] = ""
        start = resolve_instant(start_expr, now, tz)
        end = resolve_instant(end_expr, now, tz)
        for key in ("from", "to"):
            if not raw[key]:
                continue
            try:
                moment = _moment(raw[key], now, tz, end_of_day=key == "to")
            except ValueError:
                problems.append(
                    Detail(key, _("Give a date such as 2026-01-31 or a relative time such as now-30d."), "invalid_date")
                )
                raw[key] = ""
                continue
            if key == "from":
                start = moment
            else:
                end = moment
        if end <= start:
            problems.append(Detail("to", _("The end of the period must come after its start."), "invalid_range"))
            start, end = resolve_instant(start_expr, now, tz), resolve_instant(end_expr, now, tz)
            raw["from"] = raw["to"] = ""
        if end - start > timedelta(days=3700):
            problems.append(Detail("from", _("A period spans at most ten years."), "invalid_range"))
            start = end - timedelta(days=3700)
        values, shown = {}, {}
        for name, f in plan.filters.items():
            if f["type"] == "date_range":
                continue
            given = [v.strip() for v in _getlist(args, name) if v and v.strip()]
            try:
                if given:
                    value, display = self._param_value(f, given)
                else:
                    value, display = self._default(f, env), None
            except ValueError as exc:
                problems.append(Detail(name, str(exc), "invalid_param"))
                value, display = None, None
            values[name] = value
            shown[name] = display if display is not None else ([] if f.get("multi") else "")
        time_range = TimeRange(
            start.astimezone(UTC), end.astimezone(UTC), start.astimezone(tz).replace(tzinfo=None),
            end.astimezone(tz).replace(tzinfo=None),
        )  # fmt: skip
        return Params(values, shown, time_range, raw, problems)

    def _param_value(self, f: dict, given: list[str]) -> tuple[Any, Any]:
        kind, multi = f["type"], f.get("multi", False)
        given = given if multi else given[:1]
        if kind in ("ref", "org"):
            ids = []
            for v in given:
                if not v.isdigit() or not 0 < int(v) < 2**63:
                    raise ValueError(_("Choose from the list."))
                ids.append(int(v))
            if kind == "org":
                return sorted(self.subtree(ids[0])), ids[0]
            return (ids if multi else ids[0]), (ids if multi else ids[0])
        if kind == "enum":
            allowed = {o for o, _label in self.options(f)}
            if any(v not in allowed for v in given):
                raise ValueError(_("Choose from the list."))
            return (given if multi else given[0]), (given if multi else given[0])
        if kind == "number":
            try:
                return int(given[0]), given[0]
            except ValueError:
                raise ValueError(_("Give a whole number.")) from None
        if kind == "bool":
            if given[0] not in ("true", "false"):
                raise ValueError(_("Choose yes or no."))
            return given[0] == "true", given[0]
        return given[0][:100], given[0][:100]

    def _default(self, f: dict, env) -> Any:
        default = f.get("default")
        if isinstance(default, dict) and "ctx" in default:
            value = env.ctx(default["ctx"])
            if f["type"] == "org":
                return sorted(self.subtree(value)) if isinstance(value, int) else None
            return sorted(value) if isinstance(value, set) else value
        if f["type"] == "org" and isinstance(default, int):
            return sorted(self.subtree(default))
        return default

    def options(self, f: dict) -> list[tuple[str, str]]:
        """The choices of an enum or ref filter: (value, label)."""
        if f["type"] == "enum" and f.get("options_from"):
            entity_name, _dot, field_name = f["options_from"].partition(".")
            entity = self.snapshot.entity(entity_name)
            fd = entity.field(field_name) if entity is not None else None
            return [(o.value, text(o.label)) for o in (fd.options if fd is not None else [])]
        if f["type"] in ("ref", "org"):
            target = f.get("target") or (tree_entity(self.snapshot).name if tree_entity(self.snapshot) else None)
            if target is None or self.snapshot.entity(target) is None:
                return []
            if not self.svc.permissions.can(target, "read"):
                return []
            return [(str(i), label) for i, label in self.svc.lookup(target, limit=500)]
        return []

    # -- the org tree ---------------------------------------------------------------------------
    def _tree(self) -> tuple[dict[int, int | None], dict[int, list[int]]]:
        def build():
            tree = tree_entity(self.snapshot)
            if tree is None:
                return {}, {}
            spec = tree.doc.get("options", {}).get("tree", {})
            table = self.snapshot.tables[tree.name].main
            parent_f = tree.field(spec.get("parent", "parent"))
            rows = run(sa.select(table.c.id, table.c[parent_f.column]).where(table.c.deleted_at.is_(None))).all()
            parent = {r[0]: r[1] for r in rows}
            children: dict[int, list[int]] = {}
            for child, up in parent.items():
                children.setdefault(up, []).append(child)
            return parent, children

        return CACHE.get(("org-tree", database_key(), self.snapshot.revision, int(clock.time() // 60)), 60, build)

    def subtree(self, unit: int) -> set[int]:
        _parent, children = self._tree()
        out, stack = set(), [unit]
        while stack:
            node = stack.pop()
            if node in out:
                continue
            out.add(node)
            stack.extend(children.get(node, ()))
        return out

    def tree_groups(self, selected: int | None) -> list[tuple[int, tuple[int, ...]]]:
        """The units a tree group's rows fall under: the selected unit's children, each with its
        subtree, and the unit itself for rows placed directly on it (the roots when none is)."""
        parent, children = self._tree()
        if selected is None:
            roots = [u for u, p in parent.items() if p is None or p not in parent]
            if len(roots) == 1:
                selected = roots[0]
            else:
                return [(r, tuple(sorted(self.subtree(r)))) for r in sorted(roots)]
        out = [(c, tuple(sorted(self.subtree(c)))) for c in sorted(children.get(selected, ()))]
        out.append((selected, (selected,)))
        return out

    def selected_unit(self, plan: Plan, group, params: Params) -> int | None:
        shown = params.shown.get(group.tree)
        if isinstance(shown, int):
            return shown
        value = params.values.get(group.tree)
        if value:  # a default subtree: its top is the unit that is no one's child within it
            inside = set(value)
            parent, _children = self._tree()
            tops = [u for u in inside if parent.get(u) not in inside]
            return tops[0] if len(tops) == 1 else None
        return None

    # -- data -----------------------------------------------------------------------------------
    def data(self, plan: Plan, widget: WidgetPlan, params: Params, *, extra: list | None = None,
             extra_key: Any = None) -> WidgetData:  # fmt: skip
        """The widget's rows (cached), with the previous period's values for a KPI's comparison."""
        reason = self.readable(widget)
        if reason:
            raise Forbidden(reason, code="widget_forbidden")
        perms = self.svc.permissions
        who = ("system",) if perms.system else (self.svc.user_id, perms.roles)
        time_range = self.time_for(widget, params)
        key = ("widget", database_key(), plan.name, self.snapshot.revision, widget.id, params.key(), time_range, who,
               extra_key)  # fmt: skip

        if widget.source is not None:
            return self._source_data(widget, params, time_range, key)

        def build() -> WidgetData:
            limit = current_app.config.get("SCRM_DASHBOARD_TIMEOUT", 0)
            try:
                with within(limit):
                    rows, labels, truncated = self._rows(plan, widget, params, time_range, extra)
                    compare = None
                    shift_expr = widget.raw.get("compare", {}).get("shift")
                    if shift_expr and not widget.groups:
                        before = shifted(time_range, shift_expr, self.svc.environment().tz)
                        previous, _labels, _t = self._rows(plan, widget, params, before, extra)
                        compare = {"rows": previous, "time": before}
            except TimeLimitExceeded:
                message = _("This widget's query ran longer than {seconds} s and was stopped: narrow its filters "
                            "or its period.").format(seconds=limit)  # fmt: skip
                return WidgetData(widget, [], {}, None, time_range, error=message, error_code="timed_out")
            return WidgetData(widget, rows, labels, compare, time_range, truncated)

        return self._uncached_if_failed(key, CACHE.get(key, cache_seconds(), build))

    @staticmethod
    def _uncached_if_failed(key, data: WidgetData) -> WidgetData:
        if data.error:
            CACHE.forget(key)
        return data

    def _source_data(self, widget: WidgetPlan, params: Params, time_range: TimeRange, key) -> WidgetData:
        """A plugin source's rows, read through the viewer's record service (cached like a
        query's; a failure is not cached, and shows in the widget)."""

        def build() -> WidgetData:
            try:
                rows, truncated = sources.widget_rows(widget, self.svc, params.values, time_range, widget_limit(widget))
            except sources.SourceFailed as exc:
                return WidgetData(widget, [], {}, None, time_range, error=str(exc))
            return WidgetData(widget, rows, self._labels(widget, rows), None, time_range, truncated)

        return self._uncached_if_failed(key, CACHE.get(key, cache_seconds(), build))

    def time_for(self, widget: WidgetPlan, params: Params) -> TimeRange:
        """The widget's own period (a 12-month trend) when it declares one, else the dashboard's."""
        spec = widget.raw.get("time")
        if not spec:
            return params.time
        env = self.svc.environment()
        now = minute_end(env.now)
        start = resolve_instant(spec.get("from", DEFAULT_TIME["from"]), now, env.tz)
        end = resolve_instant(spec.get("to", "now"), now, env.tz)
        return TimeRange(
            start.astimezone(UTC), end.astimezone(UTC), start.astimezone(env.tz).replace(tzinfo=None),
            end.astimezone(env.tz).replace(tzinfo=None),
        )  # fmt: skip

    def _rows(self, plan: Plan, widget: WidgetPlan, params: Params, time_range: TimeRange, extra):
        env = self.svc.environment(params=params.values)
        env.now = minute_end(env.now)
        trees = {
            g.alias: self.tree_groups(self.selected_unit(plan, g, params)) for g in widget.groups if g.kind == "tree"
        }
        sunday = plan.doc.get("time", {}).get("week_start") == "sunday"

        def scoped(stmt, entity):
            return self.svc.scoped(stmt, entity, env)

        compiled = compile_widget(
            widget, self.snapshot.tables, env, dialect_name(), scoped=scoped, time_range=time_range, trees=trees,
            week_sunday=sunday, extra=extra,
        )  # fmt: skip
        rows = read_rows(compiled, run(compiled.stmt))
        limit = bool(widget.groups) and len(rows) >= widget_limit(widget)  # the statement's LIMIT was reached
        rows = self._fill_buckets(widget, rows, time_range, sunday) if not limit else rows
        self._hide_small_samples(widget, rows)
        return rows, self._labels(widget, rows), bool(limit and widget.type not in ("ranking",))

    def _fill_buckets(self, widget: WidgetPlan, rows: list[dict], tr: TimeRange, sunday: bool) -> list[dict]:
        """Every bucket of the range, so a line has no silent gap: counts and sums of an empty
        bucket are 0, averages and ratios have no value."""
        times = [g for g in widget.groups if g.kind == "time"]
        if len(times) != 1 or times[0].field is not widget.dataset.time:
            return rows
        g = times[0]
        others = [x.alias for x in widget.groups if x is not g]
        keys = buckets.series(g.unit, tr.local_start, tr.local_end, sunday)
        combos = list(dict.fromkeys(tuple(r[a] for a in others) for r in rows)) or ([()] if not others else [])
        have = {(r[g.alias], *(r[a] for a in others)) for r in rows}
        for bucket in keys:
            for combo in combos:
                if (bucket, *combo) not in have:
                    row = {g.alias: bucket, **dict(zip(others, combo, strict=True))}
                    for m in widget.measures:
                        zero = isinstance(m.node, MAgg) and m.node.fn in ("count", "count_distinct", "sum")
                        row[m.name] = 0 if zero else None
                    rows.append(row)
        order = {k: i for i, k in enumerate(keys)}
        rows.sort(key=lambda r: (order.get(r[g.alias], len(order)), *(str(r[a]) for a in others)))
        return rows

    def _hide_small_samples(self, widget: WidgetPlan, rows: list[dict]) -> None:
        """Averages and ratios over fewer rows than ``min_sample`` say nothing: shown as —."""
        least = widget.raw.get("min_sample")
        if not least:
            return
        for row in rows:
            if (row.get(COUNT_COLUMN) or 0) < least:
                for m in widget.measures:
                    if m.is_ratio:
                        row[m.name] = None

    def _labels(self, widget: WidgetPlan, rows: list[dict]) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for g in widget.groups:
            keys = {r[g.alias] for r in rows}
            names: dict = {}
            if g.kind == "source":
                names = {k: (_("Yes") if k else _("No")) if isinstance(k, bool) else str(k) for k in keys}
            elif g.kind == "time":
                names = {k: buckets.label(g.unit, k) for k in keys if k is not None}
            elif g.kind == "bins":
                names = {i: text(b["label"]) for i, b in enumerate(g.bins)}
            elif g.kind == "tree" or g.field.last.type == "ref":
                target = g.field.last.target
                names = self.svc.titles(target, [k for k in keys if k is not None])
            elif g.field.last.options:
                names = {o.value: text(o.label) for o in g.field.last.options}
            elif g.field.kind == "bool":
                names = {True: _("Yes"), False: _("No")}
            labelled = {k: (names.get(k, str(k)) if k is not None else _("(none)")) for k in keys}
            out[g.alias] = labelled
        return out


# -- helpers ---------------------------------------------------------------------------------
def minute_end(now: datetime) -> datetime:
    """The end of ``now``'s minute: "until now" includes what happened this minute, and results
    stay the same (cacheable) within it."""
    return now.replace(second=0, microsecond=0) + timedelta(minutes=1)


def _getlist(args, name: str) -> list[str]:
    if hasattr(args, "getlist"):
        return args.getlist(name)
    value = args.get(name)
    return value if isinstance(value, list) else ([] if value is None else [value])


def _moment(raw: str, now: datetime, tz, *, end_of_day: bool) -> datetime:
    """A date (``to`` includes the whole day) or a relative time, as an instant."""
    try:
        day = datetime.strptime(raw, "%Y-%m-%d")
    except ValueError:
        try:
            return resolve_instant(raw, now, tz)
        except RelTimeError:
            raise ValueError(raw) from None
    if not 1900 <= day.year <= 2200:
        raise ValueError(raw)
    if end_of_day:
        day += timedelta(days=1)
    return day.replace(tzinfo=tz)


def shifted(tr: TimeRange, expr: str, tz) -> TimeRange:
    """The range moved by a Grafana-style shift such as ``-30d`` or ``-1Q`` (in local time)."""
    amount, unit = int(expr[1:-1]), expr[-1]
    start = shift(tr.local_start, -1, amount, SHIFT_UNITS[unit])
    end = shift(tr.local_end, -1, amount, SHIFT_UNITS[unit])
    return TimeRange(start.replace(tzinfo=tz).astimezone(UTC), end.replace(tzinfo=tz).astimezone(UTC), start, end)


def _path_fields(f) -> set[str]:
    if f is None:
        return set()
    return {f"{e.name}.{s.name}" for e, s in zip(f.entities, f.steps, strict=True)}


def _measure_fields(node) -> set[str]:
    from .plan import MCalc

    if isinstance(node, MAgg):
        out = _path_fields(node.of)
        if node.where is not None:
            out |= deps(node.where).fields
        return out
    if isinstance(node, MCalc):
        out = set()
        for a in node.args:
            out |= _measure_fields(a)
        return out
    return set()


__all__ = ["CACHE", "ConditionError", "DashboardService", "Params", "PlanError", "Preparer", "WidgetData"]
