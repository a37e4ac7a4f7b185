"""Pages generated from definitions: home, entity list, detail, create/edit, delete, htmx helpers."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, g, make_response, redirect, render_template, request, url_for
from flask_htmx import make_response as htmx_response
from flask_login import current_user
from markupsafe import Markup

from ..data.form_rules import OPEN, node_key
from ..data.records import RecordService
from ..db import db
from ..errors import Conflict, NotFound, ValidationFailed
from ..fields import ConversionError
from ..i18n import _, current_locale, text
from ..meta.model import EntityDef
from ..runtime import snapshot
from ..security.access import can_design
from ..security.users import User
from ..workflows.comments import thread_of
from ..workflows.model import workflows_of
from .context import DetailPage, FormPage, HistoryEntry, NavItem
from .forms import (
    LayoutBuilder,
    bind_record,
    changed_regions,
    field_placement,
    form_state,
    layout_of,
    parse_submission,
    placed_fields,
    rule_states,
)
from .listing import build_list
from .navigation import navigation_groups, sidebar_html
from .render import render
from .times import local_time

bp = Blueprint("pages", __name__)
MAX_ID = 2**63 - 1
LOOKUP_LIMIT = 15


@bp.before_request
def require_login():
    if not current_user.is_authenticated:
        target = url_for("auth.login", next=request.full_path if request.query_string else request.path)
        if request.headers.get("HX-Request"):
            return htmx_response("", redirect=target)
        return redirect(target)


@bp.app_context_processor
def navigation():
    if request.endpoint in (None, "static") or not current_user.is_authenticated:
        return {"sidebar": "", "can_design": False, "unread": 0, "has_dashboards": False}
    snap = snapshot()
    current = request.view_args.get("entity") if request.view_args else None
    groups = snap.cached(("nav", current_locale()), lambda: navigation_groups(snap))
    svc = service()
    readable = tuple(name for _label, items in groups for name, _i in items if svc.permissions.can(name, "read"))
    sidebar = snap.cached(
        ("sidebar", current_locale(), readable, current), lambda: sidebar_html(groups, set(readable), current)
    )
    from ..dashboards.service import DashboardService

    return {
        "sidebar": sidebar,
        "can_design": can_design(current_user, snap),
        "unread": current_user.unread,
        "has_dashboards": bool(DashboardService(svc).names()),
    }


def service() -> RecordService:
    """The record service as the signed-in user sees it, built once per request."""
    if "record_service" not in g:
        g.record_service = RecordService.for_user(snapshot(), current_user)
    return g.record_service


def entity_or_404(svc: RecordService, name: str) -> EntityDef:
    return svc.entity(name)


def check_id(record_id: int) -> int:
    if record_id > MAX_ID:
        raise NotFound(_("This record does not exist."))
    return record_id


@bp.get("/")
def home():
    snap = snapshot()
    svc = service()
    cards = []
    for entity in sorted(snap.entities.values(), key=lambda e: (e.nav.get("order", 1000), e.name)):
        if entity.nav.get("hidden") or not svc.permissions.can(entity, "read"):
            continue
        cards.append(
            {
                "label": text(entity.plural_label),
                "icon": entity.icon,
                "description": text(entity.doc.get("description")),
                "url": url_for("pages.list_records", entity=entity.name),
                "new_url": url_for("pages.create", entity=entity.name)
                if svc.permissions.can(entity, "create")
                else None,
            }
        )
    return render(
        "home", {"cards": cards, "user": current_user, "tasks": my_tasks(svc), "dashboard": home_dashboard(svc)}
    )


def home_dashboard(svc: RecordService) -> dict | None:
    from .dashboard_pages import home_widgets

    return home_widgets(svc)


MY_TASKS = 8


def my_tasks(svc: RecordService) -> dict | None:
    """The user's open tasks, due first (so overdue ones lead), with the totals; None when the
    user is no employee or may not read tasks."""
    entity = svc.snapshot.entity("task")
    employee = svc.principal.employee
    if entity is None or employee is None or not svc.permissions.can(entity, "read"):
        return None
    mine = {"all": [{"field": "assignee", "op": "eq", "value": employee},
                    {"field": "status", "op": "in", "value": ["open", "in_progress"]}]}  # fmt: skip
    overdue = {"all": [mine, {"field": "due_at", "op": "lt", "value": {"time": "now"}}]}
    page = svc.list("task", filter=mine, sort="due_at", limit=MY_TASKS)
    env = svc.environment()
    now = env.now
    items = [
        {
            "title": t["title"],
            "url": url_for("pages.detail", entity="task", record_id=t["id"]),
            "customer": (t.get("_titles") or {}).get("customer"),
            "priority": t.get("priority"),
            "due": t["due_at"].astimezone(env.tz).strftime("%m-%d %H:%M") if t.get("due_at") else None,
            "overdue": t.get("due_at") is not None and t["due_at"] < now,
        }
        for t in page.items
    ]
    return {
        "items": items,
        "open": svc.count("task", filter=mine),
        "overdue": svc.count("task", filter=overdue),
        "url": url_for("pages.list_records", entity="task"),
    }


@bp.get("/e/<entity>")
def list_records(entity: str):
    from .list_edits import bulk_menu
    from .list_views import view_menu

    svc = service()
    definition = entity_or_404(svc, entity)
    page = build_list(svc, definition)
    target = request.headers.get("HX-Target")
    if request.headers.get("HX-Request") and target == "filter-builder":
        response = make_response(render_template("pages/list_builder.html", page=page))
        if "w_del" in request.args:  # a condition went: the results follow
            response.headers["HX-Trigger"] = "scrm:filters-changed"
        return response
    if page.selectable:
        page.bulk = bulk_menu(svc, definition)
    if request.headers.get("HX-Request") and target in ("list-results", "list-more-row"):
        block = "rows" if target == "list-more-row" else "results"
        response = make_response(render("list", {"page": page}, entity=entity, block=block))
        if target == "list-results":  # the address bar shows the list's state, canonical
            response.headers["HX-Push-Url"] = page.canonical_url
        return response
    page.views = view_menu(svc, definition)
    page.links = list_links(svc, definition)
    return render("list", {"page": page}, entity=entity)


def list_links(svc: RecordService, definition: EntityDef) -> list[NavItem]:
    """Other ways into the entity's records, shown beside "New": the board, an import."""
    links = []
    board = definition.list_spec.get("board")
    if board and "board.show" in current_app.view_functions:
        links.append(NavItem(_("Board"), url_for("board.show", entity=definition.name), "kanban"))
    if svc.permissions.can(definition, "import") and "imports.new_import" in current_app.view_functions:
        links.append(NavItem(_("Import"), url_for("imports.new_import", entity=definition.name), "upload"))
    return links


