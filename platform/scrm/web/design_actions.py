"""Actions as the designer's forms build them (a task, a notification, a tag) and as its pages
summarise them; alert rules and workflow transitions share them."""

from __future__ import annotations

import json

from .. import durations
from ..alerts.action_types import action_types
from ..i18n import _, text
from ..runtime import snapshot

ACTION_TYPES = ("create_task", "notify", "tag")  # the built-ins the form has fields for


def offered_actions() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """What the add-action form offers, from the registered actions, as ``(name, label)``: the
    built-ins it has fields for (unless a plugin replaced one) and every plugin's action, whose
    options are given as JSON and checked against its options schema on save."""
    types = action_types()
    labels = {"create_task": _("create a task"), "notify": _("notify"), "tag": _("tag the record")}
    guided = [(name, labels[name]) for name in ACTION_TYPES if types.is_builtin(name)]
    others = [(name, text(kind.label) or name) for name, kind in types.items() if not types.is_builtin(name)]
    return guided, others


def action_from_form(form) -> tuple[dict | None, str | None]:
    """The action the add-action form describes, or the reason it cannot be made."""
    do = form.get("do", "")
    zh, en = form.get("title", "").strip(), form.get("title_en", "").strip()
    who = form.get("who", "")
    if do in dict(offered_actions()[1]):  # a plugin's action (one that replaces a built-in too)
        return _plugin_action(do, form.get("options", ""))
    if do == "create_task":
        if not zh or not who:
            return None, _("A task needs a title and someone to do it.")
        due = form.get("due") or "P3D"
        try:
            durations.parse(due)
        except ValueError:
            return None, _("The due time must be an ISO duration such as P3D.")
        return {"do": "create_task", "assign_to": {"field": who}, "title": {"zh-CN": zh, "en": en or zh},
                "priority": form.get("priority") or "P3", "due": due}, None  # fmt: skip
    if do == "notify":
        if not zh or not who:
            return None, _("A notification needs a subject and a recipient.")
        channels = [c for c in form.getlist("channels") if c] or ["inapp"]
        return {"do": "notify", "to": [{"field": who}], "channels": channels,
                "subject": {"zh-CN": zh, "en": en or zh}}, None  # fmt: skip
    if do == "tag":
        tags = [t.strip() for t in form.get("tags", "").replace("，", ",").split(",") if t.strip()]
        if not tags:
            return None, _("Give the tag to add.")
        return {"do": "tag", "add": tags, **({"remove_when": "unmatched"} if form.get("untag") else {})}, None
    return None, _("Choose what the rule does.")


def _plugin_action(do: str, options: str) -> tuple[dict | None, str | None]:
    try:
        found = json.loads(options.strip() or "{}")
    except ValueError:
        found = None
    if not isinstance(found, dict) or {"do", "when"} & set(found):
        return None, _("Give the action's options as a JSON object, such as {example}.").format(
            example='{"queue": "margin"}'
        )
    return {"do": do, **found}, None


def action_summary(action: dict) -> str:
    do = action.get("do")
    types = action_types()
    if do in types and not types.is_builtin(do):
        return types.describe(action)
    if do == "create_task":
        return _("Task for {who}: {title}").format(who=recipient_text(action.get("assign_to")),
                                                    title=text(action.get("title")) or "—")  # fmt: skip
    if do == "notify":
        who = ", ".join(recipient_text(r) for r in action.get("to") or [])
        return _("Notify {who} by {channels}: {subject}").format(
            who=who or "—", channels=", ".join(action.get("channels") or [action.get("channel") or "inapp"]),
            subject=text(action.get("subject")) or action.get("template") or "—")  # fmt: skip
    if do == "tag":
        return _("Tag {tags}").format(tags=", ".join(action.get("add") or []) or "—") + (
            " · " + _("removed when no longer matching") if action.get("remove_when") == "unmatched" else ""
        )
    return _("{action} (edit in the JSON view)").format(action=do)


def recipient_text(recipient) -> str:
    if not isinstance(recipient, dict):
        return "—"
    if "field" in recipient:
        return _("the record's {field}").format(field=recipient["field"])
    if "role" in recipient:
        return _("role {role}").format(role=recipient["role"])
    return ", ".join(f"{k} {v}" for k, v in recipient.items() if isinstance(v, str))


def people_fields(entity) -> list[tuple[str, str]]:
    """The record's fields that name a person (employee or user), also one step away."""
    if entity is None:
        return []
    out = []
    for f in entity.active_fields:
        if f.type == "ref" and f.get("target") == "employee":
            out.append((f.name, text(f.label) or f.name))
    snap = snapshot()
    for f in entity.active_fields:
        target = snap.entity(f.get("target")) if f.type == "ref" and f.get("target") != "employee" else None
        for g in target.active_fields if target else ():
            if g.type == "ref" and g.get("target") == "employee":
                out.append((f"{f.name}.{g.name}", f"{text(f.label)} → {text(g.label)}"))
    return out
