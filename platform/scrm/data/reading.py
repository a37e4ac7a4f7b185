"""Reading records: lists with filters, sorting and keyset pages, single records, lookups, history.

:class:`RecordReader` is the read half of the record service (every read path goes through it);
:class:`scrm.data.records.RecordService` adds validation and writes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import sqlalchemy as sa

from ..conditions import ConditionError, Environment, UserContext, compile_operand, compile_sql, deps
from ..conditions.dialect import text_match
from ..db import dialect_name, run
from ..errors import BadRequest, Detail, NotFound
from ..i18n import _, text
from ..meta.model import SYSTEM_COLUMNS, EntityDef, FieldDef
from ..security import audit
from ..security.crypto import context_of, keyring
from ..security.masking import mask
from ..security.permissions import Permissions
from ..security.scopes import Principal
from .access import AccessMixin
from .evaluation import PreparedCondition, computed_field, environment, prepared
from .history import changes_of
from .query import after as after_clause
from .query import decode_cursor, encode_cursor, order_by, parse_sort
from .tables import EntityTables, equality_column

MAX_LIMIT = 200
LINK_PARAMETERS = 10_000  # ids × multi-value fields read in one statement
TITLE_PREFIX = "_title__"


@dataclass
class Page:
    items: list[dict]
    next: str | None
    sort: str


class RecordReader(AccessMixin):
    """Records as one user may see them. Without ``permissions`` the reader acts for the system
    (CLI, jobs, imports): every record and field. With them, every read goes through the user's
    record scope and field access: out-of-scope records do not exist, hidden fields are left
    out, masked fields are masked, and filters, sorts and searches may not probe what the user
    cannot read."""

    def __init__(
        self,
        snapshot,
        user_id: int | None = None,
        *,
        system: bool = False,
        user: UserContext | Callable[[Principal], UserContext] | None = None,
        permissions: Permissions | None = None,
        principal: Principal | Callable[[], Principal] | None = None,
        username: str | None = None,
    ):
        self.snapshot = snapshot
        self.field_types = snapshot.field_types
        self.user_id = user_id
        self._user = user
        self.system = system  # feeds and imports may write read-only fields
        self.permissions = permissions or Permissions.everything(snapshot)
        self._principal = principal or Principal(user_id)
        self.username = username

    @property
    def principal(self) -> Principal:
        """The user on the org tree; looked up the first time a scope or a claim needs it (a
        request that reads only what the user's roles open to all never pays for it)."""
        if callable(self._principal):
            self._principal = self._principal()
        return self._principal

    @property
    def user(self) -> UserContext:
        """``ctx`` of conditions: the user's id and roles, and their employee and unit."""
        if self._user is None:
            self._user = UserContext(id=self.user_id)
        elif callable(self._user):
            self._user = self._user(self.principal)
        return self._user

    def actor(self) -> audit.Actor:
        """Who the audit log names for what this reader and its service do."""
        if self.permissions.system and self.user_id is None:
            return audit.SYSTEM
        return audit.Actor(self.user_id, self.username, self.permissions.roles, audit.request_ip())

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

    def computed_fields(self, entity: EntityDef) -> list[FieldDef]:
        """Computed fields without a column: their values are computed by the query."""
        return [f for f in entity.active_fields if f.computed and not f.get("stored")]

    def environment(self, **kwargs) -> Environment:
        """Where conditions are evaluated for this reader: now, the user, the database."""
        return environment(self.snapshot, user=lambda: self.user, **kwargs)

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
        self.permissions.require(entity, "read")
        if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise BadRequest(
                _("limit must be between 1 and {max}.").format(max=MAX_LIMIT),
                [Detail("limit", _("Expected a whole number from 1 to {max}.").format(max=MAX_LIMIT))],
                "invalid_limit",
            )
        et = self.tables(entity)
        env = self.environment()
        sort_spec = sort or entity.list_spec.get("sort") or "-id"
        sorted_by = {p.strip().lstrip("-") for p in sort_spec.split(",")}
        wanted = None
        if fields is not None:
            wanted = frozenset(n for n in (*fields, *sorted_by) if entity.field(n) or n in SYSTEM_COLUMNS)
        select, computed = self._select(entity, et, wanted, env)
        keys = parse_sort(sort_spec, entity, et, self.field_types, computed)
        for key in keys:
            if key.field.name not in SYSTEM_COLUMNS and not self.permissions.readable(entity, key.field):
                raise BadRequest(
                    _("Cannot sort by {field!r}.").format(field=key.field.name),
                    [Detail("sort", _("You cannot sort by a field you may not read."), "forbidden_field")],
                    "invalid_sort",
                )
        cursor = decode_cursor(keys, after) if after else None
        rows = run(self.ordered(select, entity, keys, cursor, limit + 1, filter, search, env)).mappings().all()
        raw = self._hydrate(entity, et, rows[:limit], wanted)
        nxt = encode_cursor(keys, raw[-1]) if len(rows) > limit and raw else None
        return Page(self.present(entity, raw), nxt, ",".join(k.spec for k in keys[:-1]) or keys[-1].spec)

    def scan(
        self,
        entity_name: str,
        *,
        filter: dict | None = None,
        search: str | None = None,
        sort: str | None = None,
        fields: list[str] | None = None,
        batch: int = 1000,
    ):
        """Every matching record in the user's scope, with its real values, in batches (keyset
        pages, so memory stays flat). For exports, which decide themselves how each value
        leaves: never hand these to a user as they are."""
        entity = self.entity(entity_name)
        self.permissions.require(entity, "read")
        et = self.tables(entity)
        env = self.environment()
        sort_spec = sort or "id"
        sorted_by = [p.strip().lstrip("-") for p in sort_spec.split(",")]
        wanted = None if fields is None else frozenset((*fields, *sorted_by, "id"))
        select, computed = self._select(entity, et, wanted, env)
        keys = parse_sort(sort_spec, entity, et, self.field_types, computed)
        cursor = None
        while True:
            rows = run(self.ordered(select, entity, keys, cursor, batch, filter, search, env)).mappings().all()
            if not rows:
                return
            raw = self._hydrate(entity, et, rows, wanted)
            yield raw
            if len(rows) < batch:
                return
            cursor = decode_cursor(keys, encode_cursor(keys, raw[-1]))

    def count(self, entity_name: str, *, filter: dict | None = None, search: str | None = None) -> int:
        """How many live records in the user's scope match."""
        entity = self.entity(entity_name)
        self.permissions.require(entity, "read")
        et = self.tables(entity)
        stmt = self.filtered(
            sa.select(sa.func.count()).select_from(et.main), entity, filter, search, self.environment()
        )
        return int(run(stmt).scalar() or 0)

    def aggregate(
        self,
        entity_name: str,
        *,
        group_by: list[str],
        measures: dict[str, tuple[str, str]],
        filter: dict | None = None,
        limit: int = 1000,
    ) -> list[dict]:
        """Grouped totals in one statement, within the user's scope: ``measures`` maps an alias to
        (``sum``/``max``/``min``/``count``, field). Grouping and measured fields must be stored
        fields the user reads in plain (a total of values they see masked would reveal them)."""
        entity = self.entity(entity_name)
        self.permissions.require(entity, "read")
        et = self.tables(entity)
        functions = {"sum": sa.func.sum, "max": sa.func.max, "min": sa.func.min, "count": sa.func.count}

        def column(name: str) -> sa.ColumnElement:
            f = entity.field(name)
            if f is None or (f.computed and not f.get("stored")) or f.encrypted or f.column not in et.main.c:
                raise BadRequest(
                    _("Cannot total by {field!r}.").format(field=name), [Detail(name, _("Unknown field."))]
                )
            if not self.permissions.system and not self.permissions.readable(entity, f):
                raise self.permissions.forbid_read(entity, f)
            return et.main.c[f.column]

        keys = [column(n).label(n) for n in group_by]
        values = [functions[fn](column(name)).label(alias) for alias, (fn, name) in measures.items()]
        stmt = self.filtered(sa.select(*keys, *values), entity, filter, None, self.environment())
        if keys:
            stmt = stmt.group_by(*[column(n) for n in group_by]).order_by(*[column(n) for n in group_by])
        return [dict(r) for r in run(stmt.limit(limit)).mappings()]

    def ordered(
        self,
        select: sa.Select,
        entity: EntityDef,
        keys: list,
        cursor: list | None,
        limit: int,
        filter: dict | None,
        search: str | None,
        env: Environment,
    ) -> sa.Select:
        """The first ``limit`` rows of ``select`` in the order of ``keys``, after ``cursor``, among
        the live records in scope matching ``filter`` and ``search``.

        A scope made of alternatives (the manager's own customers, or those shared with them)
        becomes one ordered, limited query of record ids per alternative, united: each walks its
        own index and stops after ``limit`` rows. Their OR in one statement can be neither
        estimated nor indexed, so a book of 300 in a table of 1M was found by walking the sort
        index through most of the table (bench/list_scale.py)."""
        et = self.tables(entity)

        def page(stmt: sa.Select, branch=None) -> sa.Select:
            stmt = self.filtered(stmt, entity, filter, search, env, branch)
            if cursor is not None:
                stmt = stmt.where(after_clause(keys, cursor))
            return stmt.order_by(*order_by(keys)).limit(limit)

        branches = self.scope_branches(entity, env)
        if not branches:
            return page(select)
        ids = select.with_only_columns(et.main.c.id)
        parts = [sa.select(sub.c.id) for sub in (page(ids, b).subquery() for b in branches)]
        united = sa.union(*parts).subquery("in_scope")
        return select.where(et.main.c.id.in_(sa.select(united.c.id))).order_by(*order_by(keys)).limit(limit)

    def filtered(
        self,
        stmt: sa.Select,
        entity: EntityDef,
        filter: dict | None,
        search: str | None,
        env: Environment,
        branch: sa.ColumnElement[bool] | None = None,
    ) -> sa.Select:
        """``stmt`` limited to live records matching ``filter`` (the condition language, with the
        joins it needs) and the quick ``search``; in the user's scope, or in its ``branch``."""
        et = self.tables(entity)
        stmt = self.scoped(stmt.where(et.main.c.deleted_at.is_(None)), entity, env, branch)
        if filter:
            node = self.prepared(filter, entity, "filter").node
            self.check_readable(node, "filter")
            stmt = compile_sql(node, entity, self.snapshot.tables, env, dialect_name()).apply(stmt)
        if search and search.strip():
            stmt = stmt.where(self._search(entity, et, search.strip()))
        return stmt

    def prepared(self, condition: Any, entity: EntityDef, param: str) -> PreparedCondition:
        """A condition sent by a client, prepared; a 400 pointing into ``param`` when it does not fit."""
        try:
            return prepared(self.snapshot, condition, entity, "filter")
        except ConditionError as exc:
            message = (
                _("The filter is not valid: {message}")
                if param == "filter"
                else _("The condition is not valid: {message}")
            )
            raise BadRequest(
                message.format(message=exc.message),
                [Detail(f"{param}{exc.path[1:]}", exc.message, exc.code)],
                f"invalid_{param}",
            ) from None

    def _search(self, entity: EntityDef, et: EntityTables, q: str) -> sa.ColumnElement[bool]:
        """Quick search: a part of any search field the user can read; the whole value of one
        they see masked (a phone number or ID number the customer gives); hidden ones not at all."""
        parts = []
        for f in entity.search_fields:
            if f.column not in et.main.c:
                continue
            view = self.permissions.field(entity, f).view
            if f.encrypted and view != "hidden":  # sealed: the whole value, through its blind index
                parts.append(equality_column(et.main, f) == keyring().blind(q[:100]))
            elif view == "plain":
                parts.append(text_match(et.main.c[f.column], "contains", q[:100], True))
            elif view == "masked":
                parts.append(et.main.c[f.column] == q[:100])
        if q.isascii() and q.isdigit() and len(q) < 18:
            parts.append(et.main.c.id == int(q))
        return sa.or_(*parts) if parts else sa.false()

    def _select(
        self, entity: EntityDef, et: EntityTables, wanted: frozenset[str] | None, env: Environment
    ) -> tuple[sa.Select, dict[str, sa.ColumnElement]]:
        """The record columns, each reference's title through one outer join (no N+1), and the
        computed fields' expressions. Built once per published revision and field set; when a computed
        field reads today's date, once per local day; when one reads the instant (now-30d), each time."""
        computed = [f for f in self.computed_fields(entity) if wanted is None or f.name in wanted]
        time = [self._time_read(entity, f) for f in computed]

        def build():
            return self._build_select(entity, et, wanted, env, computed)

        if "instant" in time:  # now-30d: bound to this very moment
            return build()
        if "date" not in time:
            return self.snapshot.cached(("select", entity.name, wanted), build)
        # today: the same statement all day long, rebuilt when the local date changes
        day = (env.now.astimezone(env.tz).date(), env.tz.key)
        latest = self.snapshot.cached(("select-of-the-day", entity.name, wanted), dict)
        found = latest.get(day)
        if found is None:
            found = build()
            latest.clear()
            latest[day] = found
        return found

    def _time_read(self, entity: EntityDef, f: FieldDef) -> str | None:
        """Whether a computed field reads the time: ``instant``, ``date`` (only local dates) or None."""

        def grain():
            used = deps(computed_field(self.snapshot, entity, f.name))
            return "instant" if used.uses_instant else "date" if used.uses_time else None

        return self.snapshot.cached(("reads-time", entity.name, f.name), grain)

    def _build_select(
        self, entity: EntityDef, et: EntityTables, wanted, env: Environment, computed: list[FieldDef]
    ) -> tuple[sa.Select, dict[str, sa.ColumnElement]]:
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
        expressions = {}
        for f in computed:
            operand = computed_field(self.snapshot, entity, f.name)
            expr, joins = compile_operand(operand, entity, self.snapshot.tables, env, dialect_name(), batch=False)
            for target, on in joins:
                source = source.outerjoin(target, on)
            expressions[f.name] = expr
            cols.append(expr.label(f.name))
        return sa.select(*cols).select_from(source), expressions

    def _hydrate(self, entity: EntityDef, et: EntityTables, rows, wanted: frozenset[str] | None = None) -> list[dict]:
        items = [dict(r) for r in rows]
        if not items:
            return items
        ids = [r["id"] for r in items]
        multi = [f for f in self.multi_fields(entity) if wanted is None or f.name in wanted]
        if multi:
            # the multi-value fields' links in one statement (their values are all strings), or a
            # few when ids × fields would pass LINK_PARAMETERS (PostgreSQL takes at most 65,535)
            values: list[dict[int, list[str]]] = [{i: [] for i in ids} for _ in multi]
            parts = [
                sa.select(sa.literal_column(str(n), sa.Integer), link.c.record_id, link.c.value).where(
                    link.c.record_id.in_(ids)
                )
                for n, link in enumerate(et.links[f.id] for f in multi)
            ]
            per = max(1, LINK_PARAMETERS // len(ids))
            for start in range(0, len(parts), per):
                chunk = parts[start : start + per]
                for n, rid, value in run(chunk[0] if len(chunk) == 1 else sa.union_all(*chunk)):
                    values[n][rid].append(value)
            for f, found in zip(multi, values, strict=True):
                order = {o.value: i for i, o in enumerate(f.options)}
                for r in items:
                    r[f.name] = sorted(found[r["id"]], key=lambda v: (order.get(v, len(order)), v))
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
        if entity is None or not ids or not self.permissions.can(entity, "read"):
            return {}
        et = self.tables(entity)
        title = entity.title_field
        col = et.main.c[title.column] if title and title.column in et.main.c else None
        q = sa.select(et.main.c.id, col if col is not None else sa.literal(None)).where(et.main.c.id.in_(list(ids)))
        q = self.scoped(q.where(et.main.c.deleted_at.is_(None)), entity, self.environment())
        view = self.permissions.field(entity, title).view if title is not None else "plain"
        out = {}
        for rid, value in run(q):
            if value is None or view == "hidden":
                out[rid] = f"#{rid}"
            else:
                out[rid] = mask(title.get("mask"), str(value)) if view == "masked" else str(value)
        return out

    def get(self, entity_name: str, record_id: int, fields: list[str] | None = None, *, log_view: bool = True) -> dict:
        """One record as the user may see it (404 outside their scope); ``fields``: only those
        (and ``id``, ``version``), for pages that show a few; ``log_view=False`` for a read that
        shows the user nothing new (a form's save compares with what the form showed)."""
        entity = self.entity(entity_name)
        wanted = None if fields is None else frozenset(n for n in fields if entity.field(n) or n in SYSTEM_COLUMNS)
        return self.present(entity, [self._load(entity, record_id, wanted)], log_view=log_view)[0]

    def shown_and_stored(self, entity_name: str, record_id: int) -> tuple[dict, dict]:
        """One record as the user sees it (no view logged) and with its real values, from one
        read: a form's save parses against the first and hands the second to ``update``."""
        entity = self.entity(entity_name)
        stored = self._load(entity, record_id, None)
        shown = {**stored}
        if isinstance(stored.get("_titles"), dict):
            shown["_titles"] = dict(stored["_titles"])  # presenting masks titles in place
        return self.present(entity, [shown], log_view=False)[0], stored

    def load(self, entity_name: str, record_id: int) -> dict:
        """One record with its real values, for the services that validate and write: still
        only within the user's scope. Never hand it to a user; :meth:`get` is what they see."""
        return self._load(self.entity(entity_name), record_id, None)

    def _load(self, entity: EntityDef, record_id: int, wanted: frozenset[str] | None) -> dict:
        self.permissions.require(entity, "read")
        et = self.tables(entity)
        env = self.environment()
        select, _computed = self._select(entity, et, wanted, env)
        stmt = self.scoped(select.where(et.main.c.id == record_id, et.main.c.deleted_at.is_(None)), entity, env)
        row = run(stmt).mappings().first()
        if row is None:
            raise NotFound(_("{entity} #{id} does not exist.").format(entity=text(entity.label), id=record_id))
        return self._hydrate(entity, et, [row], wanted)[0]

    def lookup(
        self, entity_name: str, q: str = "", limit: int = 20, filter: dict | None = None
    ) -> list[tuple[int, str]]:
        """(id, title) pairs for choosing a record: one lean query ordered by title, within the
        user's scope; a title the user sees masked comes masked."""
        entity = self.entity(entity_name)
        self.permissions.require(entity, "read")
        title = entity.title_field
        view = self.permissions.field(entity, title).view if title is not None else "plain"
        if view != "plain" and q:
            q = ""  # typing part of a masked title would probe it
        grant = self.permissions.grant(entity.name)
        limit = max(1, min(limit, 1000))
        if not filter and not q and grant.scope == "all" and not grant.filters:
            # the plain choice list of an unscoped entity: the same statement every time
            stmt = self.snapshot.cached(
                ("lookup", entity.name, limit), lambda: self._lookup_statement(entity, None, None, limit)
            )
        else:
            stmt = self._lookup_statement(entity, filter, q, limit)
        rows = run(stmt)
        if view == "hidden":
            return [(rid, f"#{rid}") for rid, _value in rows]
        if view == "masked":
            return [
                (rid, mask(title.get("mask"), str(value)) if value is not None else f"#{rid}") for rid, value in rows
            ]
        return [(rid, str(value) if value is not None else f"#{rid}") for rid, value in rows]

    def _lookup_statement(self, entity: EntityDef, filter: dict | None, q: str | None, limit: int) -> sa.Select:
        """Ordered by title like a list page (a scope of alternatives walks each one's index)."""
        et = self.tables(entity)
        title = entity.title_field
        col = et.main.c[title.column] if title is not None and title.column in et.main.c else None
        select = sa.select(et.main.c.id, col if col is not None else sa.literal(None))
        by_title = col is not None and self.field_types[title.type].sortable and not title.encrypted
        keys = parse_sort(title.name if by_title else "id", entity, et, self.field_types)
        return self.ordered(select, entity, keys, None, limit, filter, q or None, self.environment())

    def history(self, entity_name: str, record_id: int) -> list[dict]:
        entity = self.entity(entity_name)
        self.load(entity_name, record_id)
        out = []
        for c in changes_of(entity.name, record_id):
            f = entity.by_id.get(c.field_id) if c.field_id else None
            old, new = c.old_value, c.new_value
            if f is not None and f.encrypted:
                context = context_of(entity.name, f.id)
                old, new = (keyring().open(v, context) if isinstance(v, str) else v for v in (old, new))
            if f is not None and not self.permissions.system:
                view = self.permissions.field(entity, f).view
                if view == "hidden":
                    continue
                if view == "masked":
                    old, new = mask(f.get("mask"), old), mask(f.get("mask"), new)
            elif f is None and c.field_id and not self.permissions.system:
                continue  # a field since removed: its access can no longer be decided
            out.append(
                {
                    "id": c.id,
                    "version": c.version,
                    "action": c.action,
                    "field": f.name if f else c.field_name,
                    "field_label": text(f.label) if f else c.field_name,
                    "old": old,
                    "new": new,
                    "user_id": c.user_id,
                    "at": c.changed_at,
                }
            )
        return out

    def explain(self, entity_name: str, record_id: int, condition: Any) -> dict:
        """Whether a saved record meets a condition, and why: each leaf with its operand values."""
        entity = self.entity(entity_name)
        record = self.load(entity_name, record_id)
        check = self.prepared(condition, entity, "condition")
        self.check_readable(check.node, "condition")
        env = self.environment()
        return {
            "result": check.predicate(record, env),
            "explanation": check.predicate.explain(record, env),
            "deps": check.deps.as_dict(),
            "now": env.now.isoformat().replace("+00:00", "Z"),
        }

    # -- validation -----------------------------------------------------------------------
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
