"""Widget data as people see it: numbers in their format (percent, money in 万/亿, business
durations), KPI cards with the comparison and threshold colour, tables and rankings, and the
ECharts option of a chart (emitted here, on the server; the page only attaches formatters chosen
by name, never code from a document)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from ..i18n import _, current_locale, text
from .plan import COUNT_COLUMN, WidgetPlan
from .service import WidgetData

DECIMALS = re.compile(r"^0(?:\.(0{1,6}))?(%?)$")
PALETTE = ["#1f5fa8", "#c8102e", "#2f9e8f", "#e0a100", "#6f42c1", "#5b6b82", "#d63384", "#20c997", "#fd7e14", "#0dcaf0"]
COLORS = {"danger", "warning", "success", "info", "primary", "secondary", "red", "green", "orange"}


# -- numbers ---------------------------------------------------------------------------------
def plain(value: Any) -> float | int | None:
    """A value for JSON and charts: whole numbers stay ints, others become floats."""
    if isinstance(value, Fraction):
        return value.numerator if value.denominator == 1 else float(value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _fixed(value, places: int) -> str:
    q = Decimal(1).scaleb(-places)
    d = Decimal(value.numerator) / Decimal(value.denominator) if isinstance(value, Fraction) else Decimal(str(value))
    return f"{d.quantize(q, rounding=ROUND_HALF_UP):,.{places}f}"


def fmt(value: Any, format: str | None) -> str:
    """A measure as text: ``percent`` (percentage points), ``0.0%`` (a share), ``0.00``,
    ``money`` (万 / 亿), ``duration`` (minutes); none: up to two decimals."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    number = value if isinstance(value, Fraction | int) else Fraction(Decimal(str(value)))
    if format == "percent":
        return _fixed(number, 1) + "%"
    if format == "money":
        return money(number)
    if format == "duration":
        return duration(number)
    m = DECIMALS.match(format or "")
    if m:
        places = len(m.group(1) or "")
        if m.group(2):
            return _fixed(number * 100, places) + "%"
        return _fixed(number, places)
    if isinstance(number, int) or number.denominator == 1:
        return f"{int(number):,}"
    return _fixed(number, 2)


def money(value: Fraction) -> str:
    size = abs(value)
    if current_locale() == "en":
        if size >= 10**9:
            return _fixed(value / 10**9, 2) + " bn"
        if size >= 10**6:
            return _fixed(value / 10**6, 2) + " m"
        return _fixed(value, 0)
    if size >= 10**8:
        return _fixed(value / 10**8, 2) + " 亿"
    if size >= 10**4:
        return _fixed(value / 10**4, 1) + " 万"
    return _fixed(value, 0)


def duration(minutes: Fraction) -> str:
    total = int(round(minutes))
    hours, rest = divmod(total, 60)
    if hours >= 24:
        days, hours = divmod(hours, 24)
        return _("{d} d {h} h").format(d=days, h=hours)
    if hours:
        return _("{h} h {m} min").format(h=hours, m=rest)
    return _("{m} min").format(m=rest)


def color(widget: WidgetPlan, value: Any) -> str | None:
    """The first threshold the value meets: a Bootstrap colour name."""
    if value is None:
        return None
    v = Fraction(value) if not isinstance(value, Fraction) else value
    for t in widget.raw.get("thresholds", []):
        checks = [
            ("lt", lambda b: v < b), ("lte", lambda b: v <= b), ("gt", lambda b: v > b), ("gte", lambda b: v >= b),
        ]  # fmt: skip
        if all(test(Fraction(Decimal(str(t[k])))) for k, test in checks if k in t):
            name = t["color"]
            return {"red": "danger", "green": "success", "orange": "warning"}.get(
                name, name if name in COLORS else None
            )
    return None


def column_label(widget: WidgetPlan, name: str) -> str:
    raw = widget.raw.get("labels", {}).get(name)
    if raw is not None:
        return text(raw)
    g = widget.group(name)
    if g is not None:
        if g.label is not None:
            return text(g.label)
        if g.field is not None and g.kind != "time":
            return text(g.field.last.label) or g.alias
    return name


# -- views -----------------------------------------------------------------------------------
@dataclass
class Cell:
    text: str
    value: Any = None
    key: str | None = None


@dataclass
class View:
    """What a widget's fragment shows (one of kpi, chart, table)."""

    kind: str
    title: str
    description: str = ""
    kpi: dict | None = None
    option: dict | None = None
    headers: list[str] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)
    empty: bool = False
    note: str = ""
    error: str = ""  # the widget's data could not be had (a plugin's source failed): say so


