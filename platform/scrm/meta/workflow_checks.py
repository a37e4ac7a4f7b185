"""Phase B for workflow documents beyond their states and guards: transitions named elsewhere,
calendars, SLA and routing fields, the customer-visible status and the actions' templates,
recipients and fields — what a ticket would otherwise trip over at 3 a.m."""

from __future__ import annotations

from .alert_checks import BUILTIN_ACTIONS, action_recipients, check_templates, option_paths

SAME = "$same"


def check_workflow_parts(semantics, body: dict, entity, out: list) -> None:
    """Append ``(code, path, params)`` for everything beyond states and guards."""
    names = [t["name"] for t in body["transitions"]]
    for i, name in enumerate(names):
        if names.index(name) != i:
            out.append(("E-WF-001", f"$.transitions[{i}].name", {"name": name}))
    _calendars(body, out)
    known_calendars = set(body.get("calendars", {}))
    states = body["states"]
    for i, t in enumerate(body["transitions"]):
        at = f"$.transitions[{i}]"
        calendar = (t.get("trigger") or {}).get("calendar")
        if calendar and calendar not in known_calendars:
            out.append(("E-WF-003", f"{at}.trigger.calendar", {"calendar": calendar}))
        maker = (t.get("maker_checker") or {}).get("of")
        if maker and maker not in names:
            out.append(("E-WF-002", f"{at}.maker_checker.of", {"name": maker}))
        _actions(semantics, t.get("actions", []), entity, f"{at}.actions", out)
    for name, state in states.items():
        for key in ("on_enter", "on_exit"):
            _actions(semantics, state.get(key, []), entity, f"$.states.{name}.{key}", out)
        for j, field in enumerate(state.get("editable_fields", [])):
            _field(entity, field, f"$.states.{name}.editable_fields[{j}]", out)
    for i, sla in enumerate(body.get("slas", [])):
        _sla(semantics, sla, entity, names, states, known_calendars, f"$.slas[{i}]", out)
    _classification(body.get("classification"), entity, out)
    _routing(semantics, body.get("routing"), entity, names, out)
    public = body.get("public_status") or {}
    for key in ("status_field", "due_field"):
        if public.get(key):
            _field(entity, public[key], f"$.public_status.{key}", out)
    status = entity.field(public["status_field"]) if public.get("status_field") else None
    options = {o["value"] for o in (status.get("options") or [])} if status is not None else None
    for name, state in states.items():
        if options is not None and state.get("customer_status") and state["customer_status"] not in options:
            out.append(
                (
                    "E-WF-004",
                    f"$.states.{name}.customer_status",
                    {"value": state["customer_status"], "field": status.name},
                )
            )
    if body.get("numbering"):
        _field(entity, body["numbering"]["field"], "$.numbering.field", out)
    _reachable(body, out)


def _field(entity, name: str, at: str, out: list) -> None:
    if entity.field(name) is None:
        out.append(("E-REF-002", at, {"field": name, "entity": entity.name}))


def _calendars(body: dict, out: list) -> None:
    from ..jobs.calendars import builtin_calendars

    known = builtin_calendars()
    for name, spec in body.get("calendars", {}).items():
        if spec.get("holidays") and spec["holidays"] not in known:
            out.append(
                ("W-WF-001", f"$.calendars.{name}.holidays", {"calendar": spec["holidays"], "known": ", ".join(known)})
            )
        for day, spans in spec["weekly"].items():
            for j, (start, end) in enumerate(spans):
                if end <= start:
                    out.append(("E-WF-005", f"$.calendars.{name}.weekly.{day}[{j}]", {"start": start, "end": end}))


