"""Web layer: pages (Jinja + htmx), the REST API, authentication views, errors, headers."""

from __future__ import annotations

from flask import Flask, current_app, request
from flask_htmx import HTMX
from flask_login import current_user
from flask_wtf.csrf import CSRFProtect

from ..db import SAFE_METHODS
from ..security.auth import token_authenticated

csrf = CSRFProtect()
htmx = HTMX()

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
)


def init_app(app: Flask) -> None:
    from . import api, api_definitions, auth_views, errors, health, openapi, pages

    htmx.init_app(app)
    csrf.init_app(app)
    errors.init_app(app)
    app.before_request(protect_from_csrf)
    app.after_request(security_headers)
    for module in (auth_views, pages, api, api_definitions, openapi, health):
        app.register_blueprint(module.bp)
    csrf.exempt(api.issue_token)


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


def security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.path.startswith(("/api/", "/e/")) or request.endpoint in ("auth.login",):
        response.headers.setdefault("Cache-Control", "no-store")
    response.vary.add("HX-Request")
    return response
