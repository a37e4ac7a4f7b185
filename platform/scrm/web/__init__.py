"""Web layer: pages (Jinja + htmx), the REST API, authentication views, errors, headers."""

from __future__ import annotations

from flask import Flask, current_app, request
from flask_htmx import HTMX
from flask_login import current_user
from flask_wtf.csrf import CSRFProtect

from ..db import SAFE_METHODS
from ..errors import BadRequest, Detail
from ..i18n import _
from ..security import audit
from ..security.auth import token_authenticated

csrf = CSRFProtect()
htmx = HTMX()

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
)


def init_app(app: Flask) -> None:
    from . import (
        alerts_pages,
        api,
        api_alerts,
        api_definitions,
        api_workflows,
        auth_views,
        board,
        comment_pages,
        dashboard_pages,
        designer,
        errors,
        exports,
        health,
        list_edits,
        list_views,
        openapi,
        overview,
        pages,
        workflow_pages,
    )

    designer.load_editors()
    htmx.init_app(app)
    csrf.init_app(app)
    errors.init_app(app)
    app.before_request(refuse_nul_bytes)
    app.before_request(protect_from_csrf)
    app.after_request(security_headers)
    app.after_request(write_audit)
    for module in (
        auth_views,
        pages,
        list_views,
        list_edits,
        overview,
        board,
        api,
        api_definitions,
        api_alerts,
        api_workflows,
        workflow_pages,
        comment_pages,
        alerts_pages,
        dashboard_pages,
        designer,
        openapi,
        health,
        exports,
    ):
        app.register_blueprint(module.bp)
    app.register_blueprint(exports.api_bp)
    app.register_blueprint(dashboard_pages.api_bp)
    from . import imports

    app.register_blueprint(imports.bp)
    csrf.exempt(api.issue_token)


def refuse_nul_bytes() -> None:
    """A NUL byte is never valid input (PostgreSQL cannot even store it in text): refuse it up front."""
    if (
        "\x00" in request.path
        or any("\x00" in k or "\x00" in v for k, v in request.args.items(multi=True))
        or (
            request.method not in SAFE_METHODS
            and request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data")
            and any("\x00" in k or "\x00" in v for k, v in request.form.items(multi=True))
        )
    ):
        raise BadRequest(
            _("The request contains a NUL character, which is never valid."),
            [Detail("$", _("Remove the NUL character."))],
            "invalid_character",
        )


def protect_from_csrf() -> None:
    """Every state-changing request made with a session carries the CSRF token (form field or
    X-CSRFToken header, which htmx sends); bearer-token API calls need none."""
    if request.method in SAFE_METHODS or request.endpoint in (None, "static", "api.issue_token"):
        return
    if not current_app.config.get("WTF_CSRF_ENABLED", True):
        return
    _ = current_user.is_authenticated  # loads the user (and notes token authentication)
    if token_authenticated():
        return
    csrf.protect()


def write_audit(response):
    """Sensitive reads the request made are logged once it has its answer."""
    audit.flush_pending()
    return response


def security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.path.startswith(("/api/", "/e/", "/exports")) or request.endpoint in ("auth.login",):
        response.headers.setdefault("Cache-Control", "no-store")
    response.vary.add("HX-Request")
    return response
