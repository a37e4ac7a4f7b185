"""The alert-rule editor of the designer: timing (a schedule or a record event), deduplication,
the scope and the condition in the condition builder, metrics over related records, the actions;
and a dry run of the *draft* — which records would fire now, and why — before it is published."""

from __future__ import annotations

import copy
import re

from flask import flash, request

from .. import durations
from ..alerts.engine import run_rule
from ..alerts.model import Rule
from ..i18n import _, text
from ..runtime import runtime, snapshot
from .design_actions import action_from_form, action_summary, offered_actions, people_fields
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
from .render import render

SEVERITIES = ("info", "low", "medium", "high", "critical")
TRIGGERS = ("record_created", "record_changed", "record_saved")
DEDUPE_KEYS = ("rule", "record", "run_date", "week", "month", "year")
METRIC_FUNCTIONS = ("count", "sum", "avg", "min", "max", "last")
NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
CRON = re.compile(r"^\S+( \S+){4}$")


def severity_label(severity: str) -> str:
    return {"info": _("info"), "low": _("low"), "medium": _("medium"), "high": _("high"),
            "critical": _("critical")}.get(severity, severity)  # fmt: skip


@editor("alert")
def alert_context(w: Working) -> dict:
    body = w.body
    snap = snapshot()
    entity = snap.entity(body.get("entity")) if isinstance(body.get("entity"), str) else None
    schedule = body.get("schedule") if isinstance(body.get("schedule"), dict) else {}
    trigger = body.get("trigger") if isinstance(body.get("trigger"), dict) else {}
    dedupe = body.get("dedupe") if isinstance(body.get("dedupe"), dict) else {}
    actions = body.get("actions") if isinstance(body.get("actions"), list) else []
    metrics = body.get("metrics") if isinstance(body.get("metrics"), dict) else {}
    guided, plugin_actions = offered_actions()
    return {
        "entity": entity,
        "entities": sorted(((n, text(e.label) or n) for n, e in snap.entities.items()), key=lambda p: p[1]),
        "timing": "trigger" if trigger else "schedule",
        "schedule": schedule,
        "trigger": trigger,
        "triggers": TRIGGERS,
        "severities": [(s, severity_label(s)) for s in SEVERITIES],
        "dedupe_keys": DEDUPE_KEYS,
        "dedupe": [k for k in dedupe.get("key") or [] if isinstance(k, str)],
        "cooldown": dedupe.get("cooldown", ""),
        "scope_cb": condition_of("scope", body.get("entity"), body.get("scope")),
        "cond_cb": condition_of("cond", body.get("entity"), body.get("condition"), count=True),
        "actions": [action_summary(a) if isinstance(a, dict) else "?" for a in actions],
        "action_types": guided,
        "plugin_actions": plugin_actions,
        "people": people_fields(entity),
        "metrics": [(n, m) for n, m in metrics.items()],
        "metric_functions": METRIC_FUNCTIONS,
        "relations": [(r.name, text(r.label) or r.name) for r in entity.relations] if entity else [],
        "text": text,
    }


def edit(name: str, change, comment: str):
    return change_draft("alert", name, change, comment)


@bp.post("/alert/<name>/settings")
def alert_settings(name: str):
    form = request.form

    def change(body: dict) -> str | None:
        entity = form.get("entity", "")
        if entity != body.get("entity"):
            if snapshot().entity(entity) is None:
                return _("Choose a published entity.")
            if body.get("condition") or body.get("scope") or body.get("metrics"):
                return _("Clear the scope, condition and metrics before changing the entity: they name its fields.")
            body["entity"] = entity
        body["enabled"] = bool(form.get("enabled"))
        if form.get("severity") in SEVERITIES:
            body["severity"] = form["severity"]
        if form.get("timing") == "trigger":
            body.pop("schedule", None)
            on = form.get("trigger_on", "record_saved")
            body["trigger"] = {"on": on if on in TRIGGERS else "record_saved"}
            fields = [f for f in form.getlist("trigger_fields") if f]
            if fields:
                body["trigger"]["fields"] = fields
        else:
            body.pop("trigger", None)
            cron = " ".join(form.get("cron", "").split())
            if not CRON.match(cron):
                return _("The schedule must be a five-part cron expression such as 0 8 * * 1-5.")
            body["schedule"] = {"cron": cron, "tz": form.get("tz", "").strip() or "Asia/Shanghai"}
        keys = [k for k in form.getlist("dedupe") if k in DEDUPE_KEYS]
        cooldown = form.get("cooldown", "").strip()
        if cooldown:
            try:
                durations.parse(cooldown)
            except ValueError:
                return _("The cool-down must be an ISO duration such as P7D or PT12H.")
        dedupe = {**({"key": keys} if keys else {}), **({"cooldown": cooldown} if cooldown else {})}
        if dedupe:
            body["dedupe"] = dedupe
        else:
            body.pop("dedupe", None)
        return None

    return edit(name, change, _("Changed the timing and settings"))


