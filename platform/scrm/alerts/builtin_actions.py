"""SCRM's own actions, registered through ``scrm_actions`` like a plugin's (:mod:`scrm.plugins.builtins`).

Each runs a batch of firings of an alert rule with the engine's :class:`~scrm.alerts.actions.ActionRunner`
(``context.runner``): tasks, field values and tags in one statement per batch, notifications into
the inbox and outbox. Their options are described in ``common.json#/$defs/actionOptions``.
Workflows run their own built-in actions record by record (:mod:`scrm.workflows.actions`);
``send_survey``, ``webhook`` and ``assign`` do nothing in an alert rule.
"""

from __future__ import annotations

import sqlalchemy as sa

from .. import durations
from ..conditions.reltime import resolve_instant
from ..db import db
from ..i18n import text
from ..meta.structure import builtin_action_options
from ..notify import inbox, outbox
from ..security import audit
from .action_types import Action, ActionContext, Fired
from .actions import _json, _text, add_tags, untag

TITLE_LENGTH = 200


class BuiltinAction(Action):
    def __init__(self):
        self.options_schema = builtin_action_options()[self.name]

    def run(self, context: ActionContext, action: dict, batch: list[Fired]) -> None:
        """Workflow-only actions do nothing in an alert rule."""


class CreateTask(BuiltinAction):
    name = "create_task"
    label = {"zh-CN": "创建任务", "en": "Create a task"}

    def run(self, context: ActionContext, action: dict, batch: list[Fired]) -> None:
        runner = context.runner
        rule, entity = runner.rule, context.entity
        task = context.snapshot.entity(action.get("entity", "task"))
        rows = []
        for fired in batch:
            assignees = context.recipients(action["assign_to"], fired)
            row = {
                "title": (context.render("title", fired) or rule.name)[:TITLE_LENGTH],
                "type": action.get("type", "alert_followup"),
                "priority": action.get("priority", "P3"),
                "status": "open",
                "assignee": assignees[0] if assignees else None,
                "due_at": runner.due(action.get("due")),
                "source_rule": rule.name,
                "alert_event": str(fired.firing_id),
                "dedupe_key": f"{rule.name}:{fired.record_id}:{fired.period_key}"[:200],
            }
            description = context.render("description", fired)
            if description:
                row["description"] = description
            for name, value in (action.get("values") or {}).items():
                row[name] = fired.values.get(value["field"]) if isinstance(value, dict) else value
            ref = task.field(entity.name)
            if action.get("link", "record") == "record" and ref is not None and ref.get("target") == entity.name:
                row[ref.name] = fired.record_id
            rows.append({k: v for k, v in row.items() if task.field(k) is not None and v is not None})
        ids = context.service.insert_many(task, rows)
        if ids:
            audit.append("rule_create", audit.SYSTEM, entity=task.name, row_count=len(ids), reason=rule.name)
        runner.applied.tasks += len(ids)

    def describe(self, action: dict) -> str:
        return f"{text(self.label)}: {text(action.get('title'))}"


class SetField(BuiltinAction):
    name = "set"
    label = {"zh-CN": "设置字段", "en": "Set a field"}

    def run(self, context: ActionContext, action: dict, batch: list[Fired]) -> None:
        runner, entity, now = context.runner, context.entity, context.now
        f = entity.field(action["field"])
        t = context.snapshot.tables[entity.name].main
        value = context.service.field_types[f.type].validate(action["value"], f)
        stmt = (
            sa.update(t)
            .where(t.c.id.in_([x.record_id for x in batch]), t.c[f.column].is_distinct_from(value))
            .values({f.column: value, "version": t.c.version + 1, "updated_at": now})
        )
        if action.get("only_if_null"):
            stmt = stmt.where(t.c[f.column].is_(None))
        count = db.session.execute(stmt).rowcount
        if count:
            audit.append("rule_update", audit.SYSTEM, entity=entity.name, fields=[f.name], row_count=count,
                         reason=runner.rule.name)  # fmt: skip
        runner.applied.updated += count

    def describe(self, action: dict) -> str:
        return f"{text(self.label)}: {action.get('field')} = {action.get('value')}"


