"""REST API of the alert engine and the inbox:

* ``POST /api/v1/alerts/<name>/run`` ``{"dry_run": true}`` → ``{matched, fired, …}`` (designers);
  a dry run lists what would fire and the metric values that explain it, and changes nothing;
* ``GET /api/v1/alerts`` — the rules with their last run; ``GET /api/v1/alerts/<name>/runs``;
* ``GET /api/v1/notifications`` — the user's inbox with the unread count;
  ``POST /api/v1/notifications/read`` ``{"ids": [...]}`` (no ids: all).
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, jsonify, request
from flask_login import current_user

from ..alerts.engine import find_rule, run_rule
from ..alerts.model import rules_of
from ..alerts.store import Run
from ..db import db
from ..errors import BadRequest, Detail
from ..i18n import _, text
from ..notify import inbox
from ..runtime import snapshot
from ..security.access import require_designer
from .api import json_body, require_login

bp = Blueprint("alerts_api", __name__, url_prefix="/api/v1")
bp.before_request(require_login)
RUNS_SHOWN = 50


def _stamp(value):
    return value.isoformat() + "Z" if value else None


def run_json(r: Run) -> dict:
    return {
        "id": r.id,
        "rule": r.rule,
        "version": r.version,
        "reason": r.reason,
        "period": r.period,
        "started_at": _stamp(r.started_at),
        "finished_at": _stamp(r.finished_at),
        "duration_ms": r.duration_ms,
        "statement_ms": r.statement_ms,
        "matched": r.matched,
        "fired": r.fired,
        "untagged": r.untagged,
        "status": r.status,
        "error": r.error,
    }


@bp.post("/alerts/<name>/run")
def run_alert(name: str):
    require_designer(current_user, snapshot(), "alert")
    body = json_body() if request.get_data(cache=True) else {}
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise BadRequest(_("dry_run must be true or false."), [Detail("dry_run", _("Expected true or false."))])
    find_rule(snapshot(), name)
    outcome = run_rule(name, reason="dry_run" if dry_run else "manual", dry_run=dry_run)
    return jsonify(outcome.as_dict())


@bp.get("/alerts")
def list_alerts():
    require_designer(current_user, snapshot(), "alert")
    latest = sa.select(Run.rule, sa.func.max(Run.id).label("id")).group_by(Run.rule).subquery()
    last = {r.rule: r for r in db.session.execute(sa.select(Run).join(latest, latest.c.id == Run.id)).scalars()}
    items = []
    for rule in sorted(rules_of(snapshot()).values(), key=lambda r: r.name):
        items.append(
            {
                "name": rule.name,
                "label": text(rule.label),
                "entity": rule.entity,
                "enabled": rule.enabled,
                "severity": rule.severity,
                "schedule": rule.doc.get("schedule"),
                "trigger": rule.doc.get("trigger"),
                "last_run": run_json(last[rule.name]) if rule.name in last else None,
            }
        )
    return jsonify({"items": items})


@bp.get("/alerts/<name>/runs")
def alert_runs(name: str):
    require_designer(current_user, snapshot(), "alert")
    find_rule(snapshot(), name)
    runs = db.session.execute(
        sa.select(Run).where(Run.rule == name).order_by(Run.id.desc()).limit(RUNS_SHOWN)
    ).scalars()
    return jsonify({"items": [run_json(r) for r in runs]})


@bp.get("/notifications")
def notifications():
    items = inbox.latest(current_user.id, unread_only=request.args.get("unread") == "1")
    return jsonify(
        {
            "unread": inbox.unread_count(current_user.id),
            "items": [
                {
                    "id": n.id,
                    "title": n.title,
                    "body": n.body,
                    "link": n.link,
                    "severity": n.severity,
                    "rule": n.rule,
                    "created_at": _stamp(n.created_at),
                    "read_at": _stamp(n.read_at),
                }
                for n in items
            ],
        }
    )


@bp.post("/notifications/read")
def notifications_read():
    body = json_body() if request.get_data(cache=True) else {}
    ids = body.get("ids")
    if ids is not None and not (
        isinstance(ids, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
    ):
        raise BadRequest(_("ids must be a list of notification ids."), [Detail("ids", _("Expected a list of ids."))])
    changed = inbox.mark_read(current_user.id, ids)
    return jsonify({"marked": changed, "unread": inbox.unread_count(current_user.id)})
