"""``GET /healthz``: is the database reachable, which definitions revision is live."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, jsonify, redirect, url_for

from ..db import db
from ..meta import store

bp = Blueprint("health", __name__)


@bp.get("/favicon.ico")
def favicon():
    return redirect(url_for("static", filename="favicon.svg"), 301)


@bp.get("/healthz")
def healthz():
    try:
        db.session.execute(sa.text("SELECT 1"))
        revision = store.current_revision()
        database = "ok"
    except Exception:
        db.session.rollback()
        revision, database = None, "error"
    body = {
        "status": "ok" if database == "ok" else "error",
        "database": database,
        "scheduler": "off",
        "revision": revision,
    }
    return jsonify(body), 200 if database == "ok" else 503
