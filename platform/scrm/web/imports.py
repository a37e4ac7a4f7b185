"""Imports on the web: upload a CSV or Excel file into an entity, map its columns to fields,
follow the run (a progress bar htmx polls every second), read the result and download the
report; and the list of a user's recent imports.

The rules are :mod:`scrm.data.importing` and the run :mod:`scrm.data.import_run`; this module
turns requests into calls and results into typed page contexts.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime

from flask import Blueprint, Response, current_app, flash, redirect, request, url_for
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge

from ..data.import_files import MB, Limits, column_letter
from ..data.import_mapping import KEY_JOIN, MappingPlan, import_keys, importable
from ..data.import_run import start_in_background
from ..data.importers import importers
from ..data.importing import (
    DONE,
    EXPIRED,
    FAILED,
    INTERRUPTED,
    MAPPING,
    QUEUED,
    ROLLED_BACK,
    RUNNING,
    ImportJob,
    Imports,
    JobState,
    status_label,
)
from ..errors import BadRequest, ScrmError
from ..fields.temporal import local_zone
from ..i18n import _, text
from ..meta.model import EntityDef
from ..runtime import snapshot
from .context import Choice
from .errors import respond
from .pages import service
from .render import render

bp = Blueprint("imports", __name__)
PREVIEW_ROWS = 5
BADGES = {
    MAPPING: "text-bg-secondary", QUEUED: "text-bg-light border", RUNNING: "text-bg-primary", DONE: "text-bg-success",
    ROLLED_BACK: "text-bg-danger", FAILED: "text-bg-danger", EXPIRED: "text-bg-secondary",
    INTERRUPTED: "text-bg-warning",
}  # fmt: skip


@bp.before_request
def require_login():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=request.path))


@bp.url_value_preprocessor
def allow_large_uploads(endpoint, _values):
    """The upload may be larger than other requests (``SCRM_IMPORT_MAX_MB``). This hook runs
    before the application's ``before_request`` functions, which already read the form."""
    if endpoint == "imports.new_import":
        request.max_content_length = Limits.from_config().max_bytes + MB  # room for the form around the file


@bp.after_request
def never_cache(response):
    response.headers["Cache-Control"] = "no-store"  # previews and reports hold customer data
    return response