@bp.post("/e/<entity>/choices/<field>")
def choices(entity: str, field: str):
    """The choices of a reference type-ahead as listbox options: what the user may see of the
    target, matching the typed text and the form's ``lookup.filter`` on the form as it is now."""
    svc = service()
    definition = entity_or_404(svc, entity)
    f = definition.field(field)
    if f is None or f.type != "ref" or svc.snapshot.entity(f.target) is None:
        raise NotFound(_("Unknown field."))
    target = svc.snapshot.entity(f.target)
    form = snapshot().form_for(definition)
    record_id = form_id()
    mode = "edit" if record_id else "create"
    node = next((n for fd, n in placed_fields(definition, form, mode) if fd.name == f.name), {})
    spec = node.get("lookup") or {}
    condition = None
    if spec.get("filter"):
        record = svc.get(entity, record_id) if record_id else svc.defaults(definition)
        condition = bind_record(spec["filter"], form_state(svc, definition, form, mode, request.form, record))
    q = request.form.get(f"_label_{f.name}", "")[:100]
    options = svc.lookup(f.target, q, limit=LOOKUP_LIMIT + 1, filter=condition)
    details = lookup_details(svc, target, [i for i, _t in options[:LOOKUP_LIMIT]], spec.get("display") or [])
    context = {
        "options": [(i, t, details.get(i, "")) for i, t in options[:LOOKUP_LIMIT]],
        "more": len(options) > LOOKUP_LIMIT,
        "dom_id": f"f-{f.name}",
    }
    return render("form", context, entity=entity, block="choices")


def striptags(html: str) -> str:
    return Markup(html).striptags()


