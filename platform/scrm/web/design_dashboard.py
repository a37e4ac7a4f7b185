"""The dashboard editor of the designer: datasets (an entity, its time field, a filter from the
condition builder) and widgets picked from them — type, group-by, measure, width — each previewed
live from the draft, with the viewer's own data, before anything is published."""

from __future__ import annotations

import copy

from flask import flash, request

from ..dashboards.service import DashboardService
from ..designer.edits import NAME, drop_item
from ..errors import NotFound
from ..i18n import _, text
from ..runtime import snapshot
from .dashboard_pages import fragment
from .designer import (
    Working,
    back,
    bp,
    change_draft,
    condition_of,
    edit_page,
    editor,
    save,
    submitted_condition,
    working,
)
from .pages import service
from .render import render

WIDGET_TYPES = ("kpi", "bar", "line", "pie", "table", "ranking", "stacked_bar", "funnel")
BUCKETS = ("day", "week", "month", "quarter", "year")
AGGREGATES = ("count", "count_distinct", "sum", "avg", "min", "max")
FORMATS = ("0", "0.0", "0.00", "percent", "money", "duration")
WIDTHS = (6, 8, 12, 16, 24)
GROUP_TYPES = ("enum", "ref", "bool", "string")


def type_label(kind: str) -> str:
    return {"kpi": _("number (KPI)"), "bar": _("bar chart"), "line": _("line chart"), "pie": _("pie chart"),
            "table": _("table"), "ranking": _("ranking"), "stacked_bar": _("stacked bars"),
            "funnel": _("funnel")}.get(kind, kind)  # fmt: skip


def datasets_of(body: dict) -> dict:
    return body.get("datasets") if isinstance(body.get("datasets"), dict) else {}


def widgets_of(body: dict) -> list[dict]:
    return [w for w in body.get("widgets") or [] if isinstance(w, dict)]


@editor("dashboard")
def dashboard_context(w: Working) -> dict:
    snap = snapshot()
    datasets = datasets_of(w.body)
    editing = request.args.get("dataset") if request.args.get("dataset") in datasets else None
    fields: dict[str, dict] = {}
    for ds_name, ds in datasets.items():
        entity = snap.entity(ds.get("entity")) if isinstance(ds, dict) else None
        if entity is None:
            continue
        types = {f.name: f for f in entity.active_fields}
        fields[ds_name] = {
            "group": [(n, text(f.label)) for n, f in types.items() if f.type in GROUP_TYPES],
            "numeric": [
                (n, text(f.label))
                for n, f in types.items()
                if snap.field_types[f.type].value_kind in ("integer", "decimal")
            ],  # fmt: skip
            "all": [(n, text(f.label)) for n, f in types.items()],
        }
    return {
        "datasets": [
            (n, ds.get("entity"), ds.get("time_field", ""), "filter" in ds)
            for n, ds in datasets.items()
            if isinstance(ds, dict)
        ],  # fmt: skip
        "dataset_fields": fields,
        "editing_dataset": editing,
        "filter_cb": condition_of("dsf", datasets[editing].get("entity"), datasets[editing].get("filter"), count=True)
        if editing
        else None,
        "entities": sorted(((n, text(e.label) or n) for n, e in snap.entities.items()), key=lambda p: p[1]),
        "time_fields": {
            n: [(f.name, text(f.label)) for f in e.active_fields if f.type in ("date", "datetime")]
            + [("created_at", _("Created"))]
            for n, e in snap.entities.items()
        },  # fmt: skip
        "widgets": [
            {
                "id": x.get("id"),
                "title": text(x.get("title")) or x.get("id"),
                "type": x.get("type"),
                "width": (x.get("grid") or {}).get("w", 12),
            }
            for x in widgets_of(w.body)
        ],  # fmt: skip
        "widget_types": [(t, type_label(t)) for t in WIDGET_TYPES],
        "buckets": BUCKETS,
        "aggregates": AGGREGATES,
        "formats": FORMATS,
        "widths": WIDTHS,
    }


def edit(name: str, change, comment: str):
    return change_draft("dashboard", name, change, comment)


@bp.post("/dashboard/<name>/datasets")
def save_dataset(name: str):
    form = request.form

    def change(body: dict) -> str | None:
        ds_name, entity = form.get("dataset", "").strip(), form.get("entity", "")
        if not NAME.match(ds_name):
            return _("Use lower-case letters, digits and _, starting with a letter.")
        if snapshot().entity(entity) is None:
            return _("Choose a published entity.")
        datasets = body.setdefault("datasets", {})
        old = datasets.get(ds_name) if isinstance(datasets.get(ds_name), dict) else {}
        entry = {"entity": entity, "time_field": form.get("time_field") or "created_at"}
        if old.get("filter") and old.get("entity") == entity:
            entry["filter"] = old["filter"]
        datasets[ds_name] = entry
        return None

    return edit(name, change, _("Saved a dataset"))


