"""Imports into any entity: a file is uploaded and checked, its columns are mapped to fields,
then a job (``scrm_import``) runs it in the background and keeps a report.

The upload is checked whole before anything is stored (:mod:`scrm.data.import_files`) and kept
sealed with the encryption key until the job has run. Columns are matched to the fields the user
may write by name or label in either language; the user changes the mapping, picks a key among
the entity's unique fields (a row whose key matches a record updates it, otherwise it creates
one, so running the same file twice creates nothing new) and a mode: all-or-nothing, or skip the
bad rows. The run (:mod:`scrm.data.import_run`) sends every row through the record service as
the requesting user. The report — every row's outcome, sealed — is for the job's owner or an
administrator only. Uploads, starts and ends are written to the audit chain.
"""

from __future__ import annotations

import base64
import csv
import gzip
import io
import json
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..db import db
from ..errors import BadRequest, Detail, NotFound
from ..i18n import _, current_locale, text
from ..meta.model import EntityDef
from ..security import audit
from ..security.crypto import keyring
from .exporting import _guard as guard_formula
from .import_files import Limits, Table, cell_text, open_table, read_upload
from .import_mapping import MappingPlan, auto_map, default_key, importable, plan_mapping
from .importers import Importer, importers
from .records import RecordService

MAPPING, QUEUED, RUNNING = "mapping", "queued", "running"
DONE, ROLLED_BACK, FAILED, EXPIRED = "done", "rolled_back", "failed", "expired"
INTERRUPTED = "interrupted"  # shown, never stored: running without a heartbeat for too long
STALE_AFTER = timedelta(seconds=120)
MAPPING_KEPT = timedelta(days=1)  # an upload never started is deleted after this
FAILURES_SHOWN = 100
CREATED, UPDATED, UNCHANGED, FAILED_ROW, NOT_SAVED = "created", "updated", "unchanged", "failed", "not_saved"


class ImportJob(db.Model):
    __tablename__ = "scrm_import"
    __table_args__ = (sa.Index("ix_scrm_import_user", "user_id", "id"), sa.Index("ix_scrm_import_status", "status"))

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)  # none: the system (CLI)
    username: Mapped[str] = mapped_column(sa.String(63))
    entity: Mapped[str] = mapped_column(sa.String(63))
    filename: Mapped[str] = mapped_column(sa.String(255))
    format: Mapped[str] = mapped_column(sa.String(8))
    mode: Mapped[str] = mapped_column(sa.String(8), default="all")
    key_field: Mapped[str | None] = mapped_column(sa.String(63), nullable=True)  # "account+snapshot_date"
    importer: Mapped[str | None] = mapped_column(sa.String(63), nullable=True)  # the format recognised
    header: Mapped[str] = mapped_column(sa.Text)  # JSON list of the column names
    mapping: Mapped[str] = mapped_column(sa.Text)  # JSON list: a field name (or null) per column
    locale: Mapped[str] = mapped_column(sa.String(8))
    status: Mapped[str] = mapped_column(sa.String(12))
    total_rows: Mapped[int] = mapped_column(sa.Integer, default=0)
    processed_rows: Mapped[int] = mapped_column(sa.Integer, default=0)
    created_rows: Mapped[int] = mapped_column(sa.Integer, default=0)
    updated_rows: Mapped[int] = mapped_column(sa.Integer, default=0)
    unchanged_rows: Mapped[int] = mapped_column(sa.Integer, default=0)
    failed_rows: Mapped[int] = mapped_column(sa.Integer, default=0)
    message: Mapped[str | None] = mapped_column(sa.Text, nullable=True)  # why the job itself failed
    token: Mapped[str] = mapped_column(sa.String(32))  # names the sealing context
    created_at: Mapped[str] = mapped_column(sa.String(27))
    started_at: Mapped[str | None] = mapped_column(sa.String(27), nullable=True)
    heartbeat_at: Mapped[str | None] = mapped_column(sa.String(27), nullable=True)
    finished_at: Mapped[str | None] = mapped_column(sa.String(27), nullable=True)
    content: Mapped[str | None] = mapped_column(sa.Text, nullable=True)  # the sealed file, until it has run
    report: Mapped[str | None] = mapped_column(sa.Text, nullable=True)  # sealed segments, one per line

    @property
    def number(self) -> str:
        return f"IMP-{self.created_at[:10].replace('-', '')}-{self.id:05d}"

    @property
    def columns(self) -> list[str]:
        return json.loads(self.header)

    @property
    def targets(self) -> list[str | None]:
        return json.loads(self.mapping)


