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
from .meta.normalize import normalize
from .meta.problems import Problem, has_errors, problem
from .meta.structure import KINDS
from .security import audit

STRUCTURAL = ("E-DEF-003", "E-DEF-004")  # not even a draft can be kept


@dataclass
class PublishResult:
    published: list[tuple[str, str, int]]
    steps: list[str] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    revision: int = 0


@dataclass
class BundleResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    drafts_in_the_way: list[str] = field(default_factory=list)
    publish: PublishResult | None = None


BUNDLE_FORMAT = "scrm-bundle/1"
MAX_BUNDLE_ITEMS = 500


def read_bundle(bundle) -> list[Document]:
    """The documents of an exported bundle, or a 422 naming the first thing wrong with it."""

    def bad(path: str, message: str) -> ValidationFailed:
        return ValidationFailed(_("This is not a definition bundle; nothing was imported."), [Detail(path, message)],
                                "invalid_bundle")  # fmt: skip

    if not isinstance(bundle, dict) or bundle.get("format") != BUNDLE_FORMAT:
        raise bad("$.format", _("Expected {format!r}.").format(format=BUNDLE_FORMAT))
    items = bundle.get("items")
    if not isinstance(items, list) or not items or len(items) > MAX_BUNDLE_ITEMS:
        raise bad("$.items", _("Expected a list of 1 to {n} definitions.").format(n=MAX_BUNDLE_ITEMS))
    docs, seen = [], set()
    for i, item in enumerate(items):
        where = f"$.items[{i}]"
        if not isinstance(item, dict) or item.get("kind") not in KINDS:
            raise bad(f"{where}.kind", _("Expected one of {kinds}.").format(kinds=", ".join(KINDS)))
        body = item.get("body")
        if not isinstance(body, dict) or body.get("kind") != item["kind"] or body.get("name") != item.get("name"):
            raise bad(f"{where}.body", _("Expected the definition, with the item's kind and name."))
        key = (item["kind"], item["name"])
        if key in seen:
            raise bad(f"{where}.name", _("{kind}/{name} is in the bundle twice.").format(kind=key[0], name=key[1]))
        seen.add(key)
        docs.append(Document(item["kind"], item["name"], body))
    return docs


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


def dependants(problems: list[Problem], errors_only: bool = True) -> list[str]:
    """The definitions (``kind/name``) the errors (or all) among ``problems`` are in, in order."""
    return list(
        dict.fromkeys(f"{p.kind}/{p.name}" for p in problems if p.kind and (p.severity == "error" or not errors_only))
    )


class UsedElsewhere(ValidationFailed):
    """A change refused because other definitions use what it removes or renames; the body
    lists them (``dependants``) besides each broken place (``details``)."""

    def __init__(self, message: str, details: list[Detail], users: list[str]):
        super().__init__(message, details, "used_by_other_definitions")
        self.dependants = users

    def body(self) -> dict:
        out = super().body()
        out["error"]["dependants"] = self.dependants
        return out


def dependants_failure(problems: list[Problem]) -> UsedElsewhere:
    users = dependants(problems)
    message = _(
        "Other definitions use what this change removes or renames: {users}. Change them first; nothing was changed."
    ).format(users=", ".join(users))
    return UsedElsewhere(message, problems_failure(problems).details, users)


def _actor(user_id: int | None) -> audit.Actor:
    if user_id is None:
        return audit.SYSTEM
    return audit.Actor(user_id, _username(user_id), (), audit.request_ip())


def _username(user_id: int | None) -> str | None:
    if user_id is None:
        return None
    from .security.users import User

    return db.session.scalar(sa.select(User.username).where(User.id == user_id))