def key_text(value: Any) -> str:
    """A group value as the drill-down parameter carries it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def visible(widget: WidgetPlan):
    return [m for m in widget.measures if not m.hidden]


def view(data: WidgetData) -> View:
    w = data.widget
    title = text(w.raw.get("title")) or w.id
    description = text(w.raw.get("description")) if w.raw.get("description") else ""
    if data.error:
        kind = w.type if w.type in ("kpi", "table", "ranking") else "chart"
        return View(kind, title, description, empty=True, error=data.error)
    if w.type == "kpi":
        return View("kpi", title, description, kpi=_kpi(data))
    if w.type in ("table", "ranking"):
        headers, rows = table(data)
        note = _("Showing the first {n} rows.").format(n=len(rows)) if data.truncated else ""
        return View(w.type, title, description, headers=headers, rows=rows, empty=not rows, note=note)
    option = chart_option(data)
    return View("chart", title, description, option=option, empty=not data.rows)


def _kpi(data: WidgetData) -> dict:
    w = data.widget
    shown = visible(w)
    row = data.rows[0] if data.rows else {}
    main = shown[0]
    value = row.get(main.name)
    out = {
        "value": fmt(value, main.format),
        "raw": plain(value),
        "color": color(w, value),
        "secondary": [(column_label(w, m.name), fmt(row.get(m.name), m.format)) for m in shown[1:]],
        "sample": plain(row.get(COUNT_COLUMN)),
        "too_small": value is None and w.raw.get("min_sample") and (row.get(COUNT_COLUMN) or 0) < w.raw["min_sample"],
        "delta": None,
    }
    if data.compare is not None:
        before = data.compare["rows"][0].get(main.name) if data.compare["rows"] else None
        out["previous"] = fmt(before, main.format)
        if value is not None and before is not None:
            delta = value - before
            show = w.raw.get("compare", {}).get("show", "delta")
            if show == "percent" and before:
                out["delta"] = fmt(delta / abs(before) * 100, "percent")
            else:
                out["delta"] = fmt(abs(delta), main.format)
            out["up"] = delta > 0
            out["flat"] = delta == 0
    return out


def table(data: WidgetData) -> tuple[list[str], list[dict]]:
    w = data.widget
    shown = visible(w)
    headers = [column_label(w, g.alias) for g in w.groups] + [column_label(w, m.name) for m in shown]
    top = None
    if w.type == "ranking" and shown:
        values = [abs(r[shown[0].name]) for r in data.rows if r.get(shown[0].name) is not None]
        top = max(values) if values else None
    rows = []
    for r in data.rows:
        cells = [Cell(data.labels[g.alias].get(r[g.alias], key_text(r[g.alias])), plain(r[g.alias]), key_text(r[g.alias]))
                 for g in w.groups]  # fmt: skip
        cells += [Cell(fmt(r.get(m.name), m.format), plain(r.get(m.name))) for m in shown]
        share = None
        if top:
            v = r.get(shown[0].name)
            share = round(float(abs(v) / top) * 100, 1) if v is not None else 0
        keys = {g.alias: key_text(r[g.alias]) for g in w.groups}
        rows.append({"cells": cells, "keys": keys, "share": share, "href": None})  # (href: the drill-down's)
    return headers, rows


def chart_option(data: WidgetData) -> dict:
    """The ECharts option: categories on x, one series per series value or per measure."""
    w = data.widget
    enc = w.raw.get("encoding", {})
    opts = w.raw.get("options", {})
    shown = visible(w)
    x = w.group(enc.get("x")) if enc.get("x") else w.groups[0]
    series_group = w.group(enc["series"]) if enc.get("series") else None
    if series_group is None and w.type in ("stacked_bar", "heatmap") and len(w.groups) > 1:
        series_group = next(g for g in w.groups if g is not x)
    ys = [w.measure(enc["y"])] if enc.get("y") else shown
    if series_group is not None or w.type in ("pie", "funnel", "heatmap"):
        ys = ys[:1]
    xkeys = list(dict.fromkeys(r[x.alias] for r in data.rows))
    xlabels = [data.labels[x.alias].get(k, key_text(k)) for k in xkeys]
    fmt_name = ys[0].format if ys else None
    meta = {
        "format": fmt_name,
        "x": x.alias,
        "xkeys": [key_text(k) for k in xkeys],
        "series": series_group.alias if series_group is not None else None,
    }
    option: dict[str, Any] = {"color": opts.get("colors") or PALETTE, "tooltip": {}}
    legend = opts.get("legend", "bottom")
    if w.type in ("pie", "funnel"):
        m = ys[0]
        values = [{"name": label, "value": plain(r.get(m.name))} for label, r in zip(xlabels, data.rows, strict=False)]
        option["tooltip"] = {"trigger": "item"}
        option["series"] = [{
            "type": w.type, "name": column_label(w, m.name), "data": values,
            **({"radius": ["40%", "70%"]} if w.type == "pie" else {"sort": "descending", "left": "10%", "width": "80%"}),
            "label": {"show": opts.get("labels", True)},
        }]  # fmt: skip
        if legend != "none":
            option["legend"] = {legend: 0, "type": "scroll"}
        meta["skeys"] = None
        option["scrm"] = meta
        return option
    if w.type == "heatmap":
        m = ys[0]
        ykeys = list(dict.fromkeys(r[series_group.alias] for r in data.rows))
        cells = []
        for r in data.rows:
            cells.append([xkeys.index(r[x.alias]), ykeys.index(r[series_group.alias]), plain(r.get(m.name))])
        numbers = [c[2] for c in cells if c[2] is not None]
        option.update({
            "tooltip": {"position": "top"},
            "grid": {"left": 8, "right": 16, "top": 16, "bottom": 56, "containLabel": True},
            "xAxis": {"type": "category", "data": xlabels},
            "yAxis": {"type": "category", "data": [data.labels[series_group.alias].get(k, key_text(k)) for k in ykeys]},
            "visualMap": {"min": min(numbers, default=0), "max": max(numbers, default=1), "calculable": True,
                          "orient": "horizontal", "left": "center", "bottom": 0},
            "series": [{"type": "heatmap", "name": column_label(w, m.name), "data": cells, "label": {"show": opts.get("labels", False)}}],
        })  # fmt: skip
        meta["skeys"] = [key_text(k) for k in ykeys]
        option["scrm"] = meta
        return option
    kind = "line" if w.type == "line" else "bar"
    series = []
    if series_group is not None:
        m = ys[0]
        skeys = list(dict.fromkeys(r[series_group.alias] for r in data.rows))
        cells = {(r[x.alias], r[series_group.alias]): r.get(m.name) for r in data.rows}
        for s in skeys:
            series.append({
                "type": kind, "name": data.labels[series_group.alias].get(s, key_text(s)),
                "data": [plain(cells.get((k, s))) for k in xkeys],
            })  # fmt: skip
        meta["skeys"] = [key_text(s) for s in skeys]
    else:
        for m in ys:
            series.append(
                {"type": kind, "name": column_label(w, m.name), "data": [plain(r.get(m.name)) for r in data.rows]}
            )
        meta["skeys"] = None
    for s in series:
        if w.type == "stacked_bar":
            s["stack"] = "total"
        if kind == "line":
            s.update({"showSymbol": len(xkeys) <= 40, "connectNulls": False, "smooth": False})
            if opts.get("area"):
                s["areaStyle"] = {"opacity": 0.12}
        if opts.get("labels"):
            s["label"] = {"show": True, "position": "top"}
    if w.raw.get("target") is not None and series:
        series[0]["markLine"] = {
            "silent": True, "symbol": "none", "lineStyle": {"type": "dashed", "color": "#c8102e"},
            "data": [{"yAxis": w.raw["target"], "name": _("Target")}], "label": {"formatter": _("Target")},
        }  # fmt: skip
    category = {"type": "category", "data": xlabels, "axisLabel": {"hideOverlap": True}}
    value_axis: dict[str, Any] = {"type": "value", "scale": kind == "line"}
    if opts.get("cumulative") and series_group is None and ys:
        values = [float(r.get(ys[0].name) or 0) for r in data.rows]
        total = sum(values) or 1.0
        running, cumulative = 0.0, []
        for v in values:
            running += v
            cumulative.append(round(running / total * 100, 1))
        series.append(
            {"type": "line", "name": _("Cumulative %"), "yAxisIndex": 1, "data": cumulative, "scrmFormat": "percent"}
        )
        value_axis = [value_axis, {"type": "value", "max": 100, "axisLabel": {"formatter": "{value}%"}}]
    horizontal = opts.get("horizontal") and kind == "bar"
    option.update({
        "tooltip": {"trigger": "axis"},
        "grid": {"left": 8, "right": 16, "top": 24, "bottom": 40 if legend == "bottom" else 16, "containLabel": True},
        "xAxis": value_axis if horizontal else category,
        "yAxis": category if horizontal else value_axis,
        "series": series,
    })  # fmt: skip
    if horizontal:
        option["yAxis"]["inverse"] = True
    if len(series) > 1 and legend != "none":
        option["legend"] = {legend: 0, "type": "scroll"}
    if len(xkeys) > 31 and not horizontal:
        option["dataZoom"] = [{"type": "inside"}]
    option["scrm"] = meta
    return option


def csv_rows(data: WidgetData) -> tuple[list[str], list[list[Any]]]:
    """The widget's result as a CSV table: group labels and keys, then the measures' values
    (unformatted numbers, so a spreadsheet can compute with them)."""
    w = data.widget
    shown = visible(w)
    headers = []
    for g in w.groups:
        headers.append(column_label(w, g.alias))
    headers += [column_label(w, m.name) for m in shown]
    rows = []
    for r in data.rows:
        line = [data.labels[g.alias].get(r[g.alias], key_text(r[g.alias])) for g in w.groups]
        for m in shown:
            v = r.get(m.name)
            line.append(
                ""
                if v is None
                else (_fixed(v, 4).replace(",", "") if isinstance(v, Fraction) and v.denominator != 1 else plain(v))
            )
        rows.append(line)
    return headers, rows