def lookup_details(svc, target: EntityDef, ids: list[int], names: list[str]) -> dict[int, str]:
    """A second line for each choice: the values of the lookup's ``display`` fields (other than
    the title), as the user may see them."""
    title = target.title_field
    fields = [
        target.field(n)
        for n in names
        if target.field(n) and target.field(n) != title and svc.permissions.readable(target, target.field(n))
    ]
    if not ids or not fields:
        return {}
    page = svc.list(
        target.name, filter={"field": "id", "op": "in", "value": ids}, fields=[f.name for f in fields], limit=len(ids)
    )
    out = {}
    for r in page.items:
        shown = []
        for f in fields:
            value = r.get(f.name)
            if value in (None, "", []):
                continue
            if f.type == "ref":
                shown.append(r.get("_titles", {}).get(f.name) or f"#{value}")
            else:
                shown.append(striptags(str(svc.field_types[f.type].display(value, f))))
        out[r["id"]] = " · ".join(shown)
    return out


@bp.get("/e/<entity>/<int:record_id>")
def detail(entity: str, record_id: int):
    svc = service()
    definition = entity_or_404(svc, entity)
    record = svc.get(entity, check_id(record_id))
    form = snapshot().form_for(definition)
    states = rule_states(svc, definition, form, record)
    layout = LayoutBuilder(svc, definition, "view", record, states=states).build(layout_of(definition, form))
    page = DetailPage(
        entity=entity,
        title=record_title(definition, record),
        subtitle=text(definition.label),
        record_id=record_id,
        version=record["version"],
        layout=layout,
        history=history(svc, definition, record_id),
        edit_url=url_for("pages.edit", entity=entity, record_id=record_id)
        if svc.permissions.can(entity, "update")
        else None,
        delete_url=(
            url_for("pages.delete", entity=entity, record_id=record_id)
            if svc.permissions.can(entity, "delete")
            else None
        ),
        list_url=url_for("pages.list_records", entity=entity),
        created=local_time(record["created_at"]),
        updated=local_time(record["updated_at"]),
        reveal_url=(
            url_for("pages.reveal", entity=entity, record_id=record_id)
            if any(
                svc.permissions.field(definition, f).reveal
                and svc.permissions.field(definition, f).view == "masked"
                and record.get(f.name) not in (None, "")
                for f in definition.active_fields
            )
            else None
        ),
        overview_url=url_for("overview.customer_360", record_id=record_id) if entity == "customer" else None,
        workflow_url=(
            url_for("workflows.panel", entity=entity, record_id=record_id)
            if entity in workflows_of(snapshot())
            else None
        ),
        comments_url=(
            url_for("comments.thread", entity=entity, record_id=record_id)
            if thread_of(snapshot(), entity) is not None
            else None
        ),
    )
    return render("detail", {"page": page}, entity=entity)


@bp.post("/e/<entity>/<int:record_id>/reveal")
def reveal(entity: str, record_id: int):
    """Show this record's masked fields in full for a while, with a reason (logged)."""
    from flask import current_app

    svc = service()
    entity_or_404(svc, entity)
    minutes = current_app.config["SCRM_REVEAL_MINUTES"]
    try:
        svc.reveal(entity, check_id(record_id), None, request.form.get("reason", ""), minutes)
    except ValidationFailed as exc:
        flash(exc.details[0].message if exc.details else exc.message, "danger")
    else:
        flash(_("Shown in full for {minutes} minutes; the reason was recorded.").format(minutes=minutes), "warning")
    return redirect(url_for("pages.detail", entity=entity, record_id=record_id), 303)


def record_title(entity: EntityDef, record: dict) -> str:
    title = entity.title_field
    value = record.get(title.name) if title else None
    return str(value) if value not in (None, "") else f"{text(entity.label)} #{record['id']}"


def history(svc: RecordService, entity: EntityDef, record_id: int) -> list[HistoryEntry]:
    items = svc.history(entity.name, record_id)
    users = {
        u.id: u.name
        for u in db.session.execute(
            sa.select(User).where(User.id.in_({i["user_id"] for i in items if i["user_id"]}))
        ).scalars()
    }
    actions = {"create": _("created"), "update": _("changed"), "delete": _("deleted")}
    return [
        HistoryEntry(
            local_time(i["at"]),
            users.get(i["user_id"], _("system")),
            actions.get(i["action"], i["action"]),
            i["field_label"] or "",
            _short(i["old"]),
            _short(i["new"]),
        )
        for i in items
    ]


def _short(value) -> str:
    if value is None:
        return "—"
    shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return shown if len(shown) <= 80 else shown[:77] + "…"


