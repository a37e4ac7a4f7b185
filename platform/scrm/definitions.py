"""Definition lifecycle: save a draft, publish (migrating the database), roll back, sync files.

Every path runs the two-phase checker over the whole configuration with the candidate in place,
plans the schema migration for entities, and applies the migration, the new version rows and
the revision bump in **one** transaction: a refused or failed publish leaves the live version
and the database exactly as they were.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext

from .data.migrate import Planner, apply_plan
from .data.tables import build_all, index_name, physical_names
from .db import db
from .errors import Conflict, Detail, NotFound, ValidationFailed
from .fields import FieldTypes
from .i18n import _
from .meta import store
from .meta.checker import Checker
from .meta.documents import DefinitionSet, Document, definition_files, load_files
from .meta.model import EntityDef
from .meta.problems import Problem, has_errors
from .meta.structure import KINDS
from .security import audit


@dataclass
class PublishResult:
    published: list[tuple[str, str, int]]
    steps: list[str] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    revision: int = 0


@dataclass
class PurgeResult:
    field: str
    archive_table: str
    archived_values: int
    statements: list[str]
    revision: int


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    forced: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    result: PublishResult | None = None


def problems_failure(
    problems: list[Problem], message: str | None = None, target: tuple[str, str] | None = None
) -> ValidationFailed:
    """Problems as a 422: paths are JSON paths in the target document, else prefixed kind/name."""
    details = [
        Detail(p.path if (p.kind, p.name) == target else _where(p), p.message, p.code)
        for p in problems
        if p.severity == "error"
    ]
    return ValidationFailed(
        message or _("The definition has {n} problem(s); nothing was changed.").format(n=len(details)),
        details,
        "invalid_definition",
    )


def _where(p: Problem) -> str:
    prefix = f"{p.kind}/{p.name}" if p.kind and p.name else (p.file or "")
    return f"{prefix}:{p.path}" if prefix else p.path


class DefinitionService:
    def __init__(self, field_types: FieldTypes, home: Path):
        self.field_types = field_types
        self.checker = Checker(field_types, physical_names)
        self.home = home

    # -- reading --------------------------------------------------------------------------
    def published_set(self) -> DefinitionSet:
        out = DefinitionSet()
        for row in store.published():
            out.add(Document(row.kind, row.name, row.body, None, row.version))
        return out

    def previous_bodies(self) -> dict[tuple[str, str], dict]:
        return {(d.kind, d.name): d.body for d in self.published_set()}

    # -- drafts ---------------------------------------------------------------------------
    def save_draft(
        self,
        kind: str,
        name: str,
        body: dict,
        user_id: int | None = None,
        source: str = "api",
        comment: str | None = None,
        base_version: int | None = None,
    ) -> tuple[store.DefinitionVersion, list[Problem]]:
        """Check ``body`` in the context of the published configuration and store it as the draft.

        ``base_version`` is the version the author started from: when someone has saved or
        published a newer one since, the save is refused (409) instead of overwriting it."""
        if base_version is not None:
            latest = store.latest(kind, name)
            if latest is not None and latest.version != base_version:
                raise Conflict(
                    _(
                        "{kind}/{name} changed since you opened it (now version {version}); reload it and "
                        "apply your changes again."
                    ).format(kind=kind, name=name, version=latest.version),
                    current=latest.summary(),
                )
        if kind not in KINDS:
            raise NotFound(_("Unknown definition kind {kind!r}.").format(kind=kind))
        if not isinstance(body, dict):
            raise ValidationFailed(
                _("The definition must be a JSON object."),
                [Detail("$", _("Expected an object."))],
                "invalid_definition",
            )
        body = dict(body)
        if body.get("kind", kind) != kind or body.get("name", name) != name:
            raise ValidationFailed(
                _("The document's kind and name must match the address."),
                [
                    Detail(
                        "$.kind" if body.get("kind", kind) != kind else "$.name",
                        _("Expected kind {kind!r} and name {name!r}.").format(kind=kind, name=name),
                    )
                ],
                "invalid_definition",
            )
        body.setdefault("kind", kind)
        body.setdefault("name", name)
        candidate = Document(kind, name, body)
        normalised, problems = self.checker.check_set(
            self.published_set().replaced(candidate), self._previous_for(kind, name), only={(kind, name)}
        )
        if has_errors(problems):
            raise problems_failure(problems, target=(kind, name))
        clean = normalised.get(kind, name).body
        draft = store.get(kind, name, store.DRAFT)
        if draft is None:
            draft = store.add_version(kind, name, clean, store.DRAFT, source=source, user_id=user_id, comment=comment)
        else:
            draft.body, draft.source, draft.created_by, draft.comment = clean, source, user_id, comment
        db.session.commit()
        return draft, problems

    def _previous_for(self, kind: str, name: str) -> dict:
        """The bodies ids and columns are inherited from: published ones, or the latest version."""
        previous = self.previous_bodies()
        if (kind, name) not in previous:
            latest = store.latest(kind, name)
            if latest is not None:
                previous[(kind, name)] = latest.body
        return previous

    def discard_draft(self, kind: str, name: str) -> None:
        if not store.discard_draft(kind, name):
            raise NotFound(_("{kind}/{name} has no draft.").format(kind=kind, name=name))
        db.session.commit()

    # -- publishing -----------------------------------------------------------------------
    def publish(self, kind: str, name: str, user_id: int | None = None, *, dry_run: bool = False) -> PublishResult:
        draft = store.get(kind, name, store.DRAFT)
        if draft is None:
            if store.latest(kind, name) is None:
                raise NotFound(_("There is no definition {kind}/{name}.").format(kind=kind, name=name))
            raise NotFound(_("{kind}/{name} has no draft to publish.").format(kind=kind, name=name), code="no_draft")
        return self._publish([(Document(kind, name, draft.body), draft)], user_id, dry_run=dry_run)

    def rollback(self, kind: str, name: str, version: int, user_id: int | None = None) -> PublishResult:
        old = store.get_version(kind, name, version)
        if old is None:
            raise NotFound(_("{kind}/{name} has no version {version}.").format(kind=kind, name=name, version=version))
        current = store.get(kind, name, store.PUBLISHED)
        if current is not None and current.version == version:
            raise ValidationFailed(
                _("Version {version} is already the published one.").format(version=version),
                [Detail("version", _("Already published."))],
                "nothing_to_do",
            )
        store.discard_draft(kind, name)
        row = store.add_version(
            kind,
            name,
            old.body,
            store.DRAFT,
            source="rollback",
            user_id=user_id,
            comment=_("Rollback to version {version}").format(version=version),
        )
        return self._publish([(Document(kind, name, old.body), row)], user_id)

    def publish_documents(
        self,
        docs: list[Document],
        user_id: int | None = None,
        source: str = "file",
        hashes: dict[tuple[str, str], str] | None = None,
    ) -> PublishResult:
        """Publish several documents at once (``scrm sync``): one check, one migration, one revision."""
        pending = []
        for doc in docs:
            row = store.add_version(
                doc.kind,
                doc.name,
                doc.body,
                store.DRAFT,
                source=source,
                user_id=user_id,
                file_hash=(hashes or {}).get((doc.kind, doc.name)),
            )
            pending.append((doc, row))
        return self._publish(pending, user_id)

    def _publish(
        self, pending: list[tuple[Document, store.DefinitionVersion]], user_id: int | None, dry_run: bool = False
    ) -> PublishResult:
        return one_transaction(lambda: self._publish_in_transaction(pending, dry_run, user_id), dry_run)

    def _publish_in_transaction(self, pending, dry_run, user_id: int | None = None) -> PublishResult:
        published = self.published_set()
        candidate_set = published
        previous = self.previous_bodies()
        for doc, row in pending:
            candidate_set = candidate_set.replaced(doc)
            earlier = store.latest_before(doc.kind, doc.name, row.version)
            if earlier is not None and (doc.kind, doc.name) not in previous:
                previous[(doc.kind, doc.name)] = earlier.body
        keys = {(d.kind, d.name) for d, _r in pending}
        normalised, problems = self.checker.check_set(candidate_set, previous, only=keys)
        if has_errors(problems):
            raise problems_failure(problems, target=next(iter(keys)) if len(keys) == 1 else None)
        # the whole set must stay consistent: dependents of what changes are re-checked too
        _all, everywhere = self.checker.check_set(normalised, previous)
        others = [p for p in everywhere if (p.kind, p.name) not in keys]
        if has_errors(others):
            raise problems_failure(others, _("Publishing would break other definitions; nothing was changed."))
        entities_new = [EntityDef.from_doc(d.body, 0) for d in normalised.of_kind("entity")]
        changes = []
        for doc, _row in pending:
            if doc.kind == "entity":
                old = published.get("entity", doc.name)
                new = next(e for e in entities_new if e.name == doc.name)
                changes.append((EntityDef.from_doc(old.body) if old else None, new))
        result = PublishResult(published=[], warnings=[p for p in problems if p.severity != "error"])
        if changes:
            _metadata, tables = build_all(entities_new, self.field_types)
            conn = db.session.connection()
            plan = Planner(conn, self.field_types, tables).plan(changes)
            if not plan.ok:
                raise ValidationFailed(
                    _("The database cannot be changed safely; nothing was changed."), plan.refusals, "migration_refused"
                )
            result.steps = plan.describe()
            try:
                result.statements = apply_plan(conn, plan)
            except sa.exc.DBAPIError as exc:  # e.g. values that collide once normalised under a new unique index
                raise ValidationFailed(
                    _("The database refused the change ({error}); nothing was changed.").format(
                        error=type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__
                    ),
                    [Detail("$", step) for step in result.steps],
                    "migration_failed",
                ) from None
        actor = audit.Actor(user_id, None, (), audit.request_ip()) if user_id is not None else audit.SYSTEM
        for doc, row in pending:
            row.body = normalised.get(doc.kind, doc.name).body
            store.mark_published(row)
            result.published.append((doc.kind, doc.name, row.version))
            # a role's publication changes what people may do: logged as a permission change
            action = "permission_change" if doc.kind == "role" else "publish"
            audit.append(action, actor, detail={"kind": doc.kind, "name": doc.name, "version": row.version})
        result.revision = store.bump_revision()
        return result

    # -- files ----------------------------------------------------------------------------
    def sync(self, force: bool = False, user_id: int | None = None, paths: list[Path] | None = None) -> SyncReport:
        """Load the shipped definition files into the store (DESIGN.md §5 conflict rules)."""
        report = SyncReport()
        docs, problems = load_files(paths or definition_files(self.home), base=self.home)
        report.problems += problems
        if has_errors(problems):
            return report
        to_publish, hashes = [], {}
        for doc in docs:
            label = f"{doc.kind}/{doc.name}"
            digest = store.content_hash(doc.body)
            current = store.get(doc.kind, doc.name, store.PUBLISHED)
            draft = store.get(doc.kind, doc.name, store.DRAFT)
            if current is None and draft is None:
                report.created.append(label)
            elif current is not None and current.source == "file" and current.file_hash == digest and draft is None:
                report.unchanged.append(label)
                continue
            elif current is not None and current.source == "file" and draft is None:
                report.updated.append(label)
            elif force:
                report.forced.append(label)
                store.discard_draft(doc.kind, doc.name)
            else:
                report.conflicts.append(label)
                continue
            hashes[(doc.kind, doc.name)] = digest
            to_publish.append(doc)
        if to_publish:
            try:
                report.result = self.publish_documents(to_publish, user_id, "file", hashes)
            except ValidationFailed as exc:
                report.problems.append(Problem(exc.code, exc.message))
                report.problems += [Problem(d.code or "E-SYNC", d.message, d.path) for d in exc.details]
                report.created, report.updated, report.forced = [], [], []
        else:
            db.session.commit()
        return report

    def purge_field(
        self, entity_name: str, field_name: str, user_id: int | None = None, dry_run: bool = False
    ) -> PurgeResult:
        """Drop a deactivated field for good: its values are first copied to an archive table
        (``scrm_archive_<table>_<column>``), then the column (or value table) is dropped and the
        field leaves the definition — one transaction. Refused while the field is active or still
        referenced by another definition."""
        current = store.get("entity", entity_name, store.PUBLISHED)
        if current is None:
            raise NotFound(_("There is no entity {name!r}.").format(name=entity_name))
        entity = EntityDef.from_doc(current.body, current.version)
        f = next((x for x in entity.fields if x.name == field_name or x.id == field_name), None)
        if f is None:
            raise NotFound(_("{entity} has no field {field!r}.").format(entity=entity_name, field=field_name))
        if f.active:
            raise ValidationFailed(
                _(
                    "Deactivate the field first (remove it from the definition and publish); "
                    "only deactivated fields can be purged."
                ),
                [Detail(f"fields.{f.name}", _("The field is active."))],
                "field_active",
            )
        body = {**current.body, "fields": [x for x in current.body["fields"] if x.get("id") != f.id]}
        candidate = self.published_set().replaced(Document("entity", entity_name, body))
        previous = self.previous_bodies()
        previous.pop(("entity", entity_name))  # else normalising would keep the field, deactivated
        _normalised, problems = self.checker.check_set(candidate, previous)
        if has_errors(problems):
            raise problems_failure(problems, _("Other definitions still use this field; nothing was purged."))
        return one_transaction(lambda: self._purge(entity, f, body, user_id), dry_run)

    def _purge(self, entity: EntityDef, f, body: dict, user_id: int | None) -> PurgeResult:
        _metadata, tables = build_all([entity], self.field_types)
        et = tables[entity.name]
        conn = db.session.connection()
        ftype = self.field_types[f.type]
        archive = index_name("scrm_archive", entity.table, [f.column])
        statements: list[str] = []

        def capture(_conn, _cursor, statement, _params, _context, _many):
            statements.append(statement.strip())

        sa.event.listen(conn, "before_cursor_execute", capture)
        try:
            archive_table = sa.Table(
                archive,
                sa.MetaData(),
                sa.Column("record_id", sa.BigInteger, nullable=False),
                sa.Column("value", sa.JSON),
                sa.Column("purged_at", sa.String(40)),
            )
            archive_table.create(conn, checkfirst=True)
            moment = datetime.now(UTC).isoformat()
            if ftype.multi:
                link = et.links[f.id]
                rows = conn.execute(sa.select(link.c.record_id, link.c.value)).all()
                grouped: dict[int, list] = {}
                for rid, value in rows:
                    grouped.setdefault(rid, []).append(value)
                values = [{"record_id": rid, "value": v, "purged_at": moment} for rid, v in grouped.items()]
            else:
                col = sa.column(f.column, ftype.storage_type(f))
                rows = conn.execute(sa.select(et.main.c.id, col).select_from(et.main).where(col.is_not(None))).all()
                values = [
                    {"record_id": rid, "value": ftype.to_json(ftype.from_db(v, f), f), "purged_at": moment}
                    for rid, v in rows
                ]
            for start in range(0, len(values), 2000):
                conn.execute(archive_table.insert(), values[start : start + 2000])
            op = Operations(MigrationContext.configure(conn))
            if ftype.multi:
                et.links[f.id].drop(conn)
            else:
                for index in sa.inspect(conn).get_indexes(entity.table):
                    if f.column in index["column_names"]:
                        op.drop_index(index["name"], table_name=entity.table)
                op.drop_column(entity.table, f.column)
            row = store.add_version(
                "entity",
                entity.name,
                body,
                store.DRAFT,
                source="api",
                user_id=user_id,
                comment=_("Purged field {field}").format(field=f.name),
            )
            store.mark_published(row)
            revision = store.bump_revision()
        finally:
            sa.event.remove(conn, "before_cursor_execute", capture)
        return PurgeResult(
            f.name,
            archive,
            len(values),
            [s for s in statements if s.split(None, 1)[0].upper() in ("CREATE", "DROP", "ALTER")],
            revision,
        )

    def export(self, folder: Path) -> list[Path]:
        """Write every published definition to ``folder`` (schemas/<kind>s/… and workflows/…)."""
        written = []
        for row in store.published():
            sub = Path("workflows") if row.kind == "workflow" else Path("schemas") / _plural(row.kind)
            path = folder / sub / f"{row.name}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(row.body, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
            written.append(path)
        return written

    def migrate(self, dry_run: bool = False) -> tuple[list[str], list[str]]:
        """Bring the database to the published entities (missing tables, columns, indexes).

        With ``dry_run`` the plan is applied inside a transaction that is rolled back, so the
        statements returned are exactly the ones a real run executes.
        """
        entities = [EntityDef.from_doc(d.body, d.version or 0) for d in self.published_set().of_kind("entity")]
        _metadata, tables = build_all(entities, self.field_types)
        conn = db.session.connection()
        plan = Planner(conn, self.field_types, tables).plan([(e, e) for e in entities])
        if not plan.ok:
            raise ValidationFailed(
                _("The database cannot be changed safely; nothing was changed."), plan.refusals, "migration_refused"
            )
        statements = apply_plan(conn, plan) if plan.steps else []
        if dry_run:
            db.session.rollback()
        else:
            db.session.commit()
        return plan.describe(), statements


def one_transaction(work, dry_run: bool = False):
    """Run ``work`` in the session's transaction: all of it is committed, or (on failure, or for a
    dry run) none of it."""
    try:
        result = work()
    except Exception:
        db.session.rollback()
        raise
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()
    return result


def _plural(kind: str) -> str:
    return {"entity": "entities"}.get(kind, kind + "s")
