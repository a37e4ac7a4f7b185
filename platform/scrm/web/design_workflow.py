"""The workflow editor of the designer: states (category, final), transitions (from, to, who may
take them, a guard in the condition builder, what they do), SLA clocks — with the diagram of the
draft redrawn on every change."""

from __future__ import annotations

import copy

from flask import flash, request

from .. import durations
from ..designer.edits import NAME, drop_item
from ..i18n import _, current_locale, text
from ..runtime import snapshot
from ..workflows.diagram import svg
from .design_actions import action_from_form, action_summary, people_fields
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

CATEGORIES = ("open", "waiting", "done")
RELATIONSHIP_ROLES = ("$assignee", "$owner", "$creator", "$supervisor", "$customer")
STYLES = ("primary", "secondary", "success", "danger", "warning")


def category_label(category: str) -> str:
    return {"open": _("open"), "waiting": _("waiting"), "done": _("done")}.get(category, category)


def parts(body: dict) -> tuple[dict, list, list]:
    states = body.get("states") if isinstance(body.get("states"), dict) else {}
    transitions = [t for t in body.get("transitions") or [] if isinstance(t, dict)]
    slas = [s for s in body.get("slas") or [] if isinstance(s, dict)]
    return states, transitions, slas


@editor("workflow")
def workflow_context(w: Working) -> dict:
    body = w.body
    snap = snapshot()
    entity = snap.entity(body.get("entity")) if isinstance(body.get("entity"), str) else None
    states, transitions, slas = parts(body)
    editing = next((t for t in transitions if t.get("name") == request.args.get("transition")), None)
    try:
        diagram = svg(body, locale=current_locale()) if states else None
    except (KeyError, TypeError, ValueError, AttributeError):  # a draft too broken to draw
        diagram = None
    roles = sorted(snap.documents_of("role"))
    return {
        "entity": entity,
        "entities": sorted(((n, text(e.label) or n) for n, e in snap.entities.items()), key=lambda p: p[1]),
        "states": [
            (n, text(s.get("label")) or n, s.get("category"), bool(s.get("final")))
            for n, s in states.items()
            if isinstance(s, dict)
        ],  # fmt: skip
        "categories": [(c, category_label(c)) for c in CATEGORIES],
        "transitions": [
            {
                "name": t.get("name"),
                "label": text(t.get("label")) or t.get("name"),
                "from": t.get("from") or [],
                "to": t.get("to"),
                "roles": t.get("roles") or [],
                "guard": "guard" in t,
                "actions": [action_summary(a) for a in t.get("actions") or [] if isinstance(a, dict)],
            }
            for t in transitions
        ],  # fmt: skip
        "editing": editing or {},
        "guard_cb": condition_of("guard", body.get("entity"), (editing or {}).get("guard")),
        "roles": [*RELATIONSHIP_ROLES, *roles],
        "styles": STYLES,
        "slas": [
            {
                "name": s.get("name"),
                "label": text(s.get("label")) or s.get("name"),
                "start": (s.get("start") or {}).get("state") or (s.get("start") or {}).get("on"),
                "stop": ", ".join(
                    (s.get("stop") or {}).get("on_state") or (s.get("stop") or {}).get("on_transition") or []
                ),
                "target": (s.get("target") or {}).get("default", "…"),
                "calendar": s.get("calendar", ""),
            }
            for s in slas
        ],  # fmt: skip
        "calendars": sorted((body.get("calendars") or {}).keys()) if isinstance(body.get("calendars"), dict) else [],
        "people": people_fields(entity),
        "diagram": diagram,
        "state_fields": [
            (f.name, text(f.label) or f.name) for f in entity.active_fields if f.type in ("enum", "string")
        ]
        if entity
        else [],  # fmt: skip
        "text": text,
    }


def edit(name: str, change, comment: str):
    return change_draft("workflow", name, change, comment)


def label_from(form, key: str = "label") -> dict:
    zh = form.get(key, "").strip()
    return {"zh-CN": zh, "en": form.get(f"{key}_en", "").strip() or zh}


@bp.post("/workflow/<name>/settings")
def workflow_settings(name: str):
    form = request.form

    def change(body: dict) -> str | None:
        entity = form.get("entity", "")
        if entity != body.get("entity"):
            if snapshot().entity(entity) is None:
                return _("Choose a published entity.")
            if any("guard" in t for t in parts(body)[1]):
                return _("Remove the guards before changing the entity: they name its fields.")
            body["entity"] = entity
        body["state_field"] = form.get("state_field", "").strip() or body.get("state_field", "status")
        if form.get("initial") in parts(body)[0]:
            body["initial"] = form["initial"]
        return None

    return edit(name, change, _("Changed the workflow settings"))


@bp.post("/workflow/<name>/states")
def save_state(name: str):
    form = request.form
    state = form.get("state", "").strip()

    def change(body: dict) -> str | None:
        if not NAME.match(state):
            return _("Use lower-case letters, digits and _, starting with a letter.")
        category = form.get("category", "open")
        entry = body.setdefault("states", {}).setdefault(state, {})
        entry.update({"label": label_from(form), "category": category if category in CATEGORIES else "open"})
        if form.get("final"):
            entry["final"] = True
        else:
            entry.pop("final", None)
        if not body.get("initial"):
            body["initial"] = state
        return None

    return edit(name, change, _("Saved state {state}").format(state=state))


