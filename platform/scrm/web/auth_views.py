"""Login, logout and the language switch."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from ..db import db, writing
from ..i18n import SUPPORTED, _
from ..security import audit
from ..security.auth import authenticate

bp = Blueprint("auth", __name__)


def safe_next(target: str | None) -> str:
    """Only local paths are followed after login (no open redirects)."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//"):
            return target
    return url_for("pages.home")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated and request.method == "GET":
        return redirect(safe_next(request.args.get("next")))
    error = None
    username = ""
    if request.method == "POST":
        username = (request.form.get("username") or "").strip()
        user = authenticate(username, request.form.get("password") or "")
        log_login(username, user)
        if user is not None:
            login_user(user, remember=bool(request.form.get("remember")))
            return redirect(safe_next(request.form.get("next")))
        error = _("Wrong user name or password.")
    return render_template("pages/login.html", error=error, username=username, next=request.values.get("next", "")), (
        401 if error else 200
    )


def log_login(username: str, user, action: str = "login") -> None:
    """Every login attempt, kept or refused, goes to the audit log (the name typed is kept for
    refused ones: repeated failures on one name are what an investigation looks for)."""
    with writing():
        if user is None:
            actor = audit.Actor(None, username[:63] or None, (), audit.request_ip())
            audit.append(action, actor, result="denied")
        else:
            audit.append(action, audit.Actor(user.id, user.username, tuple(user.roles), audit.request_ip()))
        db.session.commit()


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        with writing():
            audit.append(
                "logout",
                audit.Actor(current_user.id, current_user.username, tuple(current_user.roles), audit.request_ip()),
            )
            db.session.commit()
    logout_user()
    flash(_("You have logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.get("/lang/<code>")
def switch_language(code: str):
    if code in SUPPORTED:
        session["lang"] = code
    back = request.args.get("next")
    if not back and request.referrer:
        parts = urlsplit(request.referrer)
        back = parts.path + (f"?{parts.query}" if parts.query else "")
    return redirect(safe_next(back))
