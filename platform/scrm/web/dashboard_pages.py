"""Dashboard pages: the list of dashboards the user may open, a dashboard (its filter bar and a
grid of widgets that load lazily as htmx fragments), one widget's fragment, its CSV, a print
page with every widget rendered inline, the drill-down from a clicked bucket to the record list
(the same condition, through the permission engine), and the REST data endpoint."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import time, timedelta
from urllib.parse import urlencode

from flask import Blueprint, Response, redirect, request, url_for
from flask_login import current_user

from ..dashboards.drill import drill as drill_condition
from ..dashboards.present import csv_rows, view
from ..dashboards.service import DashboardService, Params
from ..errors import BadRequest, Forbidden, Unauthorized
from ..i18n import _, text
from .pages import require_login, service
from .render import render

bp = Blueprint("dashboards", __name__)
bp.before_request(require_login)
ROW_HEIGHT = 64  # px per grid row unit
SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


def dashboards() -> DashboardService:
    return DashboardService(service())


def _menu(ds: DashboardService, current: str | None = None) -> list[dict]:
    docs = ds.snapshot.documents_of("dashboard")
    return [
        {
            "name": n,
            "label": text(docs[n].get("label")) or n,
            "description": text(docs[n].get("description")) if docs[n].get("description") else "",
            "icon": docs[n].get("icon", "speedometer2"),
            "url": url_for("dashboards.dashboard", name=n),
            "active": n == current,
        }
        for n in ds.names()
    ]


@bp.get("/d")
def index():
    ds = dashboards()
    return render("dashboards", {"dashboards": _menu(ds)})


def _filters(ds: DashboardService, plan, params: Params) -> list[dict]:
    out = []
    for name, f in plan.filters.items():
        if f["type"] == "date_range":
            continue
        chosen = params.shown.get(name)
        chosen = (
            {str(c) for c in chosen}
            if isinstance(chosen, list)
            else {str(chosen)}
            if chosen not in (None, "")
            else set()
        )
        out.append({
            "name": name, "label": text(f.get("label")) or name, "type": f["type"], "multi": f.get("multi", False),
            "options": [{"value": v, "label": label, "selected": v in chosen} for v, label in ds.options(f)],
            "value": next(iter(chosen), ""),
            "error": next((p.message for p in params.problems if p.path == name), ""),
        })  # fmt: skip
    return out


def _periods() -> list[tuple[str, str]]:
    return [
        ("today", _("Today")), ("7d", _("Last 7 days")), ("30d", _("Last 30 days")), ("90d", _("Last 90 days")),
        ("mtd", _("This month")), ("last_month", _("Last month")), ("qtd", _("This quarter")),
        ("last_quarter", _("Last quarter")), ("ytd", _("This year")), ("12m", _("Last 12 months")),
    ]  # fmt: skip


def _cards(plan, query: str, *, lazy: bool) -> list[dict]:
    cards = []
    for w in sorted(
        plan.widgets.values(), key=lambda x: (x.raw.get("grid", {}).get("y", 0), x.raw.get("grid", {}).get("x", 0))
    ):
        grid = w.raw.get("grid", {"x": 0, "y": 0, "w": 12, "h": 4})
        cards.append({
            "id": w.id, "type": w.type, "title": text(w.raw.get("title")) or w.id,
            "width": grid["w"], "height": grid["h"] * ROW_HEIGHT,
            "url": url_for("dashboards.widget", name=plan.name, widget_id=w.id) + query,
            "csv": url_for("dashboards.widget_csv", name=plan.name, widget_id=w.id) + query,
        })  # fmt: skip
    return cards


def _query(params: Params) -> str:
    pairs = params.query()
    return ("?" + urlencode(pairs)) if pairs else ""


@bp.get("/d/<name>")
def dashboard(name: str):
    ds = dashboards()
    plan = ds.plan(name)
    params = ds.params(plan, request.args)
    query = _query(params)
    context = {
        "doc": plan.doc,
        "name": name,
        "title": text(plan.doc.get("label")) or name,
        "description": text(plan.doc.get("description")) if plan.doc.get("description") else "",
        "menu": _menu(ds, name),
        "filters": _filters(ds, plan, params),
        "periods": [(v, label, v == params.time_raw["period"]) for v, label in _periods()],
        "time_raw": params.time_raw,
        "range": _range_text(params),
        "problems": [p.message for p in params.problems],
        "cards": _cards(plan, query, lazy=True),
        "print_url": url_for("dashboards.print_page", name=name) + query,
        "broken": len(plan.problems),
    }
    return render("dashboard", context)


def _range_text(params: Params) -> str:
    """The period as the user reads it: both days included."""
    start, end = params.time.local_start, params.time.local_end
    last = end - timedelta(days=1) if end.time() == time(0) else end
    return f"{start:%Y-%m-%d} — {last:%Y-%m-%d}"


def fragment(ds: DashboardService, plan, widget, params: Params, *, draft: str | None = None) -> dict:
    """A widget's template context; ``draft`` (its ETag) for the designer's preview of a draft:
    cached apart from the published one, and without drill-down."""
    reason = ds.readable(widget)
    if reason:
        return {"forbidden": reason, "widget": widget, "view": None, "drill": None, "data": None, "range": ""}
    data = ds.data(plan, widget, params, extra_key=("draft", draft) if draft else None)
    v = view(data)
    drill = None if draft else _drill_base(plan, widget, params)
    if drill and v.rows:
        sep = "&" if "?" in drill else "?"
        for row in v.rows:
            row["href"] = drill + sep + urlencode([(f"g_{alias}", key) for alias, key in row["keys"].items()])
    return {"view": v, "widget": widget, "drill": drill, "data": data, "forbidden": None,
            "range": _range_text(Params({}, {}, data.time, {}))}  # fmt: skip


def _drill_base(plan, widget, params: Params) -> str | None:
    spec = widget.raw.get("drilldown")
    if widget.type != "kpi" and not spec:
        return None
    return url_for("dashboards.drill", name=plan.name, widget_id=widget.id) + _query(params)


@bp.get("/d/<name>/w/<widget_id>")
def widget(name: str, widget_id: str):
    ds = dashboards()
    plan = ds.plan(name)
    w = ds.widget(plan, widget_id)
    params = ds.params(plan, request.args)
    return render("dashboard_widget", fragment(ds, plan, w, params))


@bp.get("/d/<name>/print")
def print_page(name: str):
    ds = dashboards()
    plan = ds.plan(name)
    params = ds.params(plan, request.args)
    cards = []
    for card in _cards(plan, "", lazy=False):
        w = plan.widgets[card["id"]]
        cards.append({**card, **fragment(ds, plan, w, params)})
    return render("dashboard_print", {
        "title": text(plan.doc.get("label")) or name, "cards": cards, "range": _range_text(params),
        "filters": [(f["label"], ", ".join(o["label"] for o in f["options"] if o["selected"]) or _("All"))
                    for f in _filters(ds, plan, params)],
        "back": url_for("dashboards.dashboard", name=name) + _query(params), "user": current_user,
    })  # fmt: skip


@bp.get("/d/<name>/w/<widget_id>.csv")
def widget_csv(name: str, widget_id: str):
    ds = dashboards()
    plan = ds.plan(name)
    w = ds.widget(plan, widget_id)
    params = ds.params(plan, request.args)
    data = ds.data(plan, w, params)
    headers, rows = csv_rows(data)
    out = io.StringIO()
    out.write("\ufeff")  # Excel opens UTF-8 with a BOM as UTF-8
    writer = csv.writer(out)
    writer.writerow(headers)
    for row in rows:
        writer.writerow([_safe_cell(c) for c in row])
    filename = SAFE_NAME.sub("_", f"{name}-{widget_id}.csv")
    return Response(out.getvalue(), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})  # fmt: skip


def _safe_cell(value):
    """No spreadsheet formula from data: a text starting with = + - @ is quoted."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _picks(widget, args) -> dict[str, str]:
    """The clicked bucket: ``x`` and ``series`` (chart clicks) or ``g_<alias>`` (table rows)."""
    enc = widget.raw.get("encoding", {})
    picks = {}
    x = enc.get("x") or (widget.groups[0].alias if widget.groups else None)
    series = enc.get("series")
    if series is None and widget.type in ("stacked_bar", "heatmap") and len(widget.groups) > 1:
        series = next(g.alias for g in widget.groups if g.alias != x)
    if x and "x" in args:
        picks[x] = args.get("x", "")
    if series and "series" in args:
        picks[series] = args.get("series", "")
    for g in widget.groups:
        if f"g_{g.alias}" in args:
            picks[g.alias] = args.get(f"g_{g.alias}", "")
    return picks


