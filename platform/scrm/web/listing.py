"""The entity list page: columns, quick search, filters, sorting, keyset "more", column chooser."""

from __future__ import annotations

from datetime import timedelta

from flask import request, session, url_for
from markupsafe import Markup, escape

from ..data.records import RecordService
from ..errors import BadRequest, ValidationFailed
from ..fields import ConversionError
from ..i18n import _, text
from ..meta.model import SYSTEM_SORTABLE, EntityDef, FieldDef
from .context import Choice, Column, FilterControl, ListPage, Row

NUMERIC = {"integer", "decimal", "money", "percent"}
MAX_CHOICES = 200


def default_columns(entity: EntityDef, svc: RecordService) -> list[str]:
    names = entity.list_spec.get("columns")
    if names:
        return [n for n in names if entity.field(n) or n in SYSTEM_SORTABLE]
    title = entity.title_field
    out = [title.name] if title else []
    for f in entity.active_fields:
        if len(out) >= 7:
            break
        if f.name not in out and f.type not in ("text", "json"):
            out.append(f.name)
    return out


def chosen_columns(entity: EntityDef, svc: RecordService) -> list[str]:
    key = f"cols:{entity.name}"
    if "cols" in request.args:
        wanted = [c for c in request.args.getlist("cols") if c]
        if len(wanted) == 1 and "," in wanted[0]:
            wanted = wanted[0].split(",")
        cols = [c for c in wanted if entity.field(c) or c in SYSTEM_SORTABLE][:20]
        if cols:
            session[key] = cols
            return cols
        session.pop(key, None)
    saved = [c for c in session.get(key, []) if entity.field(c)]
    return saved or default_columns(entity, svc)


def filter_fields(entity: EntityDef, svc: RecordService) -> list[FieldDef]:
    names = entity.list_spec.get("filters")
    if names is None:
        names = [f.name for f in entity.active_fields if f.type in ("enum", "bool")][:4]
    return [entity.field(n) for n in names if entity.field(n)]


def _param(f: FieldDef, suffix: str = "") -> str:
    return f"f_{f.name}{suffix}"


def build_filters(entity: EntityDef, svc: RecordService) -> tuple[dict | None, list[FilterControl], int, list[str]]:
    """Controls for the filter bar, and the condition the submitted values make.

    Declared filter fields get visible controls; any other ``f_<field>`` (``__from``/``__to``)
    parameter, e.g. from a related list's "all" link, filters too and is kept as a hidden input.
    """
    bar = _FilterBar(svc)
    declared = filter_fields(entity, svc)
    for f in declared:
        bar.add(f, hidden=False)
    names = {f.name for f in declared}
    for key in request.args:
        name = key[2:].split("__")[0] if key.startswith("f_") else None
        f = entity.field(name) if name else None
        if f is not None and f.name not in names:
            names.add(f.name)
            bar.add(f, hidden=True)
    condition = {"all": bar.leaves} if bar.leaves else None
    return condition, bar.controls, len(bar.leaves), bar.problems


class _FilterBar:
    def __init__(self, svc: RecordService):
        self.svc = svc
        self.types = svc.field_types
        self.leaves: list[dict] = []
        self.controls: list[FilterControl] = []
        self.problems: list[str] = []

    def add(self, f: FieldDef, hidden: bool) -> None:
        ftype = self.types[f.type]
        label = text(f.label)
        raw = request.args.get(_param(f), "").strip()
        if f.type in NUMERIC or f.type in ("date", "datetime"):
            low = request.args.get(_param(f, "__from"), "").strip()
            high = request.args.get(_param(f, "__to"), "").strip()
            kind = "date_range" if f.type in ("date", "datetime") else "range"
            self.controls.append(
                FilterControl(
                    f.name,
                    label,
                    kind,
                    value=low,
                    value_to=high,
                    hidden=hidden,
                    input_type="date" if kind == "date_range" else "text",
                )
            )
            for value, op in ((low, "gte"), (high, "lte" if kind == "range" else "lt")):
                if value:
                    self.bound(f, value, op)
            if raw:
                self.equals(f, raw)
            return
        choices: list[Choice] = []
        kind = "text"
        if f.type in ("enum", "multi_enum") or (f.type == "tags" and f.options):
            kind, choices = "select", [Choice(o.value, text(o.label), o.value == raw) for o in f.options]
        elif f.type == "bool":
            kind = "select"
            choices = [Choice("true", _("Yes"), raw == "true"), Choice("false", _("No"), raw == "false")]
        elif f.type == "ref":
            kind = "select"
            options = (
                self.svc.lookup(f.target, limit=MAX_CHOICES)
                if (self.svc.snapshot.entity(f.target) and not hidden)
                else []
            )
            choices = [Choice(str(i), t, str(i) == raw) for i, t in options]
        self.controls.append(FilterControl(f.name, label, kind, choices, raw, hidden=hidden))
        if raw:
            if kind == "text" and ftype.searchable:
                self.leaves.append({"field": f.name, "op": "contains", "value": raw})
            else:
                self.equals(f, raw)

    def equals(self, f: FieldDef, raw: str) -> None:
        ftype = self.types[f.type]
        try:
            value = ftype.to_json(ftype.parse_form(raw, f), f)
        except ConversionError as exc:
            self.problems.append(f"{text(f.label)}: {exc.message}")
            return
        self.leaves.append({"field": f.name, "op": "has_any" if ftype.multi else "eq", "value": value})

    def bound(self, f: FieldDef, value: str, op: str) -> None:
        ftype = self.types[f.type]
        try:
            if f.type == "datetime":  # whole local days: [from 00:00, to + 1 day 00:00)
                day = self.types["date"].convert(value, f) + timedelta(days=1 if op == "lt" else 0)
                converted = f"{day.isoformat()}T00:00"
            else:
                converted = ftype.to_json(ftype.parse_form(value, f), f)
        except ConversionError as exc:
            self.problems.append(f"{text(f.label)}: {exc.message}")
            return
        self.leaves.append({"field": f.name, "op": op, "value": converted})


