"""The record service: the only road to entity data (pages, API, imports and jobs all use it).

It validates with the entity's generated schema, enforces uniqueness, references and check
constraints, writes with optimistic locking (a stale version gets a 409 carrying the current
record), soft-deletes, keeps a change history, and lists with filters, sorting and keyset
pagination. Every public write is one transaction.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ..conditions import ConditionError, compile_sql, evaluate
from ..conditions.sql import text_match
from ..db import db, run, writing
from ..errors import BadRequest, Conflict, Detail, NotFound, ValidationFailed
from ..fields import ConversionError
from ..i18n import _, text
from ..meta.model import SYSTEM_COLUMNS, EntityDef, FieldDef
from .history import changes_of, record_changes
from .query import after as after_clause
from .query import decode_cursor, encode_cursor, order_by, parse_sort
from .tables import EntityTables
from .validation import schema_for

MAX_LIMIT = 200
TITLE_PREFIX = "_title__"
LOCK_KEYS = ("_version", "version")


@dataclass
class Page:
    items: list[dict]
    next: str | None
    sort: str


def now() -> datetime:
    return datetime.now(UTC)


def write_operation(method):
    """A public write: one transaction that starts as a writer (see :func:`scrm.db.writing`)."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with writing():
            return method(*args, **kwargs)

    return wrapper


