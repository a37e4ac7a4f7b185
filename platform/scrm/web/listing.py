"""The entity list page: columns, quick search, filters, sorting, keyset "more", column chooser."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from flask import request, session, url_for
from markupsafe import Markup, escape
from werkzeug.datastructures import MultiDict

from ..data.records import RecordService
from ..errors import BadRequest, ValidationFailed
from ..fields import ConversionError
from ..i18n import _, current_locale, text
from ..meta.model import SYSTEM_SORTABLE, EntityDef, FieldDef
from .context import Choice, Column, FilterControl, ListPage, Row
from .filter_builder import FilterBuilder, builder_params, is_builder_param, read_builder
from .times import local_time

NUMERIC = {"integer", "decimal", "money", "percent"}
MAX_CHOICES = 200
MAX_IDS = 500


def canonical(entity: EntityDef, names) -> list[str]:
    """Known column names under the fields' current names (a renamed field answers to its old
    name too), without duplicates."""
    out: list[str] = []
    for n in names:
        f = entity.field(n)
        name = f.name if f is not None else (n if n in SYSTEM_SORTABLE else None)
        if name and name not in out:
            out.append(name)
    return out


def default_columns(entity: EntityDef, svc: RecordService) -> list[str]:
    names = entity.list_spec.get("columns")
    if names:
        return canonical(entity, names)
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
        cols = visible_only(entity, svc, canonical(entity, wanted))[:20]
        if cols:
            session[key] = cols
            return cols
        session.pop(key, None)
    saved = canonical(entity, session.get(key, []))
    return visible_only(entity, svc, saved or default_columns(entity, svc))


def visible_only(entity: EntityDef, svc: RecordService, names: list[str]) -> list[str]:
    """Columns the user may see at all (hidden fields never reach a list, not even as a header)."""
    return [n for n in names if entity.field(n) is None or svc.permissions.visible(entity, entity.field(n))]


def filter_fields(entity: EntityDef, svc: RecordService) -> list[FieldDef]:
    names = entity.list_spec.get("filters")
    if names is None:
        names = [f.name for f in entity.active_fields if f.type in ("enum", "bool") and not f.computed][:4]
    return [entity.field(n) for n in names if entity.field(n) and svc.permissions.readable(entity, entity.field(n))]


def option_labels(f: FieldDef) -> list[tuple[str, str]]:
    """(value, label) of a field's options in the current locale, resolved once per field and locale."""
    cache = f.__dict__.setdefault("_option_labels", {})
    locale = current_locale()
    if locale not in cache:
        cache[locale] = [(o.value, text(o.label, locale)) for o in f.options]
    return cache[locale]


def _param(f: FieldDef, suffix: str = "") -> str:
    return f"f_{f.name}{suffix}"


@dataclass
class FilterState:
    """What the list's parameters select: the filter bar, the builder and a set of chosen ids."""

    condition: dict | None
    controls: list[FilterControl]
    builder: FilterBuilder
    ids: list[int]
    problems: list[str]

    @property
    def active(self) -> int:
        return sum(1 for c in self.controls if c.value or c.value_to) + self.builder.active + (1 if self.ids else 0)


def build_filters(entity: EntityDef, svc: RecordService, args: MultiDict | None = None):
    """(condition, filter-bar controls, number of active filters, problems) of the parameters."""
    state = filter_state(entity, svc, args)
    return state.condition, state.controls, state.active, state.problems


def filter_state(entity: EntityDef, svc: RecordService, args: MultiDict | None = None) -> FilterState:
    """The filter bar's controls, the builder's rows, and the condition they make together.

    Declared filter fields get visible controls; any other ``f_<field>`` (``__from``/``__to``)
    parameter, e.g. from a related list's "all" link, filters too and is kept as a hidden input.
    ``ids`` (comma-separated) narrows to chosen records: "export selected".
    """
    args = request.args if args is None else args
    bar = _FilterBar(svc, args)
    declared = filter_fields(entity, svc)
    for f in declared:
        bar.add(f, hidden=False)
    names = {f.name for f in declared}
    for key in args:
        name = key[2:].split("__")[0] if key.startswith("f_") else None
        f = entity.field(name) if name else None
        if f is not None and f.name not in names:
            names.add(f.name)
            bar.add(f, hidden=True)
    builder = read_builder(svc, entity, args)
    leaves = list(bar.leaves)
    if builder.condition:
        leaves.append(builder.condition)
    ids = chosen_ids(",".join(args.getlist("ids")))
    if ids:
        leaves.append({"field": "id", "op": "in", "value": ids})
    problems = bar.problems + [f"{_row_label(r)}: {r.error}" for r in builder.rows if r.error]
    drill = drill_condition(args.get("cond", ""))
    if drill is None and args.get("cond"):
        problems.append(_("The drill-down condition is not valid; the list shows every record."))
    elif drill is not None:
        leaves.append(drill)
    condition = {"all": leaves} if leaves else None
    return FilterState(condition, bar.controls, builder, ids, problems)