@bp.errorhandler(RequestEntityTooLarge)
def too_large(_exc):
    """Too large to be read at all: the upload page again, saying so (the application's own
    checks, login included, have not run yet)."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=request.path))
    message = _("The file is larger than {limit} MB; split it into smaller files.").format(
        limit=Limits.from_config().max_bytes // MB
    )
    try:
        im = imports()
        page = upload_page(im, im.entity((request.view_args or {}).get("entity", "")), message)
    except ScrmError as exc:
        return respond(exc.status, exc.body())
    return render("import_new", {"page": page}), 413


def imports() -> Imports:
    return Imports(service(), admin=current_user.is_admin)


# -- page contexts --------------------------------------------------------------------------
@dataclass
class JobView:
    """A job as pages show it (never the file, never the report)."""

    id: int
    number: str
    entity: str
    filename: str
    format: str
    mode: str
    key: str
    importer: str  # the import format recognised or chosen, or ""
    status: str
    status_label: str
    badge: str
    total: int
    processed: int
    created: int
    updated: int
    unchanged: int
    failed: int
    percent: int
    bar_saved: str  # the progress bar's two segments, in percent of its width
    bar_failed: str
    created_at: str
    finished_at: str
    message: str | None
    url: str
    finished: bool
    running: bool
    can_rerun: bool
    has_report: bool


@dataclass
class MappingColumn:
    index: int
    letter: str
    header: str
    samples: list[str]
    choices: list[Choice]


@dataclass
class MappingPage:
    job: JobView
    entity_title: str
    action_url: str
    back_url: str
    columns: list[MappingColumn]
    preview: list[tuple[int, list[str]]]
    header: list[str]
    keys: list[Choice]
    mode: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class Failure:
    row: int
    key: str
    column: str
    message: str


@dataclass
class JobPage:
    job: JobView
    poll_url: str
    report_url: str
    list_url: str
    again_url: str
    rerun_url: str
    failures: list[Failure]
    more_failures: bool


@dataclass
class UploadPage:
    entity: str
    title: str
    action_url: str
    back_url: str
    template_url: str
    max_mb: int
    max_rows: int
    error: str | None
    recent: list[JobView]


def _importer_label(name: str | None) -> str:
    found = importers().get(name) if name else None
    return text(found.label) if found is not None else (name or "")


def job_view(job: ImportJob, state: JobState | None = None) -> JobView:
    state = state or Imports.state(job)
    entity = snapshot().entity(job.entity)
    key = job.key_field.split(KEY_JOIN) if entity is not None and job.key_field else []
    return JobView(
        id=job.id,
        number=job.number,
        entity=text(entity.plural_label) if entity is not None else job.entity,
        filename=job.filename,
        format=job.format.upper(),
        importer=_importer_label(job.importer),
        mode=_("All or nothing") if job.mode == "all" else _("Skip bad rows"),
        key=" + ".join(text(entity.field(n).label) if entity.field(n) else n for n in key)
        if key
        else _("none (every row creates a record)"),
        status=state.status,
        status_label=status_label(state.status),
        badge=BADGES.get(state.status, "text-bg-secondary"),
        total=state.total,
        processed=state.processed,
        created=state.created,
        updated=state.updated,
        unchanged=state.unchanged,
        failed=state.failed,
        percent=state.percent,
        bar_saved=_share(max(0, state.processed - state.failed), state.total),
        bar_failed=_share(state.failed, state.total),
        created_at=_moment(job.created_at),
        finished_at=_moment(job.finished_at),
        message=job.message,
        url=url_for("imports.show", job_id=job.id),
        finished=state.finished,
        running=state.running,
        can_rerun=state.status in (INTERRUPTED, FAILED) and job.content is not None,
        has_report=bool(job.report),
    )


def _share(part: int, total: int) -> str:
    return f"{min(100.0, part * 100 / total):.2f}" if total else "0"


def _moment(stamp: str | None) -> str:
    """An audit-style UTC stamp as local time (``SCRM_TIMEZONE``)."""
    if not stamp:
        return ""
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return moment.astimezone(local_zone()).strftime("%Y-%m-%d %H:%M")


def upload_page(im: Imports, definition: EntityDef, error: str | None = None) -> UploadPage:
    limits = Limits.from_config()
    recent = [job_view(j) for j in im.mine(limit=10) if j.entity == definition.name][:5]
    return UploadPage(
        definition.name, text(definition.plural_label), url_for("imports.new_import", entity=definition.name),
        url_for("pages.list_records", entity=definition.name), url_for("imports.template", entity=definition.name),
        limits.max_bytes // MB, limits.max_rows, error, recent,
    )  # fmt: skip


def mapping_page(im: Imports, job: ImportJob, definition: EntityDef, plan: MappingPlan) -> MappingPage:
    preview = im.preview(job, PREVIEW_ROWS)
    fields = importable(im.svc, definition)
    columns = []
    for index, header in enumerate(job.columns):
        chosen = plan.targets[index] or ""
        choices = [Choice("", _("— do not import —"), not chosen)]
        choices += [Choice(f.name, _field_label(f), f.name == chosen) for f in fields]
        samples = [cells[index] for _n, cells in preview if index < len(cells) and cells[index]][:3]
        columns.append(MappingColumn(index, column_letter(index), header, samples, choices))
    keys = [Choice("", _("None: every row creates a record"), plan.key is None)]
    keys += [Choice(k.name, k.label, k.name == plan.key) for k in import_keys(im.svc, definition)]
    return MappingPage(
        job_view(job), text(definition.plural_label), url_for("imports.mapping", job_id=job.id),
        url_for("imports.new_import", entity=definition.name), columns, preview, job.columns, keys, plan.mode,
        plan.errors, plan.warnings,
    )  # fmt: skip


def _field_label(f) -> str:
    return f"{text(f.label)}{' *' if f.required and not f.has_default else ''} · {f.name}"


def job_page(im: Imports, job: ImportJob) -> JobPage:
    view = job_view(job)
    failures, more = [], False
    if view.finished and job.report:
        shown = Imports.failures(job, 101)
        more = len(shown) > 100
        failures = [Failure(o.row, o.key, column, message) for o in shown[:100] for column, message in o.problems]
    return JobPage(
        view, url_for("imports.show", job_id=job.id), url_for("imports.report", job_id=job.id),
        url_for("pages.list_records", entity=job.entity), url_for("imports.new_import", entity=job.entity),
        url_for("imports.rerun", job_id=job.id), failures, more,
    )  # fmt: skip


# -- pages ----------------------------------------------------------------------------------
@bp.route("/e/<entity>/import", methods=["GET", "POST"])
def new_import(entity: str):
    im = imports()
    definition = im.entity(entity)
    error = None
    if request.method == "POST":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            error = _("Choose a CSV or Excel file to import.")
        else:
            try:
                job = im.upload(entity, upload.filename, upload.read(Limits.from_config().max_bytes + 1))
            except BadRequest as exc:
                error = exc.message
            else:
                return redirect(url_for("imports.mapping", job_id=job.id), 303)
    return render("import_new", {"page": upload_page(im, definition, error)}, entity=entity), 400 if error else 200


@bp.get("/e/<entity>/import/template.csv")
def template(entity: str):
    """An empty file whose header names the fields an import may fill (required ones first)."""
    im = imports()
    definition = im.entity(entity)
    fields = sorted(importable(im.svc, definition), key=lambda f: not (f.required and not f.has_default))
    out = io.StringIO()
    out.write("\ufeff")
    csv.writer(out).writerow([text(f.label) or f.name for f in fields])
    return _file(f"{definition.name}-import-template.csv", out.getvalue().encode("utf-8"))


@bp.route("/imports/<int:job_id>/mapping", methods=["GET", "POST"])
def mapping(job_id: int):
    im = imports()
    job = im.get(job_id, own=True)
    if job.status != MAPPING:
        return redirect(url_for("imports.show", job_id=job.id))
    definition = im.entity(job.entity)
    status = 200
    if request.method == "POST":
        form = request.form
        targets = [form.get(f"col_{i}", "") for i in range(len(job.columns))]
        key, mode = form.get("key") or None, form.get("mode", "all")
        if form.get("action") == "start":
            try:
                im.start(job_id, targets, key, mode)
            except BadRequest:
                status = 422
            else:
                start_in_background(current_app._get_current_object(), job_id)
                return redirect(url_for("imports.show", job_id=job_id), 303)
        plan = im.plan(job, targets, key, mode)
    else:
        plan = im.plan(job, job.targets, job.key_field, job.mode)
    page = mapping_page(im, job, definition, plan)
    block = "problems" if request.headers.get("HX-Request") else None
    return render("import_mapping", {"page": page}, entity=job.entity, block=block), status


@bp.get("/imports/<int:job_id>")
def show(job_id: int):
    im = imports()
    job = im.get(job_id)
    if job.status == MAPPING and job.user_id == im.svc.user_id:
        return redirect(url_for("imports.mapping", job_id=job.id))
    page = job_page(im, job)
    if request.headers.get("HX-Request"):
        # htmx 2 stops polling on 286: the finished result is the last answer
        return render("import", {"page": page}, block="status"), 200 if page.job.running else 286
    return render("import", {"page": page})


@bp.post("/imports/<int:job_id>/rerun")
def rerun(job_id: int):
    try:
        imports().rerun(job_id)
    except BadRequest as exc:
        flash(exc.message, "danger")
    else:
        start_in_background(current_app._get_current_object(), job_id)
        flash(_("The import runs again."), "success")
    return redirect(url_for("imports.show", job_id=job_id), 303)


@bp.get("/imports/<int:job_id>/report.csv")
def report(job_id: int):
    im = imports()
    job = im.get(job_id)
    if not job.report:
        flash(_("This import has no report yet."), "info")
        return redirect(url_for("imports.show", job_id=job_id))
    name, data = im.report(job)
    return _file(name, data)


@bp.get("/imports")
def index():
    return render("imports", {"jobs": [job_view(j) for j in imports().mine()]})


def _file(name: str, data: bytes) -> Response:
    response = Response(data, mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
