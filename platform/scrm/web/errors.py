"""One error shape for the API, one error page for browsers; never a stack trace."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Flask, current_app, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from ..errors import ScrmError, error_body
from ..i18n import _

log = logging.getLogger("scrm")

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "timeout",
    409: "conflict",
    413: "too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "too_many_requests",
    431: "headers_too_large",
}


def wants_json() -> bool:
    if request.path.startswith(("/api/", "/healthz")):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and not request.headers.get("HX-Request")


def http_message(status: int) -> str:
    return {
        400: _("The request could not be understood."),
        401: _("Please log in."),
        403: _("You are not allowed to do this."),
        404: _("This page or record does not exist."),
        405: _("This action is not available here."),
        413: _("The request is too large (at most {size} MB).").format(
            size=round((current_app.config.get("MAX_CONTENT_LENGTH") or 0) / 1024 / 1024, 1)
        ),
        429: _("Too many requests; please wait a moment."),
    }.get(status, _("The request could not be completed."))


def init_app(app: Flask) -> None:
    @app.errorhandler(ScrmError)
    def handle_scrm(exc: ScrmError):
        return respond(exc.status, exc.body())

    @app.errorhandler(CSRFError)
    def handle_csrf(exc: CSRFError):
        return respond(
            400, error_body("csrf_failed", _("The form expired or came from elsewhere; reload the page and try again."))
        )

    @app.errorhandler(HTTPException)
    def handle_http(exc: HTTPException):
        status = exc.code or 500
        body, code = respond(status, error_body(HTTP_CODES.get(status, "http_error"), http_message(status)))
        response = make_response(body, code)
        if status == 405 and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        try:
            from ..db import db

            db.session.rollback()
        except Exception:  # the session may be unusable; the response must still go out
            pass
        if isinstance(exc, sa.exc.DBAPIError):  # a plugin function's SQL the database refused?
            from ..conditions.functions import blame_compiled

            blamed = blame_compiled(exc)
            if blamed is not None:
                log.warning("%s %s: %s", request.method, request.path, blamed.message)
                return respond(blamed.status, blamed.body())
        log.exception("unhandled error on %s %s", request.method, request.path)
        return respond(
            500,
            error_body(
                "internal_error", _("Something went wrong on our side; the error was logged. Please try again.")
            ),
        )


def respond(status: int, body: dict):
    if wants_json():
        return jsonify(body), status
    try:
        html = render_template("errors/error.html", status=status, error=body["error"])
    except Exception:  # the error page itself must never fail
        log.exception("error page failed")
        html = f"<h1>{status}</h1><p>{body['error']['message']}</p>"
    return html, status