MAX_DRILL = 20000  # characters of a drill-down condition in the URL


def drill_condition(raw: str) -> dict | None:
    """A condition passed by a dashboard's drill-down (``cond``): JSON of the condition language,
    applied like any filter, so it goes through the user's scope and field access."""
    if not raw or len(raw) > MAX_DRILL:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) and value else None


def drill_info(args: MultiDict, base: str) -> dict | None:
    """The drill-down chip above the list: what was clicked, the way back, the list without it."""
    if not drill_condition(args.get("cond", "")):
        return None
    back = args.get("cond_back", "")
    rest = [(k, v) for k, v in args.items(multi=True) if k not in ("cond", "cond_label", "cond_back", "after")]
    return {
        "label": args.get("cond_label", "")[:300] or _("Dashboard"),
        "back": back if back.startswith("/d/") else "",
        "without": f"{base}?{urlencode(rest)}" if rest else base,
    }


def chosen_ids(raw: str) -> list[int]:
    return sorted({int(p) for p in raw.split(",") if p.strip().isdigit() and 0 < int(p) < 2**63})[:MAX_IDS]


def _row_label(row) -> str:
    return next((c.label for c in row.fields if c.selected), row.field)


class _FilterBar:
    def __init__(self, svc: RecordService, args: MultiDict):
        self.svc = svc
        self.args = args
        self.types = svc.field_types
        self.leaves: list[dict] = []
        self.controls: list[FilterControl] = []
        self.problems: list[str] = []

    def add(self, f: FieldDef, hidden: bool) -> None:
        ftype = self.types[f.type]
        label = text(f.label)
        raw = self.args.get(_param(f), "").strip()
        if f.type in NUMERIC or f.type in ("date", "datetime"):
            low = self.args.get(_param(f, "__from"), "").strip()
            high = self.args.get(_param(f, "__to"), "").strip()
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
            kind, choices = "select", [Choice(value, label, value == raw) for value, label in option_labels(f)]
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
        except OverflowError:  # 9999-12-31 + 1 day
            return
        self.leaves.append({"field": f.name, "op": op, "value": converted})


def list_params(args: MultiDict, builder: FilterBuilder, drop: tuple[str, ...] = ("after",)) -> list[tuple[str, str]]:
    """The list's state as canonical parameters: what a link, a saved view or an export keeps."""
    kept = [(k, v) for k, v in args.items(multi=True) if k not in drop and v != "" and not is_builder_param(k)]
    return kept + builder_params(builder)


def list_url(entity: str, base: str | None = None, params: list[tuple[str, str]] | None = None, **changes) -> str:
    """The list URL with the current parameters, changed as given (cursor and columns dropped)."""
    if params is None:
        params = [(k, v) for k, v in request.args.items(multi=True) if k not in ("after", "w_add", "w_del")]
    params = [(k, v) for k, v in params if k not in changes and k not in ("after", "cols")]
    params += [(k, v) for k, v in changes.items() if v not in (None, "")]
    query = urlencode(params)
    base = base or url_for("pages.list_records", entity=entity)
    return f"{base}?{query}" if query else base


def cell_renderer(svc: RecordService, entity: EntityDef, name: str, is_title: bool) -> Callable[[dict, str], str]:
    """A function that renders one column's cell (safe HTML) for a record; per-column decisions
    (field type, link targets) are taken once, not once per row."""
    f = entity.field(name)
    if f is None:  # system column

        def system(record: dict, url: str) -> str:
            value = record.get(name)
            return escape(local_time(value) if isinstance(value, datetime) else ("" if value is None else str(value)))

        inner = system
    elif f.type == "ref":
        base = url_for("pages.list_records", entity=f.target)

        def reference(record: dict, url: str) -> str:
            value = record.get(name)
            if value is None:
                return ""
            return f'<a href="{base}/{value}">{escape(record["_titles"].get(name) or f"#{value}")}</a>'

        return reference
    else:
        display = svc.field_types[f.type].display

        def plain(record: dict, url: str) -> str:
            shown = display(record.get(name), f)
            return shown if isinstance(shown, Markup) else escape(shown)

        inner = plain
    if not is_title:
        return inner

    def title(record: dict, url: str) -> str:
        shown = inner(record, url) or f"#{record['id']}"
        return f'<a class="fw-semibold" href="{url}">{shown}</a>'

    return title


def field_labels(svc: RecordService, entity: EntityDef) -> list[tuple[str, str]]:
    locale = current_locale()
    return svc.snapshot.cached(
        ("field_labels", entity.name, locale),
        lambda: [(f.name, text(f.label, locale)) for f in entity.active_fields if f.type != "json"],
    )


QUICK_EDIT_TYPES = frozenset(
    {"string", "email", "phone", "integer", "decimal", "money", "percent", "enum", "bool", "date"}
)


