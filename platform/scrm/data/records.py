"""The record service: the only road to entity data (pages, API, imports and jobs all use it).

Reading (lists, filters, keyset pages) lives in :class:`scrm.data.reading.RecordReader`; this
module adds validation with the entity's generated schema, uniqueness, references and check
constraints, and the writes: optimistic locking (a stale version gets a 409 carrying the current
record), soft delete and change history. Every public write is one transaction.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ..conditions import UserContext
from ..db import db, run, writing
from ..errors import BadRequest, Conflict, Detail, Forbidden, ValidationFailed
from ..fields import ConversionError
from ..i18n import _, text
from ..meta.model import SYSTEM_COLUMNS, EntityDef, FieldDef
from ..security import audit
from ..security.masking import mask
from ..security.permissions import Permissions
from ..security.scopes import principal
from .evaluation import stored_value
from .handover import HandOverMixin
from .history import record_changes
from .hooks import HookMixin
from .reading import MAX_LIMIT, TITLE_PREFIX, Page, RecordReader
from .reveal import RevealMixin
from .rules import FormOutcome, RulesMixin
from .sealed import history_value, stored_columns
from .tables import EntityTables
from .validation import schema_for

__all__ = ["MAX_LIMIT", "TITLE_PREFIX", "Page", "RecordService", "lock_version"]
LOCK_KEYS = ("_version", "version")


def now() -> datetime:
    return datetime.now(UTC)


def _field_paths(node) -> list[str]:
    """Every ``{"field": path}`` in a condition or operand tree."""
    if isinstance(node, dict):
        found = [node["field"]] if isinstance(node.get("field"), str) else []
        return found + [p for v in node.values() if isinstance(v, dict | list) for p in _field_paths(v)]
    if isinstance(node, list):
        return [p for v in node for p in _field_paths(v)]
    return []


def write_operation(method):
    """A public write: one transaction that starts as a writer (see :func:`scrm.db.writing`)."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with writing():
            return method(*args, **kwargs)

    return wrapper


