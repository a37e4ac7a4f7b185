"""What a transition, a state's entry or an SLA escalation does to one record.

*Local* actions (``set``, ``assign``) decide field values that the transition writes together
with the new state. *External* ones (``notify``, ``create_task``, ``send_survey``,
``start_workflow``) write rows in the same transaction — inbox messages, outbox messages for
e-mail and SMS, tasks, survey invitations, new records — so a rolled-back transition sends
nothing and a committed one always has them; the outbox worker delivers after commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .. import durations
from ..conditions import ConditionError, Preparer
from ..conditions.python import OperandValue
from ..conditions.reltime import resolve_instant
from ..data.evaluation import prepared
from ..i18n import text
from ..notify import inbox, outbox, placeholders
from ..notify.people import People
from ..security import audit

LOCAL = ("set", "assign")
INAPP = ("inapp", "in_app")
TITLE_LENGTH = 200


@dataclass(eq=False)
class Actions:
    """Runs actions for one record of ``workflow`` with the system service ``service``."""

    workflow: Any
    entity: Any
    service: Any  # a system RecordService in the transition's transaction
    env: Any
    locale: str = "zh_CN"
    source: str = ""  # what caused it, for messages and audit: "transition:resolve", "sla:first_response@100%"
    _people: People | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def snapshot(self):
        return self.service.snapshot

    @property
    def people(self) -> People:
        if self._people is None:
            self._people = People(self.snapshot, self.service.load)
        return self._people

    # -- values -------------------------------------------------------------------------------
    def applies(self, action: dict, record: dict) -> bool:
        if "when" not in action:
            return True
        cond = prepared(self.snapshot, action["when"], self.entity, "guard")
        return bool(cond.predicate(record, self.env))

    def operand(self, raw: Any, record: dict) -> Any:
        try:
            op = Preparer(self.snapshot.field_types, self.snapshot.entity, "guard").operand(raw, self.entity)
        except ConditionError:
            return raw
        return OperandValue(op)(record, self.env) if op is not None else None

    def path(self, path: str, record: dict) -> Any:
        return self.operand({"field": path}, record)

    def recipients(self, spec: dict, record: dict) -> list[int]:
        if "field" in spec:
            value = self.path(spec["field"], record)
            return [value] if isinstance(value, int) else [v for v in value or [] if isinstance(v, int)]
        if "role" in spec:
            unit = self.path(spec["within"]["field"], record) if "within" in spec else None
            found = self.people.role_holder(unit, spec["role"]) if isinstance(unit, int) else None
            return [found] if found else []
        if "user" in spec:
            found = self.people.by_login(spec["user"])
            return [found] if found else []
        return []

    # -- local --------------------------------------------------------------------------------
    def local(self, actions: list[dict], record: dict, route=None) -> dict:
        """The field values the local actions decide, each seeing the ones before it."""
        values: dict = {}
        for action in actions:
            merged = {**record, **values}
            if action["do"] not in LOCAL or not self.applies(action, merged):
                continue
            if action["do"] == "set":
                if action.get("only_if_null") and merged.get(action["field"]) is not None:
                    continue
                values[action["field"]] = self.operand(action["value"], merged)
            elif action.get("route") and route is not None:
                values.update(route(merged))
            elif "to" in action:
                found = self.recipients(action["to"], merged)
                values[action.get("field", "assignee")] = found[0] if found else None
        return values

    # -- external -----------------------------------------------------------------------------
    def external(self, actions: list[dict], record: dict, context: dict | None = None) -> dict:
        """Run the external actions for the written ``record``; returns field values some of them
        decide afterwards (the link to a record ``start_workflow`` created). A plugin's action
        (:mod:`scrm.alerts.action_types`) runs for the record as a batch of one, isolated."""
        from ..alerts.action_types import Fired, action_types

        types = action_types()
        values: dict = {}
        for action in actions:
            if action["do"] in LOCAL or not self.applies(action, record):
                continue
            if action["do"] in types and not types.is_builtin(action["do"]):
                types.run(self.plugin_context(record, action, context or {}), action,
                          [Fired(record["id"], None, {}, record)])  # fmt: skip
                continue
            handler = getattr(self, f"_do_{action['do']}", None)
            if handler is not None:
                values.update(handler(action, record, context or {}) or {})
        return values

    def plugin_context(self, record: dict, action: dict, context: dict):
        """What a plugin's action runs with here: the record's texts and recipients."""
        from ..alerts.action_types import ActionContext

        return ActionContext(
            self.snapshot, self.entity, self.service, self.env, self.locale, self.source,
            render=lambda key, fired: self.render(action.get(key), fired.values, context) or None,
            recipients=lambda spec, fired: self.recipients(spec, fired.values), runner=self,
        )  # fmt: skip

    def render(self, spec: Any, record: dict, context: dict) -> str:
        source = text(spec, self.locale) if spec else ""
        if not source:
            return ""
        local = {k: v.astimezone(self.env.tz) if isinstance(v, datetime) and v.tzinfo else v for k, v in record.items()}
        values = {"record": local, **context}
        try:
            return placeholders.parse(source).render(values)
        except placeholders.TemplateError:
            return source

    def _do_notify(self, action: dict, record: dict, context: dict) -> None:
        channels = action.get("channels") or [action.get("channel", "inapp")]
        subject = self.render(action.get("subject"), record, context) or self._default_subject(record, context)
        body = self.render(action.get("body"), record, context) or subject
        employees: list[int] = []
        for spec in action["to"]:
            employees += [e for e in self.recipients(spec, record) if e not in employees]
        for employee_id in employees:
            person = self.people.employee(employee_id)
            if person is None:
                continue
            for channel in channels:
                message = outbox.Message(
                    channel="inapp" if channel in INAPP else channel,
                    recipient=person,
                    subject=subject,
                    body=body,
                    template=action.get("template"),
                    params={k: self.render(v, record, context) for k, v in (action.get("params") or {}).items()},
                    link=f"/e/{self.entity.name}/{record['id']}",
                    severity=context.get("severity", "medium"),
                    rule=self.source[:63] or None,
                )
                sent = inbox.deliver(message) if message.channel == "inapp" else outbox.enqueue(message)
                self.counts["messages"] = self.counts.get("messages", 0) + sent

    def _default_subject(self, record: dict, context: dict) -> str:
        title = record.get(self.entity.title_field.name) if self.entity.title_field else None
        what = context.get("what") or self.source
        return f"{text(self.entity.label, self.locale)} {title or record['id']} · {what}"

    def _do_create_task(self, action: dict, record: dict, context: dict) -> None:
        task = self.snapshot.entity(action.get("entity", "task"))
        assignees = self.recipients(action["assign_to"], record)
        row = {
            "title": (self.render(action.get("title"), record, context) or self.source)[:TITLE_LENGTH],
            "description": self.render(action.get("description"), record, context) or None,
            "type": action.get("type", "other"),
            "priority": action.get("priority", "P3"),
            "status": "open",
            "assignee": assignees[0] if assignees else None,
            "due_at": self._due(action.get("due")),
            "dedupe_key": f"{self.source}:{self.entity.name}:{record['id']}"[:200],
        }
        for name, value in (action.get("values") or {}).items():
            row[name] = self.operand(value, record)
        if task.field("customer") is not None and self.entity.field("customer") is not None:
            row.setdefault("customer", record.get("customer"))
        row = {k: v for k, v in row.items() if task.field(k) is not None and v is not None}
        self.service.insert_many(task, [self._complete(task, row)])
        self.counts["tasks"] = self.counts.get("tasks", 0) + 1

    def _due(self, due) -> datetime | None:
        if due is None:
            return None
        if isinstance(due, dict):
            return resolve_instant(due["time"], self.env.now, self.env.tz)
        return durations.parse(due).after(self.env.now.astimezone(self.env.tz))

    def _complete(self, entity, row: dict) -> dict:
        for f in entity.active_fields:
            if f.name not in row and f.get("default") is not None:
                row[f.name] = self.service.field_types[f.type].validate(f.get("default"), f)
        return row

    def _do_send_survey(self, action: dict, record: dict, context: dict) -> None:
        """A survey invitation: a survey response row, sent when its delay has passed."""
        survey = self.snapshot.entity("survey")
        response = self.snapshot.entity("survey_response")
        if survey is None or response is None:
            return
        found = self.service.list("survey", filter={"field": "code", "op": "eq", "value": action["survey"]}, limit=1)
        customers = self.recipients(action["to"], record) if "field" in action["to"] else []
        if not found.items or not customers:
            return
        sent_at = durations.parse(action["delay"]).after(self.env.now) if action.get("delay") else self.env.now
        row = {"survey": found.items[0]["id"], "customer": customers[0], "sent_at": sent_at.astimezone(UTC)}
        ref = next((f for f in response.active_fields if f.get("target") == self.entity.name), None)
        if ref is not None:
            row[ref.name] = record["id"]
        self.service.insert_many(response, [self._complete(response, row)])
        self.counts["surveys"] = self.counts.get("surveys", 0) + 1

    def _do_start_workflow(self, action: dict, record: dict, context: dict) -> dict:
        """Create a record that the workflow ``action.workflow`` then governs (classified,
        routed, its clocks started); ``link`` names the field that keeps the new record's id."""
        return start_workflow(self.service, action, lambda raw: self.operand(raw, record))


def start_workflow(service, action: dict, value_of) -> dict:
    """Create the record a ``start_workflow`` action asks for, in the caller's transaction."""
    from .model import workflows_of

    target = next((w for w in workflows_of(service.snapshot).values() if w.name == action["workflow"]), None)
    if target is None:
        return {}
    values = {name: value_of(raw) for name, raw in (action.get("values") or {}).items()}
    new_id = service.create_in_transaction(target.entity, {k: v for k, v in values.items() if v is not None})
    audit.append("workflow_start", audit.SYSTEM, entity=target.entity, record_id=new_id, reason=action["workflow"])
    return {action["link"]: new_id} if action.get("link") else {}
