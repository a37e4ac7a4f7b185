"""Export requests on the web and in the API: ask for an export of what a list shows, follow
its approval, download the stamped file (a limited number of times), approve or reject others'.

The rules themselves are :mod:`scrm.data.exporting`; this module only turns requests into
calls and results into pages and JSON.
"""

from __future__ import annotations

import json
from decimal import Decimal

from flask import Blueprint, Response, flash, jsonify, redirect, request, url_for
from flask_login import current_user

from ..data.exporting import ExportRequest, Exports, exportable, status_label
from ..errors import BadRequest, Detail, Forbidden, Unauthorized
from ..i18n import _, text
from .listing import build_filters, chosen_columns
from .pages import service
from .render import render

bp = Blueprint("exports", __name__)
api_bp = Blueprint("exports_api", __name__, url_prefix="/api/v1/exports")


@bp.before_request
def require_login():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=request.path))


@api_bp.before_request
def require_token_or_session():
    if not current_user.is_authenticated:
        raise Unauthorized(_("Log in or send an API token: Authorization: Bearer <token>."))


def exports() -> Exports:
    return Exports(service())


# -- pages ----------------------------------------------------------------------------------
@bp.route("/e/<entity>/export", methods=["GET", "POST"])
def new_export(entity: str):
    svc = service()
    definition = svc.entity(entity)
    errors: dict[str, str] = {}
    error = None
    if request.method == "POST":
        form = request.form
        filter_, search = _stored_filter(form.get("filter")), form.get("q") or None
        fields = form.getlist("fields")
        try:
            req = exports().request(
                entity,
                purpose=form.get("purpose"),
                filter=filter_,
                search=search,
                fields=fields,
                format=form.get("format", "csv"),
            )
        except BadRequest as exc:
            error = exc.message
            errors = {d.path.split("[")[0]: d.message for d in exc.details}
        else:
            if req.status == "generated":
                flash(_("The export is ready: {n} rows.").format(n=f"{req.row_count:,}"), "success")
            else:
                flash(_("The export waits for an approval."), "info")
            return redirect(url_for("exports.show", request_id=req.id))
        chosen = set(fields)
        purpose = form.get("purpose", "")
        file_format = form.get("format", "csv")
    else:
        filter_, _controls, _active, problems = build_filters(definition, svc)
        search = request.args.get("q", "").strip()[:100] or None
        if problems:
            error = "; ".join(problems)
        shown = set(chosen_columns(definition, svc))
        chosen = {c.field.name for c in exportable(svc, definition) if c.field.name in shown}
        purpose = ""
        file_format = "xlsx" if request.args.get("format") == "xlsx" else "csv"
    plan = None
    try:
        plan = exports().plan(entity, filter=filter_, search=search, fields=None)
    except BadRequest as exc:
        error = error or exc.message
    columns = []
    if plan is not None:
        chosen = chosen or {c.field.name for c in plan.columns}
        columns = [
            {"name": c.field.name, "label": text(c.field.label) or c.field.name, "mode": c.mode,
             "checked": c.field.name in chosen}
            for c in plan.columns
        ]  # fmt: skip
    context = {
        "entity": definition,
        "title": text(definition.plural_label),
        "plan": plan,
        "columns": columns,
        "filter_json": json.dumps(filter_, ensure_ascii=False, default=str) if filter_ else "",
        "q": search or "",
        "purpose": purpose,
        "format": file_format,
        "error": error,
        "errors": errors,
        "back_url": url_for("pages.list_records", entity=entity),
        "action_url": url_for("exports.new_export", entity=entity),
    }
    return render("export_new", context, entity=entity), 400 if request.method == "POST" else 200


def _stored_filter(raw: str | None) -> dict | None:
    if not raw:
        return None
    try:
        value = json.loads(raw, parse_float=Decimal)
    except ValueError:
        raise BadRequest(_("filter must be a condition in JSON."), [Detail("filter", _("Invalid JSON."))]) from None
    if not isinstance(value, dict):
        raise BadRequest(_("filter must be a condition object."), [Detail("filter", _("Expected an object."))])
    return value


@bp.get("/exports")
def index():
    ex = exports()
    return render(
        "exports",
        {"mine": [_view(r) for r in ex.mine()], "waiting": [_view(r) for r in ex.waiting()],
         "approver": ex.svc.permissions.exports().approve},
    )  # fmt: skip


@bp.get("/exports/<int:request_id>")
def show(request_id: int):
    ex = exports()
    req = ex.get(request_id)
    return render(
        "export",
        {"req": _view(req), "mine": req.user_id == ex.svc.user_id,
         "can_decide": req.status == "submitted" and req.user_id != ex.svc.user_id
         and ex.svc.permissions.exports().approve},
    )  # fmt: skip