@dataclass
class Progress:
    """A running job's counts, kept in the memory of the process that runs it."""

    processed: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0

    def count(self, status: str) -> None:
        self.processed += 1
        name = {CREATED: "created", UPDATED: "updated", UNCHANGED: "unchanged", FAILED_ROW: "failed"}[status]
        setattr(self, name, getattr(self, name) + 1)


LIVE: dict[int, Progress] = {}  # the jobs this process is running
LIVE_LOCK = threading.Lock()


@dataclass
class Outcome:
    """What became of one row: its number in the file, its key, a status, the problems."""

    row: int
    key: str
    status: str
    problems: list[tuple[str, str]] = field(default_factory=list)  # (column, message)

    def dump(self) -> list:
        return [self.row, self.key, self.status, [list(p) for p in self.problems]]

    @classmethod
    def load(cls, item: list) -> Outcome:
        return cls(item[0], item[1], item[2], [tuple(p) for p in item[3]])


@dataclass
class JobState:
    """A job as the pages show it: its status (with ``interrupted``) and latest counts."""

    status: str
    total: int
    processed: int
    created: int
    updated: int
    unchanged: int
    failed: int

    @property
    def finished(self) -> bool:
        return self.status in (DONE, ROLLED_BACK, FAILED, EXPIRED, INTERRUPTED)

    @property
    def running(self) -> bool:
        return self.status in (QUEUED, RUNNING)

    @property
    def percent(self) -> int:
        return min(100, self.processed * 100 // self.total) if self.total else 0


class Imports:
    """Import jobs for one user (the record service says who and what they may write)."""

    def __init__(self, svc: RecordService, *, admin: bool = False):
        self.svc = svc
        self.admin = admin or svc.permissions.system

    # -- uploading and mapping ------------------------------------------------------------
    def entity(self, entity_name: str) -> EntityDef:
        entity = self.svc.entity(entity_name)
        self.svc.permissions.require(entity, "import")
        return entity

    def upload(self, entity_name: str, filename: str, data: bytes, importer: str | None = None) -> ImportJob:
        """Check the file completely and keep it sealed, with the columns mapped automatically —
        by the ``importer`` named, else the one that recognises the header, else by field names
        and labels."""
        entity = self.entity(entity_name)
        name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()[:255] or "upload"
        table = read_upload(data, name, Limits.from_config())
        allowed = importable(self.svc, entity)
        targets = auto_map(entity, table.header, allowed)
        chosen = self._importer(entity, importer, table.header)
        key, mode = default_key(self.svc, entity, targets), "all"
        if chosen is not None:
            names = {f.name for f in allowed}
            targets = [t if t in names else None for t in chosen.map(table.header, targets)]
            key, mode = chosen.key_name or default_key(self.svc, entity, targets), chosen.mode
        svc = self.svc
        job = ImportJob(
            user_id=svc.user_id, username=svc.username or (f"#{svc.user_id}" if svc.user_id else "system"),
            entity=entity.name, filename=name, format=table.format, mode=mode,
            importer=chosen.name if chosen is not None else None,
            key_field=key, header=json.dumps(table.header, ensure_ascii=False),
            mapping=json.dumps(targets), locale=current_locale(), status=MAPPING, total_rows=table.total,
            processed_rows=0, created_rows=0, updated_rows=0, unchanged_rows=0, failed_rows=0,
            token=secrets.token_hex(16), created_at=audit.stamp(),
        )  # fmt: skip
        job.content = keyring().seal(base64.b64encode(gzip.compress(data)).decode(), f"import.{job.token}")
        db.session.add(job)
        db.session.flush()
        audit.append(
            "import_upload", svc.actor(), entity=entity.name, row_count=table.total,
            detail={"import": job.number, "file": name, "format": table.format, "bytes": len(data),
                    "importer": job.importer},
        )  # fmt: skip
        db.session.commit()
        return job

    @staticmethod
    def _importer(entity: EntityDef, name: str | None, header: list[str]) -> Importer | None:
        found = importers()
        if not name:
            return found.recognise(entity.name, header)
        chosen = found.get(name)
        if chosen is None or chosen.entity != entity.name:
            known = ", ".join(i.name for i in found.for_entity(entity.name)) or _("none")
            raise BadRequest(
                _("There is no import format “{name}” for {entity}; the formats are: {known}.").format(
                    name=name, entity=text(entity.plural_label), known=known
                )
            )
        return chosen

    def file_table(self, job: ImportJob) -> Table:
        return stored_table(job.content, job.token, job.filename)

    def preview(self, job: ImportJob, rows: int = 5) -> list[tuple[int, list[str]]]:
        """The first rows, as text, for the mapping page."""
        out = []
        for number, cells in self.file_table(job).rows():
            out.append((number, [cell_text(c) if c is not None else "" for c in cells][: len(job.columns)]))
            if len(out) >= rows:
                break
        return out

    def plan(self, job: ImportJob, targets, key, mode) -> MappingPlan:
        return plan_mapping(self.svc, self.entity(job.entity), job.columns, targets, key, mode, job.total_rows)

    def start(self, job_id: int, targets, key, mode) -> ImportJob:
        """Save the mapping and queue the job (the caller starts the run)."""
        job = self.get(job_id, own=True)
        if job.status != MAPPING:
            raise BadRequest(_("This import has already been started."), code="already_started")
        plan = self.plan(job, targets, key, mode)
        if plan.errors:
            raise BadRequest(
                _("Correct the mapping first."), [Detail("mapping", e, "invalid_mapping") for e in plan.errors]
            )
        job.mapping, job.key_field, job.mode = json.dumps(plan.targets), plan.key, plan.mode
        job.status, job.heartbeat_at = QUEUED, audit.stamp()
        self._log_start(job, rerun=False)
        db.session.commit()
        return job

    def rerun(self, job_id: int) -> ImportJob:
        """Queue an interrupted or failed job again: a skip-bad-rows job goes on after the last
        chunk it saved, an all-or-nothing one starts over (it saved nothing)."""
        job = self.get(job_id)
        self.entity(job.entity)
        state = self.state(job)
        if state.status not in (INTERRUPTED, FAILED) or job.content is None:
            raise BadRequest(_("Only an interrupted or failed import can be run again."), code="not_rerunnable")
        table = ImportJob.__table__
        result = db.session.execute(
            sa.update(table)
            .where(table.c.id == job.id, table.c.status == job.status, table.c.heartbeat_at == job.heartbeat_at)
            .values(status=QUEUED, heartbeat_at=audit.stamp(), message=None, finished_at=None)
        )
        if result.rowcount != 1:
            db.session.rollback()
            raise BadRequest(_("Someone has just started this import again."), code="already_started")
        db.session.expire(job)
        self._log_start(job, rerun=True)
        db.session.commit()
        return job

    def _log_start(self, job: ImportJob, *, rerun: bool) -> None:
        audit.append(
            "import_start", self.svc.actor(), entity=job.entity, row_count=job.total_rows,
            fields=[t for t in job.targets if t], reason=job.filename,
            detail={"import": job.number, "mode": job.mode, "key": job.key_field, "rerun": rerun},
        )  # fmt: skip

    # -- reading --------------------------------------------------------------------------
    def get(self, job_id: int, *, own: bool = False) -> ImportJob:
        """One job: its owner's, or any for an administrator (``own``: the owner's only — the
        mapping is the uploader's to decide)."""
        job = db.session.get(ImportJob, job_id) if 0 < job_id < 2**31 else None
        if job is None or (job.user_id != self.svc.user_id and (own or not self.admin)):
            raise NotFound(_("There is no import #{id}.").format(id=job_id))
        return job

    def mine(self, limit: int = 30) -> list[ImportJob]:
        self.expire()
        table = ImportJob
        stmt = sa.select(table).where(table.user_id == self.svc.user_id).order_by(table.id.desc()).limit(limit)
        return list(db.session.execute(stmt).scalars())

    @staticmethod
    def expire() -> int:
        """Forget the files of uploads that were never started."""
        table = ImportJob.__table__
        cutoff = audit.stamp(datetime.now(UTC) - MAPPING_KEPT)
        result = db.session.execute(
            sa.update(table)
            .where(table.c.status == MAPPING, table.c.created_at < cutoff)
            .values(status=EXPIRED, content=None)
        )
        if result.rowcount:
            db.session.commit()
        return result.rowcount or 0

    @staticmethod
    def state(job: ImportJob) -> JobState:
        """The job's status and counts: from the process running it when that is this one,
        else as last saved; a run whose heartbeat stopped is ``interrupted``."""
        with LIVE_LOCK:
            live = LIVE.get(job.id)
            live = Progress(**live.__dict__) if live is not None else None
        status = job.status
        if status in (QUEUED, RUNNING) and live is None:
            stale = audit.stamp(datetime.now(UTC) - STALE_AFTER)
            if (job.heartbeat_at or "") < stale:
                status = INTERRUPTED
        counts = live or Progress(
            job.processed_rows, job.created_rows, job.updated_rows, job.unchanged_rows, job.failed_rows
        )
        return JobState(status, job.total_rows, counts.processed, counts.created, counts.updated,
                        counts.unchanged, counts.failed)  # fmt: skip

    @staticmethod
    def outcomes(job: ImportJob):
        """Every row's outcome, in file order, from the sealed report."""
        for line in (job.report or "").splitlines():
            if line:
                payload = keyring().open(line, f"import.{job.token}.report")
                for item in json.loads(gzip.decompress(base64.b64decode(payload))):
                    yield Outcome.load(item)

    @staticmethod
    def failures(job: ImportJob, limit: int = FAILURES_SHOWN) -> list[Outcome]:
        out = []
        for outcome in Imports.outcomes(job):
            if outcome.problems:
                out.append(outcome)
                if len(out) >= limit:
                    break
        return out

    def report(self, job: ImportJob) -> tuple[str, bytes]:
        """The report as CSV for Excel (UTF-8 with a BOM): row, key, status, column, message."""
        out = io.StringIO()
        out.write("\ufeff")
        writer = csv.writer(out)
        writer.writerow([_("Row"), _("Key"), _("Status"), _("Column"), _("Message")])
        for o in self.outcomes(job):
            shown = outcome_label(o.status)
            for column, message in o.problems or [("", "")]:
                writer.writerow([o.row, guard_formula(o.key), shown, guard_formula(column), guard_formula(message)])
        audit.append("import_report", self.svc.actor(), entity=job.entity, detail={"import": job.number})
        db.session.commit()
        return f"{job.entity}-{job.number}-report.csv", out.getvalue().encode("utf-8")


def stored_table(content: str | None, token: str, filename: str) -> Table:
    """A job's file, opened again from its sealed copy."""
    if content is None:
        raise BadRequest(_("The file of this import is no longer kept; upload it again."), code="file_gone")
    data = gzip.decompress(base64.b64decode(keyring().open(content, f"import.{token}")))
    return open_table(data, filename, Limits.from_config())


def seal_outcomes(job_token: str, outcomes: list[Outcome]) -> str:
    """One report segment: the outcomes of a chunk of rows, compressed and sealed."""
    payload = gzip.compress(json.dumps([o.dump() for o in outcomes], ensure_ascii=False).encode())
    return keyring().seal(base64.b64encode(payload).decode(), f"import.{job_token}.report") + "\n"


def status_label(status: str) -> str:
    return {
        MAPPING: _("waiting for the mapping"),
        QUEUED: _("queued"),
        RUNNING: _("running"),
        DONE: _("finished"),
        ROLLED_BACK: _("rolled back"),
        FAILED: _("failed"),
        EXPIRED: _("expired"),
        INTERRUPTED: _("interrupted"),
    }.get(status, status)


def outcome_label(status: str) -> str:
    return {
        CREATED: _("created"),
        UPDATED: _("updated"),
        UNCHANGED: _("unchanged"),
        FAILED_ROW: _("failed"),
        NOT_SAVED: _("not saved (rolled back)"),
    }.get(status, status)
