"""Comments and attachments on the web.

* ``GET /e/<entity>/<id>/comments`` — the thread on the record page (loaded with htmx): each
  comment with its author, time, visibility and files, and a box to write one (internal or
  visible to the customer, with attachments);
* ``POST /e/<entity>/<id>/comments`` — write one; htmx gets the thread again, with the reasons
  at their fields when something was refused (the text typed stays);
* ``GET /files/<id>`` — a file, for whoever may read the record it is attached to;
* ``GET /s/<token>/files/<id>`` — a file of a customer-visible comment, from the status page.
"""

from __future__ import annotations

from io import BytesIO

from flask import Blueprint, abort, flash, redirect, request, send_file, url_for

from ..data import attachments
from ..errors import NotFound, ValidationFailed
from ..i18n import _
from ..workflows import comments
from .pages import check_id, require_login, service
from .render import render
from .times import local_time
from .workflow_pages import by_token

bp = Blueprint("comments", __name__)
INLINE = ("image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf")


def thread_context(svc, entity: str, record_id: int, error: ValidationFailed | None = None, draft=None) -> dict:
    thread = comments.thread_of(svc.snapshot, entity)
    if thread is None:
        abort(404)
    record = svc.get(entity, record_id)  # in the user's scope, else 404
    found = comments.comments(svc, thread, record_id)
    names = comments.authors(svc.snapshot, found)
    items = [
        {
            "id": c["id"],
            "at": c.get("created_at"),
            "author": _("Customer") if c.get("author_customer") else names.get(c.get("author"), "—"),
            "by_customer": bool(c.get("author_customer")),
            "public": c.get("visibility") == comments.CUSTOMER,
            "parts": comments.highlighted(c.get("body") or ""),
            "files": [f for f in (c.get("attachments") or []) if isinstance(f, dict) and "id" in f],
        }
        for c in found
    ]
    return {
        "entity": entity,
        "record": record,
        "items": items,
        "can_write": svc.permissions.can(thread.entity, "create"),
        "error": error,
        "errors": error.by_path() if error is not None else {},
        "draft": draft or {},
        "limits": {
            "files": attachments.MAX_FILES,
            "mb": attachments.max_bytes() // 1048576,
            "types": ", ".join(sorted(attachments.TYPES)),
        },  # fmt: skip
        "accept": ",".join(f".{ext}" for ext in sorted(attachments.TYPES)),
        "local_time": local_time,
    }


@bp.get("/e/<entity>/<int:record_id>/comments")
def thread(entity: str, record_id: int):
    if (refused := require_login()) is not None:
        return refused
    return render("comments_panel", thread_context(service(), entity, check_id(record_id)), block="panel")


@bp.post("/e/<entity>/<int:record_id>/comments")
def write(entity: str, record_id: int):
    if (refused := require_login()) is not None:
        return refused
    svc = service()
    record_id = check_id(record_id)
    found = comments.thread_of(svc.snapshot, entity)
    if found is None:
        abort(404)
    svc.get(entity, record_id)
    body, visibility = request.form.get("body", ""), request.form.get("visibility", comments.INTERNAL)
    uploads = uploads_of(request)
    try:
        comments.add(svc, found, record_id, body, visibility, uploads)
    except ValidationFailed as exc:
        if request.headers.get("HX-Request"):
            draft = {"body": body, "visibility": visibility}
            return render("comments_panel", thread_context(svc, entity, record_id, exc, draft), block="panel"), 422
        flash(" ".join([exc.message, *(d.message for d in exc.details)]), "danger")
        return redirect(url_for("pages.detail", entity=entity, record_id=record_id), 303)
    if request.headers.get("HX-Request"):
        return render("comments_panel", thread_context(svc, entity, record_id), block="panel")
    flash(_("Comment added."), "success")
    return redirect(url_for("pages.detail", entity=entity, record_id=record_id), 303)


def uploads_of(req) -> list[attachments.Upload]:
    """The files of a multipart request's ``files`` field (read up to one byte over the limit,
    enough to refuse an oversized one)."""
    return [
        attachments.Upload(f.filename or "", f.read(attachments.max_bytes() + 1))
        for f in req.files.getlist("files")
        if f and f.filename
    ]


def send_attachment(row):
    """A stored file as a download (images and PDF shown in the browser), never sniffed."""
    response = send_file(
        BytesIO(row.data),
        mimetype=row.content_type,
        as_attachment=row.content_type not in INLINE,
        download_name=row.name,
        etag=row.sha256,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


@bp.get("/files/<int:attachment_id>")
def file(attachment_id: int):
    if (refused := require_login()) is not None:
        return refused
    return send_attachment(attachments.readable(service(), check_id(attachment_id)))


@bp.get("/s/<token>/files/<int:attachment_id>")
def public_file(token: str, attachment_id: int):
    inst, _wf, svc, _record = by_token(token)
    thread = comments.thread_of(svc.snapshot, inst.entity)
    if thread is None:
        raise NotFound(_("There is no such file."))
    return send_attachment(comments.public_file(svc, thread, inst.record_id, check_id(attachment_id)))