@bp.post("/alert/<name>/conditions")
def alert_conditions(name: str):
    """Scope and condition from their builders; rows with problems come back as typed."""
    w = working("alert", name)
    entity = w.body.get("entity")
    scope, cond = submitted_condition("scope", entity), submitted_condition("cond", entity)
    if scope is None or cond is None:
        flash(_("Choose the entity first."), "danger")
        return back("alert", name)
    if scope.errors or cond.errors:
        flash(_("Some rows need attention; nothing was saved."), "danger")
        return edit_page(w, 422, scope_cb=scope, cond_cb=cond)
    body = copy.deepcopy(w.body)
    for key, builder in (("scope", scope), ("condition", cond)):
        if builder.condition is None:
            body.pop(key, None)
        else:
            body[key] = builder.condition
    save("alert", name, body, comment=_("Changed the condition"))
    return back("alert", name)


@bp.post("/alert/<name>/actions")
def add_alert_action(name: str):
    def change(body: dict) -> str | None:
        action, problem = action_from_form(request.form)
        if problem:
            return problem
        body.setdefault("actions", []).append(action)
        return None

    return edit(name, change, _("Added an action"))


@bp.post("/alert/<name>/actions/remove")
def remove_alert_action(name: str):
    index = request.form.get("index", "")

    def change(body: dict) -> str | None:
        actions = body.get("actions") or []
        if not index.isdigit() or int(index) >= len(actions):
            return _("There is no such action.")
        actions.pop(int(index))
        return None

    return edit(name, change, _("Removed an action"))


@bp.post("/alert/<name>/metrics")
def add_alert_metric(name: str):
    form = request.form

    def change(body: dict) -> str | None:
        metric, fn, rel = form.get("metric", "").strip(), form.get("fn", ""), form.get("rel", "")
        if not NAME.match(metric):
            return _("Use lower-case letters, digits and _, starting with a letter.")
        if fn not in METRIC_FUNCTIONS or not rel:
            return _("Choose how to compute the metric and over which related records.")
        expr: dict = {"agg": fn, "rel": rel}
        if fn != "count":
            if not form.get("of"):
                return _("Choose the field to total.")
            expr["of"] = form["of"].strip()
        if fn == "last":
            expr["order_by"] = form.get("order_by", "").strip() or form.get("window_field", "").strip() or "id"
        if form.get("window_field") and form.get("window_from"):
            expr["window"] = {"field": form["window_field"].strip(), "from": form["window_from"].strip(), "to": "now"}
        body.setdefault("metrics", {})[metric] = expr
        return None

    return edit(name, change, _("Added a metric"))


@bp.post("/alert/<name>/metrics/remove")
def remove_alert_metric(name: str):
    metric = request.form.get("metric", "")

    def change(body: dict) -> str | None:
        if metric not in (body.get("metrics") or {}):
            return _("There is no such metric.")
        del body["metrics"][metric]
        if not body["metrics"]:
            del body["metrics"]
        return None

    return edit(name, change, _("Removed a metric"))


@bp.post("/alert/<name>/dry-run")
def alert_dry_run(name: str):
    """What the draft would fire now, and why — evaluated, nothing written."""
    w = working("alert", name)
    entity = w.body.get("entity")
    if w.errors:
        return render("design_alert_dry_run", {"problems": w.errors, "outcome": None, "entity": entity})
    clean, _problems = runtime().definitions.check_draft("alert", name, w.body)
    outcome = run_rule(name, reason="dry_run", dry_run=True, rule=Rule(name, w.etag, clean or w.body))
    return render("design_alert_dry_run", {"problems": [], "outcome": outcome, "entity": entity})