def form_page(svc, definition, mode, record, raw=None, errors=None, summary=None, conflict=None) -> FormPage:
    form = snapshot().form_for(definition)
    shown = form_state(svc, definition, form, mode, raw, record) if raw is not None else record
    states = rule_states(svc, definition, form, shown)
    layout = LayoutBuilder(svc, definition, mode, record, raw, errors, states).build(layout_of(definition, form))
    if mode == "create":
        action = url_for("pages.create", entity=definition.name)
        cancel = url_for("pages.list_records", entity=definition.name)
        title = _("New {entity}").format(entity=text(definition.label))
    else:
        action = url_for("pages.edit", entity=definition.name, record_id=record["id"])
        cancel = url_for("pages.detail", entity=definition.name, record_id=record["id"])
        title = _("Edit {title}").format(title=record_title(definition, record))
    return FormPage(
        definition.name,
        title,
        mode,
        action,
        cancel,
        layout,
        summary or [],
        record.get("version") if mode == "edit" else None,
        conflict or [],
        record.get("id"),
    )


@bp.route("/e/<entity>/new", methods=["GET", "POST"])
def create(entity: str):
    svc = service()
    definition = entity_or_404(svc, entity)
    svc.permissions.require(definition, "create")
    form = snapshot().form_for(definition)
    if request.method == "GET":
        initial = {**svc.defaults(definition)}
        for key, raw in request.args.items():  # prefill, e.g. a related list's "new" link
            f = definition.field(key)
            if f is not None and not f.readonly:
                try:
                    initial[f.name] = svc.field_types[f.type].parse_form(raw, f)
                except ConversionError:
                    pass
        if any(definition.field(k) and definition.field(k).type == "ref" for k in request.args):
            initial["_titles"] = {
                k: svc.titles(definition.field(k).target, [initial[k]]).get(initial[k])
                for k in request.args
                if definition.field(k) and definition.field(k).type == "ref" and initial.get(k)
            }
        return render("form", {"page": form_page(svc, definition, "create", initial)}, entity=entity)
    values, errors = parse_submission(svc, definition, form, "create", request.form)
    if errors:
        errors = merge_errors(errors, svc.problems(entity, without(values, errors)))
    else:
        try:
            record = svc.create(entity, values)
        except ValidationFailed as exc:
            errors = exc.by_path()
        else:
            flash(_("{entity} saved.").format(entity=text(definition.label)), "success")
            return redirect(url_for("pages.detail", entity=entity, record_id=record["id"]), 303)
    page = form_page(svc, definition, "create", values, request.form, errors, summary_of(definition, errors))
    return render("form", {"page": page}, entity=entity), 422


def without(values: dict, errors: dict) -> dict:
    return {k: v for k, v in values.items() if k not in errors}


def merge_errors(first: dict[str, list[str]], more: dict[str, list[str]]) -> dict[str, list[str]]:
    """Conversion errors win; the rest (required, unique, references) is added for other fields."""
    out = dict(first)
    for name, messages in more.items():
        out.setdefault(name, messages)
    return out


def summary_of(definition: EntityDef, errors: dict[str, list[str]]) -> list[str]:
    out = []
    for name, messages in errors.items():
        f = definition.field(name)
        label = text(f.label) if f else ("" if name == "$" else name)
        out += [f"{label}: {m}" if label else m for m in messages]
    return out


@bp.route("/e/<entity>/<int:record_id>/edit", methods=["GET", "POST"])
def edit(entity: str, record_id: int):
    svc = service()
    definition = entity_or_404(svc, entity)
    svc.permissions.require(definition, "update")
    form = snapshot().form_for(definition)
    if request.method == "GET":
        record = svc.get(entity, check_id(record_id))
        return render("form", {"page": form_page(svc, definition, "edit", record)}, entity=entity)
    # a save compares with what the form showed (its GET logged that view) and shows nothing
    # new; the stored values go on to the update, which so does not read the record again
    record, stored = svc.shown_and_stored(entity, check_id(record_id))
    values, errors = parse_submission(svc, definition, form, "edit", request.form, record)
    version = request.form.get("_version", "")
    conflict: list[str] = []
    if errors:
        errors = merge_errors(errors, svc.problems(entity, without(values, errors), record_id))
    else:
        try:
            svc.update(
                entity,
                record_id,
                values,
                int(version) if version.isascii() and version.isdigit() else None,
                read_back=False,
                current=stored,
            )
        except Conflict as exc:
            current = svc.get(entity, record_id)
            conflict = changed_by_others(
                svc, definition, record_id, int(version) if version.isascii() and version.isdigit() else 0
            )
            errors = {"$": [exc.message]}
            record = current
        except ValidationFailed as exc:
            errors = exc.by_path()
        else:
            flash(_("{entity} saved.").format(entity=text(definition.label)), "success")
            return redirect(url_for("pages.detail", entity=entity, record_id=record_id), 303)
    page = form_page(svc, definition, "edit", record, request.form, errors, summary_of(definition, errors), conflict)
    return render("form", {"page": page}, entity=entity), 409 if conflict else 422


