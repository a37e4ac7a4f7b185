"""Pages of the alert engine: the inbox (with the unread badge in the top bar), and for designers
and administrators the rules — schedule, last runs, "what would fire now, and why" (a dry run)
and "run now"."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user

from ..alerts.engine import find_rule, run_rule
from ..alerts.model import Rule, rules_of
from ..alerts.store import Run
from ..db import db
from ..i18n import _, text
from ..jobs.scheduler import NODE_ALIVE, Node, cluster_state
from ..notify import inbox
from ..notify.inbox import Notification
from ..notify.outbox import OutboxMessage
from ..runtime import snapshot
from ..security.access import can_design, require_designer
from .pages import require_login
from .render import render
from .times import local_time

bp = Blueprint("alerts", __name__)
bp.before_request(require_login)
RUNS_SHOWN = 30


def severity_label(severity: str) -> str:
    labels = {"info": _("Info"), "low": _("Low"), "medium": _("Medium"), "high": _("High"), "critical": _("Critical")}
    return labels.get(severity, severity)


SEVERITY_CLASS = {"info": "secondary", "low": "info", "medium": "primary", "high": "warning", "critical": "danger"}


def local(moment: datetime | None) -> str:
    return local_time(moment, empty="")


# -- the inbox --------------------------------------------------------------------------------
@bp.get("/inbox")
def inbox_page():
    unread_only = request.args.get("unread") == "1"
    items = [
        {
            "id": n.id,
            "title": n.title,
            "body": n.body,
            "severity": severity_label(n.severity),
            "badge": SEVERITY_CLASS.get(n.severity, "secondary"),
            "at": local(n.created_at),
            "read": n.read_at is not None,
            "url": url_for("alerts.open_notification", notification_id=n.id),
        }
        for n in inbox.latest(current_user.id, limit=100, unread_only=unread_only)
    ]
    return render("inbox", {"items": items, "unread_only": unread_only})


@bp.get("/inbox/badge")
def inbox_badge():
    return render("inbox", {"unread": inbox.unread_count(current_user.id)}, block="badge")


@bp.get("/inbox/<int:notification_id>")
def open_notification(notification_id: int):
    note = db.session.get(Notification, notification_id)
    if note is None or note.user_id != current_user.id:
        abort(404)
    inbox.mark_read(current_user.id, [note.id])
    return redirect(note.link if note.link and note.link.startswith("/") else url_for("alerts.inbox_page"))


@bp.post("/inbox/read")
def read_all():
    inbox.mark_read(current_user.id)
    return redirect(url_for("alerts.inbox_page"))


# -- rules (designers and administrators) -----------------------------------------------------
def _designer() -> None:
    if not can_design(current_user, snapshot()):
        abort(403)


def describe_timing(rule: Rule) -> list[str]:
    schedule, trigger = rule.doc.get("schedule") or {}, rule.trigger
    parts = []
    if schedule.get("cron"):
        parts.append(f"cron {schedule['cron']}" + (f" ({schedule['calendar']})" if schedule.get("calendar") else ""))
    if schedule.get("every"):
        parts.append(_("every {duration}").format(duration=schedule["every"]))
    if schedule.get("also_on"):
        parts.append(_("and on {event}").format(event=schedule["also_on"]["event"]))
    if trigger is not None:
        kind = {"record_created": _("created"), "record_changed": _("changed"), "record_saved": _("saved")}[trigger.on]
        parts.append(_("when a {entity} is {kind}").format(entity=_entity_label(trigger.entity), kind=kind))
    return parts or [_("manual only")]


def _entity_label(name: str) -> str:
    entity = snapshot().entity(name)
    return text(entity.label) if entity is not None else name


def run_view(r: Run) -> dict:
    return {
        "id": r.id,
        "reason": r.reason,
        "period": r.period,
        "started": local(r.started_at),
        "duration": f"{r.duration_ms / 1000:.1f} s" if r.duration_ms is not None else "",
        "statement": f"{r.statement_ms} ms" if r.statement_ms is not None else "",
        "matched": r.matched,
        "fired": r.fired,
        "untagged": r.untagged,
        "status": r.status,
        "error": r.error,
    }


@bp.get("/rules")
def rules_page():
    _designer()
    latest = sa.select(Run.rule, sa.func.max(Run.id).label("id")).group_by(Run.rule).subquery()
    last = {r.rule: r for r in db.session.execute(sa.select(Run).join(latest, latest.c.id == Run.id)).scalars()}
    rules = [
        {
            "name": rule.name,
            "label": text(rule.label),
            "entity": _entity_label(rule.entity),
            "timing": describe_timing(rule),
            "severity": severity_label(rule.severity),
            "badge": SEVERITY_CLASS.get(rule.severity, "secondary"),
            "enabled": rule.enabled,
            "last": run_view(last[rule.name]) if rule.name in last else None,
            "url": url_for("alerts.rule_page", name=rule.name),
        }
        for rule in sorted(rules_of(snapshot()).values(), key=lambda r: text(r.label))
    ]
    since = datetime.now(UTC).replace(tzinfo=None) - NODE_ALIVE
    nodes = [
        {"name": n.name, "state": n.state, "heartbeat": local(n.heartbeat_at), "jobs": n.jobs}
        for n in db.session.execute(sa.select(Node).where(Node.heartbeat_at >= since).order_by(Node.name)).scalars()
    ]
    return render("rules", {"rules": rules, "scheduler": cluster_state(), "nodes": nodes, "outbox": outbox_state()})


def outbox_state() -> dict:
    """Messages by channel and status, and the latest that failed or wait, with their errors."""
    counts: dict[str, dict[str, int]] = {}
    stmt = sa.select(OutboxMessage.channel, OutboxMessage.status, sa.func.count()).group_by(
        OutboxMessage.channel, OutboxMessage.status
    )
    for channel, status, n in db.session.execute(stmt):
        counts.setdefault(channel, {})[status] = n
    troubled = db.session.execute(
        sa.select(OutboxMessage)
        .where(OutboxMessage.last_error.is_not(None), OutboxMessage.status != "sent")
        .order_by(OutboxMessage.id.desc())
        .limit(10)
    ).scalars()
    problems = [
        {"channel": m.channel, "recipient": m.recipient, "subject": m.subject, "status": m.status,
         "attempts": m.attempts, "error": m.last_error, "at": local(m.created_at)}
        for m in troubled
    ]  # fmt: skip
    return {"counts": counts, "problems": problems}


@bp.get("/rules/<name>")
def rule_page(name: str):
    _designer()
    rule = find_rule(snapshot(), name)
    runs = db.session.execute(sa.select(Run).where(Run.rule == name).order_by(Run.id.desc()).limit(RUNS_SHOWN))
    context = {
        "rule": rule,
        "label": text(rule.label),
        "description": text(rule.doc.get("description")),
        "timing": describe_timing(rule),
        "badge": SEVERITY_CLASS.get(rule.severity, "secondary"),
        "severity": severity_label(rule.severity),
        "runs": [run_view(r) for r in runs.scalars()],
        "document": json.dumps(rule.doc, ensure_ascii=False, indent=2),
    }
    return render("rule", context)


@bp.post("/rules/<name>/dry-run")
def dry_run(name: str):
    require_designer(current_user, snapshot(), "alert")
    find_rule(snapshot(), name)
    outcome = run_rule(name, reason="dry_run", dry_run=True)
    context = {"outcome": outcome, "entity": find_rule(snapshot(), name).entity}
    return render("rule", context, block="dry_run")


@bp.post("/rules/<name>/run")
def run_now(name: str):
    require_designer(current_user, snapshot(), "alert")
    find_rule(snapshot(), name)
    outcome = run_rule(name, reason="manual")
    if outcome.error:
        flash(_("The rule failed: {error}").format(error=outcome.error), "danger")
    else:
        flash(_("Matched {matched}, fired {fired}.").format(matched=outcome.matched, fired=outcome.fired), "success")
    return redirect(url_for("alerts.rule_page", name=name))
