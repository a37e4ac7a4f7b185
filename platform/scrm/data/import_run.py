"""Running an import job: every row through the record service, as the user who started it.

The run has its own database connection and controls its outer transaction; ``db.session`` joins
that transaction in SQLAlchemy's ``create_savepoint`` mode, so each write of the record service
is a SAVEPOINT: the service's own commit releases it, its rollback undoes that row only.

* **Skip bad rows**: rows are saved in chunks of :data:`CHUNK`; each chunk commits together with
  the job's counts, its part of the report and a heartbeat, so a run that dies goes on after the
  last saved chunk when it is run again.
* **All or nothing**: every row in one transaction (each still in its savepoint, so every error is
  collected), committed only when no row failed, else rolled back whole. Progress cannot be
  committed inside that transaction: on PostgreSQL it is written through a separate connection
  about once a second; on SQLite (one writer at a time) it stays in this process's memory.

A job with no heartbeat for a while shows as interrupted and can be run again; the key makes
that safe. The web starts runs in a background thread (:func:`start_in_background`); the CLI
runs them in its own (:func:`import_file`).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from ..db import db, dialect_name, run, write_intent
from ..errors import BadRequest, ScrmError, ValidationFailed
from ..i18n import _, force_locale, text
from ..meta.model import EntityDef
from ..security import audit
from ..security.crypto import keyring
from .import_files import MB, Limits, Row, cell_text, header_key
from .import_mapping import default_key, find_key, plan_mapping
from .import_values import Column, RowReader
from .importing import (
    CREATED,
    DONE,
    FAILED,
    FAILED_ROW,
    LIVE,
    LIVE_LOCK,
    NOT_SAVED,
    QUEUED,
    ROLLED_BACK,
    RUNNING,
    UNCHANGED,
    UPDATED,
    ImportJob,
    Imports,
    Outcome,
    Progress,
    seal_outcomes,
    stored_table,
)  # fmt: skip
from .records import RecordService
from .tables import equality_column

CHUNK = 200
PROGRESS_EVERY = 1.0  # seconds between progress writes of an all-or-nothing run on PostgreSQL
log = logging.getLogger("scrm.imports")


class ImportService(RecordService):
    """The record service as an import uses it: the same checks and writes, but a write answers
    with the record's id and version only — the importer shows nobody the record, so nothing is
    presented or logged as viewed."""

    _created: tuple[str, int] | None = None
    importing: str | None = None  # the entity being imported: its records are never remembered
    remembered: dict | None = None  # other records read during the import: (how, entity, id) -> answer

    def _remember(self, how: str, entity_name: str, record_id, read):
        """An answer about another entity's record, read once per import (a trade file names
        the same accounts and securities again and again); the records being imported are
        always read afresh."""
        if entity_name == self.importing:
            return read()
        if self.remembered is None or len(self.remembered) > 100_000:
            self.remembered = {}
        key = (how, entity_name, record_id)
        if key not in self.remembered:
            self.remembered[key] = read()
        return self.remembered[key]

    def _exists(self, entity_name: str | None, record_id: int) -> bool:
        exists = super()._exists
        return self._remember("exists", entity_name, record_id, lambda: exists(entity_name, record_id))

    def _plugin_access(self) -> dict:
        access = super()._plugin_access()
        lookup = access["lookup"]

        def remembered_lookup(name: str, record_id) -> dict | None:
            found = self._remember("lookup", name, record_id, lambda: lookup(name, record_id))
            return dict(found) if found is not None else None  # (a plugin may change its copy)

        return {**access, "lookup": remembered_lookup}

    audited: tuple[tuple[str, int], ...] = ()  # (create | update, record id) not yet in the audit chain

    def _audit(self, action: str, entity: EntityDef, record_id: int, fields) -> None:
        self.audited += ((action, record_id),)

    def flush_audit(self, entity: EntityDef, job_number: str, fields: list[str]) -> None:
        """One audit entry for the rows written since the last: the job, the fields imported and
        the ids created and updated (each record's own history has its values)."""
        if not self.audited:
            return
        detail = {"job": job_number, "fields": fields}
        for action in ("create", "update"):
            ids = [record_id for kind, record_id in self.audited if kind == action]
            if ids:
                detail[action] = ids
        audit.append("import_rows", self.actor(), entity=entity.name, row_count=len(self.audited), detail=detail)
        self.audited = ()

    def create_in_transaction(self, entity_name: str, data) -> int:
        record_id = super().create_in_transaction(entity_name, data)
        self._created = (entity_name, record_id)
        return record_id

    def get(self, entity_name: str, record_id: int) -> dict:
        if self._created == (entity_name, record_id):  # just inserted: its first version
            self._created = None
            return {"id": record_id, "version": 1}
        main = self.tables(self.entity(entity_name)).main
        row = run(sa.select(main.c.id, main.c.version).where(main.c.id == record_id)).one()
        return {"id": row.id, "version": row.version}


def start_in_background(app, job_id: int) -> threading.Thread:
    """Run a queued job in a thread of this process (it outlives the request that started it)."""
    thread = threading.Thread(target=run_job, args=(app, job_id), name=f"scrm-import-{job_id}", daemon=True)
    thread.start()
    return thread


def run_job(app, job_id: int) -> str | None:
    """Run a queued job to its end in an application context of its own; the final status, or
    None when another worker claimed the job first."""
    with app.app_context(), write_intent():
        job = _claim(job_id)
        if job is None:
            return None
        with force_locale(job.locale):
            return Runner(job).run()


def _claim(job_id: int) -> ImportJob | None:
    table = ImportJob.__table__
    now = audit.stamp()
    claimed = db.session.execute(
        sa.update(table)
        .where(table.c.id == job_id, table.c.status == QUEUED)
        .values(status=RUNNING, started_at=sa.func.coalesce(table.c.started_at, now), heartbeat_at=now)
    )
    if claimed.rowcount != 1:
        db.session.rollback()
        return None
    job = db.session.get(ImportJob, job_id)
    if job.mode == "all":  # it saved nothing before: it starts over
        job.processed_rows = job.created_rows = job.updated_rows = job.unchanged_rows = job.failed_rows = 0
        job.report = None
    db.session.commit()
    return job


class OwnTransaction:
    """The run's connection and outer transaction, with ``db.session`` joined to it so that
    every unit of work of the record service is a savepoint."""

    def __enter__(self) -> OwnTransaction:
        db.session.remove()
        self.connection = db.engine.connect()
        self.connection.begin()
        self.session = orm.Session(bind=self.connection, join_transaction_mode="create_savepoint")
        db.session.registry.set(self.session)
        return self

    def commit(self) -> None:
        self.session.commit()
        self.connection.commit()
        self.connection.begin()

    def rollback(self) -> None:
        self.session.rollback()
        self.connection.rollback()
        self.connection.begin()

    def __exit__(self, *exc) -> None:
        try:
            self.session.close()
            if self.connection.in_transaction():
                self.connection.rollback()
        finally:
            self.connection.close()
            db.session.registry.clear()


class Key:
    """The columns of the import key, and a row's key: the tuple of their values (None when
    one of them is empty or not a valid value)."""

    def __init__(self, columns: list[Column]):
        self.columns = columns
        self.header = " + ".join(c.header for c in columns)

    def value(self, reader: RowReader, cells: list) -> tuple | None:
        values = tuple(reader.key_value(c, cells) for c in self.columns)
        return None if any(v is None for v in values) else values

    def of(self, values: dict) -> tuple | None:
        found = tuple(values.get(c.field.name) for c in self.columns)
        return None if any(v is None for v in found) else found

    def text(self, cells: list) -> str:
        return " / ".join(cell_text(cells[c.index]).strip() if c.index < len(cells) else "" for c in self.columns)


class Runner:
    """One run of a job, from its claim to its final status."""

    def __init__(self, job: ImportJob):
        self.job_id, self.number, self.token, self.filename = job.id, job.number, job.token, job.filename
        self.entity_name, self.mode, self.key_name = job.entity, job.mode, job.key_field
        self.header, self.targets, self.content = job.columns, job.targets, job.content
        self.actor = audit.Actor(job.user_id, job.username)
        self.user_id = job.user_id
        self.saved = Progress(job.processed_rows, job.created_rows, job.updated_rows, job.unchanged_rows,
                              job.failed_rows)  # fmt: skip
        self.progress = replace(self.saved)
        self.resume = job.processed_rows  # rows an earlier run of a skip-bad-rows job saved
        self.outcomes: list[Outcome] = []  # all or nothing: the report is written at the end
        self.first_row: dict[Any, int] = {}  # key value -> the row it first appeared in
        self.written = 0.0

    def run(self) -> str:
        with LIVE_LOCK:
            LIVE[self.job_id] = self.progress
        try:
            status, message = self._run(), None
        except ScrmError as exc:
            status, message = FAILED, exc.message
        except Exception:
            log.exception("import %s stopped", self.number)
            status, message = FAILED, _("The import stopped because of an unexpected error, which was logged; "
                                        "run it again, or tell IT if it happens again.")  # fmt: skip
        try:
            self._finish(status, message)
        finally:
            with LIVE_LOCK:
                LIVE.pop(self.job_id, None)
        return status

    def _run(self) -> str:
        from ..runtime import pinned

        svc = self._service()
        with pinned(svc.snapshot):  # (the definitions the job started with, to its end)
            return self._import(svc)

    def _import(self, svc: ImportService) -> str:
        entity = svc.entity(self.entity_name)
        svc.permissions.require(entity, "import")
        plan = plan_mapping(svc, entity, self.header, self.targets, self.key_name, self.mode)
        if plan.errors:  # the definition or the user's rights changed since the start
            raise BadRequest(plan.errors[0])
        columns = [Column(i, self.header[i], entity.field(name)) for i, name in enumerate(plan.targets) if name]
        self.fields = [c.field.name for c in columns]
        svc.importing = entity.name
        import_key = find_key(svc, entity, plan.key)
        key = (
            Key([next(c for c in columns if c.field.name == f.name) for f in import_key.fields]) if import_key else None
        )
        reader = RowReader(svc, columns)
        table = stored_table(self.content, self.token, self.filename)
        with OwnTransaction() as tx:
            chunk: list[Row] = []
            for row in table.rows():
                chunk.append(row)
                if len(chunk) == CHUNK:
                    self._chunk(svc, entity, reader, key, chunk, tx)
                    chunk = []
            if chunk:
                self._chunk(svc, entity, reader, key, chunk, tx)
            if self.mode == "all":
                if self.progress.failed:
                    tx.rollback()
                    return ROLLED_BACK
                tx.commit()
        return DONE

    def _service(self) -> ImportService:
        from ..runtime import runtime  # (the runtime builds on the data layer)
        from ..security.users import User

        snapshot = runtime().registry.current()
        if self.user_id is None:
            return ImportService(snapshot, system=True)
        user = db.session.get(User, self.user_id)
        if user is None or not user.is_active:
            raise BadRequest(_("The account that started this import no longer exists or is disabled."))
        svc = ImportService.for_user(snapshot, user)
        self.actor = svc.actor()
        return svc

    # -- rows -----------------------------------------------------------------------------
    def _chunk(self, svc, entity: EntityDef, reader: RowReader, key: Key | None, rows: list[Row], tx) -> None:
        if self.resume:  # saved by an earlier run: they only lend their keys to the duplicate check
            done, rows = rows[: self.resume], rows[self.resume :]
            self.resume -= len(done)
            for number, cells in done:
                value = key.value(reader, cells) if key else None
                if value is not None:
                    self.first_row.setdefault(value, number)
            if not rows:
                return
        reader.prefetch(rows)
        existing = self._existing(svc, entity, reader, key, rows)
        outcomes = [self._row(svc, entity, reader, key, existing, number, cells) for number, cells in rows]
        svc.flush_audit(entity, self.number, self.fields)
        if self.mode == "skip":
            self._save_chunk(outcomes)
            tx.commit()
            self.saved = replace(self.progress)
        else:
            self.outcomes += outcomes
            self._write_progress()

    def _existing(self, svc, entity: EntityDef, reader: RowReader, key: Key | None, rows: list[Row]) -> dict:
        """The records the chunk's keys match, within the user's scope: key -> (id, version).
        One query: each key column among the chunk's values (a key of several fields may bring
        back more, which the whole key then sorts out)."""
        if key is None:
            return {}
        values = {v for _n, cells in rows if (v := key.value(reader, cells)) is not None}
        if not values:
            return {}
        main = svc.tables(entity).main
        stmt = sa.select(main.c.id, main.c.version).where(main.c.deleted_at.is_(None))
        back = []
        for position, column in enumerate(key.columns):
            stored_column = equality_column(main, column.field)
            sealed = stored_column.name != column.field.column
            stored = {keyring().blind(str(v[position])) if sealed else v[position]: v[position] for v in values}
            stmt = stmt.add_columns(stored_column).where(stored_column.in_(list(stored)))
            back.append(stored)
        stmt = svc.scoped(stmt, entity, svc.environment())
        out = {}
        for record_id, version, *found in run(stmt):
            value = tuple(stored[f] for stored, f in zip(back, found, strict=True))
            if value in values:
                out[value] = (record_id, version)
        return out

    def _row(self, svc, entity: EntityDef, reader: RowReader, key: Key | None, existing: dict, number, cells):
        values, problems = reader.read(cells)
        key_value = key.of(values) if key else None
        key_text = key.text(cells) if key else ""
        if key_value is not None:
            first = self.first_row.setdefault(key_value, number)
            if first != number:
                problems.append(
                    (key.header, _("The key {value} already appeared in row {row}.").format(value=key_text, row=first))
                )
        status = FAILED_ROW
        if not problems:
            status, problems = self._save(svc, entity, values, existing.get(key_value))
        self.progress.count(status)
        return Outcome(number, key_text, status, problems)

    def _save(self, svc, entity: EntityDef, values: dict, match: tuple[int, int] | None) -> tuple[str, list]:
        """Create, or update the matched record with the row's values; a failure undoes only
        this row (the service rolls back its savepoint)."""
        audited = svc.audited
        try:
            if match is None:
                svc.create(entity.name, values)
                return CREATED, []
            record_id, version = match
            saved = svc.update(entity.name, record_id, values, version)
            return (UNCHANGED if saved["version"] == version else UPDATED), []
        except ValidationFailed as exc:
            svc.audited = audited  # (the row was undone: so is its entry)
            return FAILED_ROW, [(self._column(entity, d.path), d.message) for d in exc.details]
        except ScrmError as exc:
            svc.audited = audited
            return FAILED_ROW, [("", exc.message)]

    def _column(self, entity: EntityDef, path: str) -> str:
        """Where a problem the service found is shown: the column of its field, else the field."""
        for index, name in enumerate(self.targets):
            if name == path:
                return self.header[index]
        f = entity.field(path)
        return text(f.label) if f is not None else ""

    # -- progress -------------------------------------------------------------------------
    def _save_chunk(self, outcomes: list[Outcome]) -> None:
        """Inside the chunk's transaction: its counts, its part of the report, a heartbeat."""
        table = ImportJob.__table__
        run(
            sa.update(table)
            .where(table.c.id == self.job_id)
            .values(**self._counts(self.progress), heartbeat_at=audit.stamp(),
                    report=sa.func.coalesce(table.c.report, "") + seal_outcomes(self.token, outcomes))
        )  # fmt: skip

    def _write_progress(self) -> None:
        """All or nothing on PostgreSQL: counts and heartbeat through another connection, about
        once a second. (SQLite has one writer: the counts stay in this process's memory.)"""
        if dialect_name() != "postgresql" or time.monotonic() - self.written < PROGRESS_EVERY:
            return
        table = ImportJob.__table__
        with db.engine.connect() as conn:
            conn.execute(
                sa.update(table)
                .where(table.c.id == self.job_id)
                .values(**self._counts(self.progress), heartbeat_at=audit.stamp())
            )
            conn.commit()
        self.written = time.monotonic()

    @staticmethod
    def _counts(p: Progress) -> dict[str, int]:
        return {"processed_rows": p.processed, "created_rows": p.created, "updated_rows": p.updated,
                "unchanged_rows": p.unchanged, "failed_rows": p.failed}  # fmt: skip

    def _finish(self, status: str, message: str | None) -> None:
        """The final status, counts and report, and the end in the audit chain; the file itself
        is kept only while the job may still be run again."""
        counts = self.progress if status in (DONE, ROLLED_BACK) else self.saved
        if status == FAILED and self.mode == "all":
            counts = Progress()
        values: dict[str, Any] = {**self._counts(counts), "status": status, "message": message,
                                  "finished_at": audit.stamp(), "heartbeat_at": audit.stamp()}  # fmt: skip
        if status == ROLLED_BACK:
            values.update(created_rows=0, updated_rows=0, unchanged_rows=0)
            for o in self.outcomes:
                o.status = o.status if o.status == FAILED_ROW else NOT_SAVED
        if self.mode == "all":
            values["report"] = seal_outcomes(self.token, self.outcomes) if status != FAILED else None
        if status in (DONE, ROLLED_BACK):
            values["content"] = None
        table = ImportJob.__table__
        db.session.execute(sa.update(table).where(table.c.id == self.job_id).values(**values))
        audit.append(
            "import_finish", self.actor, entity=self.entity_name, row_count=counts.processed,
            result="ok" if status == DONE else "failed", reason=message,
            detail={"import": self.number, "status": status, **self._counts(counts)},
        )  # fmt: skip
        if status in (DONE, ROLLED_BACK):
            from ..runtime import runtime

            runtime().plugins.call(
                "scrm_import_finished",
                snapshot=runtime().registry.current(),
                entity=self.entity_name,
                job_id=self.job_id,
                status=status,
            )
        db.session.commit()


# -- the command line ---------------------------------------------------------------------
def import_file(
    app, entity_name: str, path: Path, *, key: str | None = None, mode: str | None = None,
    columns: dict[str, str] | None = None, username: str | None = None, importer: str | None = None,
) -> ImportJob:  # fmt: skip
    """``scrm import``: upload, map (by the ``importer`` named or recognised, else automatically;
    then ``columns``: header -> field or "" to ignore), start and run synchronously. ``key`` "-"
    means none; None, the importer's or the default key. ``mode`` None: the importer's, else
    all or nothing."""
    from ..runtime import snapshot
    from ..security.users import require_user

    svc = (
        ImportService.for_user(snapshot(), require_user(username))
        if username
        else ImportService(snapshot(), system=True)
    )
    imports = Imports(svc, admin=True)
    if path.stat().st_size > Limits.from_config().max_bytes:
        raise BadRequest(
            _("The file is larger than {limit} MB; split it into smaller files.").format(
                limit=Limits.from_config().max_bytes // MB
            )
        )
    job = imports.upload(entity_name, path.name, path.read_bytes(), importer=importer)
    job_id, targets = job.id, job.targets
    keys = {header_key(h): i for i, h in enumerate(job.columns)}
    for header, field_name in (columns or {}).items():
        if header_key(header) not in keys:
            raise BadRequest(_("The file has no column “{header}”.").format(header=header))
        targets[keys[header_key(header)]] = field_name or None
    if key is None:
        key = job.key_field if job.importer else default_key(svc, svc.entity(entity_name), targets)
    imports.start(job_id, targets, None if key == "-" else key, mode or job.mode)
    db.session.close()  # the run writes on its own connection: this one keeps no transaction open
    run_job(app, job_id)
    return imports.get(job_id)
