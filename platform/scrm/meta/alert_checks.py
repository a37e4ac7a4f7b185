"""Phase B for alert documents beyond their conditions: schedules, triggers, templates,
recipients, task values and tags — everything a run would otherwise discover at 18:30."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..conditions.check import document_source
from ..notify import placeholders
from .structure import builtin_action_options

TEMPLATE_ROOTS = ("record", "metrics", "rule", "params")
BUILTIN_ACTIONS = frozenset(builtin_action_options())
TEXT_KEYS = ("title", "description", "subject", "body")


def check_alert(semantics, body: dict, entity, out: list) -> None:
    """Append ``(code, path, params)`` for what the rule would trip over when it runs."""
    trigger = body.get("trigger")
    context = "event" if trigger else "alert"
    params = dict.fromkeys(body.get("params", {})) | dict.fromkeys((trigger or {}).get("params", {}))
    source = document_source(body, params)
    conditions = semantics.conditions
    if "untag" in body:
        out += conditions.check(body["untag"], entity, "$.untag", context, source=source)
    _schedule(body.get("schedule"), out)
    if trigger:
        _trigger(semantics, trigger, entity, out)
    tags = False
    for i, action in enumerate(body["actions"]):
        at = f"$.actions[{i}]"
        if "when" in action:
            out += conditions.check(action["when"], entity, f"{at}.when", context, source=source)
        check_templates(action, at, out)
        for j, recipient in enumerate(action_recipients(action)):
            where = f"{at}.assign_to" if action["do"] == "create_task" else f"{at}.to[{j}]"
            _recipient(semantics, recipient, entity, where, context, source, out)
        if action["do"] not in BUILTIN_ACTIONS:  # a plugin's: the record paths its options name
            for where, path in option_paths(action, at):
                out += conditions.check_operand({"field": path}, entity, where, context, source=source)
        elif action["do"] == "create_task":
            _task(semantics, action, entity, at, context, source, out)
        elif action["do"] == "set":
            _set(semantics, action, entity, at, out)
        elif action["do"] == "tag":
            tags = True
    if tags and semantics.entities.get(f"{entity.name}_tag") is None:
        out.append(("E-ALERT-005", "$.actions", {"link": f"{entity.name}_tag"}))


def _schedule(schedule: dict | None, out: list) -> None:
    if not schedule:
        return
    from ..jobs.scheduler import cron_trigger

    tz = schedule.get("tz")
    if tz:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            out.append(("E-ALERT-002", "$.schedule.tz", {"detail": f"unknown time zone {tz!r}"}))
    if schedule.get("cron"):
        try:
            cron_trigger(schedule["cron"])
        except ValueError as exc:
            out.append(("E-ALERT-002", "$.schedule.cron", {"detail": str(exc)}))
    if not schedule.get("cron") and not schedule.get("every") and not schedule.get("also_on"):
        out.append(("E-ALERT-002", "$.schedule", {"detail": "give cron, every or also_on"}))
    if schedule.get("calendar"):
        from ..jobs.calendars import builtin_calendars

        known = builtin_calendars()
        if schedule["calendar"] not in known:
            out.append(
                ("W-ALERT-001", "$.schedule.calendar", {"calendar": schedule["calendar"], "known": ", ".join(known)})
            )


def _trigger(semantics, trigger: dict, entity, out: list) -> None:
    source = semantics.entities.get(trigger.get("entity", entity.name))
    if source is None:
        if not semantics.known_entity(trigger.get("entity")):
            out.append(("E-REF-001", "$.trigger.entity", {"entity": trigger.get("entity")}))
        return
    for j, name in enumerate(trigger.get("fields", ())):
        if source.field(name) is None:
            out.append(("E-REF-002", f"$.trigger.fields[{j}]", {"field": name, "entity": source.name}))
    if "when" in trigger:
        out += semantics.conditions.check(trigger["when"], source, "$.trigger.when", "event")
    if trigger.get("record"):
        found = semantics.conditions.check_operand({"field": trigger["record"]}, source, "$.trigger.record", "event")
        out += found
        if not found and not _points_to(semantics, source, trigger["record"], entity.name):
            out.append(("E-ALERT-006", "$.trigger.record", {"ref": trigger["record"], "entity": entity.name}))
    for name, path in trigger.get("params", {}).items():
        out += semantics.conditions.check_operand({"field": path}, source, f"$.trigger.params.{name}", "event")


def _points_to(semantics, entity, path: str, target: str) -> bool:
    """Whether ``path`` from ``entity`` ends at a reference to ``target``."""
    current = entity
    parts = path.split(".")
    for i, part in enumerate(parts):
        f = current.field(part) if current is not None else None
        if f is None or f.type != "ref":
            return False
        if i == len(parts) - 1:
            return f.target == target
        current = semantics.entities.get(f.target)
    return False


def check_templates(action: dict, at: str, out: list) -> None:
    texts: list[tuple[str, str]] = []
    for key in TEXT_KEYS:
        value = action.get(key)
        if isinstance(value, str):
            texts.append((f"{at}.{key}", value))
        elif isinstance(value, dict):
            texts += [(f"{at}.{key}.{locale}", text) for locale, text in value.items()]
    texts += [(f"{at}.params.{name}", text) for name, text in (action.get("params") or {}).items()]
    for path, text in texts:
        try:
            placeholders.parse(text, TEMPLATE_ROOTS)
        except placeholders.TemplateError as exc:
            out.append(("E-ALERT-001", path, {"detail": f"{exc.message} ({exc.code}, character {exc.offset + 1})"}))


def action_recipients(action: dict) -> list[dict]:
    """The recipient specs of an action: a task's assignee, a notification's addressees (a
    plugin's action that replaces one of them may have neither)."""
    if action["do"] == "create_task":
        return [action["assign_to"]] if isinstance(action.get("assign_to"), dict) else []
    if action["do"] == "notify":
        return [r for r in action.get("to") or () if isinstance(r, dict)]
    return []


def option_paths(action: dict, at: str = "") -> Iterator[tuple[str, str]]:
    """The record paths a plugin's action names in its options as ``{"field": path}`` (its
    ``when`` aside): ``(JSON path of the mapping below the action, record path)``."""
    for key, value in action.items():
        if key in ("do", "when"):
            continue
        yield from _field_refs(value, f"{at}.{key}")


def _field_refs(value, at: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        if isinstance(value.get("field"), str):
            yield at, value["field"]
            return
        for key, inner in value.items():
            yield from _field_refs(inner, f"{at}.{key}")
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from _field_refs(inner, f"{at}[{i}]")


def _recipient(semantics, spec: dict, entity, at: str, context, source, out: list) -> None:
    for key, path in (("field", spec.get("field")), ("within", (spec.get("within") or {}).get("field"))):
        if not path:
            continue
        where = f"{at}.{key}" if key == "field" else f"{at}.within.field"
        found = semantics.conditions.check_operand({"field": path}, entity, where, context, source=source)
        out += found
        target = "employee" if key == "field" else "org_unit"
        if not found and not _points_to(semantics, entity, path, target):
            out.append(("E-ALERT-004", where, {"ref": path, "target": target}))


def _task(semantics, action: dict, entity, at: str, context, source, out: list) -> None:
    task = semantics.entities.get(action.get("entity", "task"))
    if task is None:
        out.append(("E-REF-001", f"{at}.entity", {"entity": action.get("entity", "task")}))
        return
    for key in ("priority", "type"):
        if key in action:
            _option(task, key, action[key], f"{at}.{key}", out)
    for name, value in (action.get("values") or {}).items():
        if task.field(name) is None:
            out.append(("E-REF-002", f"{at}.values.{name}", {"field": name, "entity": task.name}))
        elif isinstance(value, dict):
            out += semantics.conditions.check_operand(value, entity, f"{at}.values.{name}", context, source=source)


def _option(entity, name: str, value: Any, at: str, out: list) -> None:
    f = entity.field(name)
    if f is None:
        out.append(("E-REF-002", at, {"field": name, "entity": entity.name}))
    elif f.options and value not in f.option_map:
        out.append(("E-ALERT-003", at, {"value": value, "field": name, "entity": entity.name}))


def _set(semantics, action: dict, entity, at: str, out: list) -> None:
    if not isinstance(action.get("field"), str) or "value" not in action:
        return
    f = entity.field(action["field"])
    if f is None:
        out.append(("E-REF-002", f"{at}.field", {"field": action["field"], "entity": entity.name}))
        return
    ftype = semantics.field_types.get(f.type) if hasattr(semantics, "field_types") else None
    if f.options and action["value"] not in f.option_map:
        out.append(("E-ALERT-003", f"{at}.value", {"value": action["value"], "field": f.name, "entity": entity.name}))
    elif ftype is not None:
        try:
            ftype.validate(action["value"], f)
        except Exception as exc:  # the field type's own message
            out.append(("E-ENTITY-012", f"{at}.value", {"detail": str(exc)}))