def quick_editable(svc: RecordService, entity: EntityDef, name: str) -> bool:
    """A simple field the user may change in place, from the list (the save re-checks everything)."""
    f = entity.field(name)
    return (
        f is not None
        and f.type in QUICK_EDIT_TYPES
        and not f.encrypted
        and not f.computed
        and svc.permissions.can(entity, "update")
        and svc.permissions.field(entity, f).write
    )


def build_list(svc: RecordService, entity: EntityDef) -> ListPage:
    columns = chosen_columns(entity, svc)
    title = entity.title_field
    sort = request.args.get("sort") or entity.list_spec.get("sort") or "-id"
    q = request.args.get("q", "").strip()[:100]
    args = request.args
    if request.headers.get("HX-Target") in ("list-results", "list-more-row"):
        # htmx sends the last submit button clicked in the form with the form's next request:
        # adding or removing a builder row is the builder's own request, never the results'
        args = MultiDict([(k, v) for k, v in args.items(multi=True) if k not in ("w_add", "w_del")])
    state = filter_state(entity, svc, args)
    params = list_params(args, state.builder)
    page_size = entity.list_spec.get("page_size", 50)
    error = "; ".join(state.problems) or None
    items, next_cursor = [], None
    try:
        page = svc.list(
            entity.name,
            filter=state.condition,
            sort=sort,
            limit=page_size,
            after=request.args.get("after"),
            search=q,
            fields=columns,
        )
        items, next_cursor, sort = page.items, page.next, page.sort
    except (BadRequest, ValidationFailed) as exc:
        error = exc.message
    current = sort.split(",")[0] if sort else ""
    base = url_for("pages.list_records", entity=entity.name)
    cols = []
    for name in columns:
        f = entity.field(name)
        sortable = name in SYSTEM_SORTABLE or (
            f is not None
            and svc.field_types[f.type].sortable
            and not svc.field_types[f.type].multi
            and not f.encrypted
            and svc.permissions.readable(entity, f)
        )
        order = "asc" if current == name else "desc" if current == f"-{name}" else None
        target = f"-{name}" if order == "asc" else (name if order is None else "")
        label = (
            text(f.label) if f else {"id": "ID", "created_at": _("Created"), "updated_at": _("Updated")}.get(name, name)
        )
        cols.append(
            Column(
                name,
                label,
                list_url(entity.name, base, params, sort=target) if sortable else None,
                order,
                bool(f and f.type in NUMERIC),
                quick_editable(svc, entity, name),
            )
        )
    title_col = title.name if title and title.name in columns else columns[0] if columns else None
    renderers = [
        (cell_renderer(svc, entity, n, n == title_col), cell_opening(c)) for n, c in zip(columns, cols, strict=True)
    ]
    selectable = svc.permissions.can(entity, "update") or svc.permissions.can(entity, "export")
    rows = []
    for r in items:
        url = f"{base}/{r['id']}"
        html = "".join([f"{opening}{render(r, url)}</td>" for render, opening in renderers])  # each part is safe
        if selectable:
            html = SELECT_CELL.format(id=r["id"]) + html
        rows.append(Row(r["id"], url, Markup(html), r.get("version")))
    next_url = None
    if next_cursor:
        next_url = f"{base}?" + urlencode([*params, ("after", next_cursor)])
    chosen = set(columns)
    chooser = [Choice(name, label, name in chosen) for name, label in field_labels(svc, entity)]
    hints = ", ".join(text(f.label) for f in entity.search_fields if svc.permissions.visible(entity, f))
    return ListPage(
        entity.name,
        text(entity.plural_label),
        entity.icon,
        base,
        f"{base}/new" if svc.permissions.can(entity, "create") else None,
        cols,
        rows,
        next_url,
        state.controls,
        q,
        sort,
        state.active,
        chooser,
        error,
        base,
        hints,
        export_link(svc, entity, params),
        builder=state.builder,
        params=params,
        condition=state.condition,
        selectable=selectable,
        canonical_url=f"{base}?{urlencode(params)}" if params else base,
        drill=drill_info(args, base),
    )


SELECT_CELL = (
    '<td class="scrm-select"><input class="form-check-input" type="checkbox" name="ids" value="{id}" '
    'form="bulk-form" aria-label="#{id}"></td>'
)


def cell_opening(column: Column) -> str:
    classes = ["text-end text-nowrap"] if column.numeric else []
    if column.quick_edit:
        classes.append("scrm-qe")
        return f'<td class="{" ".join(classes)}" data-f="{column.name}" tabindex="-1">'
    return f'<td class="{classes[0]}">' if classes else "<td>"


def export_link(svc: RecordService, entity: EntityDef, params: list[tuple[str, str]]) -> str | None:
    """The export page for what the list shows now (its filters and search), when the role may export."""
    if not svc.permissions.can(entity, "export"):
        return None
    args = [(k, v) for k, v in params if k not in ("sort", "view")]
    url = url_for("exports.new_export", entity=entity.name)
    return f"{url}?{urlencode(args)}" if args else url