def list_url(entity: str, **changes) -> str:
    params = {k: v for k, v in request.args.items(multi=False) if k not in ("after", "cols")}
    params.update({k: v for k, v in changes.items()})
    params = {k: v for k, v in params.items() if v not in (None, "")}
    return url_for("pages.list_records", entity=entity, **params)


def cell(svc: RecordService, entity: EntityDef, name: str, record: dict, is_title: bool, url: str):
    f = entity.field(name)
    if f is None:  # system column
        value = record.get(name)
        shown = (
            value.strftime("%Y-%m-%d %H:%M") if hasattr(value, "strftime") else ("" if value is None else str(value))
        )
    elif f.type == "ref":
        value = record.get(f.name)
        if value is None:
            shown = ""
        else:
            title = record.get("_titles", {}).get(f.name) or f"#{value}"
            target = url_for("pages.detail", entity=f.target, record_id=value)
            return Markup('<a href="{}">{}</a>').format(target, title)
    else:
        shown = svc.field_types[f.type].display(record.get(f.name), f)
    if is_title:
        return Markup('<a class="fw-semibold" href="{}">{}</a>').format(url, shown or f"#{record['id']}")
    return shown if isinstance(shown, Markup) else escape(shown)


def build_list(svc: RecordService, entity: EntityDef) -> ListPage:
    columns = chosen_columns(entity, svc)
    title = entity.title_field
    sort = request.args.get("sort") or entity.list_spec.get("sort") or "-id"
    q = request.args.get("q", "").strip()[:100]
    condition, controls, active, problems = build_filters(entity, svc)
    page_size = entity.list_spec.get("page_size", 50)
    error = "; ".join(problems) or None
    items, next_cursor = [], None
    try:
        page = svc.list(
            entity.name, filter=condition, sort=sort, limit=page_size, after=request.args.get("after"), search=q
        )
        items, next_cursor, sort = page.items, page.next, page.sort
    except (BadRequest, ValidationFailed) as exc:
        error = exc.message
    current = sort.split(",")[0] if sort else ""
    cols = []
    for name in columns:
        f = entity.field(name)
        sortable = name in SYSTEM_SORTABLE or (
            f is not None and svc.field_types[f.type].sortable and not svc.field_types[f.type].multi
        )
        state = "asc" if current == name else "desc" if current == f"-{name}" else None
        target = f"-{name}" if state == "asc" else (name if state is None else "")
        label = (
            text(f.label) if f else {"id": "ID", "created_at": _("Created"), "updated_at": _("Updated")}.get(name, name)
        )
        cols.append(
            Column(
                name,
                label,
                list_url(entity.name, sort=target) if sortable else None,
                state,
                bool(f and f.type in NUMERIC),
            )
        )
    title_col = title.name if title and title.name in columns else columns[0] if columns else None
    rows = []
    for r in items:
        url = url_for("pages.detail", entity=entity.name, record_id=r["id"])
        rows.append(Row(r["id"], url, [cell(svc, entity, n, r, n == title_col, url) for n in columns]))
    next_url = None
    if next_cursor:
        next_url = url_for(
            "pages.list_records",
            entity=entity.name,
            **{**{k: v for k, v in request.args.items() if k != "after"}, "after": next_cursor},
        )
    chooser = [
        Choice(f.name, text(f.label), f.name in columns)
        for f in entity.active_fields
        if svc.field_types[f.type].name not in ("json",)
    ]
    hints = ", ".join(text(f.label) for f in entity.search_fields)
    return ListPage(
        entity.name,
        text(entity.plural_label),
        entity.icon,
        url_for("pages.list_records", entity=entity.name),
        url_for("pages.create", entity=entity.name),
        cols,
        rows,
        next_url,
        controls,
        q,
        sort,
        active,
        chooser,
        error,
        url_for("pages.list_records", entity=entity.name),
        hints,
    )
