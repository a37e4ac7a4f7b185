"""REST API for records and tokens (DESIGN.md §10)."""

from __future__ import annotations

import json
from decimal import Decimal

from flask import Blueprint, Response, g, jsonify, request, url_for
from flask_login import current_user

from ..data.records import MAX_LIMIT, RecordService, lock_version
from ..db import db
from ..errors import BadRequest, Detail, NotFound, Unauthorized
from ..i18n import _
from ..runtime import snapshot
from ..security.auth import authenticate
from ..security.users import issue_token as new_token
from .auth_views import log_login

bp = Blueprint("api", __name__, url_prefix="/api/v1")
MAX_ID = 2**63 - 1


@bp.before_request
def require_login():
    if request.endpoint == "api.issue_token":
        return
    if not current_user.is_authenticated:
        raise Unauthorized(_("Log in or send an API token: Authorization: Bearer <token>."))


def _no_constants(name: str):
    raise ValueError(f"{name} is not a number")


def json_body(decimals: bool = True) -> dict:
    """The request body as a JSON object. Record data keeps decimals exact; definitions (stored
    as JSON) take plain numbers. NaN and Infinity are refused."""
    raw = request.get_data(cache=True)
    if not raw:
        raise BadRequest(_("The request needs a JSON body."), [Detail("$", _("Empty body."))], "invalid_json")
    try:
        body = json.loads(raw, parse_float=Decimal if decimals else float, parse_constant=_no_constants)
    except (ValueError, UnicodeDecodeError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise BadRequest(
            _("The body is not valid JSON{where}.").format(where=where),
            [Detail("$", _("Invalid JSON."))],
            "invalid_json",
        ) from None
    if not decimals and _has_infinity(body):
        raise BadRequest(
            _("The body is not valid JSON{where}.").format(where=""),
            [Detail("$", _("Numbers must be finite."))],
            "invalid_json",
        )
    if not isinstance(body, dict):
        raise BadRequest(_("The body must be a JSON object."), [Detail("$", _("Expected an object."))], "invalid_json")
    where = _invalid_text_path(body, "$")
    if where:
        raise BadRequest(
            _("The request contains a NUL character or a lone surrogate code point, which are never valid."),
            [Detail(where, _("Remove the invalid character."))],
            "invalid_character",
        )
    return body


def _has_infinity(value) -> bool:
    if isinstance(value, float):
        return value != value or value in (float("inf"), float("-inf"))
    if isinstance(value, dict):
        return any(_has_infinity(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_infinity(v) for v in value)
    return False


def _invalid_text(text: str) -> bool:
    """NUL (PostgreSQL cannot store it) or a lone UTF-16 surrogate (a JSON escape like ``\\udcff``
    decodes to one; it is no character, and UTF-8 cannot encode it)."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _invalid_text_path(value, path: str) -> str | None:
    """The JSON path of the first text (key or value) that holds an invalid character."""
    if isinstance(value, str):
        return path if _invalid_text(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            if _invalid_text(key):
                return path
            found = _invalid_text_path(item, f"{path}.{key}")
            if found:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = _invalid_text_path(item, f"{path}[{i}]")
            if found:
                return found
    return None


def service() -> RecordService:
    """The record service as the signed-in user sees it, built once per request."""
    if "record_service" not in g:
        g.record_service = RecordService.for_user(snapshot(), current_user)
    return g.record_service


def record_id_or_404(record_id: int) -> int:
    if record_id > MAX_ID:
        raise NotFound(_("This record does not exist."))
    return record_id


def with_etag(response: Response, record: dict) -> Response:
    response.headers["ETag"] = f'"{record["version"]}"'
    return response


@bp.post("/auth/token")
def issue_token():
    body = json_body()
    user = authenticate(body.get("username"), body.get("password"))
    log_login(str(body.get("username") or ""), user, "api_login")
    if user is None:
        raise Unauthorized(_("Wrong user name or password."), "invalid_credentials")
    return jsonify({"token": new_token(user, "api")}), 201


@bp.delete("/auth/token")
def revoke_token():
    """Revoke the bearer token this request was made with (logging out an API client)."""
    from ..security.users import revoke_tokens

    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        raise BadRequest(_("Send the token to revoke as Authorization: Bearer <token>."), code="no_token")
    from ..security.users import User as UserRow

    user = db.session.get(UserRow, current_user.id)
    revoke_tokens(user, header[7:].strip())
    return "", 204


@bp.get("/records/<entity>")
def list_records(entity: str):
    args = request.args
    filter_ = None
    if args.get("filter"):
        try:
            filter_ = json.loads(args["filter"], parse_float=Decimal)
        except ValueError:
            raise BadRequest(
                _("filter must be a condition in JSON."), [Detail("filter", _("Invalid JSON."))], "invalid_filter"
            ) from None
        if not isinstance(filter_, dict):
            raise BadRequest(
                _("filter must be a condition object."), [Detail("filter", _("Expected an object."))], "invalid_filter"
            )
    try:
        limit = int(args.get("limit", 50))
    except ValueError:
        raise BadRequest(
            _("limit must be a whole number."),
            [Detail("limit", _("Expected a whole number from 1 to {max}.").format(max=MAX_LIMIT))],
            "invalid_limit",
        ) from None
    svc = service()
    page = svc.list(
        entity, filter=filter_, sort=args.get("sort"), limit=limit, after=args.get("after"), search=args.get("q")
    )
    definition = svc.entity(entity)
    return jsonify({"items": [svc.to_json(definition, r) for r in page.items], "next": page.next})


@bp.post("/records/<entity>")
def create_record(entity: str):
    svc = service()
    record = svc.create(entity, json_body())
    response = jsonify(svc.to_json(svc.entity(entity), record))
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_record", entity=entity, record_id=record["id"])
    return with_etag(response, record)


@bp.get("/records/<entity>/<int:record_id>")
def get_record(entity: str, record_id: int):
    svc = service()
    record = svc.get(entity, record_id_or_404(record_id))
    return with_etag(jsonify(svc.to_json(svc.entity(entity), record)), record)


def if_match() -> int | None:
    header = request.headers.get("If-Match", "").strip()
    if not header:
        return None
    value = header.removeprefix("W/").strip('"')
    if not (value.isascii() and value.isdigit()):
        raise BadRequest(
            _('If-Match must carry the record version, e.g. "3".'),
            [Detail("If-Match", _("Invalid version."))],
            "invalid_version",
        )
    return int(value)


@bp.patch("/records/<entity>/<int:record_id>")
def update_record(entity: str, record_id: int):
    svc = service()
    body = json_body()
    version = if_match()
    if version is None:
        version = lock_version(body)
    record = svc.update(entity, record_id_or_404(record_id), body, version)
    return with_etag(jsonify(svc.to_json(svc.entity(entity), record)), record)


@bp.delete("/records/<entity>/<int:record_id>")
def delete_record(entity: str, record_id: int):
    service().delete(entity, record_id_or_404(record_id), if_match())
    return "", 204


@bp.post("/records/<entity>/<int:record_id>/reveal")
def reveal_record(entity: str, record_id: int):
    """Masked values in full, for a while: ``{"reason": "…", "fields": ["id_number"]}`` (fields
    optional: every field the role may reveal). Logged with the reason."""
    from flask import current_app

    body = json_body()
    svc = service()
    result = svc.reveal(
        entity, record_id_or_404(record_id), body.get("fields"), body.get("reason"),
        current_app.config["SCRM_REVEAL_MINUTES"],
    )  # fmt: skip
    definition = svc.entity(entity)
    values = {
        name: svc.field_types[definition.field(name).type].to_json(value, definition.field(name))
        for name, value in result["values"].items()
    }
    return jsonify({"values": values, "expires_at": result["expires_at"].isoformat().replace("+00:00", "Z")})


@bp.post("/records/<entity>/hand-over")
def hand_over(entity: str):
    """An employee's book to a successor: ``{"from": 12, "to": 34, "values": {…}}`` — shares
    end yesterday and restart today for the successor, owned records pass over; one
    transaction, within the caller's scope, each write checked and logged."""
    body = json_body()
    counts = service().hand_over(entity, body.get("from"), body.get("to"), body.get("values"))
    return jsonify(counts)


@bp.post("/records/<entity>/<int:record_id>/explain")
def explain_record(entity: str, record_id: int):
    """Evaluate a condition on one record and show why: ``{"condition": {...}}``."""
    body = json_body()
    if not isinstance(body.get("condition"), dict):
        raise BadRequest(
            _("Send the condition to explain as {key}.").format(key='"condition"'),
            [Detail("condition", _("Expected an object."))],
            "invalid_condition",
        )
    return jsonify(service().explain(entity, record_id_or_404(record_id), body["condition"]))


@bp.get("/records/<entity>/<int:record_id>/history")
def record_history(entity: str, record_id: int):
    items = service().history(entity, record_id_or_404(record_id))
    for item in items:
        item["at"] = item["at"].isoformat().replace("+00:00", "Z")
    return jsonify({"items": items})