class RecordService(RulesMixin, RevealMixin, HandOverMixin, HookMixin, RecordReader):
    @classmethod
    def for_user(cls, snapshot, user) -> RecordService:
        """The service as a signed-in user sees it: their roles' permissions, their place on the
        org tree (record scopes) and ``ctx`` for conditions (id, roles, employee, org units)."""
        roles = tuple(user.roles)

        def context(who) -> UserContext:
            return UserContext(
                id=user.id, roles=roles, org_units=tuple(u for u in (who.org_unit,) if u), employee=who.employee
            )

        return cls(
            snapshot,
            user.id,
            user=context,
            permissions=Permissions(snapshot, roles),
            principal=lambda: principal(snapshot, user.id, getattr(user, "username", None)),
            username=getattr(user, "username", None),
        )

    def validate(self, entity: EntityDef, data: Any, *, partial: bool, current: dict | None = None) -> dict:
        """Clean input into canonical values or raise :class:`ValidationFailed` with per-field details."""
        if not isinstance(data, dict):
            raise ValidationFailed(
                _("Expected a JSON object of field values."), [Detail("$", _("Expected an object."))]
            )
        details: list[Detail] = []
        incoming = {}
        for key, value in data.items():
            if key in LOCK_KEYS or key in SYSTEM_COLUMNS or key.startswith("_"):
                continue
            f = entity.field(key)
            access = self.permissions.field(entity, f) if f is not None and not self.permissions.system else None
            if (
                access is not None
                and current is not None
                and access.view == "masked"
                and value == mask(f.get("mask"), current.get(f.name))
            ):
                continue  # the masked value the user was shown, sent back: unchanged
            if f is not None and (f.computed or (f.readonly and not self.system)):
                if access is not None and access.view != "plain" and not (current is None and value is None):
                    raise self.permissions.forbid_field(entity, f)  # comparing would confirm a guess
                if not self._same(f, value, current):
                    details.append(Detail(key, _("This field is read-only.")))
                continue
            if access is not None:
                if not access.write:
                    # a plain value sent back unchanged is fine; for masked and hidden ones the
                    # answer would tell whether a guess was right, so anything but nothing fails
                    if (access.view == "plain" and self._same(f, value, current)) or (
                        current is None and value is None
                    ):
                        continue
                    raise self.permissions.forbid_field(entity, f)
            incoming[f.name if f else key] = value
        try:
            cleaned = schema_for(self.snapshot, entity, partial, self.system).load(incoming)
        except ma.ValidationError as exc:
            for key, messages in sorted(exc.normalized_messages().items()):
                for message in messages if isinstance(messages, list) else [str(messages)]:
                    details.append(Detail(key, str(message)))
            cleaned = None
        if details:
            raise ValidationFailed(_("Please correct the marked fields."), details)
        return cleaned

    def _same(self, f: FieldDef, value, current: dict | None) -> bool:
        if current is None:
            return value is None
        try:
            return self.field_types[f.type].validate(value, f) == current.get(f.name)
        except ConversionError:
            return False

    def _compute_stored(self, entity: EntityDef, merged: dict, env=None) -> None:
        """Stored computed fields take their value from the record on every write."""
        for f in entity.active_fields:
            if f.computed and f.get("stored"):
                env = env or self.environment()
                merged[f.name] = stored_value(self.snapshot, entity, f)(merged, env)

    def _prefetch_references(self, entity: EntityDef, rows: list[dict], env) -> None:
        """The records stored computed fields read through references (``customer.customer_no``),
        read for a whole batch in one query per target instead of one per row."""
        wanted: dict[str, set[int]] = {}
        for f in entity.active_fields:
            if not (f.computed and f.get("stored")):
                continue
            for path in _field_paths(f.spec["computed"]):
                ref = entity.field(path.split(".")[0])
                if ref is not None and ref.type == "ref" and "." in path:
                    ids = {r.get(ref.name) for r in rows}
                    wanted.setdefault(ref.target, set()).update(i for i in ids if isinstance(i, int))
        for target, ids in wanted.items():
            env.data.prefetch(target, sorted(ids))

    def _settle(
        self, entity: EntityDef, merged: dict, cleaned: dict, current: dict | None, saving: bool = True
    ) -> FormOutcome:
        """Derived and stored computed values, then the form's rules on the result (which may
        drop submitted values; the derived ones are then worked out again). ``saving`` is False
        for a preview: derivations with side effects (numbers, routing turns) wait."""
        self._derive(entity, merged, current, saving)
        self._compute_stored(entity, merged)
        form = self._apply_form_rules(entity, merged, cleaned, current)
        if form.dropped:
            self._derive(entity, merged, current, saving)
            self._compute_stored(entity, merged)
        return form

    def _exists(self, entity_name: str | None, record_id: int) -> bool:
        """The record exists and the user may see it: a reference to a record outside the user's
        scope is refused exactly like one to a record that does not exist."""
        entity = self.snapshot.entity(entity_name or "")
        if entity is None or not self.permissions.can(entity, "read"):
            return False
        main = self.tables(entity).main
        q = sa.select(main.c.id).where(main.c.id == record_id, main.c.deleted_at.is_(None))
        return run(self.scoped(q, entity, self.environment())).first() is not None

    def _require_in_scope(self, entity: EntityDef, record_id: int) -> None:
        """After a write, inside its transaction: the record must still be one the user may see
        (nobody creates records in, or moves them to, someone else's book). A user who sees
        every record of the entity needs no statement: the write itself found the record live."""
        grant = self.permissions.grant(entity.name)
        everything = self.permissions.system or (grant.scope == "all" and not grant.filters)
        if not (everything or self._exists(entity.name, record_id)):
            message = _("The {entity} would be outside the records you may work on; nothing was saved.")
            raise Forbidden(message.format(entity=text(entity.label)), code="outside_scope")

    def problems(self, entity_name: str, data: dict, record_id: int | None = None) -> dict[str, list[str]]:
        """What saving ``data`` would complain about, without saving (forms report everything at once)."""
        entity = self.entity(entity_name)
        current = self.load(entity_name, record_id) if record_id else None
        try:
            cleaned = self.validate(entity, data, partial=current is not None, current=current)
            merged = {**(current or {**self.defaults(entity)}), **cleaned}
            form = self._settle(entity, merged, cleaned, current, saving=False)
            changed = {
                k for k in merged if entity.field(k) is not None and (current is None or current.get(k) != merged[k])
            }
            self._check_rules(entity, merged, changed, record_id, current, form)
        except ValidationFailed as exc:
            return exc.by_path()
        return {}

    def defaults(self, entity: EntityDef) -> dict:
        out = {}
        for f in entity.active_fields:
            if f.has_default and f.default is not None and not f.computed:
                out[f.name] = self.field_types[f.type].validate(f.default, f)
        return out

    # -- writing --------------------------------------------------------------------------
    @write_operation
    def create(self, entity_name: str, data: Any) -> dict:
        entity = self.entity(entity_name)
        try:
            record_id = self.create_in_transaction(entity_name, data)
            self._commit()
        except IntegrityError as exc:
            db.session.rollback()
            raise self._integrity(entity, exc) from None
        except Exception:
            db.session.rollback()
            raise
        return self.get(entity_name, record_id)

    def create_in_transaction(self, entity_name: str, data: Any) -> int:
        """Validate and insert one record in the caller's transaction (no commit); its id."""
        entity = self.entity(entity_name)
        self.permissions.require(entity, "create")
        cleaned = self.validate(entity, data, partial=False)
        merged = {**self.defaults(entity), **cleaned}
        for f in self.multi_fields(entity):
            merged.setdefault(f.name, [])
        self._claim(entity, merged)
        form = self._settle(entity, merged, cleaned, None)
        self._check_rules(entity, merged, set(merged), None, None, form)
        record_id = self._insert(entity, merged)
        self._require_in_scope(entity, record_id)
        self._written(entity, record_id, set(merged), None)
        self._audit("create", entity, record_id, cleaned)
        return record_id

    def _audit(self, action: str, entity: EntityDef, record_id: int, fields) -> None:
        """The audit entry of one create or update (an import gathers them per chunk)."""
        audit.append(action, self.actor(), entity=entity.name, record_id=record_id, fields=sorted(fields))

    _batch = False  # inside a multi-record operation: its writes commit together at its end

    def _commit(self) -> None:
        if not self._batch:
            db.session.commit()

    def _claim(self, entity: EntityDef, merged: dict) -> None:
        """What a user creates is theirs: an empty owner reference of the entity's record scope
        takes the user's employee record, an empty org reference their unit."""
        spec = entity.doc.get("options", {}).get("scope") or {}
        for key, value in (("owner", self.principal.employee), ("org", self.principal.org_unit)):
            names = spec.get(key) or []
            for name in [names] if isinstance(names, str) else names:
                f = entity.field(name)
                if value is not None and f is not None and merged.get(f.name) is None:
                    merged[f.name] = value
                    break

    @write_operation
    def bulk_create(self, entity_name: str, rows: list[dict], batch: int = 1000) -> int:
        """Insert many records in batches (imports, demo data): each row is validated field by field;
        uniqueness and references are left to the database's indexes and foreign keys."""
        entity = self.entity(entity_name)
        self.permissions.require(entity, "import")
        try:
            inserted = len(self.insert_many(entity, rows, batch))
            audit.append("import", self.actor(), entity=entity.name, row_count=inserted)
            db.session.commit()
        except IntegrityError as exc:
            db.session.rollback()
            raise self._integrity(entity, exc) from None
        except Exception:
            db.session.rollback()
            raise
        return inserted

    def insert_many(self, entity: EntityDef, rows: list[dict], batch: int = 1000) -> list[int]:
        """Validate and insert ``rows`` in the current transaction (the caller commits and audits);
        their ids in order. Uniqueness and references are left to the database's indexes and
        foreign keys."""
        et = self.tables(entity)
        stored = self.stored_fields(entity)
        multi = self.multi_fields(entity)
        defaults = self.defaults(entity)
        inserted: list[int] = []
        env = self.environment()
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            self._prefetch_references(entity, [r for r in chunk if isinstance(r, dict)], env)
            moment = now()
            main_rows, link_values = [], []
            for i, data in enumerate(chunk):
                try:
                    cleaned = self.validate(entity, data, partial=False)
                except ValidationFailed as exc:
                    raise ValidationFailed(
                        exc.message, [Detail(f"[{start + i}].{d.path}", d.message, d.code) for d in exc.details]
                    ) from None
                merged = {**defaults, **cleaned}
                self._compute_stored(entity, merged, env)
                row = self._new_row(moment)
                for f in stored:
                    row.update(stored_columns(f, merged.get(f.name)))
                main_rows.append(row)
                link_values.append({f.id: merged.get(f.name) or [] for f in multi})
            ids = (
                db.session.execute(sa.insert(et.main).returning(et.main.c.id, sort_by_parameter_order=True), main_rows)
                .scalars()
                .all()
            )
            for f in multi:
                links = [
                    {"record_id": rid, "value": v}
                    for rid, values in zip(ids, link_values, strict=True)
                    for v in values[f.id]
                ]
                if links:
                    db.session.execute(sa.insert(et.links[f.id]), links)
            self._record_creations(entity, ids, moment)
            inserted += ids
        return inserted

    def _insert(self, entity: EntityDef, values: dict) -> int:
        et = self.tables(entity)
        moment = now()
        row = self._new_row(moment)
        for f in self.stored_fields(entity):
            if f.name in values:
                row.update(stored_columns(f, values[f.name]))
        record_id = db.session.execute(sa.insert(et.main).values(**row).returning(et.main.c.id)).scalar_one()
        for f in self.multi_fields(entity):
            self._write_links(et, f, record_id, values.get(f.name) or [])
        self._record_creations(entity, [record_id], moment)
        return record_id

    def _new_row(self, moment: datetime) -> dict:
        """The system columns of a record being created."""
        return {
            "version": 1,
            "created_at": moment,
            "updated_at": moment,
            "created_by": self.user_id,
            "updated_by": self.user_id,
        }

    def _record_creations(self, entity: EntityDef, ids: list[int], moment: datetime) -> None:
        """The "created" entry of each new record's change history."""
        record_changes(
            [
                {
                    "entity": entity.name,
                    "record_id": rid,
                    "version": 1,
                    "action": "create",
                    "field_id": None,
                    "field_name": None,
                    "old_value": None,
                    "new_value": None,
                    "user_id": self.user_id,
                    "changed_at": moment,
                }
                for rid in ids
            ]
        )

    def _write_links(self, et: EntityTables, f: FieldDef, record_id: int, values: list[str]) -> None:
        link = et.links[f.id]
        db.session.execute(sa.delete(link).where(link.c.record_id == record_id))
        if values:
            db.session.execute(sa.insert(link), [{"record_id": record_id, "value": v} for v in values])

    @write_operation
    def update(
        self,
        entity_name: str,
        record_id: int,
        data: Any,
        version: int | None = None,
        *,
        read_back: bool = True,
        current: dict | None = None,
    ) -> dict | None:
        """Change a record at the version the caller edited; the record as saved, as the user sees
        it (``read_back=False``: nothing). ``current``: the record as :meth:`load` read it in this
        request, not read again (the write still only happens at ``version``)."""
        entity = self.entity(entity_name)
        if version is None and isinstance(data, dict):
            version = lock_version(data)
        if version is None:
            raise BadRequest(
                _("Send the version you edited (If-Match header or _version) so that nobody's change is overwritten."),
                [Detail("_version", _("Missing version."))],
                "version_required",
            )
        self.permissions.require(entity, "update")
        try:
            if current is None or current.get("id") != record_id:
                current = self.load(entity_name, record_id)
            if current["version"] != version:
                raise self._conflict(entity, current)
            cleaned = self.validate(entity, data, partial=True, current=current)
            merged = {**current, **cleaned}
            form = self._settle(entity, merged, cleaned, current)
            changed = {k for k in merged if entity.field(k) is not None and current.get(k) != merged[k]}
            self._check_rules(entity, merged, changed, record_id, current, form)
            if changed:
                self._write_update(entity, current, merged, changed, version)
                self._require_in_scope(entity, record_id)
                self._written(entity, record_id, changed, current)
                self._audit("update", entity, record_id, changed)
            self._commit()
        except IntegrityError as exc:
            db.session.rollback()
            raise self._integrity(entity, exc) from None
        except Exception:
            db.session.rollback()
            raise
        return self.get(entity_name, record_id) if read_back else None

    def write_values(self, entity: EntityDef, current: dict, values: dict) -> tuple[dict, set[str]]:
        """Write values a workflow decided — a transition's inputs (validated by the caller), its
        actions' results, the new state — with the checks, history and hooks of an update, in
        the caller's transaction (no commit). :class:`Conflict` when ``current`` is stale."""
        merged = {**current, **values}
        changed = {k for k in values if entity.field(k) is not None and current.get(k) != merged[k]}
        self._check_rules(entity, merged, changed, current["id"], current)
        if changed:
            self._write_update(entity, current, merged, changed, current["version"])
            merged["version"] = current["version"] + 1
            self._written(entity, current["id"], changed, current)
            audit.append("update", self.actor(), entity=entity.name, record_id=current["id"], fields=sorted(changed))
        return merged, changed

    def _write_update(self, entity: EntityDef, current: dict, merged: dict, changed: set[str], version: int) -> None:
        et = self.tables(entity)
        moment = now()
        values = {"version": version + 1, "updated_at": moment, "updated_by": self.user_id}
        for f in self.stored_fields(entity):
            if f.name in changed:
                values.update(stored_columns(f, merged[f.name]))
        result = db.session.execute(
            sa.update(et.main)
            .where(et.main.c.id == current["id"], et.main.c.version == version, et.main.c.deleted_at.is_(None))
            .values(**values)
        )
        if result.rowcount != 1:
            db.session.rollback()
            raise self._conflict(entity, self.load(entity.name, current["id"]))
        for f in self.multi_fields(entity):
            if f.name in changed:
                self._write_links(et, f, current["id"], merged[f.name])
        rows = []
        for name in sorted(changed):
            f = entity.field(name)
            ftype = self.field_types[f.type]
            rows.append(
                {
                    "entity": entity.name,
                    "record_id": current["id"],
                    "version": version + 1,
                    "action": "update",
                    "field_id": f.id,
                    "field_name": f.name,
                    "old_value": history_value(entity, f, ftype.to_json(current.get(name), f)),
                    "new_value": history_value(entity, f, ftype.to_json(merged.get(name), f)),
                    "user_id": self.user_id,
                    "changed_at": moment,
                }
            )
        record_changes(rows)

    @write_operation
    def delete(self, entity_name: str, record_id: int, version: int | None = None) -> None:
        entity = self.entity(entity_name)
        self.permissions.require(entity, "delete")
        try:
            current = self.load(entity_name, record_id)
            if version is not None and current["version"] != version:
                raise self._conflict(entity, current)
            self._release_references(entity, record_id)
            et = self.tables(entity)
            moment = now()
            result = db.session.execute(
                sa.update(et.main)
                .where(
                    et.main.c.id == record_id, et.main.c.version == current["version"], et.main.c.deleted_at.is_(None)
                )
                .values(deleted_at=moment, version=current["version"] + 1, updated_at=moment, updated_by=self.user_id)
            )
            if result.rowcount != 1:
                raise self._conflict(entity, self.load(entity_name, record_id))
            record_changes(
                [
                    {
                        "entity": entity.name,
                        "record_id": record_id,
                        "version": current["version"] + 1,
                        "action": "delete",
                        "field_id": None,
                        "field_name": None,
                        "old_value": None,
                        "new_value": None,
                        "user_id": self.user_id,
                        "changed_at": moment,
                    }
                ]
            )
            audit.append("delete", self.actor(), entity=entity.name, record_id=record_id)
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise

    def _release_references(self, entity: EntityDef, record_id: int) -> None:
        """References to a deleted record: refuse (restrict, the default) or clear them (set_null)."""
        for other in self.snapshot.entities.values():
            et = self.tables(other)
            for f in self.stored_fields(other):
                if f.type != "ref" or f.target != entity.name:
                    continue
                col = et.main.c[f.column]
                live = sa.and_(col == record_id, et.main.c.deleted_at.is_(None))
                if f.get("on_delete") == "set_null":
                    db.session.execute(
                        sa.update(et.main)
                        .where(live)
                        .values({f.column: None, "version": et.main.c.version + 1, "updated_at": now()})
                    )
                    continue
                count = db.session.execute(sa.select(sa.func.count()).select_from(et.main).where(live)).scalar_one()
                if count:
                    raise Conflict(
                        _(
                            "{entity} #{id} is still referenced by {count} {other} record(s) ({field}); "
                            "change those first."
                        ).format(
                            entity=text(entity.label),
                            id=record_id,
                            count=count,
                            other=text(other.label),
                            field=text(f.label),
                        ),
                        code="still_referenced",
                    )

    # -- errors ---------------------------------------------------------------------------
    def _conflict(self, entity: EntityDef, current: dict) -> Conflict:
        return Conflict(
            _("Someone else changed this {entity} (now version {version}); reload and apply your change again.").format(
                entity=text(entity.label), version=current["version"]
            ),
            current=self.to_json(entity, self.present(entity, [dict(current)])[0]),
        )

    def _integrity(self, entity: EntityDef, exc: IntegrityError) -> ScrmIntegrity:
        return ScrmIntegrity(
            _("The change conflicts with another record (a unique value or a reference); nothing was saved.")
        )

    # -- serialisation --------------------------------------------------------------------


class ScrmIntegrity(Conflict):
    def __init__(self, message: str):
        super().__init__(message, code="integrity")


def lock_version(data: dict) -> int | None:
    for key in LOCK_KEYS:
        value = data.get(key)
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
            return int(value)
    return None