def _sla(semantics, sla: dict, entity, names, states, calendars, at: str, out: list) -> None:
    for j, name in enumerate(sla["stop"].get("on_transition", [])):
        if name not in names:
            out.append(("E-WF-002", f"{at}.stop.on_transition[{j}]", {"name": name}))
    for key in ("on_state",):
        for j, state in enumerate(sla["stop"].get(key, [])):
            if state not in states:
                out.append(("E-REF-003", f"{at}.stop.{key}[{j}]", {"state": state}))
    for j, state in enumerate(sla.get("pause_in", [])):
        if state not in states:
            out.append(("E-REF-003", f"{at}.pause_in[{j}]", {"state": state}))
    start = sla["start"]
    if start["on"] == "transition" and start.get("transition") not in names:
        out.append(("E-WF-002", f"{at}.start.transition", {"name": start.get("transition")}))
    if start["on"] == "state" and start.get("state") not in states:
        out.append(("E-REF-003", f"{at}.start.state", {"state": start.get("state")}))
    for key in ("record_due_to", "record_breach_to", "record_elapsed_to"):
        if sla.get(key):
            _field(entity, sla[key], f"{at}.{key}", out)
    for name in [sla.get("calendar")] + [c.get("calendar") for c in sla["target"].get("cases", [])]:
        if name and name not in calendars:
            out.append(("E-WF-003", f"{at}.calendar", {"calendar": name}))
    for j, case in enumerate(sla["target"].get("cases", [])):
        out += semantics.conditions.check(case["when"], entity, f"{at}.target.cases[{j}].when", "guard")
    for j, step in enumerate(sla.get("escalations", [])):
        _actions(semantics, step["actions"], entity, f"{at}.escalations[{j}].actions", out)


def _classification(spec: dict | None, entity, out: list) -> None:
    if not spec:
        return
    for name in spec["text"]:
        _field(entity, name, f"$.classification.text.{name}", out)
    for key in ("category_field", "priority_field", "queue_field", "confidence_field", "by_field"):
        if spec.get(key):
            _field(entity, spec[key], f"$.classification.{key}", out)
    category = entity.field(spec.get("category_field", "category"))
    options = {o["value"] for o in (category.get("options") or [])} if category is not None else set()
    for name in list(spec["categories"]) + list(spec.get("overlays") or {}):
        if options and name not in options:
            out.append(("E-WF-004", f"$.classification.categories.{name}", {"value": name, "field": category.name}))


def _routing(semantics, spec: dict | None, entity, names, out: list) -> None:
    if not spec:
        return
    for key in ("assignee_field", "queue_field", "unit_field"):
        if spec.get(key):
            _field(entity, spec[key], f"$.routing.{key}", out)
    if spec.get("transition") and spec["transition"] not in names:
        out.append(("E-WF-002", "$.routing.transition", {"name": spec["transition"]}))
    for j, option in enumerate(spec.get("prefer", [])):
        if "when" in option:
            out += semantics.conditions.check(option["when"], entity, f"$.routing.prefer[{j}].when", "guard")
        if option["to"].get("field"):
            out += semantics.conditions.check_operand(
                {"field": option["to"]["field"]}, entity, f"$.routing.prefer[{j}].to.field", "guard"
            )


def _actions(semantics, actions: list[dict], entity, at: str, out: list) -> None:
    for i, action in enumerate(actions):
        where = f"{at}[{i}]"
        if "when" in action:
            out += semantics.conditions.check(action["when"], entity, f"{where}.when", "guard")
        check_templates(action, where, out)
        if action["do"] not in BUILTIN_ACTIONS:  # a plugin's: the record paths its options name
            for inner, path in option_paths(action, where):
                out += semantics.conditions.check_operand({"field": path}, entity, inner, "guard")
        if action["do"] in ("set", "assign") and action.get("field"):
            _field(entity, action["field"], f"{where}.field", out)
        if action["do"] == "set" and isinstance(action.get("value"), dict):
            out += semantics.conditions.check_operand(action["value"], entity, f"{where}.value", "guard")
        for j, recipient in enumerate(
            action_recipients(action) + ([action["to"]] if action["do"] == "assign" and "to" in action else [])
        ):
            for key in ("field",):
                if recipient.get(key):
                    out += semantics.conditions.check_operand(
                        {"field": recipient[key]}, entity, f"{where}.to[{j}].{key}", "guard"
                    )
            within = (recipient.get("within") or {}).get("field")
            if within:
                out += semantics.conditions.check_operand(
                    {"field": within}, entity, f"{where}.to[{j}].within.field", "guard"
                )
        if action["do"] == "start_workflow" and action.get("link"):
            _field(entity, action["link"], f"{where}.link", out)


def _reachable(body: dict, out: list) -> None:
    seen, todo = {body["initial"]}, [body["initial"]]
    while todo:
        state = todo.pop()
        for t in body["transitions"]:
            target = state if t["to"] == SAME else t["to"]
            if state in t["from"] and target not in seen:
                seen.add(target)
                todo.append(target)
    for name in body["states"]:
        if name not in seen:
            out.append(("W-WF-002", f"$.states.{name}", {"state": name}))