def _error_count(problems: list[Problem]) -> int:
    return sum(1 for p in problems if p.severity == "error")


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
    def check_draft(self, kind: str, name: str, body) -> tuple[dict | None, list[Problem]]:
        """``body`` checked as the draft of kind/name in the context of the published
        configuration: the normalised body (None when it has errors) and every problem."""
        if not isinstance(body, dict):
            return None, [problem("E-DEF-003", "$", kind=kind, name=name)]
        body = dict(body)
        for key, expected in (("kind", kind), ("name", name)):
            if body.get(key, expected) != expected:
                return None, [problem("E-DEF-004", f"$.{key}", kind=kind, name=name, key=key, expected=expected)]
            body.setdefault(key, expected)
        candidate = Document(kind, name, body)
        normalised, problems = self.checker.check_set(
            self.published_set().replaced(candidate), self._previous_for(kind, name), only={(kind, name)}
        )
        return (None if has_errors(problems) else normalised.get(kind, name).body), problems

    def save_draft(
        self,
        kind: str,
        name: str,
        body: dict,
        user_id: int | None = None,
        source: str = "api",
        comment: str | None = None,
        base_version: int | str | None = None,
        allow_invalid: bool = False,
    ) -> tuple[store.DefinitionVersion, list[Problem]]:
        """Check ``body`` in the context of the published configuration and store it as the draft.

        ``base_version`` is what the author started from (a version number, or the ETag of
        :func:`store.etag`, which also tells two saves of the same draft apart): when someone
        has saved or published since, the save is refused (409) instead of overwriting theirs.
        With ``allow_invalid`` a draft with errors is kept as written (the designer saves work in
        progress); it cannot be published until the errors are fixed."""
        if kind not in KINDS:
            raise NotFound(_("Unknown definition kind {kind!r}.").format(kind=kind))
        if base_version is not None:
            self._refuse_stale(kind, name, base_version)
        clean, problems = self.check_draft(kind, name, body)
        structural = [p for p in problems if p.code in STRUCTURAL]
        if structural or (clean is None and not allow_invalid):
            failure = problems_failure(structural or problems, target=(kind, name))
            if structural:
                failure.message = structural[0].message
            raise failure
        if clean is None:
            clean = {**body, "kind": kind, "name": name}
        draft = store.get(kind, name, store.DRAFT)
        if draft is None:
            draft = store.add_version(kind, name, clean, store.DRAFT, source=source, user_id=user_id, comment=comment)
        else:
            draft.body, draft.source, draft.created_by, draft.comment = clean, source, user_id, comment
        detail = {"kind": kind, "name": name, "version": draft.version, "errors": _error_count(problems)}
        audit.append("definition_draft", _actor(user_id), detail=detail)
        db.session.commit()
        return draft, problems

    def _refuse_stale(self, kind: str, name: str, base: int | str) -> None:
        latest = store.latest(kind, name)
        if latest is None:
            return
        current = store.etag(latest) if isinstance(base, str) else latest.version
        if current == base:
            return
        who = _username(latest.created_by)
        raise Conflict(
            _(
                "{kind}/{name} changed since you opened it (now version {version}, saved by {who}); reload "
                "it and apply your changes again."
            ).format(kind=kind, name=name, version=latest.version, who=who or _("the system")),
            current={**latest.summary(), "etag": store.etag(latest), "saved_by": who},
        )

    def _previous_for(self, kind: str, name: str) -> dict:
        """The bodies ids and columns are inherited from: published ones, or the latest version."""
        previous = self.previous_bodies()
        if (kind, name) not in previous:
            latest = store.latest(kind, name)
            if latest is not None:
                previous[(kind, name)] = latest.body
        return previous

    def discard_draft(self, kind: str, name: str, user_id: int | None = None) -> None:
        draft = store.get(kind, name, store.DRAFT)
        if draft is None:
            raise NotFound(_("{kind}/{name} has no draft.").format(kind=kind, name=name))
        detail = {"kind": kind, "name": name, "version": draft.version}
        store.discard_draft(kind, name)
        audit.append("definition_discard", _actor(user_id), detail=detail)
        db.session.commit()

    # -- impact analysis ------------------------------------------------------------------
    def impact(self, kind: str, name: str, body: dict) -> list[Problem]:
        """What publishing ``body`` as kind/name would do to the other published definitions:
        the errors it causes (a workflow guard or an alert reading a removed field: publishing
        is refused) and the new warnings (a form or a role still naming a deactivated field: it
        is left out of them), each at its place. The checker is the dependency index: whatever
        it can tell is affected is reported."""
        candidate = self.published_set().replaced(Document(kind, name, body))
        previous = self._previous_for(kind, name)
        _normalised, before = self.checker.check_set(self.published_set(), previous)
        _normalised, after = self.checker.check_set(candidate, previous)
        known = {(p.kind, p.name, p.path, p.code) for p in before}
        return [p for p in after if (p.kind, p.name) != (kind, name) and (p.kind, p.name, p.path, p.code) not in known]

    def field_impact(self, entity: str, field_name: str, new_name: str | None = None) -> list[Problem]:
        """What deactivating a field of the published entity would do to the definitions that
        use it. With ``new_name`` (a rename) the same users are reported, as warnings: they keep
        working through the old name (``previous_names``); only a rename the checker refuses
        (the new name taken, malformed) is an error."""
        current = store.get("entity", entity, store.PUBLISHED)
        if current is None:
            raise NotFound(_("There is no entity {name!r}.").format(name=entity))
        fields = current.body.get("fields", [])
        if not any(f.get("name") == field_name and f.get("active", True) for f in fields):
            raise NotFound(_("{entity} has no field {field!r}.").format(entity=entity, field=field_name))
        without = {**current.body, "fields": [f for f in fields if f.get("name") != field_name]}
        users = self.impact("entity", entity, without)
        if new_name is None:
            _clean, own = self.check_draft("entity", entity, without)  # its own conditions, title …
            return [p for p in own if p.severity == "error"] + users
        renamed = [{**f, "name": new_name} if f.get("name") == field_name else f for f in fields]
        _clean, own = self.check_draft("entity", entity, {**current.body, "fields": renamed})
        still = [problem("W-DEF-005", p.path, kind=p.kind, name=p.name, detail=p.message) for p in users]
        return [p for p in own if p.severity == "error"] + still

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
            raise dependants_failure(others)
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
        actor = _actor(user_id)
        for doc, row in pending:
            row.body = normalised.get(doc.kind, doc.name).body
            store.mark_published(row)
            result.published.append((doc.kind, doc.name, row.version))
            # a role's publication changes what people may do: logged as a permission change
            action = "permission_change" if doc.kind == "role" else "publish"
            detail = {"kind": doc.kind, "name": doc.name, "version": row.version, "source": row.source}
            audit.append(action, actor, detail=detail)
        result.revision = store.bump_revision()
        return result

    # -- bundles (test -> production) -----------------------------------------------------
    def export_bundle(self, keys: list[tuple[str, str]] | None = None, user_id: int | None = None) -> dict:
        """The published definitions (all, or ``keys``) as one JSON document to import elsewhere."""
        rows = store.published()
        if keys is not None:
            wanted = set(keys)
            missing = sorted(wanted - {(r.kind, r.name) for r in rows})
            if missing:
                raise NotFound(
                    _("There is no published definition {which}.").format(
                        which=", ".join(f"{k}/{n}" for k, n in missing)
                    )
                )
            rows = [r for r in rows if (r.kind, r.name) in wanted]
        items = [{"kind": r.kind, "name": r.name, "version": r.version, "body": r.body} for r in rows]
        audit.append("definition_export", _actor(user_id), row_count=len(items),
                     detail={"items": [f"{i['kind']}/{i['name']}" for i in items]})  # fmt: skip
        db.session.commit()
        return {
            "format": BUNDLE_FORMAT,
            "exported_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "revision": store.current_revision(),
            "items": items,
        }

    def import_bundle(
        self, bundle, user_id: int | None = None, *, dry_run: bool = False, replace_drafts: bool = False
    ) -> BundleResult:
        """Publish the definitions of a bundle that differ from the published ones, all at once:
        one check of the whole configuration, one migration, one revision — or nothing."""
        docs = read_bundle(bundle)
        result = BundleResult()
        changed = []
        for doc in docs:
            label = f"{doc.kind}/{doc.name}"
            current = store.get(doc.kind, doc.name, store.PUBLISHED)
            if current is not None and store.content_hash(current.body) == store.content_hash(
                normalize(doc.kind, doc.body, current.body)[0]
            ):
                result.unchanged.append(label)
                continue
            draft = store.get(doc.kind, doc.name, store.DRAFT)
            if draft is not None and not replace_drafts:
                result.drafts_in_the_way.append(label)
                continue
            (result.updated if current is not None else result.created).append(label)
            changed.append(doc)
        if result.drafts_in_the_way:
            raise Conflict(
                _(
                    "These definitions have drafts that the import would replace: {which}. Publish or discard "
                    "them, or import with replace_drafts."
                ).format(which=", ".join(result.drafts_in_the_way)),
                current={"drafts": result.drafts_in_the_way},
                code="drafts_in_the_way",
            )
        if not changed:
            return result
        for doc in changed:
            store.discard_draft(doc.kind, doc.name)
        pending = [
            (doc, store.add_version(doc.kind, doc.name, doc.body, store.DRAFT, source="bundle", user_id=user_id))
            for doc in changed
        ]
        result.publish = self._publish(pending, user_id, dry_run=dry_run)
        if not dry_run:
            audit.append("definition_import", _actor(user_id), row_count=len(changed),
                         detail={"created": result.created, "updated": result.updated})  # fmt: skip
            db.session.commit()
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
