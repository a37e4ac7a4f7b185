"""The definition service: drafts, publishing (with the schema migration) and rollback, file
sync, export and migrate. Impact analysis, bundles and purging live in the sibling modules; the
service's methods for them delegate there."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from ..data.migrate import Planner, apply_plan
from ..data.tables import build_all, physical_names
from ..db import db
from ..errors import Conflict, Detail, NotFound, ValidationFailed
from ..fields import FieldTypes
from ..i18n import _
from ..meta import store
from ..meta.checker import Checker
from ..meta.documents import DefinitionSet, Document, definition_files, load_files
from ..meta.model import EntityDef
from ..meta.problems import Problem, has_errors, problem
from ..meta.structure import KINDS
from ..security import audit
from . import bundles, impact, purge
from .bundles import BundleResult
from .common import PublishResult, _actor, _username, one_transaction
from .impact import dependants_failure, problems_failure
from .purge import PurgeResult

STRUCTURAL = ("E-DEF-003", "E-DEF-004")  # not even a draft can be kept
PUBLISH_LOCK = 7_302_114_502  # pg_advisory_xact_lock key: one publish at a time


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    forced: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    result: PublishResult | None = None


def _error_count(problems: list[Problem]) -> int:
    return sum(1 for p in problems if p.severity == "error")


class DefinitionService:
    def __init__(self, field_types: FieldTypes, home: Path, plugins=None):
        """``plugins`` (:class:`scrm.plugins.manager.Plugins`) hear of each publication."""
        self.field_types = field_types
        self.plugins = plugins
        self.checker = Checker(field_types, physical_names, self._actions if plugins is not None else None)
        self.home = home

    def _actions(self):
        """The registered actions (built-in and plugins'), which rules and workflows may name."""
        from ..alerts.action_types import action_types  # (the alert layer owns actions)

        return action_types(self.plugins)

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
        return impact.impact(self, kind, name, body)

    def field_impact(self, entity: str, field_name: str, new_name: str | None = None) -> list[Problem]:
        """What deactivating a field of the published entity would do to the definitions that
        use it. With ``new_name`` (a rename) the same users are reported, as warnings: they keep
        working through the old name (``previous_names``); only a rename the checker refuses
        (the new name taken, malformed) is an error."""
        return impact.field_impact(self, entity, field_name, new_name)

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

    @staticmethod
    def _take_turn(pending) -> None:
        """Publishes run one at a time (SQLite's writer lock does it there; PostgreSQL takes an
        advisory lock), and a draft another publish took meanwhile is not published twice."""
        if db.engine.dialect.name != "postgresql":
            return
        db.session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": PUBLISH_LOCK})
        for doc, row in pending:
            try:
                db.session.refresh(row)
            except sa.orm.exc.ObjectDeletedError:  # its draft was discarded meanwhile
                row = None
            if row is None or row.status != store.DRAFT:
                raise Conflict(
                    _("{kind}/{name} was published or discarded by someone else meanwhile; reload it.").format(
                        kind=doc.kind, name=doc.name
                    )
                )

    def _publish(
        self, pending: list[tuple[Document, store.DefinitionVersion]], user_id: int | None, dry_run: bool = False
    ) -> PublishResult:
        return one_transaction(lambda: self._publish_in_transaction(pending, dry_run, user_id), dry_run)

    def _publish_in_transaction(self, pending, dry_run, user_id: int | None = None) -> PublishResult:
        self._take_turn(pending)
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
        if not dry_run and self.plugins is not None:
            self.plugins.call(
                "scrm_definitions_published",
                published=list(result.published),
                revision=result.revision,
                user_id=user_id,
            )
        return result

    # -- bundles (test -> production) -----------------------------------------------------
    def export_bundle(self, keys: list[tuple[str, str]] | None = None, user_id: int | None = None) -> dict:
        """The published definitions (all, or ``keys``) as one JSON document to import elsewhere."""
        return bundles.export_bundle(keys, user_id)

    def import_bundle(
        self, bundle, user_id: int | None = None, *, dry_run: bool = False, replace_drafts: bool = False
    ) -> BundleResult:
        """Publish the definitions of a bundle that differ from the published ones, all at once:
        one check of the whole configuration, one migration, one revision — or nothing."""
        return bundles.import_bundle(self, bundle, user_id, dry_run=dry_run, replace_drafts=replace_drafts)

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
        return purge.purge_field(self, entity_name, field_name, user_id, dry_run)

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


def _plural(kind: str) -> str:
    return {"entity": "entities"}.get(kind, kind + "s")