@bp.post("/workflow/<name>/states/remove")
def remove_state(name: str):
    state = request.form.get("state", "")

    def change(body: dict) -> str | None:
        states, transitions, _slas = parts(body)
        if state not in states:
            return _("There is no such state.")
        users = [t.get("name") for t in transitions if state in (t.get("from") or []) or t.get("to") == state]
        if users:
            return _("{state} is used by the transitions {users}; change them first.").format(
                state=state, users=", ".join(map(str, users)))  # fmt: skip
        if body.get("initial") == state:
            return _("{state} is the initial state; choose another first.").format(state=state)
        del states[state]
        return None

    return edit(name, change, _("Removed state {state}").format(state=state))


@bp.post("/workflow/<name>/transitions")
def save_transition(name: str):
    """Add a transition, or change the one named ``original``; its guard comes from the builder
    (rows with problems come back as typed, nothing saved)."""
    w = working("workflow", name)
    form = request.form
    original = form.get("original", "")
    guard = submitted_condition("guard", w.body.get("entity"))
    if guard is not None and guard.errors:
        flash(_("Some rows need attention; nothing was saved."), "danger")
        return edit_page(w, 422, guard_cb=guard)
    body = copy.deepcopy(w.body)
    states, transitions, _slas = parts(body)
    problem = None
    t_name = form.get("transition", "").strip()
    sources = [s for s in form.getlist("from") if s in states]
    if not NAME.match(t_name):
        problem = _("Use lower-case letters, digits and _, starting with a letter.")
    elif t_name != original and any(t.get("name") == t_name for t in transitions):
        problem = _("There is a transition {name} already.").format(name=t_name)
    elif not sources or (form.get("to") not in states and form.get("to") != "$same"):
        problem = _("Choose the states it leaves from and the state it leads to.")
    action = None
    if problem is None and form.get("do"):
        action, problem = action_from_form(form)
    if problem:
        flash(problem, "danger")
        return edit_page(w, 422, guard_cb=guard) if guard is not None else back("workflow", name)
    current = next((t for t in transitions if t.get("name") == original), None) if original else None
    entry = current if current is not None else {}
    entry.update({"name": t_name, "label": label_from(form), "from": sources, "to": form["to"]})
    roles = [r for r in form.getlist("roles") if r]
    for key, value in (("roles", roles), ("style", form.get("style") if form.get("style") in STYLES else None),
                       ("comment", form.get("comment") if form.get("comment") in ("optional", "required") else None),
                       ("guard", guard.condition if guard else None),
                       ("guard_message", label_from(form, "guard_message") if form.get("guard_message") else None)):  # fmt: skip
        if value:
            entry[key] = value
        else:
            entry.pop(key, None)
    if action:
        entry.setdefault("actions", []).append(action)
    if current is None:
        body.setdefault("transitions", []).append(entry)
    save("workflow", name, body, comment=_("Saved transition {name}").format(name=t_name))
    return back("workflow", name)


@bp.post("/workflow/<name>/transitions/remove")
def remove_transition(name: str):
    t_name = request.form.get("transition", "")

    def change(body: dict) -> str | None:
        return None if drop_item(body, "transitions", t_name) else _("There is no such transition.")

    return edit(name, change, _("Removed transition {name}").format(name=t_name))


@bp.post("/workflow/<name>/slas")
def add_sla(name: str):
    form = request.form

    def change(body: dict) -> str | None:
        sla, states = form.get("sla", "").strip(), parts(body)[0]
        if not NAME.match(sla):
            return _("Use lower-case letters, digits and _, starting with a letter.")
        if any(s.get("name") == sla for s in parts(body)[2]):
            return _("There is an SLA {name} already.").format(name=sla)
        start, stops = form.get("start", ""), [s for s in form.getlist("stop") if s in states]
        if start not in states or not stops:
            return _("Choose the state that starts the clock and the states that stop it.")
        target = form.get("target", "").strip()
        try:
            durations.parse(target)
        except ValueError:
            return _("The target must be an ISO duration such as PT4H or P3D.")
        entry: dict = {"name": sla, "label": label_from(form), "start": {"on": "state", "state": start},
                       "stop": {"on_state": stops}, "target": {"default": target}}  # fmt: skip
        if form.get("calendar"):
            entry["calendar"] = form["calendar"]
        if form.get("escalate_to"):
            entry["escalations"] = [{"at": "100%", "actions": [
                {"do": "notify", "to": [{"field": form["escalate_to"]}], "channels": ["inapp"],
                 "subject": {"zh-CN": "【超时】{{record.display_name}}", "en": "[Overdue] {{record.display_name}}"}}]}]  # fmt: skip
        body.setdefault("slas", []).append(entry)
        return None

    return edit(name, change, _("Added an SLA"))


@bp.post("/workflow/<name>/slas/remove")
def remove_sla(name: str):
    sla = request.form.get("sla", "")

    def change(body: dict) -> str | None:
        return None if drop_item(body, "slas", sla, keep_empty=False) else _("There is no such SLA.")

    return edit(name, change, _("Removed an SLA"))