class Tag(BuiltinAction):
    name = "tag"
    label = {"zh-CN": "打标签", "en": "Tag the record"}

    def run(self, context: ActionContext, action: dict, batch: list[Fired]) -> None:
        runner, env = context.runner, context.env
        ids = [x.record_id for x in batch]
        if action.get("remove"):
            untag(context.snapshot, context.entity, ids, runner.tag_ids(action["remove"]), env.now,
                          runner.rule.name)  # fmt: skip
        if not action.get("add"):
            return
        tags = runner.tag_ids(action["add"])
        expires = None
        if action.get("expires"):
            expires = durations.parse(action["expires"]).after(env.now.astimezone(env.tz)).date()
        evidence = {x.record_id: _json(x.metrics) for x in batch}
        runner.applied.tagged += add_tags(
            context.snapshot, context.service, context.entity, ids, tags, env, runner.rule.name, expires, evidence
        )

    def describe(self, action: dict) -> str:
        added, removed = ", ".join(action.get("add") or []), ", ".join(action.get("remove") or [])
        return f"{text(self.label)}: " + " ".join(x for x in (added and f"+{added}", removed and f"-{removed}") if x)


class Notify(BuiltinAction):
    name = "notify"
    label = {"zh-CN": "发送通知", "en": "Notify"}

    def run(self, context: ActionContext, action: dict, batch: list[Fired]) -> None:
        runner, rule = context.runner, context.runner.rule
        channels = action.get("channels") or [action.get("channel", "inapp")]
        for fired in batch:
            employees: list[int] = []
            for spec in action["to"]:
                employees += [e for e in context.recipients(spec, fired) if e not in employees]
            subject = context.render("subject", fired) or context.render("title", fired)
            body = context.render("body", fired)
            params = {name: context.render(f"param:{name}", fired) for name in action.get("params") or {}}
            subject = subject or _text(rule.label, context.locale)
            link = f"/e/{context.entity.name}/{fired.record_id}"  # the record page
            for employee_id in employees:
                person = runner.people.employee(employee_id)
                if person is None:
                    continue
                for channel in channels:
                    message = outbox.Message(
                        channel=channel,
                        recipient=person,
                        subject=subject,
                        body=body or subject,
                        template=action.get("template"),
                        params=params,
                        link=link,
                        severity=rule.severity,
                        rule=rule.name,
                        firing_id=fired.firing_id,
                    )
                    if channel == "inapp":
                        runner.applied.messages += inbox.deliver(message)
                    else:
                        runner.applied.messages += outbox.enqueue(message)

    def describe(self, action: dict) -> str:
        channels = action.get("channels") or [action.get("channel", "inapp")]
        return f"{text(self.label)} ({', '.join(channels)}): {text(action.get('subject') or action.get('title'))}"


class StartWorkflow(BuiltinAction):
    name = "start_workflow"
    label = {"zh-CN": "启动流程", "en": "Start a workflow"}

    def run(self, context: ActionContext, action: dict, batch: list[Fired]) -> None:
        """A record the workflow then governs (classified, routed, clocks started) per firing;
        ``record`` names its field that points back at the fired record."""
        from ..workflows.actions import start_workflow

        runner, env = context.runner, context.env
        for fired in batch:

            def value_of(raw, fired=fired):
                if isinstance(raw, dict) and "field" in raw:
                    return fired.values.get(raw["field"])
                if isinstance(raw, dict) and "time" in raw:
                    return resolve_instant(raw["time"], env.now, env.tz)
                if isinstance(raw, dict | str) and (rendered := runner.text_value(raw, fired)) is not None:
                    return rendered
                return raw

            values = dict(action.get("values") or {})
            if action.get("record"):
                values[action["record"]] = fired.record_id
            start_workflow(context.service, {**action, "values": values}, value_of)
            runner.applied.started += 1

    def describe(self, action: dict) -> str:
        return f"{text(self.label)}: {action.get('workflow')}"


class SendSurvey(BuiltinAction):
    name = "send_survey"
    label = {"zh-CN": "发送调查（流程）", "en": "Send a survey (workflows)"}


class Webhook(BuiltinAction):
    name = "webhook"
    label = {"zh-CN": "调用 Webhook（未实现）", "en": "Call a webhook (not implemented)"}


class Assign(BuiltinAction):
    name = "assign"
    label = {"zh-CN": "分派（流程）", "en": "Assign (workflows)"}


BUILTIN_ACTIONS = (SetField, Notify, CreateTask, SendSurvey, Webhook, StartWorkflow, Tag, Assign)


def builtin_actions() -> list[Action]:
    return [cls() for cls in BUILTIN_ACTIONS]