@bp.post("/dashboard/<name>/datasets/<dataset>/filter")
def save_dataset_filter(name: str, dataset: str):
    w = working("dashboard", name)
    ds = datasets_of(w.body).get(dataset)
    if not isinstance(ds, dict):
        raise NotFound(_("There is no such dataset."))
    builder = submitted_condition("dsf", ds.get("entity"))
    if builder is None:
        flash(_("Choose the entity first."), "danger")
        return back("dashboard", name)
    if builder.errors:
        flash(_("Some rows need attention; nothing was saved."), "danger")
        return edit_page(w, 422, filter_cb=builder, editing_dataset=dataset)
    body = copy.deepcopy(w.body)
    if builder.condition is None:
        body["datasets"][dataset].pop("filter", None)
    else:
        body["datasets"][dataset]["filter"] = builder.condition
    save("dashboard", name, body, comment=_("Changed the filter of {dataset}").format(dataset=dataset))
    return back("dashboard", name)


def placed(widgets: list[dict], width: int) -> dict:
    """A free place for a new widget: after the last one in its row, else on a new row."""
    bottom, last = 0, None
    for x in widgets:
        grid = x.get("grid") or {}
        if isinstance(grid, dict) and {"x", "y", "w", "h"} <= set(grid):
            bottom = max(bottom, grid["y"] + grid["h"])
            if last is None or (grid["y"], grid["x"]) > (last["y"], last["x"]):
                last = grid
    height = 2 if width <= 6 else 5
    if last is not None and last["x"] + last["w"] + width <= 24 and last["y"] + last["h"] == bottom:
        return {"x": last["x"] + last["w"], "y": last["y"], "w": width, "h": max(height, last["h"])}
    return {"x": 0, "y": bottom, "w": width, "h": height}


def widget_from(form, datasets: dict) -> tuple[dict | None, str | None]:
    wid, kind, dataset = form.get("widget", "").strip(), form.get("type", ""), form.get("dataset", "")
    if not NAME.match(wid):
        return None, _("Use lower-case letters, digits and _, starting with a letter.")
    if kind not in WIDGET_TYPES or dataset not in datasets:
        return None, _("Choose the kind of widget and its dataset.")
    zh = form.get("title", "").strip() or wid
    width = int(form["width"]) if form.get("width", "").isdigit() and int(form["width"]) in WIDTHS else 12
    agg, of = form.get("agg", "count"), form.get("of", "")
    measure: dict = {"name": "value", "agg": agg if agg in AGGREGATES else "count"}
    if measure["agg"] != "count":
        if not of:
            return None, _("Choose the field to total.")
        measure["of"] = of
    if form.get("format") in FORMATS:
        measure["format"] = form["format"]
    widget: dict = {"id": wid, "type": kind, "title": {"zh-CN": zh, "en": form.get("title_en", "").strip() or zh},
                    "grid": {"x": 0, "y": 0, "w": width, "h": 4}, "dataset": dataset, "measures": [measure]}  # fmt: skip
    group = form.get("group", "")
    if kind != "kpi":
        if group.startswith("time:") and group[5:] in BUCKETS:
            widget["group_by"] = [{"time_bucket": group[5:], "as": group[5:]}]
        elif group:
            widget["group_by"] = [{"field": group, "as": group}]
        else:
            return None, _("A chart needs something to group by.")
    if kind in ("ranking", "table") and form.get("limit", "").isdigit():
        widget["limit"] = min(int(form["limit"]), 100)
    return widget, None


@bp.post("/dashboard/<name>/widgets")
def add_widget(name: str):
    def change(body: dict) -> str | None:
        widget, problem = widget_from(request.form, datasets_of(body))
        if problem:
            return problem
        widgets = body.setdefault("widgets", [])
        if any(isinstance(x, dict) and x.get("id") == widget["id"] for x in widgets):
            return _("There is a widget {id} already.").format(id=widget["id"])
        widget["grid"] = placed(widgets_of(body), widget["grid"]["w"])
        widgets.append(widget)
        return None

    return edit(name, change, _("Added a widget"))


@bp.post("/dashboard/<name>/widgets/remove")
def remove_widget(name: str):
    wid = request.form.get("widget", "")

    def change(body: dict) -> str | None:
        return None if drop_item(body, "widgets", wid, by="id") else _("There is no such widget.")

    return edit(name, change, _("Removed a widget"))


@bp.get("/dashboard/<name>/preview/<widget_id>")
def preview_widget(name: str, widget_id: str):
    """One widget of the draft, computed now for the designer (htmx fragment)."""
    w = working("dashboard", name)
    ds = DashboardService(service())
    plan = ds.draft_plan(w.body, w.etag)
    widget = plan.widgets.get(widget_id)
    if widget is None:
        index = next((i for i, x in enumerate(widgets_of(w.body)) if x.get("id") == widget_id), None)
        problems = [p for p in w.problems if p.path.startswith(f"$.widgets[{index}]")] or w.errors
        return render("design_dashboard_preview", {"problems": problems[:5]})
    params = ds.params(plan, request.args)
    return render("dashboard_widget", fragment(ds, plan, widget, params, draft=w.etag))
