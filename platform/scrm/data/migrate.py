"""The migration planner: diff published entities against the database, then apply the plan.

Nothing is lost: columns are never dropped (a removed field is deactivated and keeps its data);
a rename changes only names (the column stays); adding a required field without a default to a
populated table is refused; a type or validation change runs only after a dry run proves that
every stored value converts, otherwise it is refused with the count and examples of the values
that do not. The plan is applied with alembic ``Operations`` inside the caller's transaction,
so it applies whole or not at all (DDL is transactional on PostgreSQL and, with our engine
settings, on SQLite).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateColumn

from ..errors import Detail
from ..fields import ConversionError, FieldTypes
from ..fields.sqltypes import ExactDecimal
from ..i18n import _
from ..meta.model import EntityDef, FieldDef
from .tables import EntityTables

EXAMPLES = 5
BATCH = 2000


@dataclass
class Step:
    action: str
    table: str
    description: str
    run: Callable[[Connection, Operations], None] = field(repr=False)


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)
    refusals: list[Detail] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)  # filled by apply_plan
    added: set[tuple[str, str]] = field(default_factory=set)  # (table, column) created by this plan
    rewritten: set[tuple[str, str]] = field(default_factory=set)  # columns replaced (their indexes go with them)

    @property
    def ok(self) -> bool:
        return not self.refusals

    @property
    def empty(self) -> bool:
        return not self.steps

    def describe(self) -> list[str]:
        return [s.description for s in self.steps]


def quote(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


class Planner:
    """Plans the changes that bring the database to a set of published entities."""

    def __init__(self, conn: Connection, field_types: FieldTypes, tables: dict[str, EntityTables]):
        self.conn = conn
        self.field_types = field_types
        self.tables = tables
        self.inspector = sa.inspect(conn)

    # -- public ---------------------------------------------------------------------------
    def plan(self, changes: list[tuple[EntityDef | None, EntityDef]]) -> Plan:
        """``changes`` are (currently published or None, to be published) pairs."""
        plan = Plan()
        new_tables: list[sa.Table] = []
        for old, new in changes:
            et = self.tables[new.name]
            if not self.inspector.has_table(et.main.name):
                new_tables += et.all_tables()
                continue
            self._plan_entity(plan, old, new, et)
        if new_tables:
            names = ", ".join(t.name for t in new_tables)
            plan.steps.insert(
                0,
                Step(
                    "create_table",
                    names,
                    _("Create tables {names}").format(names=names),
                    lambda conn, op, ts=tuple(new_tables): ts[0].metadata.create_all(
                        conn, tables=list(ts), checkfirst=True
                    ),
                ),
            )
        return plan

    # -- one existing entity --------------------------------------------------------------
    def _plan_entity(self, plan: Plan, old: EntityDef | None, new: EntityDef, et: EntityTables) -> None:
        table = et.main.name
        existing = {c["name"] for c in self.inspector.get_columns(table)}
        has_rows = self._has_live_rows(et.main)
        old_fields = old.by_id if old else {}
        for f in new.fields:
            ftype = self.field_types[f.type]
            before = old_fields.get(f.id)
            if ftype.multi:
                link = et.links[f.id]
                if not self.inspector.has_table(link.name):
                    if before is not None and not self.field_types[before.type].multi:
                        self._refuse_kind_change(plan, before, f)
                        continue
                    plan.steps.append(
                        Step(
                            "create_table",
                            link.name,
                            _("Create the value table {table} for {field}").format(table=link.name, field=f.name),
                            lambda conn, op, t=link: t.create(conn),
                        )
                    )
                elif before is not None:
                    self._plan_validation(plan, new, before, f, et, has_rows)
                continue
            if f.computed and not f.get("stored"):
                continue
            if f.column not in existing:
                if before is not None and self.field_types[before.type].multi:
                    self._refuse_kind_change(plan, before, f)
                    continue
                self._plan_add(plan, new, f, et, has_rows)
                continue
            if before is not None:
                self._plan_change(plan, new, before, f, et, has_rows)
        self._plan_indexes(plan, et)

    def _has_live_rows(self, table: sa.Table) -> bool:
        q = sa.select(sa.literal(1)).select_from(table).where(table.c.deleted_at.is_(None)).limit(1)
        return self.conn.execute(q).first() is not None

    def _plan_add(self, plan: Plan, entity: EntityDef, f: FieldDef, et: EntityTables, has_rows: bool) -> None:
        column = et.main.c[f.column]
        if f.required and f.active and has_rows and not f.has_default:
            plan.refusals.append(
                Detail(
                    f"fields.{f.name}",
                    _(
                        "The field {field} is required and has no default, but {entity} already holds records: "
                        "give it a default or make it optional first."
                    ).format(field=f.name, entity=entity.name),
                    "E-MIGRATE-001",
                )
            )
            return
        plan.added.add((et.main.name, f.column))
        plan.steps.append(
            Step(
                "add_column",
                et.main.name,
                _("Add column {column} ({type}) to {table}").format(column=f.column, type=f.type, table=et.main.name),
                lambda conn, op, c=column, t=et.main.name: add_column(conn, op, t, c),
            )
        )
        if f.required and f.has_default and f.default is not None and has_rows:
            self._backfill(plan, et, f)

    def _backfill(self, plan: Plan, et: EntityTables, f: FieldDef) -> None:
        value = self.field_types[f.type].validate(f.default, f)
        table = et.main

        def run(conn, op, table=table, column=f.column, value=value):
            col = table.c[column]
            conn.execute(sa.update(table).where(col.is_(None)).values({column: value}))

        plan.steps.append(
            Step(
                "backfill",
                table.name,
                _("Fill {column} with the default {value} where it is empty").format(column=f.column, value=value),
                run,
            )
        )

    def _refuse_kind_change(self, plan: Plan, before: FieldDef, f: FieldDef) -> None:
        plan.refusals.append(
            Detail(
                f"fields.{f.name}",
                _(
                    "The field {field} cannot change from {old} to {new}: a single value and a list of values are stored "
                    "differently. Add a new field and copy the data instead."
                ).format(field=f.name, old=before.type, new=f.type),
                "E-MIGRATE-002",
            )
        )

    def _plan_change(
        self, plan: Plan, entity: EntityDef, before: FieldDef, f: FieldDef, et: EntityTables, has_rows: bool
    ) -> None:
        old_type, new_type = self.field_types[before.type], self.field_types[f.type]
        if (before.type == "ref") != (f.type == "ref") or (f.type == "ref" and before.target != f.target):
            plan.refusals.append(
                Detail(
                    f"fields.{f.name}",
                    _(
                        "The field {field} is a reference to {target}; a reference cannot change its type or target. "
                        "Add a new field instead."
                    ).format(field=f.name, target=before.target or before.type),
                    "E-MIGRATE-002",
                )
            )
            return
        storage_changes = self._storage_differs(before, f)
        rules_change = before.type != f.type or any(
            before.get(k) != f.get(k) for k in (*new_type.validation_keys, "target")
        )
        if rules_change:
            bad, total, examples = self._dry_run(et.main.c[f.column], et.main, before, f)
            if bad:
                plan.refusals.append(self._offending(f, bad, total, examples))
                return
        if storage_changes or before.type != f.type:
            same_kind = before.type == f.type and type(old_type.storage_type(before)) is sa.String
            if same_kind:
                plan.steps.append(
                    Step(
                        "alter_column",
                        et.main.name,
                        _("Change {column} to {type}").format(
                            column=f.column, type=self._ddl_type(et.main.c[f.column])
                        ),
                        lambda conn, op, t=et.main.name, c=et.main.c[f.column]: alter_length(conn, op, t, c),
                    )
                )
            else:
                plan.rewritten.add((et.main.name, f.column))
                plan.steps.append(
                    Step(
                        "convert_column",
                        et.main.name,
                        _("Convert the values of {column} from {old} to {new}").format(
                            column=f.column, old=before.type, new=f.type
                        ),
                        lambda conn, op, t=et.main, b=before, n=f: self._convert(conn, op, t, b, n),
                    )
                )
        if f.required and not before.required and f.active and has_rows:
            empty = self._count_empty(et.main, f.column)
            if empty:
                if f.has_default and f.default is not None:
                    self._backfill(plan, et, f)
                else:
                    plan.refusals.append(
                        Detail(
                            f"fields.{f.name}",
                            _(
                                "The field {field} cannot become required: {count} records have no value. "
                                "Fill them first or give the field a default."
                            ).format(field=f.name, count=empty),
                            "E-MIGRATE-004",
                        )
                    )

    def _plan_validation(self, plan, entity, before, f, et, has_rows) -> None:
        new_type = self.field_types[f.type]
        if before.type == f.type and all(before.get(k) == f.get(k) for k in new_type.validation_keys):
            return
        link = et.links[f.id]
        bad, total, examples = 0, 0, []
        rows = self.conn.execute(
            sa.select(link.c.record_id, link.c.value).order_by(link.c.record_id).execution_options(yield_per=BATCH)
        )
        for record_id, value in rows:
            total += 1
            try:
                new_type.convert([value], f)
            except ConversionError as exc:
                bad += 1
                if len(examples) < EXAMPLES:
                    examples.append((record_id, value, exc.message))
        if bad:
            plan.refusals.append(self._offending(f, bad, total, examples))

    def _storage_differs(self, before: FieldDef, f: FieldDef) -> bool:
        a = self.field_types[before.type].storage_type(before)
        b = self.field_types[f.type].storage_type(f)
        if type(a) is not type(b):
            return True
        if isinstance(a, ExactDecimal):  # a scaled integer on SQLite: a new scale means new stored numbers
            return (a.precision, a.scale) != (b.precision, b.scale)
        return self._ddl_type_of(a) != self._ddl_type_of(b)

    def _ddl_type_of(self, type_) -> str:
        return type_.compile(dialect=self.conn.dialect)

    def _ddl_type(self, column: sa.Column) -> str:
        return column.type.compile(dialect=self.conn.dialect)

    def _count_not_null(self, table: sa.Table, column: str) -> int:
        col = table.c[column]
        return self.conn.execute(sa.select(sa.func.count()).select_from(table).where(col.is_not(None))).scalar_one()

    def _count_empty(self, table: sa.Table, column: str) -> int:
        col = table.c[column]
        q = sa.select(sa.func.count()).select_from(table).where(col.is_(None), table.c.deleted_at.is_(None))
        return self.conn.execute(q).scalar_one()

    def _dry_run(self, column, table: sa.Table, before: FieldDef, f: FieldDef) -> tuple[int, int, list]:
        """Count the stored values (deleted records too: they are converted as well) that are not valid
        under the new definition."""
        old_type, new_type = self.field_types[before.type], self.field_types[f.type]
        # read with the old column type: the table object already carries the new one
        raw = sa.column(column.name, old_type.storage_type(before))
        q = sa.select(table.c.id, raw).select_from(table).where(raw.is_not(None)).order_by(table.c.id)
        bad, total, examples = 0, 0, []
        for record_id, value in self.conn.execute(q.execution_options(yield_per=BATCH)):
            total += 1
            try:
                new_type.validate(old_type.to_json(old_type.from_db(value, before), before), f)
            except ConversionError as exc:
                bad += 1
                if len(examples) < EXAMPLES:
                    examples.append((record_id, old_type.to_json(value, before), exc.message))
        return bad, total, examples

    def _offending(self, f: FieldDef, bad: int, total: int, examples: list) -> Detail:
        shown = "; ".join(f"#{rid} {value!r}: {msg}" for rid, value, msg in examples)
        return Detail(
            f"fields.{f.name}",
            _(
                "{bad} of {total} stored values of {field} are not valid under the new definition, so nothing was "
                "changed. Examples: {examples}"
            ).format(bad=bad, total=total, field=f.name, examples=shown),
            "E-MIGRATE-003",
        )

    def _convert(self, conn: Connection, op: Operations, table: sa.Table, before: FieldDef, f: FieldDef) -> None:
        """Add a column of the new type, copy every converted value, swap it for the old one."""
        old_type, new_type = self.field_types[before.type], self.field_types[f.type]
        tmp_name = f"{f.column}__new"
        new_col = sa.Column(tmp_name, new_type.storage_type(f), nullable=True)
        add_column(conn, op, table.name, new_col)
        raw = sa.column(f.column, old_type.storage_type(before))
        tmp = sa.table(table.name, sa.column("id"), sa.column(tmp_name, new_type.storage_type(f)))
        rows = conn.execute(sa.select(table.c.id, raw).select_from(table).where(raw.is_not(None))).all()
        updates = []
        for record_id, value in rows:
            converted = new_type.validate(old_type.to_json(old_type.from_db(value, before), before), f)
            updates.append({"rid": record_id, "val": converted})
        for start in range(0, len(updates), BATCH):
            conn.execute(
                sa.update(tmp).where(tmp.c.id == sa.bindparam("rid")).values({tmp_name: sa.bindparam("val")}),
                updates[start : start + BATCH],
            )
        for index in sa.inspect(conn).get_indexes(table.name):
            if f.column in index["column_names"]:
                op.drop_index(index["name"], table_name=table.name)
        op.drop_column(table.name, f.column)
        conn.exec_driver_sql(
            f"ALTER TABLE {quote(conn, table.name)} RENAME COLUMN {quote(conn, tmp_name)} TO {quote(conn, f.column)}"
        )

    # -- indexes --------------------------------------------------------------------------
    def _plan_indexes(self, plan: Plan, et: EntityTables) -> None:
        for table in et.all_tables():
            if not self.inspector.has_table(table.name):
                continue
            found = [ix for ix in self.inspector.get_indexes(table.name) if ix.get("name")]
            # indexes on a rewritten column are dropped with it: they must be created again
            existing = {
                ix["name"] for ix in found if not any((table.name, c) in plan.rewritten for c in ix["column_names"])
            }
            desired = {ix.name: ix for ix in table.indexes}
            for name in sorted(existing - set(desired)):
                if name.startswith(("ix_", "uq_")):
                    plan.steps.append(
                        Step(
                            "drop_index",
                            table.name,
                            _("Drop index {name}").format(name=name),
                            lambda conn, op, n=name, t=table.name: op.drop_index(n, table_name=t),
                        )
                    )
            for name in sorted(set(desired) - existing):
                index = desired[name]
                fresh = all((table.name, c.name) in plan.added for c in index.columns)
                if index.unique and not fresh:
                    dupes = self._duplicates(index, plan)
                    if dupes:
                        cols = ", ".join(c.name for c in index.columns)
                        plan.refusals.append(
                            Detail(
                                f"unique.{cols}",
                                _(
                                    "{cols} cannot become unique: {count} values are used by more than one record, "
                                    "e.g. {examples}."
                                ).format(
                                    cols=cols, count=len(dupes), examples=", ".join(repr(d) for d in dupes[:EXAMPLES])
                                ),
                                "E-MIGRATE-005",
                            )
                        )
                        continue
                plan.steps.append(
                    Step(
                        "create_index",
                        table.name,
                        _("Create index {name}").format(name=name),
                        lambda conn, op, ix=index: ix.create(conn),
                    )
                )

    def _duplicates(self, index: sa.Index, plan: Plan) -> list[Any]:
        """Values used twice among live records (columns this plan adds are still empty)."""
        table = index.table
        cols = list(index.columns)
        if any((table.name, c.name) in plan.added for c in cols):  # a new column is empty: NULLs never clash
            return []
        q = (
            sa.select(*cols)
            .where(table.c.deleted_at.is_(None), *[c.is_not(None) for c in cols])
            .group_by(*cols)
            .having(sa.func.count() > 1)
            .limit(50)
        )
        rows = self.conn.execute(q).all()
        return [r[0] if len(r) == 1 else tuple(r) for r in rows]


def add_column(conn: Connection, op: Operations, table: str, column: sa.Column) -> None:
    """``ALTER TABLE … ADD COLUMN``; on SQLite a reference is declared inline (no ALTER of constraints)."""
    fks = list(column.foreign_keys)
    if conn.dialect.name == "sqlite" and fks:
        plain = sa.Column(column.name, column.type, nullable=True)
        fk = fks[0]
        target = fk.target_fullname.split(".")[0]
        ondelete = f" ON DELETE {fk.ondelete}" if fk.ondelete else ""
        ddl = CreateColumn(plain).compile(dialect=conn.dialect)
        conn.exec_driver_sql(
            f"ALTER TABLE {quote(conn, table)} ADD COLUMN {ddl} REFERENCES {quote(conn, target)} (id){ondelete}"
        )
        return
    copy = sa.Column(
        column.name,
        column.type,
        *[sa.ForeignKey(fk.target_fullname, ondelete=fk.ondelete, name=fk.name) for fk in fks],
        nullable=True,
    )
    op.add_column(table, copy)


def alter_length(conn: Connection, op: Operations, table: str, column: sa.Column) -> None:
    if conn.dialect.name == "sqlite":
        return  # SQLite does not enforce VARCHAR lengths; validation does
    op.alter_column(table, column.name, type_=column.type, existing_nullable=True)


def apply_plan(conn: Connection, plan: Plan) -> list[str]:
    """Run every step on ``conn`` (inside the caller's transaction) and return the SQL executed."""
    statements: list[str] = []

    def capture(_conn, _cursor, statement, _params, _context, _many):
        statements.append(statement.strip())

    sa.event.listen(conn, "before_cursor_execute", capture)
    try:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
        op = Operations(MigrationContext.configure(conn))
        for step in plan.steps:
            step.run(conn, op)
    finally:
        sa.event.remove(conn, "before_cursor_execute", capture)
    plan.statements = [s for s in statements if _is_ddl_or_write(s)]
    return plan.statements


def _is_ddl_or_write(statement: str) -> bool:
    head = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
    return head in {"CREATE", "ALTER", "DROP", "UPDATE", "INSERT"}
