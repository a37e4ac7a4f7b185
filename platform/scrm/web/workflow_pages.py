"""Workflows on the web.

* ``GET /e/<entity>/<id>/workflow`` — the panel on the record page (loaded with htmx): the state,
  the steps the user may take as buttons (each with its inputs and comment), the SLA clocks,
  the history and the diagram;
* ``POST /e/<entity>/<id>/step/<name>`` — take a step; htmx gets the page reloaded (the record's
  fields changed) or the panel again with the reason it was refused; without JavaScript a
  redirect with a flash message;
* ``GET /s/<token>`` — the customer's status page: no login, a token per record; the status in
  the customer's words, the expected time, the public comments, and replying, confirming or
  reopening where the workflow has events for them. No internal data ever reaches it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_htmx import make_response as htmx_response

from ..data.records import RecordService
from ..db import db, writing
from ..errors import Conflict, Forbidden, ScrmError, ValidationFailed
from ..i18n import _, text
from ..runtime import snapshot
from ..security.masking import mask
from ..workflows import engine, status
from ..workflows.diagram import svg
from ..workflows.model import Workflow
from ..workflows.sla import aware
from ..workflows.store import Instance
from .pages import check_id, entity_or_404, require_login, service
from .render import render
from .times import local_time

bp = Blueprint("workflows", __name__)
PUBLIC_COMMENTS = 50
REPLY_MAX = 4000


@dataclass
class StepInput:
    name: str
    label: str
    kind: str  # select | textarea | datetime | checkbox | text
    options: list[tuple[Any, str]]
    value: Any = None


def step_inputs(svc: RecordService, entity, t, record: dict) -> list[StepInput]:
    out = []
    for name in t.inputs:
        f = entity.field(name)
        if f is None:
            continue
        current = record.get(name)
        if f.type == "enum":
            options = [(o["value"], text(o.get("label")) or o["value"]) for o in f.get("options") or []]
            out.append(StepInput(name, text(f.label), "select", options, current))
        elif f.type == "ref":
            target = svc.snapshot.entity(f.target)
            title = target.title_field.name if target and target.title_field else "id"
            page = svc.list(f.target, limit=200, sort=title) if target else None
            options = [(r["id"], str(r.get(title) or r["id"])) for r in page.items] if page else []
            out.append(StepInput(name, text(f.label), "select", options, current))
        elif f.type == "text":
            out.append(StepInput(name, text(f.label), "textarea", [], current))
        elif f.type in ("datetime", "date"):
            out.append(StepInput(name, text(f.label), f.type, [], None))
        elif f.type == "bool":
            out.append(StepInput(name, text(f.label), "checkbox", [], current))
        else:
            out.append(StepInput(name, text(f.label), "text", [], current))
    return out


def panel_context(svc: RecordService, entity_name: str, record_id: int, error: ScrmError | None = None, step=None):
    definition = entity_or_404(svc, entity_name)
    record = svc.get(entity_name, record_id)
    v = status.view(svc, entity_name, record)
    if v is None:
        abort(404)
    steps = [(t, step_inputs(svc, definition, t, record)) for t in v.transitions]
    public = None
    if v.public_token and v.workflow.public.get("enabled"):
        public = url_for("workflows.public_status", token=v.public_token, _external=True)
    diagram = svg(v.workflow.body, current=v.state, available=[t.name for t in v.transitions])
    return {
        "wf": v,
        "entity": entity_name,
        "record": record,
        "steps": steps,
        "error": error,
        "failed_step": step,
        "public_url": public,
        "diagram": diagram,
        "styles": _styles(v.workflow),
        "local_time": local_time,
    }


def _styles(wf: Workflow) -> dict[str, str]:
    return {t.name: t.raw.get("style", "outline-secondary") for t in wf.transitions}


def _signed_in():
    return require_login()


@bp.get("/e/<entity>/<int:record_id>/workflow")
def panel(entity: str, record_id: int):
    if (refused := _signed_in()) is not None:
        return refused
    return render("workflow_panel", panel_context(service(), entity, check_id(record_id)), block="panel")


@bp.post("/e/<entity>/<int:record_id>/step/<name>")
def take_step(entity: str, record_id: int, name: str):
    if (refused := _signed_in()) is not None:
        return refused
    svc = service()
    definition = entity_or_404(svc, entity)
    record_id = check_id(record_id)
    t = None
    try:
        record = svc.get(entity, record_id)
        wf, _inst = engine.workflow_for(svc.snapshot, entity, record)
        t = wf.transition(name) if wf else None
        inputs = {k: _form_value(definition, k) for k in (t.inputs if t else ()) if k in request.form}
        version = request.form.get("_version", type=int)
        applied = engine.apply(svc, entity, record_id, name, inputs, request.form.get("comment"), version)
    except (ValidationFailed, Forbidden, Conflict) as exc:
        if request.headers.get("HX-Request"):
            html = render("workflow_panel", panel_context(svc, entity, record_id, exc, name), block="panel")
            return html, exc.status
        flash(_message(exc), "danger")
        return redirect(url_for("pages.detail", entity=entity, record_id=record_id), 303)
    label = text(applied and t.label)
    done = _("Done: {step} → {state}.").format(
        step=label, state=text(wf.states.get(applied.to_state, {}).get("label")) or applied.to_state
    )
    flash(done, "success")
    target = url_for("pages.detail", entity=entity, record_id=record_id)
    if request.headers.get("HX-Request"):
        return htmx_response(redirect=target)
    return redirect(target, 303)


def _form_value(entity, name: str):
    f = entity.field(name)
    raw = request.form.get(name)
    if f is not None and f.type == "bool":
        return raw in ("1", "on", "true")
    if raw in (None, ""):
        return None
    if f is not None and f.type == "ref":
        return int(raw) if raw.isdigit() else raw
    return raw


def _message(exc: ScrmError) -> str:
    details = "; ".join(d.message for d in exc.details if d.message != exc.message)
    return f"{exc.message} {details}".strip()


# -- the customer's status page -------------------------------------------------------------------
def by_token(token: str) -> tuple[Instance, Workflow, Any, dict]:
    if not token or len(token) > 64:
        abort(404)
    inst = db.session.scalars(sa.select(Instance).where(Instance.public_token == token)).first()
    snap = snapshot()
    if inst is None:
        abort(404)
    wf = engine.governing(snap, inst.entity)
    if wf is None or not wf.public.get("enabled"):
        abort(404)
    svc = engine.system_service(snap)
    try:
        record = svc.get(inst.entity, inst.record_id)
    except ScrmError:
        abort(404)
    return inst, wf, svc, record


@bp.get("/s/<token>")
def public_status(token: str):
    inst, wf, svc, record = by_token(token)
    return render("public_status", _public_context(inst, wf, svc, record, token))


def _public_context(inst, wf: Workflow, svc: RecordService, record: dict, token: str) -> dict:
    entity = svc.entity(inst.entity)
    public = wf.public
    state = record.get(wf.state_field)
    status_field = entity.field(public.get("status_field", "")) if public.get("status_field") else None
    status_value = record.get(status_field.name) if status_field else None
    status_label = (
        next((text(o.get("label")) for o in (status_field.get("options") or []) if o["value"] == status_value), None)
        if status_field
        else None
    )
    fields = []
    for name in public.get("fields", []):
        f = entity.field(name)
        value = record.get(name) if f else record.get(name)
        if f is not None and f.type == "enum":
            value = next((text(o.get("label")) for o in f.get("options") or [] if o["value"] == value), value)
        label = text(f.label) if f is not None else _("Submitted")
        fields.append((label, value))
    due_field = public.get("due_field")
    due = record.get(due_field) if due_field and wf.category(state) != "done" else None
    events = {t.event for t in wf.leaving(state) if t.event}
    return {
        "token": token,
        "title": record.get(entity.title_field.name) if entity.title_field else record["id"],
        "entity_label": text(entity.label),
        "status": status_label or text(wf.states.get(state, {}).get("label")),
        "category": wf.category(state),
        "fields": fields,
        "due": aware(due),
        "handler": _handler(svc, wf, record),
        "comments": _public_comments(svc, wf, entity, record),
        "can_reply": public.get("reply_event") in events,
        "can_confirm": "ticket.customer_confirm" in events,
        "can_reopen": "ticket.customer_reopen" in events,
        "local_time": local_time,
    }


def _handler(svc: RecordService, wf: Workflow, record: dict) -> str | None:
    field_name = (wf.routing or {}).get("assignee_field", "assignee")
    employee_id = record.get(field_name)
    if not isinstance(employee_id, int):
        return None
    person = svc.load("employee", employee_id)
    return f"{mask('name', person.get('name') or '')}（{_('work no.')} {person.get('employee_no') or '—'}）"


def _public_comments(svc: RecordService, wf: Workflow, entity, record: dict) -> list[dict]:
    relation = entity.relation(wf.public.get("comments") or "")
    if relation is None:
        return []
    page = svc.list(
        relation.target,
        filter={
            "all": [
                {"field": relation.via, "op": "eq", "value": record["id"]},
                {"field": "visibility", "op": "eq", "value": "customer"},
            ]
        },
        sort="created_at",
        limit=PUBLIC_COMMENTS,
    )
    return [
        {
            "at": c["created_at"],
            "body": c.get("body"),
            "mine": bool(c.get("author_customer")),
            "files": [f for f in c.get("attachments") or [] if isinstance(f, dict) and "id" in f],
        }
        for c in page.items
    ]


@bp.post("/s/<token>/<action>")
def public_action(token: str, action: str):
    inst, wf, svc, record = by_token(token)
    entity = svc.entity(inst.entity)
    events = {
        "reply": wf.public.get("reply_event"),
        "confirm": "ticket.customer_confirm",
        "reopen": "ticket.customer_reopen",
    }
    if action not in events:
        abort(404)
    body = (request.form.get("body") or "").strip()[:REPLY_MAX]
    with writing():
        try:
            if body:
                _add_public_comment(svc, wf, entity, record, body)
            elif action == "reply":
                flash(_("Please write your message."), "warning")
                return redirect(url_for("workflows.public_status", token=token), 303)
            applied = engine.fire_event(svc.snapshot, inst.entity, inst.record_id, events[action], actor="customer")
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
    if action != "reply" and applied is None:
        flash(_("This is no longer possible; the status has changed."), "warning")
    else:
        flash(_("Thank you, we have received it."), "success")
    return redirect(url_for("workflows.public_status", token=token), 303)


def _add_public_comment(svc: RecordService, wf: Workflow, entity, record: dict, body: str) -> None:
    relation = entity.relation(wf.public.get("comments") or "")
    if relation is None:
        return
    svc.create_in_transaction(
        relation.target, {relation.via: record["id"], "visibility": "customer", "author_customer": True, "body": body}
    )