class RecordService:
    def __init__(self, snapshot, user_id: int | None = None, *, system: bool = False):
        self.snapshot = snapshot
        self.field_types = snapshot.field_types
        self.user_id = user_id
        self.system = system  # feeds and imports may write read-only fields

    # -- metadata -------------------------------------------------------------------------
    def entity(self, name: str) -> EntityDef:
        entity = self.snapshot.entity(name)
        if entity is None:
            raise NotFound(_("There is no entity {name!r}.").format(name=name))
        return entity

    def tables(self, entity: EntityDef) -> EntityTables:
        return self.snapshot.tables[entity.name]

    def stored_fields(self, entity: EntityDef) -> list[FieldDef]:
        return [
            f
            for f in entity.active_fields
            if not self.field_types[f.type].multi and f.column in self.tables(entity).main.c
        ]

    def multi_fields(self, entity: EntityDef) -> list[FieldDef]:
        return [f for f in entity.active_fields if self.field_types[f.type].multi]

    # -- reading --------------------------------------------------------------------------
    def list(
        self,
        entity_name: str,
        *,
        filter: dict | None = None,
        sort: str | None = None,
        limit: int = 50,
        after: str | None = None,
        search: str | None = None,
        fields: list[str] | None = None,
    ) -> Page:
        """A page of records. ``fields`` limits which fields are loaded (lists show a few columns;
        the sort keys and system columns always come along)."""
        entity = self.entity(entity_name)
        if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise BadRequest(
                _("limit must be between 1 and {max}.").format(max=MAX_LIMIT),
                [Detail("limit", _("Expected a whole number from 1 to {max}.").format(max=MAX_LIMIT))],
                "invalid_limit",
            )
        et = self.tables(entity)
        keys = parse_sort(sort or entity.list_spec.get("sort") or "-id", entity, et, self.field_types)
        wanted = None
        if fields is not None:
            wanted = frozenset(
                n for n in (*fields, *(k.field.name for k in keys)) if entity.field(n) or n in SYSTEM_COLUMNS
            )
        query = self._select(entity, et, wanted).where(self.where(entity, filter, search))
        if after:
            query = query.where(after_clause(keys, decode_cursor(keys, after)))
        rows = run(query.order_by(*order_by(keys)).limit(limit + 1)).mappings().all()
        items = self._hydrate(entity, et, rows[:limit], wanted)
        nxt = encode_cursor(keys, items[-1]) if len(rows) > limit and items else None
        return Page(items, nxt, ",".join(k.spec for k in keys[:-1]) or keys[-1].spec)

    def where(self, entity: EntityDef, filter: dict | None, search: str | None = None) -> sa.ColumnElement[bool]:
        et = self.tables(entity)
        clauses = [et.main.c.deleted_at.is_(None)]
        if filter:
            try:
                clauses.append(compile_sql(filter, entity, et, self.field_types))
            except ConditionError as exc:
                raise BadRequest(
                    _("The filter is not valid: {message}").format(message=exc.message),
                    [Detail(f"filter{exc.path[1:]}", exc.message, exc.code)],
                    "invalid_filter",
                ) from None
        if search and search.strip():
            clauses.append(self._search(entity, et, search.strip()))
        return sa.and_(*clauses)

    def _search(self, entity: EntityDef, et: EntityTables, q: str) -> sa.ColumnElement[bool]:
        parts = [
            text_match(et.main.c[f.column], "contains", q[:100], True)
            for f in entity.search_fields
            if f.column in et.main.c
        ]
        if q.isdigit() and len(q) < 18:
            parts.append(et.main.c.id == int(q))
        return sa.or_(*parts) if parts else sa.false()

    def _select(self, entity: EntityDef, et: EntityTables, wanted: frozenset[str] | None = None) -> sa.Select:
        """The record columns, plus each reference's title through one outer join (no N+1).
        Built once per published revision and field set (statements are immutable)."""
        return self.snapshot.cached(("select", entity.name, wanted), lambda: self._build_select(entity, et, wanted))

    def _build_select(self, entity: EntityDef, et: EntityTables, wanted: frozenset[str] | None) -> sa.Select:
        stored = [f for f in self.stored_fields(entity) if wanted is None or f.name in wanted]
        system = [
            c for c in SYSTEM_COLUMNS if c != "deleted_at" and (wanted is None or c in ("id", "version") or c in wanted)
        ]
        cols = [et.main.c[c] for c in system]
        cols += [et.main.c[f.column].label(f.name) for f in stored if f.column not in SYSTEM_COLUMNS]
        source = et.main
        for f in stored:
            target = self.snapshot.entity(f.target) if f.type == "ref" else None
            title = target.title_field if target is not None else None
            if title is None or self.field_types[title.type].multi:
                continue
            alias = self.tables(target).main.alias(f"ref_{f.column}")
            if title.column not in alias.c:
                continue
            source = source.outerjoin(alias, alias.c.id == et.main.c[f.column])
            cols.append(alias.c[title.column].label(f"{TITLE_PREFIX}{f.name}"))
        return sa.select(*cols).select_from(source)

    def _hydrate(self, entity: EntityDef, et: EntityTables, rows, wanted: frozenset[str] | None = None) -> list[dict]:
        items = [dict(r) for r in rows]
        if not items:
            return items
        ids = [r["id"] for r in items]
        for f in self.multi_fields(entity):
            if wanted is not None and f.name not in wanted:
                continue
            link = et.links[f.id]
            values: dict[int, list[str]] = {i: [] for i in ids}
            q = sa.select(link.c.record_id, link.c.value).where(link.c.record_id.in_(ids))
            for rid, value in run(q):
                values[rid].append(value)
            order = {o.value: i for i, o in enumerate(f.options)}
            for r in items:
                r[f.name] = sorted(values[r["id"]], key=lambda v: (order.get(v, len(order)), v))
        title_keys = [k for k in items[0] if k.startswith(TITLE_PREFIX)]
        for r in items:
            titles = {}
            for key in title_keys:
                name, title = key[len(TITLE_PREFIX) :], r.pop(key)
                if r.get(name) is not None:
                    titles[name] = str(title) if title is not None else f"#{r[name]}"
            r["_titles"] = titles
        return items

    def titles(self, entity_name: str, ids) -> dict[int, str]:
        """Display names of records by id (one query), for references."""
        entity = self.snapshot.entity(entity_name)
        if entity is None or not ids:
            return {}
        et = self.tables(entity)
        title = entity.title_field
        col = et.main.c[title.column] if title and title.column in et.main.c else None
        q = sa.select(et.main.c.id, col if col is not None else sa.literal(None)).where(et.main.c.id.in_(list(ids)))
        out = {}
        for rid, value in run(q):
            out[rid] = str(value) if value is not None else f"#{rid}"
        return out

    def get(self, entity_name: str, record_id: int) -> dict:
        entity = self.entity(entity_name)
        et = self.tables(entity)
        row = (
            db.session.execute(
                self._select(entity, et).where(et.main.c.id == record_id, et.main.c.deleted_at.is_(None))
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(_("{entity} #{id} does not exist.").format(entity=text(entity.label), id=record_id))
        return self._hydrate(entity, et, [row])[0]

    def lookup(
        self, entity_name: str, q: str = "", limit: int = 20, filter: dict | None = None
    ) -> list[tuple[int, str]]:
        """(id, title) pairs for choosing a record: one lean query ordered by title."""
        entity = self.entity(entity_name)
        if not filter and not q:  # the plain choice list: the same statement every time
            stmt = self.snapshot.cached(("lookup", entity.name), lambda: self._lookup_statement(entity, None, None))
        else:
            stmt = self._lookup_statement(entity, filter, q)
        rows = run(stmt.limit(max(1, min(limit, 1000))))
        return [(rid, str(value) if value is not None else f"#{rid}") for rid, value in rows]

    def _lookup_statement(self, entity: EntityDef, filter: dict | None, q: str | None) -> sa.Select:
        et = self.tables(entity)
        title = entity.title_field
        col = et.main.c[title.column] if title is not None and title.column in et.main.c else None
        stmt = sa.select(et.main.c.id, col if col is not None else sa.literal(None)).where(
            self.where(entity, filter, q or None)
        )
        if col is not None and self.field_types[title.type].sortable:
            return stmt.order_by(col.asc().nulls_last(), et.main.c.id)
        return stmt.order_by(et.main.c.id)

    def history(self, entity_name: str, record_id: int) -> list[dict]:
        entity = self.entity(entity_name)
        self.get(entity_name, record_id)
        out = []
        for c in changes_of(entity.name, record_id):
            f = entity.by_id.get(c.field_id) if c.field_id else None
            out.append(
                {
                    "id": c.id,
                    "version": c.version,
                    "action": c.action,
                    "field": f.name if f else c.field_name,
                    "field_label": text(f.label) if f else c.field_name,
                    "old": c.old_value,
                    "new": c.new_value,
                    "user_id": c.user_id,
                    "at": c.changed_at,
                }
            )
        return out

    # -- validation -----------------------------------------------------------------------
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
            if f is not None and (f.computed or (f.readonly and not self.system)):
                if not self._same(f, value, current):
                    details.append(Detail(key, _("This field is read-only.")))
                continue
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

    def _check_rules(self, entity: EntityDef, merged: dict, changed: set[str], record_id: int | None) -> None:
        et = self.tables(entity)
        details: list[Detail] = []
        for f in entity.active_fields:
            if f.required and not (f.readonly and not self.system) and merged.get(f.name) in (None, [], ""):
                details.append(Detail(f.name, _("This field is required.")))
        for f in self.stored_fields(entity):
            value = merged.get(f.name)
            if f.name not in changed or value is None:
                continue
            if f.unique:
                other = self._find_duplicate(et, {f.column: value}, record_id)
                if other:
                    details.append(Detail(f.name, _("Already used by record #{id}.").format(id=other)))
            if f.type == "ref" and not self._exists(f.target, value):
                details.append(
                    Detail(
                        f.name,
                        _("There is no {target} record #{id}.").format(
                            target=text(self.entity(f.target).label), id=value
                        ),
                    )
                )
        for c in entity.doc.get("constraints", []):
            if c["type"] == "unique" and "where" not in c and changed & set(c["fields"]):
                fields = [entity.field(n) for n in c["fields"]]
                values = {f.column: merged.get(f.name) for f in fields if f}
                if None not in values.values():
                    other = self._find_duplicate(et, values, record_id)
                    if other:
                        message = text(c.get("message")) or _(
                            "This combination is already used by record #{id}."
                        ).format(id=other)
                        details.append(Detail(c["fields"][-1], message))
            elif c["type"] == "check":
                try:
                    applies = evaluate(c.get("when"), merged, entity, self.field_types)
                    holds = not applies or evaluate(c["assert"], merged, entity, self.field_types)
                except ConditionError:
                    continue  # checked when the definition was published; never block on it here
                if not holds:
                    details.append(Detail(c.get("field") or "$", text(c.get("message")) or c["name"]))
        if details:
            raise ValidationFailed(_("Please correct the marked fields."), details)

    def _find_duplicate(self, et: EntityTables, values: dict, record_id: int | None) -> int | None:
        q = sa.select(et.main.c.id).where(
            et.main.c.deleted_at.is_(None), *[et.main.c[col] == v for col, v in values.items()]
        )
        if record_id is not None:
            q = q.where(et.main.c.id != record_id)
        return run(q.limit(1)).scalar_one_or_none()

    def _exists(self, entity_name: str | None, record_id: int) -> bool:
        entity = self.snapshot.entity(entity_name or "")
        if entity is None:
            return False
        main = self.tables(entity).main
        q = sa.select(main.c.id).where(main.c.id == record_id, main.c.deleted_at.is_(None))
        return run(q).first() is not None

    def problems(self, entity_name: str, data: dict, record_id: int | None = None) -> dict[str, list[str]]:
        """What saving ``data`` would complain about, without saving (forms report everything at once)."""
        entity = self.entity(entity_name)
        current = self.get(entity_name, record_id) if record_id else None
        try:
            cleaned = self.validate(entity, data, partial=current is not None, current=current)
            merged = {**(current or {**self.defaults(entity)}), **cleaned}
            changed = {k for k, v in cleaned.items() if current is None or current.get(k) != v}
            self._check_rules(entity, merged, changed, record_id)
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
            cleaned = self.validate(entity, data, partial=False)
            merged = {**self.defaults(entity), **cleaned}
            for f in self.multi_fields(entity):
                merged.setdefault(f.name, [])
            self._check_rules(entity, merged, set(merged), None)
            record_id = self._insert(entity, merged)
            db.session.commit()
        except IntegrityError as exc:
            db.session.rollback()
            raise self._integrity(entity, exc) from None
        except Exception:
            db.session.rollback()
            raise
        return self.get(entity_name, record_id)

    @write_operation
    def bulk_create(self, entity_name: str, rows: list[dict], batch: int = 1000) -> int:
        """Insert many records in batches (imports, demo data): each row is validated field by field;
        uniqueness and references are left to the database's indexes and foreign keys."""
        entity = self.entity(entity_name)
        et = self.tables(entity)
        stored = self.stored_fields(entity)
        multi = self.multi_fields(entity)
        defaults = self.defaults(entity)
        inserted = 0
        try:
            for start in range(0, len(rows), batch):
                chunk = rows[start : start + batch]
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
                    row = {
                        "version": 1,
                        "created_at": moment,
                        "updated_at": moment,
                        "created_by": self.user_id,
                        "updated_by": self.user_id,
                    }
                    row.update({f.column: merged.get(f.name) for f in stored})
                    main_rows.append(row)
                    link_values.append({f.id: merged.get(f.name) or [] for f in multi})
                ids = (
                    db.session.execute(
                        sa.insert(et.main).returning(et.main.c.id, sort_by_parameter_order=True), main_rows
                    )
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
                inserted += len(ids)
            db.session.commit()
        except IntegrityError as exc:
            db.session.rollback()
            raise self._integrity(entity, exc) from None
        except Exception:
            db.session.rollback()
            raise
        return inserted

    def _insert(self, entity: EntityDef, values: dict) -> int:
        et = self.tables(entity)
        moment = now()
        row = {
            "version": 1,
            "created_at": moment,
            "updated_at": moment,
            "created_by": self.user_id,
            "updated_by": self.user_id,
        }
        for f in self.stored_fields(entity):
            if f.name in values:
                row[f.column] = values[f.name]
        record_id = db.session.execute(sa.insert(et.main).values(**row).returning(et.main.c.id)).scalar_one()
        for f in self.multi_fields(entity):
            self._write_links(et, f, record_id, values.get(f.name) or [])
        record_changes(
            [
                {
                    "entity": entity.name,
                    "record_id": record_id,
                    "version": 1,
                    "action": "create",
                    "field_id": None,
                    "field_name": None,
                    "old_value": None,
                    "new_value": None,
                    "user_id": self.user_id,
                    "changed_at": moment,
                }
            ]
        )
        return record_id

    def _write_links(self, et: EntityTables, f: FieldDef, record_id: int, values: list[str]) -> None:
        link = et.links[f.id]
        db.session.execute(sa.delete(link).where(link.c.record_id == record_id))
        if values:
            db.session.execute(sa.insert(link), [{"record_id": record_id, "value": v} for v in values])

    @write_operation
    def update(self, entity_name: str, record_id: int, data: Any, version: int | None = None) -> dict:
        entity = self.entity(entity_name)
        if version is None and isinstance(data, dict):
            version = lock_version(data)
        if version is None:
            raise BadRequest(
                _("Send the version you edited (If-Match header or _version) so that nobody's change is overwritten."),
                [Detail("_version", _("Missing version."))],
                "version_required",
            )
        try:
            current = self.get(entity_name, record_id)
            if current["version"] != version:
                raise self._conflict(entity, current)
            cleaned = self.validate(entity, data, partial=True, current=current)
            changed = {k for k, v in cleaned.items() if current.get(k) != v}
            merged = {**current, **cleaned}
            self._check_rules(entity, merged, changed, record_id)
            if changed:
                self._write_update(entity, current, merged, changed, version)
            db.session.commit()
        except IntegrityError as exc:
            db.session.rollback()
            raise self._integrity(entity, exc) from None
        except Exception:
            db.session.rollback()
            raise
        return self.get(entity_name, record_id)

    def _write_update(self, entity: EntityDef, current: dict, merged: dict, changed: set[str], version: int) -> None:
        et = self.tables(entity)
        moment = now()
        values = {"version": version + 1, "updated_at": moment, "updated_by": self.user_id}
        for f in self.stored_fields(entity):
            if f.name in changed:
                values[f.column] = merged[f.name]
        result = db.session.execute(
            sa.update(et.main)
            .where(et.main.c.id == current["id"], et.main.c.version == version, et.main.c.deleted_at.is_(None))
            .values(**values)
        )
        if result.rowcount != 1:
            db.session.rollback()
            raise self._conflict(entity, self.get(entity.name, current["id"]))
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
                    "old_value": ftype.to_json(current.get(name), f),
                    "new_value": ftype.to_json(merged.get(name), f),
                    "user_id": self.user_id,
                    "changed_at": moment,
                }
            )
        record_changes(rows)

    @write_operation
    def delete(self, entity_name: str, record_id: int, version: int | None = None) -> None:
        entity = self.entity(entity_name)
        try:
            current = self.get(entity_name, record_id)
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
                raise self._conflict(entity, self.get(entity_name, record_id))
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
            current=self.to_json(entity, current),
        )

    def _integrity(self, entity: EntityDef, exc: IntegrityError) -> ScrmIntegrity:
        return ScrmIntegrity(
            _("The change conflicts with another record (a unique value or a reference); nothing was saved.")
        )

    # -- serialisation --------------------------------------------------------------------
    def to_json(self, entity: EntityDef, record: dict) -> dict:
        out: dict[str, Any] = {"id": record["id"], "version": record["version"]}
        for key in ("created_at", "updated_at"):
            value = record.get(key)
            out[key] = value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None
        out["created_by"] = record.get("created_by")
        out["updated_by"] = record.get("updated_by")
        for f in entity.active_fields:
            if f.name in record:
                out[f.name] = self.field_types[f.type].to_json(record[f.name], f)
        if record.get("_titles"):
            out["_titles"] = record["_titles"]
        return out


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
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
    return None