@bp.get("/d/<name>/w/<widget_id>/drill")
def drill(name: str, widget_id: str):
    ds = dashboards()
    plan = ds.plan(name)
    w = ds.widget(plan, widget_id)
    reason = ds.readable(w)
    if reason:
        raise Forbidden(reason, code="widget_forbidden")
    params = ds.params(plan, request.args)
    picks = _picks(w, request.args)
    spec = w.raw.get("drilldown") or {"to": "table"}
    if spec.get("to") == "dashboard":
        target = spec.get("name") or name
        args = [(k, v) for k, v in params.query() if k not in spec.get("params", {})]
        for key, template in spec.get("params", {}).items():
            value = str(template)
            for alias, picked in picks.items():
                value = value.replace("{{row." + alias + "}}", picked)
            if "{{" not in value:
                args.append((key, value))
        return redirect(url_for("dashboards.dashboard", name=target) + ("?" + urlencode(args) if args else ""))
    condition = drill_condition(ds, plan, w, params, picks)
    labels = [text(w.raw.get("title")) or w.id]
    for g in w.groups:
        if g.alias in picks:
            labels.append(_pick_label(ds, plan, w, g, picks[g.alias], params))
    entity = w.dataset.entity.name
    query = [("cond", json.dumps(condition, ensure_ascii=False, separators=(",", ":"))),
             ("cond_label", " · ".join([text(plan.doc.get("label")) or name] + labels)),
             ("cond_back", url_for("dashboards.dashboard", name=name) + _query(params))]  # fmt: skip
    return redirect(url_for("pages.list_records", entity=entity) + "?" + urlencode(query))


