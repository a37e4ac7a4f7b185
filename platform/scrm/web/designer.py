"""The designer area (``/design``): business administrators change definitions in the browser.

Every editor works on the document's **draft** (made from the published version on the first
change) and saves it through :class:`~scrm.definitions.DefinitionService` — drafts may be
invalid, and the page lists each problem at its JSON path; publishing shows the migration plan
first and is impossible while there are errors. Each form carries the ETag of the version the
designer opened, so a second designer's save in between is reported instead of overwritten.
The structured editors (entity fields, form layout) and the JSON view change the same draft.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user

from ..definitions import dependants
from ..designer import edits
from ..errors import Conflict, NotFound, ScrmError, ValidationFailed
from ..i18n import _, text
from ..meta import store
from ..meta.diff import diff
from ..meta.problems import Problem
from ..meta.structure import KINDS
from ..runtime import runtime, snapshot
from ..security.access import require_designer
from .filter_builder import operator_label
from .pages import require_login
from .render import render
from .times import local_time

bp = Blueprint("designer", __name__, url_prefix="/design")
bp.before_request(require_login)
TABS = ("edit", "json", "diff", "history", "publish")
MAX_JSON = 2_000_000


@bp.before_request
def designers_only():
    require_designer(current_user, snapshot())


def kind_label(kind: str) -> str:
    return {
        "entity": _("Entities"),
        "form": _("Forms"),
        "workflow": _("Workflows"),
        "alert": _("Alert rules"),
        "dashboard": _("Dashboards"),
        "role": _("Roles"),
    }.get(kind, kind)


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise NotFound(_("Unknown definition kind {kind!r}.").format(kind=kind))


@dataclass
class Working:
    """The document an editor changes: the draft if there is one, else the published version."""

    kind: str
    name: str
    body: dict
    etag: str
    published: store.DefinitionVersion | None
    draft: store.DefinitionVersion | None
    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity != "error"]


def working(kind: str, name: str) -> Working:
    check_kind(kind)
    published = store.get(kind, name, store.PUBLISHED)
    draft = store.get(kind, name, store.DRAFT)
    row = draft or published
    if row is None:
        raise NotFound(_("There is no definition {kind}/{name}.").format(kind=kind, name=name))
    _clean, problems = runtime().definitions.check_draft(kind, name, row.body)
    return Working(kind, name, row.body, store.etag(row), published, draft, problems)


def save(kind: str, name: str, body, comment: str | None = None) -> bool:
    """Save ``body`` as the draft from the ETag the form carried; False (with a message) when
    someone else saved first or it is not a document at all."""
    try:
        _row, problems = runtime().definitions.save_draft(
            kind,
            name,
            body,
            current_user.id,
            source="designer",
            comment=comment,
            base_version=request.form.get("base") or None,
            allow_invalid=True,
        )
    except Conflict as exc:
        flash(exc.message, "danger")
        return False
    except ValidationFailed as exc:
        flash(exc.message, "danger")
        return False
    errors = sum(1 for p in problems if p.severity == "error")
    if errors:
        flash(_("Draft saved with {n} problem(s); fix them before publishing.").format(n=errors), "warning")
    else:
        flash(_("Draft saved."), "success")
    return True


def back(kind: str, name: str, tab: str = "edit", **extra):
    return redirect(url_for("designer.document", kind=kind, name=name, tab=tab, **extra))


# -- the index ----------------------------------------------------------------------------------
@bp.get("/")
def index():
    kind = request.args.get("kind", "entity")
    check_kind(kind)
    docs = []
    for name in store.names(kind):
        published = store.get(kind, name, store.PUBLISHED)
        draft = store.get(kind, name, store.DRAFT)
        shown = draft or published
        docs.append(
            {
                "name": name,
                "label": text(shown.body.get("label")) or name,
                "published": published.version if published else None,
                "published_at": local_time(published.published_at, empty="") if published else "",
                "draft": draft.version if draft else None,
                "url": url_for("designer.document", kind=kind, name=name),
            }
        )
    entities = sorted(snapshot().entities) if kind == "form" else []
    return render(
        "design_index",
        {"kind": kind, "kinds": [(k, kind_label(k)) for k in KINDS], "docs": docs, "entities": entities},
    )


SKELETONS = {
    "entity": lambda name, label, entity: {
        "kind": "entity",
        "name": name,
        "label": label,
        "fields": [
            {
                "name": "title",
                "type": "string",
                "max_length": 200,
                "required": True,
                "label": {"zh-CN": "名称", "en": "Title"},
            }
        ],  # fmt: skip
    },
    "form": lambda name, label, entity: {
        "kind": "form",
        "name": name,
        "entity": entity,
        "label": label,
        "layout": {
            "type": "tabs",
            "items": [
                {
                    "type": "tab",
                    "id": "main",
                    "label": {"zh-CN": "基本信息", "en": "Basics"},
                    "items": [
                        {
                            "type": "section",
                            "id": "main_section",
                            "label": {"zh-CN": "基本信息", "en": "Basics"},
                            "columns": 2,
                            "items": [],
                        }
                    ],
                }
            ],
        },  # fmt: skip
    },
}


@bp.post("/new")
def new_document():
    kind, name = request.form.get("kind", ""), request.form.get("name", "").strip()
    check_kind(kind)
    if not edits.NAME.match(name):
        flash(_("Use lower-case letters, digits and _, starting with a letter."), "danger")
        return redirect(url_for("designer.index", kind=kind))
    if store.latest(kind, name) is not None:
        flash(_("{kind}/{name} exists already.").format(kind=kind, name=name), "danger")
        return redirect(url_for("designer.index", kind=kind))
    zh = request.form.get("label", "").strip() or name
    label = {"zh-CN": zh, "en": request.form.get("label_en", "").strip() or zh}
    skeleton = SKELETONS.get(kind)
    body = skeleton(name, label, request.form.get("entity", "")) if skeleton else {"kind": kind, "name": name,
                                                                                    "label": label}  # fmt: skip
    if save(kind, name, body):
        return back(kind, name)
    return redirect(url_for("designer.index", kind=kind))


# -- bundles ----------------------------------------------------------------------------------------
@bp.get("/bundle")
def bundle_page():
    return render("design_bundle", {"report": None})


@bp.post("/bundle")
def import_bundle():
    """Upload an exported bundle: ``preview`` shows what would change (a dry run), ``apply``
    publishes it; either way every problem is listed at its place."""
    upload = request.files.get("bundle")
    apply = request.form.get("mode") == "apply"
    report: dict = {"apply": apply}
    try:
        raw = upload.read(MAX_JSON + 1) if upload else b""
        if len(raw) > MAX_JSON:
            raise ValidationFailed(_("The document is too large."), [], "too_large")
        bundle = json.loads(raw.decode("utf-8")) if raw else None
        result = runtime().definitions.import_bundle(
            bundle, current_user.id, dry_run=not apply, replace_drafts=bool(request.form.get("replace_drafts"))
        )
    except (UnicodeDecodeError, json.JSONDecodeError):
        report["error"] = _("The file is not a JSON bundle exported by SCRM.")
    except ScrmError as exc:
        report["error"] = exc.message
        report["details"] = [d.as_dict() for d in exc.details]
    else:
        publish = result.publish
        report.update(created=result.created, updated=result.updated, unchanged=result.unchanged,
                      steps=publish.steps if publish else [])  # fmt: skip
        if apply:
            flash(_("Imported: {n} definition(s) published.").format(n=len(result.created) + len(result.updated)),
                  "success")  # fmt: skip
    return render("design_bundle", {"report": report}), (422 if "error" in report else 200)


# -- one document ---------------------------------------------------------------------------------
@bp.get("/<kind>/<name>")
def document(kind: str, name: str):
    w = working(kind, name)
    structured = kind in ("entity", "form")
    tab = request.args.get("tab") or ("edit" if structured else "json")
    if tab not in TABS or (tab == "edit" and not structured):
        tab = "json"
    context = {
        "w": w,
        "tab": tab,
        "tabs": [t for t in TABS if t != "edit" or structured],
        "kind_label": kind_label(kind),
        "label": text(w.body.get("label")) or name,
    }
    context.update(TAB_CONTEXT[tab](w))
    return render("design_document", context)


def edit_context(w: Working) -> dict:
    if w.kind == "entity":
        return entity_context(w)
    return form_context(w)


def json_context(w: Working) -> dict:
    return {"source": json.dumps(w.body, ensure_ascii=False, indent=2)}


def diff_context(w: Working) -> dict:
    old = w.published.body if w.published else {}
    return {"changes": diff(old, w.body) if w.draft else []}


def history_context(w: Working) -> dict:
    rows = store.versions(w.kind, w.name)
    return {
        "versions": [
            {
                **r.summary(),
                "created": local_time(r.created_at, empty=""),
                "published": local_time(r.published_at, empty=""),
            }
            for r in sorted(rows, key=lambda r: -r.version)
        ]
    }


def publish_context(w: Working) -> dict:
    if w.draft is None:
        return {"plan": None}
    try:
        result = runtime().definitions.publish(w.kind, w.name, current_user.id, dry_run=True)
    except ScrmError as exc:
        return {"plan": {"ok": False, "message": exc.message, "details": [d.as_dict() for d in exc.details],
                         "dependants": getattr(exc, "dependants", [])}}  # fmt: skip
    return {"plan": {"ok": True, "steps": result.steps, "warnings": result.warnings}}


TAB_CONTEXT = {
    "edit": edit_context,
    "json": json_context,
    "diff": diff_context,
    "history": history_context,
    "publish": publish_context,
}


@bp.post("/<kind>/<name>/json")
def save_json(kind: str, name: str):
    check_kind(kind)
    source = request.form.get("source", "")
    try:
        body = json.loads(source) if len(source) <= MAX_JSON else None
    except json.JSONDecodeError as exc:
        flash(_("Not valid JSON at line {line}, column {column}: {error}").format(
            line=exc.lineno, column=exc.colno, error=exc.msg), "danger")  # fmt: skip
        return render_document_with_source(kind, name, source)
    if body is None:
        flash(_("The document is too large."), "danger")
        return back(kind, name, "json")
    if save(kind, name, body):
        return back(kind, name, "json")
    return render_document_with_source(kind, name, source)


def render_document_with_source(kind: str, name: str, source: str):
    """The JSON tab again with what the designer typed (never lose their text)."""
    w = working(kind, name)
    context = {"w": w, "tab": "json", "tabs": [t for t in TABS if t != "edit" or kind in ("entity", "form")],
               "kind_label": kind_label(kind), "label": text(w.body.get("label")) or name, "source": source}  # fmt: skip
    return render("design_document", context), 422


@bp.post("/<kind>/<name>/check")
def check_json(kind: str, name: str):
    """Live validation of the JSON view: the problems of what is typed, at their paths."""
    check_kind(kind)
    source = request.form.get("source", "")
    try:
        body = json.loads(source)
    except json.JSONDecodeError as exc:
        problems = [{"path": f"line {exc.lineno}, column {exc.colno}", "code": "JSON", "message": exc.msg,
                     "severity": "error"}]  # fmt: skip
        return render("design_document", {"live": problems}, block="live_problems")
    _clean, found = runtime().definitions.check_draft(kind, name, body)
    live = [{"path": p.path, "code": p.code, "message": p.message, "severity": p.severity} for p in found]
    return render("design_document", {"live": live}, block="live_problems")


@bp.post("/<kind>/<name>/publish")
def publish(kind: str, name: str):
    check_kind(kind)
    try:
        result = runtime().definitions.publish(kind, name, current_user.id)
    except ScrmError as exc:
        flash(exc.message, "danger")
        return back(kind, name, "publish")
    version = result.published[0][2] if result.published else None
    flash(_("Published version {version}; every page uses it from now on.").format(version=version), "success")
    return back(kind, name, "history")


@bp.post("/<kind>/<name>/rollback")
def rollback(kind: str, name: str):
    check_kind(kind)
    version = request.form.get("version", "")
    if not version.isdigit():
        flash(_("Choose a version."), "danger")
        return back(kind, name, "history")
    try:
        result = runtime().definitions.rollback(kind, name, int(version), current_user.id)
    except ScrmError as exc:
        flash(exc.message, "danger")
        return back(kind, name, "history")
    flash(
        _("Rolled back to version {old}: published as version {new}.").format(old=version, new=result.published[0][2]),
        "success",
    )
    return back(kind, name, "history")


@bp.post("/<kind>/<name>/discard")
def discard(kind: str, name: str):
    check_kind(kind)
    try:
        runtime().definitions.discard_draft(kind, name, current_user.id)
    except ScrmError as exc:
        flash(exc.message, "danger")
    else:
        flash(_("Draft discarded."), "success")
    if store.latest(kind, name) is None:
        return redirect(url_for("designer.index", kind=kind))
    return back(kind, name)


# -- the entity editor ---------------------------------------------------------------------------
def entity_context(w: Working) -> dict:
    types = runtime().field_types
    fields = []
    active = {f.get("name") for f in w.body.get("fields", []) if isinstance(f, dict)}
    published = (w.published.body if w.published else {}).get("fields", [])
    for f in w.body.get("fields", []):
        if not isinstance(f, dict):
            continue
        fields.append(
            {
                "name": f.get("name"),
                "label": text(f.get("label")) or f.get("name"),
                "type": f.get("type"),
                "required": bool(f.get("required")),
                "active": f.get("active", True),
                "new": not any(p.get("name") == f.get("name") for p in published),
            }
        )
    removed = [p for p in published if p.get("name") not in active and p.get("active", True)]
    return {
        "fields": fields,
        "removed": [{"name": p["name"], "label": text(p.get("label")) or p["name"]} for p in removed],
        "types": [t.name for t in types],
        "entities": sorted(snapshot().entities),
        "impact": None,
    }


def field_spec(form) -> dict:
    """The add-field form as a field definition (type-aware options)."""
    ftype = form.get("type", "")
    zh = form.get("label", "").strip()
    spec: dict = {
        "name": form.get("name", "").strip(),
        "type": ftype,
        "label": {"zh-CN": zh or form.get("name", ""), "en": form.get("label_en", "").strip() or zh},
    }
    if form.get("required"):
        spec["required"] = True
    if form.get("max_length", "").strip().isdigit():
        spec["max_length"] = int(form["max_length"])
    if ftype in ("ref",) and form.get("target"):
        spec["target"] = form["target"]
    if ftype in ("enum", "multi_enum", "tags") and form.get("options", "").strip():
        spec["options"] = edits.enum_options(form["options"])
    help_text = form.get("help", "").strip()
    if help_text:
        spec["help"] = {"zh-CN": help_text, "en": help_text}
    return spec


@bp.post("/entity/<name>/fields")
def add_field(name: str):
    w = working("entity", name)
    try:
        body = edits.add_field(w.body, field_spec(request.form))
    except ValidationFailed as exc:
        flash(exc.message, "danger")
        return back("entity", name)
    save("entity", name, body, comment=_("Added field {field}").format(field=request.form.get("name")))
    return back("entity", name)


@bp.post("/entity/<name>/fields/<field>/deactivate")
def deactivate_field(name: str, field: str):
    """Take the field out of the draft, unless published definitions still use it: then the
    page lists them (each place) and nothing changes."""
    w = working("entity", name)
    found = []
    if w.published and any(f.get("name") == field for f in w.published.body.get("fields", [])):
        found = runtime().definitions.field_impact(name, field)
    blocking = dependants(found)
    if blocking:
        flash(
            _("{field} cannot be deactivated: {users} use it. Change them first.").format(
                field=field, users=", ".join(blocking)
            ),
            "danger",
        )
        context = {"w": w, "tab": "edit", "tabs": list(TABS), "kind_label": kind_label("entity"),
                   "label": text(w.body.get("label")) or name}  # fmt: skip
        context.update(entity_context(w))
        context["impact"] = {
            "field": field,
            "blocking": blocking,
            "problems": [p for p in found if p.severity == "error"],
            "affected": [d for d in dependants(found, errors_only=False) if d not in blocking],
        }
        return render("design_document", context), 422
    try:
        body = edits.without_field(w.body, field)
    except ValidationFailed as exc:
        flash(exc.message, "danger")
        return back("entity", name)
    affected = dependants(found, errors_only=False)
    if affected:
        flash(_("Forms and roles that show it leave it out: {which}.").format(which=", ".join(affected)), "info")
    save("entity", name, body, comment=_("Deactivated field {field}").format(field=field))
    return back("entity", name)


# -- the form editor -----------------------------------------------------------------------------
def form_context(w: Working) -> dict:
    snap = snapshot()
    entity = snap.entity(w.body.get("entity")) if isinstance(w.body.get("entity"), str) else None
    placed = edits.placed_fields(w.body)
    fields = [(f.name, text(f.label) or f.name) for f in entity.active_fields] if entity else []
    labels = dict(fields)
    types = runtime().field_types
    kinds = {f.name: (types.get(f.type).value_kind if types.get(f.type) else "string") for f in
             (entity.active_fields if entity else [])}  # fmt: skip
    return {
        "nodes": edits.layout_nodes(w.body),
        "field_labels": labels,
        "unplaced": [(n, label) for n, label in fields if n not in placed],
        "all_fields": fields,
        "value_kinds": kinds,
        "operators": RULE_OPERATORS,
        "effects": RULE_EFFECTS,
        "entity_missing": entity is None,
        "text": text,
        "operator_label": operator_label,
    }


RULE_OPERATORS = ("eq", "ne", "in", "not_in", "is_null", "is_not_null", "gt", "gte", "lt", "lte", "contains")
RULE_EFFECTS = ("show", "hide", "require", "disable")


def rule_from(form, snap, entity_name: str) -> list[dict] | None:
    """The rule row of a form editor form (effect + field / operator / value), or None."""
    field_name = form.get("rule_field", "")
    if not field_name:
        return None
    entity = snap.entity(entity_name)
    f = entity.field(field_name) if entity else None
    ftype = runtime().field_types.get(f.type) if f else None
    when = edits.leaf(field_name, form.get("rule_op", "eq"), form.get("rule_value", ""),
                      ftype.value_kind if ftype else "string")  # fmt: skip
    effect = form.get("rule_effect", "show")
    return [{"effect": effect if effect in RULE_EFFECTS else "show", "when": when}]


def form_edit(name: str, change, comment: str):
    w = working("form", name)
    try:
        body = change(w.body)
    except ValidationFailed as exc:
        flash(exc.message, "danger")
        return back("form", name)
    save("form", name, body, comment=comment)
    return back("form", name)


@bp.post("/form/<name>/place")
def place_field(name: str):
    form = request.form
    w_entity = working("form", name).body.get("entity", "")
    rules = rule_from(form, snapshot(), w_entity)
    field_name = form.get("field", "")
    return form_edit(
        name,
        lambda body: edits.place_field(body, form.get("section", ""), field_name, form.get("widget") or None, rules),
        _("Placed field {field}").format(field=field_name),
    )


@bp.post("/form/<name>/move")
def move_node(name: str):
    delta = -1 if request.form.get("direction") == "up" else 1
    address = request.form.get("address", "")
    return form_edit(name, lambda body: edits.move_node(body, address, delta), _("Moved an item"))


@bp.post("/form/<name>/remove")
def remove_node(name: str):
    address = request.form.get("address", "")
    return form_edit(name, lambda body: edits.remove_node(body, address), _("Removed an item"))


@bp.post("/form/<name>/rules")
def set_rules(name: str):
    address = request.form.get("address", "")
    w_entity = working("form", name).body.get("entity", "")
    rules = None if request.form.get("clear") else rule_from(request.form, snapshot(), w_entity)
    return form_edit(name, lambda body: edits.set_rules(body, address, rules), _("Changed a rule"))
