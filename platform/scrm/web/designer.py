"""The designer area (``/design``): business administrators change definitions in the browser.

Every editor works on the document's **draft** (made from the published version on the first
change) and saves it through :class:`~scrm.definitions.DefinitionService` — drafts may be
invalid, and the page lists each problem at its JSON path; publishing shows the migration plan
first and is impossible while there are errors. Each form carries the ETag of the version the
designer opened, so a second designer's save in between is reported instead of overwritten.
The structured editors (``design_<kind>`` modules, registered with :func:`editor`) and the JSON
view change the same draft; the condition builder (:mod:`.condition_builder`) serves them all.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user

from ..db import reads_only
from ..designer import edits
from ..errors import BadRequest, Conflict, Detail, NotFound, ScrmError, ValidationFailed
from ..i18n import _, text
from ..meta import store
from ..meta.diff import diff
from ..meta.problems import Problem
from ..meta.structure import KINDS
from ..runtime import runtime, snapshot
from ..security.access import require_designer
from . import condition_builder as conditions
from .pages import require_login, service
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


def change_draft(kind: str, name: str, change, comment: str, **back_args):
    """Apply ``change`` to a copy of the draft — it edits the body in place and returns a refusal
    message, or None — and save it; a refusal is flashed and nothing is saved."""
    body = copy.deepcopy(working(kind, name).body)
    problem = change(body)
    if problem:
        flash(problem, "danger")
    else:
        save(kind, name, body, comment=comment)
    return back(kind, name, **back_args)


def apply_edit(kind: str, name: str, edit: Callable[[dict], dict], comment: str, **back_args):
    """Save the result of a pure edit (:mod:`scrm.designer.edits`: body → new body, or a
    :class:`ValidationFailed` refusal, which is flashed with nothing saved)."""

    def change(body: dict) -> str | None:
        try:
            changed = edit(body)
        except ValidationFailed as exc:
            return exc.message
        body.clear()
        body.update(changed)
        return None

    return change_draft(kind, name, change, comment, **back_args)


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
    entities = sorted(snapshot().entities) if kind in NEEDS_ENTITY else []
    return render(
        "design_index",
        {"kind": kind, "kinds": [(k, kind_label(k)) for k in KINDS], "docs": docs, "entities": entities},
    )


NEEDS_ENTITY = ("form", "alert", "workflow", "dashboard")
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
    "alert": lambda name, label, entity: {
        "kind": "alert",
        "name": name,
        "label": label,
        "entity": entity,
        "enabled": False,
        "severity": "medium",
        "schedule": {"cron": "0 8 * * *", "tz": "Asia/Shanghai"},
        "dedupe": {"key": ["rule", "record", "run_date"]},
        "actions": [],
    },
    "workflow": lambda name, label, entity: {
        "kind": "workflow",
        "name": name,
        "label": label,
        "entity": entity,
        "state_field": "status",
        "initial": "new",
        "states": {
            "new": {"label": {"zh-CN": "新建", "en": "New"}, "category": "open"},
            "done": {"label": {"zh-CN": "已完成", "en": "Done"}, "category": "done", "final": True},
        },
        "transitions": [
            {
                "name": "finish",
                "label": {"zh-CN": "完成", "en": "Finish"},
                "from": ["new"],
                "to": "done",
                "style": "primary",
            },
        ],  # fmt: skip
    },
    "dashboard": lambda name, label, entity: {
        "kind": "dashboard",
        "name": name,
        "label": label,
        "time": {"default": {"from": "today-29d", "to": "now"}},
        "datasets": {"main": {"entity": entity, "time_field": "created_at"}},
        "widgets": [],
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
EDITORS: dict[str, Callable[[Working], dict]] = {}


def editor(kind: str):
    """Register the structured editor of ``kind``: a function giving its template's context
    (the template is ``pages/design_<kind>.html``)."""

    def register(context: Callable[[Working], dict]):
        EDITORS[kind] = context
        return context

    return register


def load_editors() -> None:
    """Import the editor modules: each registers its routes on :data:`bp` and its context with
    :func:`editor` (they build on this module, so it cannot import them at its top)."""
    from . import (  # noqa: F401
        design_alert,
        design_dashboard,
        design_entity,
        design_form,
        design_form_preview,
        design_role,
        design_workflow,
    )


def page_context(w: Working, tab: str) -> dict:
    return {
        "w": w,
        "tab": tab,
        "tabs": [t for t in TABS if t != "edit" or w.kind in EDITORS],
        "kind_label": kind_label(w.kind),
        "label": text(w.body.get("label")) or w.name,
    }


@bp.get("/<kind>/<name>")
def document(kind: str, name: str):
    w = working(kind, name)
    structured = kind in EDITORS
    tab = request.args.get("tab") or ("edit" if structured else "json")
    if tab not in TABS or (tab == "edit" and not structured):
        tab = "json"
    context = page_context(w, tab)
    context.update(TAB_CONTEXT[tab](w))
    return render("design_document", context)


def edit_page(w: Working, status: int = 200, **overrides):
    """The editor tab again, with what the designer submitted (``overrides``) when it could not be
    saved: nothing typed is lost."""
    context = page_context(w, "edit")
    context.update(EDITORS[w.kind](w))
    context.update(overrides)
    return render("design_document", context), status


def edit_context(w: Working) -> dict:
    return EDITORS[w.kind](w)


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
    context = page_context(working(kind, name), "json")
    context["source"] = source
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


# -- the condition builder ------------------------------------------------------------------------
PREFIX = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


def condition_of(prefix: str, entity_name: str, cond, *, count: bool = False) -> conditions.Builder | None:
    """A builder showing ``cond`` over the published entity ``entity_name`` (None when it is not published)."""
    entity = snapshot().entity(entity_name) if isinstance(entity_name, str) else None
    if entity is None:
        return None
    root = conditions.from_condition(cond, entity)
    return conditions.build(service(), prefix, entity, root, count=count)


def submitted_condition(prefix: str, entity_name: str) -> conditions.Builder | None:
    """The builder ``prefix`` as the submitted form has it (its condition, or rows with problems)."""
    entity = snapshot().entity(entity_name) if isinstance(entity_name, str) else None
    if entity is None or f"{prefix}:r:t" not in request.form:
        return None
    return conditions.build(service(), prefix, entity, conditions.read(request.form, prefix, entity), count=False)


@bp.post("/condition")
@reads_only
def condition_builder():
    """The builder re-rendered after a change (htmx): rows fitted to their fields, the JSON, and
    how many records match now."""
    prefix = request.args.get("prefix", "")  # (one form may hold several builders)
    entity = snapshot().entity(request.args.get("entity", ""))
    if not PREFIX.match(prefix) or entity is None:
        raise NotFound(_("There is no such condition."))
    if f"{prefix}:r:t" not in request.form and request.form.get("cb_json"):
        try:
            root = conditions.from_condition(json.loads(request.form["cb_json"]), entity)
        except json.JSONDecodeError as exc:
            raise BadRequest(_("Not valid JSON at line {line}, column {column}: {error}").format(
                line=exc.lineno, column=exc.colno, error=exc.msg), [Detail("cb_json", exc.msg)]) from None  # fmt: skip
    else:
        root = conditions.read(request.form, prefix, entity)
    return render("design_condition", {"cb": conditions.build(service(), prefix, entity, root)})