def _pick_label(ds, plan, widget, group, picked: str, params) -> str:
    data = ds.data(plan, widget, params)
    for key, label in data.labels.get(group.alias, {}).items():
        if (str(key) if key is not None else "") == picked or (isinstance(key, bool) and str(key).lower() == picked):
            return label
    return picked or _("(none)")


def home_widgets(svc) -> dict | None:
    """The widgets the user's role puts on their home page (``home`` of the role), loaded
    lazily like on the dashboard itself; the first role that names some wins."""
    snap, ds = svc.snapshot, DashboardService(svc)
    for role in svc.permissions.roles:
        spec = snap.documents.get(("role", role), {}).get("home")
        if not spec:
            continue
        doc = snap.documents_of("dashboard").get(spec["dashboard"])
        if doc is None or not ds.allowed(doc):
            continue
        plan = ds.plan(spec["dashboard"])
        cards = []
        for wid in spec["widgets"]:
            widget = plan.widgets.get(wid)
            if widget is None or ds.readable(widget):
                continue
            wide = widget.type not in ("kpi",)
            cards.append(
                {
                    "id": wid,
                    "title": text(widget.raw.get("title")) or wid,
                    "url": url_for("dashboards.widget", name=plan.name, widget_id=wid),
                    "wide": wide,
                }
            )
        if cards:
            return {
                "title": text(doc.get("label")) or plan.name,
                "url": url_for("dashboards.dashboard", name=plan.name),
                "cards": cards,
            }
    return None


# -- REST --------------------------------------------------------------------------------------
api_bp = Blueprint("dashboards_api", __name__, url_prefix="/api/v1")


@api_bp.before_request
def require_token_or_session():
    if not current_user.is_authenticated:
        raise Unauthorized(_("Log in or send an API token: Authorization: Bearer <token>."))


@api_bp.get("/dashboards")
def api_list():
    ds = dashboards()
    docs = ds.snapshot.documents_of("dashboard")
    return {"items": [{"name": n, "label": text(docs[n].get("label")) or n,
                       "widgets": [w["id"] for w in docs[n].get("widgets", [])]} for n in ds.names()]}  # fmt: skip


@api_bp.get("/dashboards/<name>/data")
def api_data(name: str):
    """Every widget's rows (or those named by ``widget``), with group labels and the ECharts
    option of charts; parameters as on the page (``from``, ``to``, ``period``, filters)."""
    ds = dashboards()
    plan = ds.plan(name)
    params = ds.params(plan, request.args)
    if params.problems:
        raise BadRequest(_("Some parameters are not valid."), params.problems, "invalid_params")
    wanted = request.args.getlist("widget")
    unknown = [w for w in wanted if w not in plan.widgets]
    if unknown:
        raise BadRequest(_("The dashboard has no widget {id!r}.").format(id=unknown[0]), code="unknown_widget")
    widgets = {}
    for wid, w in plan.widgets.items():
        if wanted and wid not in wanted:
            continue
        reason = ds.readable(w)
        if reason:
            widgets[wid] = {"type": w.type, "error": {"code": "widget_forbidden", "message": reason}}
            continue
        data = ds.data(plan, w, params)
        widgets[wid] = _widget_json(data)
    return {
        "dashboard": name,
        "range": {"from": params.time.start.isoformat(), "to": params.time.end.isoformat()},
        "params": {k: v for k, v in params.shown.items()},
        "widgets": widgets,
    }


def _widget_json(data) -> dict:
    from ..dashboards.present import chart_option, key_text, plain

    w = data.widget
    columns = [{"name": g.alias, "role": "group"} for g in w.groups]
    columns += [{"name": m.name, "role": "measure", "format": m.format} for m in w.measures if not m.hidden]
    rows = []
    for r in data.rows:
        item = {}
        for g in w.groups:
            item[g.alias] = key_text(r[g.alias]) if r[g.alias] is not None else None
            item[g.alias + "_label"] = data.labels[g.alias].get(r[g.alias])
        for m in w.measures:
            if not m.hidden:
                item[m.name] = plain(r.get(m.name))
        item["rows"] = plain(r.get("_n"))
        rows.append(item)
    out = {"type": w.type, "columns": columns, "rows": rows,
           "range": {"from": data.time.start.isoformat(), "to": data.time.end.isoformat()}}  # fmt: skip
    if data.compare is not None:
        out["compare"] = {
            "range": {"from": data.compare["time"].start.isoformat(), "to": data.compare["time"].end.isoformat()},
            "rows": [{m.name: plain(r.get(m.name)) for m in w.measures if not m.hidden} for r in data.compare["rows"]],
        }
    if getattr(data, "error", None):
        out["error"] = {"code": data.error_code, "message": data.error}
    if w.type not in ("kpi", "table", "ranking"):
        out["option"] = chart_option(data)
    return out