@bp.post("/exports/<int:request_id>/approve")
def approve(request_id: int):
    exports().approve(request_id, request.form.get("note"))
    flash(_("Approved; the file was generated for the requester."), "success")
    return redirect(url_for("exports.show", request_id=request_id))


@bp.post("/exports/<int:request_id>/reject")
def reject(request_id: int):
    try:
        exports().reject(request_id, request.form.get("note"))
    except BadRequest as exc:
        flash(exc.message, "danger")
    else:
        flash(_("Rejected."), "info")
    return redirect(url_for("exports.show", request_id=request_id))


@bp.post("/exports/<int:request_id>/download")
def download(request_id: int):
    try:
        name, data = exports().download(request_id)
    except (BadRequest, Forbidden) as exc:
        flash(exc.message, "danger")
        return redirect(url_for("exports.show", request_id=request_id))
    return _file(name, data)


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _file(name: str, data: bytes) -> Response:
    response = Response(data, mimetype=XLSX_TYPE if name.endswith(".xlsx") else "text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _view(req: ExportRequest) -> dict:
    """What the pages show of a request (never the file)."""
    from ..runtime import snapshot

    entity = snapshot().entity(req.entity)
    labels = {f.name: text(f.label) or f.name for f in entity.fields} if entity is not None else {}
    return {
        "id": req.id,
        "number": req.number,
        "entity": text(entity.plural_label) if entity is not None else req.entity,
        "username": req.username,
        "fields": [labels.get(n, n) for n in req.field_names],
        "sensitive": [labels.get(n, n) for n in (req.sensitive or "").split(",") if n],
        "purpose": req.purpose,
        "rows": req.row_count if req.row_count is not None else req.row_estimate,
        "format": req.format or "csv",
        "status": req.status,
        "status_label": status_label(req.status),
        "reasons": req.approval_reasons,
        "created_at": req.created_at[:16].replace("T", " "),
        "expires_at": (req.expires_at or "")[:16].replace("T", " "),
        "decided_by": req.decided_by,
        "decision_note": req.decision_note,
        "downloads": req.downloads,
        "url": url_for("exports.show", request_id=req.id),
    }


# -- API ------------------------------------------------------------------------------------
def _json(req: ExportRequest) -> dict:
    return {
        "id": req.id,
        "number": req.number,
        "entity": req.entity,
        "fields": req.field_names,
        "format": req.format or "csv",
        "purpose": req.purpose,
        "rows": req.row_count if req.row_count is not None else req.row_estimate,
        "status": req.status,
        "needs_approval_because": req.approval_reasons,
        "sensitive_fields": [n for n in (req.sensitive or "").split(",") if n],
        "requested_by": req.username,
        "created_at": req.created_at,
        "decided_by": req.decided_by,
        "decision_note": req.decision_note,
        "expires_at": req.expires_at,
        "downloads": req.downloads,
        "file": url_for("exports_api.file", request_id=req.id) if req.status == "generated" else None,
    }


@api_bp.post("")
def api_request():
    """``{"entity": "customer", "purpose": "…", "filter": {…}, "q": "…", "fields": [...], "format": "csv|xlsx"}``."""
    from .api import json_body

    body = json_body()
    entity = body.get("entity")
    if not isinstance(entity, str):
        raise BadRequest(_("Name the entity to export."), [Detail("entity", _("Required."), "required")])
    req = exports().request(
        entity,
        purpose=body.get("purpose"),
        filter=body.get("filter"),
        search=body.get("q"),
        fields=body.get("fields"),
        format=body.get("format", "csv"),
    )
    return jsonify(_json(req)), 201


@api_bp.get("")
def api_list():
    ex = exports()
    return jsonify({"items": [_json(r) for r in ex.mine()], "waiting": [_json(r) for r in ex.waiting()]})


@api_bp.get("/<int:request_id>")
def api_show(request_id: int):
    return jsonify(_json(exports().get(request_id)))


@api_bp.post("/<int:request_id>/approve")
def api_approve(request_id: int):
    from .api import json_body

    note = json_body().get("note") if request.get_data() else None
    return jsonify(_json(exports().approve(request_id, note)))


@api_bp.post("/<int:request_id>/reject")
def api_reject(request_id: int):
    from .api import json_body

    return jsonify(_json(exports().reject(request_id, json_body().get("note"))))


@api_bp.get("/<int:request_id>/file")
def file(request_id: int):
    name, data = exports().download(request_id)
    return _file(name, data)