def changed_by_others(svc, definition, record_id, since_version) -> list[str]:
    out = []
    for item in svc.history(definition.name, record_id):
        if item["version"] > since_version and item["field"]:
            out.append(f"{item['field_label']}: {_short(item['old'])} → {_short(item['new'])}")
    return out


@bp.post("/e/<entity>/validate/<field>")
def validate_field(entity: str, field: str):
    """Inline validation of one field on blur or change (htmx), with the same messages as on
    submit. The whole form comes along: the form's rules are decided on it, and the regions whose
    state changed (shown, hidden, enabled, required) come back as out-of-band swaps."""
    svc = service()
    definition = entity_or_404(svc, entity)
    f = definition.field(field)
    if f is None:
        raise NotFound(_("Unknown field."))
    record_id = form_id()
    mode = "edit" if record_id else "create"
    record = svc.get(entity, record_id) if record_id else svc.defaults(definition)
    form = snapshot().form_for(definition)
    layout = layout_of(definition, form)
    states = rule_states(svc, definition, form, form_state(svc, definition, form, mode, request.form, record))
    node, path, parent = field_placement(layout, f.name, mode, states) or ({"type": "field", "field": f.name}, (), OPEN)
    key = node_key(node, path)
    state = states[key].within(parent) if key in states else parent
    ftype = svc.field_types[f.type]
    errors: list[str] = []
    try:
        raw = request.form.getlist(f.name) if (ftype.multi or f.type == "bool") else request.form.get(f.name)
        value = ftype.parse_form(raw, f)
        if (f.required or state.required) and state.visible and value in (None, [], ""):
            errors.append(_("This field is required."))
        elif f.unique and value is not None:
            other = svc._find_duplicate(svc.tables(definition), [(f, value)], record_id)
            if other:
                errors.append(_("Already used by record #{id}.").format(id=other))
    except ConversionError as exc:
        errors.append(exc.message)
    builder = LayoutBuilder(svc, definition, mode, record, request.form, {f.name: errors}, states)
    view = builder.field_view(f, node, state)
    posted = dict(item.partition(":")[::2] for item in request.form.getlist("_rs"))
    regions = [
        built
        for built in (
            builder.node(n, p, above, container) for n, p, above, container in changed_regions(layout, states, posted)
        )
        if built is not None
    ]
    return render("form", {"field": view, "regions": regions}, entity=entity, block="field")


def form_id() -> int | None:
    """The record id a form posts back in ``_id`` (ASCII digits within range), if any."""
    raw = request.form.get("_id", "")
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < len(raw) < 19 else None


@bp.route("/e/<entity>/<int:record_id>/delete", methods=["GET", "POST"])
def delete(entity: str, record_id: int):
    svc = service()
    definition = entity_or_404(svc, entity)
    svc.permissions.require(definition, "delete")
    record = svc.get(entity, check_id(record_id))
    error = None
    if request.method == "POST":
        version = request.form.get("_version", "")
        try:
            svc.delete(entity, record_id, int(version) if version.isascii() and version.isdigit() else None)
        except Conflict as exc:
            error = exc.message
        else:
            flash(_("{title} was deleted.").format(title=record_title(definition, record)), "success")
            return redirect(url_for("pages.list_records", entity=entity), 303)
    context = {
        "entity": entity,
        "title": record_title(definition, record),
        "label": text(definition.label),
        "version": record["version"],
        "error": error,
        "cancel_url": url_for("pages.detail", entity=entity, record_id=record_id),
        "action_url": url_for("pages.delete", entity=entity, record_id=record_id),
    }
    return render("delete", context, entity=entity), (409 if error else 200)
