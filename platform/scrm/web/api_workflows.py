"""REST API of ticket workflows:

* ``POST /api/v1/records/<entity>/<id>/transitions/<name>`` ``{"input": {...}, "comment": "…",
  "_version": 3}`` (or ``If-Match``) → 200 with the record | 403 not yours to take | 404 |
  409 someone moved the record first | 422 inputs or the guard (with its message);
* ``GET /api/v1/records/<entity>/<id>/workflow`` — the state, the steps the user may take now,
  the SLA clocks and the history;
* ``POST /api/v1/records/<entity>/<id>/comments`` — a comment signed by the caller's employee,
  as JSON ``{"body", "visibility"}`` or as a multipart form with ``files`` (attachments) → 201
  with the comment; 422 naming the bad file or field, nothing written;
* ``GET /api/v1/files/<id>`` — an attachment, to whoever may read its record.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from ..data import attachments
from ..errors import BadRequest, Detail, NotFound
from ..i18n import _, text
from ..workflows import comments, engine, status
from .api import if_match, json_body, record_id_or_404, require_login, service, with_etag
from .comment_pages import send_attachment, uploads_of

bp = Blueprint("workflows_api", __name__, url_prefix="/api/v1")
bp.before_request(require_login)


@bp.post("/records/<entity>/<int:record_id>/transitions/<name>")
def take_transition(entity: str, record_id: int, name: str):
    svc = service()
    body = json_body()
    inputs = body.get("input", {})
    comment = body.get("comment")
    if comment is not None and not isinstance(comment, str):
        raise BadRequest(_("The comment must be text."), [Detail("comment", _("Expected a string."))])
    version = if_match()
    if version is None and "_version" in body:
        version = body["_version"] if isinstance(body["_version"], int) else None
    applied = engine.apply(svc, entity, record_id_or_404(record_id), name, inputs, comment, version)
    record = svc.get(entity, record_id)
    out = svc.to_json(svc.entity(entity), record)
    return with_etag(
        jsonify(
            {**out, "_transition": {"name": applied.transition, "from": applied.from_state, "to": applied.to_state}}
        ),
        record,
    )


@bp.get("/records/<entity>/<int:record_id>/workflow")
def workflow_state(entity: str, record_id: int):
    svc = service()
    record = svc.get(entity, record_id_or_404(record_id))
    view = status.view(svc, entity, record)
    if view is None:
        raise NotFound(_("{entity} has no workflow.").format(entity=text(svc.entity(entity).label)))
    return jsonify(status.as_json(view))


@bp.post("/records/<entity>/<int:record_id>/comments")
def add_comment(entity: str, record_id: int):
    svc = service()
    thread = comments.thread_of(svc.snapshot, entity)
    if thread is None:
        raise NotFound(_("{entity} has no comments.").format(entity=text(svc.entity(entity).label)))
    if request.mimetype == "multipart/form-data":
        body, visibility = request.form.get("body", ""), request.form.get("visibility", comments.INTERNAL)
        uploads = uploads_of(request)
    else:
        data = json_body()
        body, visibility, uploads = data.get("body"), data.get("visibility", comments.INTERNAL), []
        if not isinstance(body, str):
            raise BadRequest(_("The comment must be text."), [Detail("body", _("Expected a string."))])
    svc.get(entity, record_id_or_404(record_id))
    comment = comments.add(svc, thread, record_id, body, visibility, uploads)
    return jsonify(svc.to_json(thread.entity, comment)), 201


@bp.get("/files/<int:attachment_id>")
def attachment(attachment_id: int):
    return send_attachment(attachments.readable(service(), record_id_or_404(attachment_id)))
