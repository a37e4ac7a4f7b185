"""Changing records from the list: bulk actions over chosen rows and quick edit of one cell.

Every change goes through the record service one record at a time, with the same permission,
scope, validation, form-rule and audit checks as the edit form. Bulk actions report per record:
what changed, what was already so, what failed and why (a record outside the user's scope
fails; the others still change). Quick edit sends the version the user saw, so a cell changed
by someone else meanwhile shows their value and lets the user save theirs again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_htmx import make_response as htmx_response
from markupsafe import Markup, escape

from ..data.form_rules import form_rules
from ..data.records import RecordService
from ..errors import BadRequest, Conflict, Detail, Forbidden, NotFound, ScrmError, ValidationFailed
from ..fields import ConversionError
from ..i18n import _, text
from ..meta.model import EntityDef, FieldDef
from .context import Choice
from .forms import bind_record, typed_reference
from .listing import MAX_IDS, cell_opening, cell_renderer, chosen_ids, quick_editable
from .pages import check_id, require_login, service

bp = Blueprint("list_edits", __name__)
bp.before_request(require_login)

REPORTED_FAILURES = 5


@dataclass
class BulkMenu:
    action_url: str
    assign_field: FieldDef | None = None
    assign_lookup_url: str = ""  # the form's type-ahead: choices come as the user types
    tag_field: FieldDef | None = None
    tag_choices: list[Choice] = field(default_factory=list)
    export: bool = False

    @property
    def assign_label(self) -> str:
        return text(self.assign_field.label) if self.assign_field else ""

    @property
    def any(self) -> bool:
        return bool(self.assign_field or self.tag_field or self.export)


def owner_field(svc: RecordService, entity: EntityDef) -> FieldDef | None:
    """The reference that says who looks after a record (``options.scope.owner``), when the
    user may change it."""
    owners = (entity.doc.get("options", {}).get("scope") or {}).get("owner") or []
    for name in [owners] if isinstance(owners, str) else owners:
        f = entity.field(name)
        if f is not None and f.type == "ref" and _writable(svc, entity, f):
            return f
    return None


def tag_field(svc: RecordService, entity: EntityDef) -> FieldDef | None:
    f = entity.field("tags")
    if f is None or f.type != "tags":
        f = next((x for x in entity.active_fields if x.type == "tags"), None)
    return f if f is not None and _writable(svc, entity, f) else None


def _writable(svc: RecordService, entity: EntityDef, f: FieldDef) -> bool:
    return svc.permissions.can(entity, "update") and svc.permissions.field(entity, f).write and not f.computed


def bulk_menu(svc: RecordService, entity: EntityDef) -> BulkMenu:
    menu = BulkMenu(url_for("list_edits.bulk", entity=entity.name), export=svc.permissions.can(entity, "export"))
    menu.assign_field = owner_field(svc, entity)
    if menu.assign_field is not None:
        menu.assign_lookup_url = url_for("pages.choices", entity=entity.name, field=menu.assign_field.name)
    menu.tag_field = tag_field(svc, entity)
    if menu.tag_field is not None and menu.tag_field.options:
        menu.tag_choices = [Choice(o.value, text(o.label)) for o in menu.tag_field.options]
    return menu


def assignable(svc: RecordService, entity: EntityDef, f: FieldDef, target_id: int) -> bool:
    """Whether records may be assigned to ``target_id``: one of the target's records the form's
    type-ahead would offer (its lookup filter, the user's read scope)."""
    spec = _lookup_spec(svc, entity, f)
    leaves = [{"field": "id", "op": "eq", "value": target_id}]
    if spec.get("filter"):
        leaves.append(bind_record(spec["filter"], svc.defaults(entity)))
    return bool(svc.lookup(f.target, limit=1, filter={"all": leaves}))


def _lookup_spec(svc: RecordService, entity: EntityDef, f: FieldDef) -> dict:
    from .forms import placed_fields

    form = svc.snapshot.form_for(entity)
    return next((n.get("lookup") or {} for fd, n in placed_fields(entity, form, "edit") if fd.name == f.name), {})


# -- bulk actions ---------------------------------------------------------------------------
@dataclass
class BulkOutcome:
    changed: int = 0
    unchanged: int = 0
    failures: list[str] = field(default_factory=list)


@bp.post("/e/<entity>/bulk")
def bulk(entity: str):
    svc = service()
    definition = svc.entity(entity)
    ids = chosen_ids(",".join(request.form.getlist("ids")))
    action = request.form.get("action", "")
    back = request.form.get("back") or url_for("pages.list_records", entity=entity)
    if not back.startswith(url_for("pages.list_records", entity=entity)):
        back = url_for("pages.list_records", entity=entity)
    if not ids:
        flash(_("Choose at least one row first."), "warning")
        return _go(back)
    if len(request.form.getlist("ids")) > MAX_IDS:
        flash(_("At most {n} records at a time.").format(n=MAX_IDS), "warning")
        return _go(back)
    if action == "export":
        svc.permissions.require(definition, "export")
        return _go(url_for("exports.new_export", entity=entity, ids=",".join(map(str, ids))))
    change = _change_for(svc, definition, action, _value_for(svc, definition, action))
    outcome = BulkOutcome()
    for record_id in ids:
        _apply(svc, definition, record_id, change, outcome)
    _report(outcome)
    return _go(back)


def _value_for(svc: RecordService, entity: EntityDef, action: str) -> str:
    if action != "assign":
        return request.form.get("tag", "").strip()
    f = owner_field(svc, entity)
    if f is None:
        return ""
    chosen = request.form.get(f.name, "").strip()
    return chosen or typed_reference(svc, f, request.form.get(f"_label_{f.name}", ""))


def _change_for(svc: RecordService, entity: EntityDef, action: str, raw: str):
    """A function giving a record's changes for the action, checked once before any record."""
    if action == "assign":
        f = owner_field(svc, entity)
        if f is None:
            raise Forbidden(_("You may not reassign these records."), code="forbidden_field")
        if not raw.isdigit() or not assignable(svc, entity, f, int(raw)):
            raise BadRequest(_("Choose whom to assign to."), [Detail("value", _("Choose from the list."))])
        value = int(raw)
        return lambda record: {f.name: value} if record.get(f.name) != value else {}
    if action in ("tag_add", "tag_remove"):
        f = tag_field(svc, entity)
        if f is None:
            raise Forbidden(_("You may not change the tags of these records."), code="forbidden_field")
        try:
            tag = (svc.field_types[f.type].parse_form([raw], f) or [None])[0]
        except ConversionError as exc:
            raise BadRequest(exc.message, [Detail("value", exc.message)]) from None
        if not tag:
            raise BadRequest(_("Give the tag."), [Detail("value", _("Required."))])

        def tags(record: dict) -> dict:
            current = list(record.get(f.name) or [])
            if action == "tag_add" and tag not in current:
                return {f.name: [*current, tag]}
            if action == "tag_remove" and tag in current:
                return {f.name: [t for t in current if t != tag]}
            return {}

        return tags
    raise BadRequest(_("Unknown action."), [Detail("action", _("Choose an action."))])


def _apply(svc: RecordService, entity: EntityDef, record_id: int, change, outcome: BulkOutcome) -> None:
    try:
        record = svc.get(entity.name, record_id)
        changes = change(record)
        if not changes:
            outcome.unchanged += 1
            return
        svc.update(entity.name, record_id, changes, version=record["version"], read_back=False)
        outcome.changed += 1
    except ScrmError as exc:
        reason = exc.details[0].message if getattr(exc, "details", None) else exc.message
        outcome.failures.append(f"#{record_id}: {reason}")


def _report(outcome: BulkOutcome) -> None:
    if outcome.changed or not outcome.failures:
        flash(
            _("{changed} changed, {unchanged} already so.").format(
                changed=outcome.changed, unchanged=outcome.unchanged
            ),
            "success",
        )
    if outcome.failures:
        shown = "; ".join(outcome.failures[:REPORTED_FAILURES])
        more = len(outcome.failures) - REPORTED_FAILURES
        flash(
            _("{n} not changed: {reasons}").format(n=len(outcome.failures), reasons=shown)
            + (" " + _("(and {n} more)").format(n=more) if more > 0 else ""),
            "danger",
        )


def _go(target: str):
    if request.headers.get("HX-Request"):
        return htmx_response("", redirect=target)
    return redirect(target)


# -- quick edit -----------------------------------------------------------------------------
@dataclass
class CellEditor:
    name: str
    label: str
    url: str
    version: int
    widget: str  # select | text | date
    value: str
    choices: list[Choice]
    inputmode: str = ""
    error: str = ""


@bp.route("/e/<entity>/<int:record_id>/cell/<name>", methods=["GET", "POST"])
def cell(entity: str, record_id: int, name: str):
    svc = service()
    definition = svc.entity(entity)
    check_id(record_id)
    f = definition.field(name)
    if f is None or not quick_editable(svc, definition, name):
        raise NotFound(_("This field cannot be changed from the list."))
    record = svc.get(entity, record_id)
    if request.method == "GET":
        if request.args.get("cancel") or not _open_in_form(svc, definition, f, record):
            return _display(svc, definition, f, record)
        return _editor(svc, definition, f, record, record["version"], None)
    raw = request.form.get("value", "")
    version = request.form.get("_version", "")
    try:
        if not version.isdigit():
            raise BadRequest(_("The version is missing."), [Detail("_version", _("Missing version."))])
        if not _open_in_form(svc, definition, f, record):
            raise BadRequest(_("The form does not let you change this field now."))
        saved = svc.update(entity, record_id, {name: raw}, version=int(version))
    except Conflict:
        current = svc.get(entity, record_id)
        shown = _shown(svc, f, current.get(name))
        message = _("Changed by someone else meanwhile, now “{value}”. Save again to apply yours.").format(value=shown)
        return _editor(svc, definition, f, current, current["version"], message, typed=raw)
    except (ValidationFailed, BadRequest, Forbidden) as exc:
        message = next((d.message for d in exc.details if d.path.split(".")[0] == name), None) or exc.message
        return _editor(svc, definition, f, record, int(version) if version.isdigit() else 0, message, typed=raw)
    return _display(svc, definition, f, saved, saved=True)


def _open_in_form(svc: RecordService, entity: EntityDef, f: FieldDef, record: dict) -> bool:
    """The form's rules leave the field shown and enabled for this record."""
    rules = form_rules(svc.snapshot, entity)
    if not rules:
        return True
    state = rules.field_states(record, svc.environment(old=record)).get(f.name)
    return state is None or (state.visible and state.enabled)


def _shown(svc: RecordService, f: FieldDef, value) -> str:
    shown = svc.field_types[f.type].display(value, f)
    return str(escape(shown)) if not isinstance(shown, Markup) else shown.striptags()


def _display(svc: RecordService, entity: EntityDef, f: FieldDef, record: dict, saved: bool = False) -> str:
    title = entity.title_field
    url = url_for("pages.detail", entity=entity.name, record_id=record["id"])
    render_cell = cell_renderer(svc, entity, f.name, bool(title and title.name == f.name))
    record = {**record, "_titles": record.get("_titles", {})}
    opening = cell_opening(_column(svc, f))
    if saved:
        opening = opening.replace('class="', 'class="scrm-saved ', 1)
    return f"{opening}{render_cell(record, url)}</td>"


def _column(svc: RecordService, f: FieldDef):
    from .context import Column
    from .listing import NUMERIC

    return Column(f.name, text(f.label), None, None, f.type in NUMERIC, True)


def _editor(svc, entity: EntityDef, f: FieldDef, record: dict, version: int, error, typed=None) -> str:
    ftype = svc.field_types[f.type]
    value = typed if typed is not None else ftype.format_input(record.get(f.name), f)
    choices: list[Choice] = []
    widget, inputmode = "text", ""
    if f.type == "bool":
        widget = "select"
        choices = [Choice("true", _("Yes"), value == "true"), Choice("false", _("No"), value == "false")]
    elif f.options:
        widget = "select"
        choices = [Choice(o.value, text(o.label), o.value == value) for o in f.options]
    elif f.type == "date":
        widget = "date"
    elif f.type in ("integer", "decimal", "money", "percent"):
        inputmode = "decimal"
    editor = CellEditor(
        f.name,
        text(f.label),
        url_for("list_edits.cell", entity=entity.name, record_id=record["id"], name=f.name),
        version,
        widget,
        value,
        choices,
        inputmode,
        error or "",
    )
    return render_template("pages/list_cell.html", cell=editor, required=f.required)
