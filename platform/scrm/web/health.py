"""``GET /healthz``: is the database reachable, which definitions revision is live."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify, redirect, url_for

from ..db import db
from ..jobs.scheduler import cluster_state
from ..meta import store

bp = Blueprint("health", __name__)


def scheduler_state() -> str:
    """This process's scheduler (leader or standby) if it runs one; otherwise the installation's,
    from the scheduling processes' heartbeats (``off`` when none is alive)."""
    own = current_app.extensions.get("scrm_scheduler")
    if own is not None:
        return own.state
    return cluster_state()


@bp.get("/favicon.ico")
def favicon():
    return redirect(url_for("static", filename="favicon.svg"), 301)


@bp.get("/healthz")
def healthz():
    scheduler = "off"
    try:
        db.session.execute(sa.text("SELECT 1"))
        revision = store.current_revision()
        database = "ok"
        scheduler = scheduler_state()
    except Exception:
        db.session.rollback()
        revision, database = None, "error"
    body = {
        "status": "ok" if database == "ok" else "error",
        "database": database,
        "scheduler": scheduler,
        "revision": revision,
    }
    return jsonify(body), 200 if database == "ok" else 503
