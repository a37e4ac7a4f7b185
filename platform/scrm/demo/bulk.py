"""Write generated rows straight into an entity's tables, fast enough for millions of rows.

The record service validates, computes and records history row by row; that is right for
imports and wrong for a generator that already knows its rows are valid. A :class:`BulkWriter`
takes plain tuples (the record id first, then the named fields), converts each value to what
the column stores on this database (scaled integers for decimals on SQLite, naive UTC text for
datetimes, ...) and sends them with the driver's fastest path: ``executemany`` on SQLite and
``COPY`` on PostgreSQL. Multi-valued fields (tags, multi-selects) go to their link tables.
Ids are assigned by the caller (``next_id``) so children can reference parents without reading
anything back.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa

from ..data.evaluation import environment, stored_value
from ..data.tables import EntityTables
from ..db import db
from ..fields.sqltypes import ExactDecimal, UTCDateTime
from ..security.crypto import EncryptedText, keyring

SYSTEM = ("version", "created_at", "updated_at", "created_by", "updated_by")


def _decimal_sqlite(scale: int) -> Callable:
    factor = 10**scale

    def convert(value):
        if value is None:
            return None
        if isinstance(value, Decimal):
            return int(value.scaleb(scale).to_integral_value(ROUND_HALF_UP))
        return int(round(value * factor))

    return convert


def _decimal_pg(scale: int) -> Callable:
    def convert(value):
        if value is None or isinstance(value, Decimal | int):
            return value
        return round(value, scale)

    return convert


def _datetime_sqlite(value):
    if value is None:
        return None
    if value.tzinfo is not UTC and value.tzinfo is not None:
        value = value.astimezone(UTC)
    # the text SQLAlchemy's SQLite DateTime stores: naive UTC, always with microseconds
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _datetime_pg(value):
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _date_sqlite(value):
    return value.isoformat() if isinstance(value, date) else value


def _json(value):
    return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _bool_sqlite(value):
    return None if value is None else int(bool(value))


def converter(column: sa.Column, dialect: str) -> Callable | None:
    """How a Python value becomes what this column stores on this database (None: as is)."""
    kind = column.type
    sqlite = dialect == "sqlite"
    if isinstance(kind, EncryptedText):
        seal, context = keyring().seal, kind.context
        return lambda value: None if value == "" else seal(str(value), context)
    if isinstance(kind, ExactDecimal):
        return _decimal_sqlite(kind.scale) if sqlite else _decimal_pg(kind.scale)
    if isinstance(kind, UTCDateTime):
        return _datetime_sqlite if sqlite else _datetime_pg
    if isinstance(kind, sa.JSON):
        return _json
    if isinstance(kind, sa.Date) and sqlite:
        return _date_sqlite
    if isinstance(kind, sa.Boolean) and sqlite:
        return _bool_sqlite
    return None


class BulkWriter:
    """Append rows ``(id, value of fields[0], value of fields[1], ...)`` to one entity."""

    def __init__(self, tables: EntityTables, fields: Sequence[str], moment: datetime, snapshot=None):
        entity = tables.entity
        # stored computed fields the caller does not supply are computed here, as a save would
        missing = [f for f in entity.active_fields if f.computed and f.get("stored") and f.name not in fields]
        if missing and snapshot is None:
            raise ValueError(f"{entity.name}: computing {missing[0].name} needs the definitions snapshot")
        fields = [*fields, *(f.name for f in missing)]
        self.derived = [(f.name, stored_value(snapshot, entity, f)) for f in missing]
        self.inputs = list(fields[: len(fields) - len(missing)])
        self.env = environment(snapshot) if missing else None
        self.tables = tables
        self.fields = list(fields)
        self.dialect = db.engine.dialect.name
        self.main_fields: list[tuple[int, str]] = []  # (position in the row, column)
        self.multi_fields: list[tuple[int, sa.Table]] = []
        for position, name in enumerate(fields, start=1):
            f = entity.field(name)
            if f is None:
                raise KeyError(f"{entity.name} has no field {name}")
            if f.id in tables.links:
                self.multi_fields.append((position, tables.links[f.id]))
            else:
                self.main_fields.append((position, f.column))
        main = tables.main
        # encrypted fields: the sealed value (by its column's converter) and the blind index
        self.blind_fields = [
            (pos, entity.field(name).index_column)
            for pos, name in enumerate(fields, start=1)
            if entity.field(name).encrypted and entity.field(name).index_column in main.c
        ]
        self.columns = [
            "id",
            *SYSTEM,
            *(column for _, column in self.main_fields),
            *(column for _, column in self.blind_fields),
        ]
        stamp = converter(main.c.created_at, self.dialect)
        stamped = stamp(moment) if stamp else moment
        self.system_values = (1, stamped, stamped, None, None)
        self.converters = [(pos, converter(main.c[col], self.dialect)) for pos, col in self.main_fields]
        self.count = 0

    @staticmethod
    def next_id(tables: EntityTables) -> int:
        table = tables.main
        return (db.session.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0) + 1

    def write_dicts(self, rows: Iterable[dict]) -> int:
        """Rows as dicts keyed by field name, with ``id``; missing fields are NULL."""
        names = ["id", *self.inputs]
        return self.write([tuple(row.get(n) for n in names) for row in rows])

    def write(self, rows: Iterable[Sequence]) -> int:
        if self.derived:
            rows = [self._derive(row) for row in rows]
        converters = self.converters
        system = self.system_values
        blind_fields = self.blind_fields
        blind = keyring().blind if blind_fields else None
        main_rows, link_rows = [], [[] for _ in self.multi_fields]
        for row in rows:
            values = [row[0], *system]
            for pos, convert in converters:
                value = row[pos]
                values.append(convert(value) if convert is not None and value is not None else value)
            for pos, _column in blind_fields:
                value = row[pos]
                values.append(blind(str(value)) if value not in (None, "") else None)
            main_rows.append(values)
            for slot, (pos, _table) in enumerate(self.multi_fields):
                for item in row[pos] or ():
                    link_rows[slot].append((row[0], item))
        if not main_rows:
            return 0
        self._send(self.tables.main.name, self.columns, main_rows)
        for rows_for_link, (_pos, table) in zip(link_rows, self.multi_fields, strict=True):
            if rows_for_link:
                self._send(table.name, ["record_id", "value"], rows_for_link)
        self.count += len(main_rows)
        return len(main_rows)

    def _derive(self, row: Sequence) -> tuple:
        record = dict(zip(self.inputs, row[1:], strict=False))
        return (*row, *(compute(record, self.env) for _name, compute in self.derived))

    def _send(self, table: str, columns: list[str], rows: list) -> None:
        raw = db.session.connection().connection.driver_connection
        quoted = ", ".join(f'"{c}"' for c in columns)
        if self.dialect == "sqlite":
            marks = ", ".join("?" for _ in columns)
            raw.executemany(f'INSERT INTO "{table}" ({quoted}) VALUES ({marks})', rows)
            return
        with raw.cursor() as cursor, cursor.copy(f'COPY "{table}" ({quoted}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)


class DeferredIndexes:
    """Drop the secondary indexes of tables about to be bulk-loaded and build them again at the
    end: one sort per index over the finished table is far cheaper than maintaining every index
    row by row (primary keys stay). On PostgreSQL the foreign keys of those tables go the same
    way: adding a constraint back validates all rows in one join instead of one trigger call per
    row. A load that fails half-way leaves a database to create again."""

    def __init__(self, tables: Iterable[EntityTables]):
        tables = [table for et in tables for table in et.all_tables()]
        self.indexes = sorted((ix for table in tables for ix in table.indexes), key=lambda ix: ix.name)
        self.foreign_keys = []
        if db.engine.dialect.name == "postgresql":
            self.foreign_keys = sorted(
                (fk for table in tables for fk in table.foreign_key_constraints if fk.name), key=lambda fk: fk.name
            )

    def drop(self) -> None:
        connection = db.session.connection()
        for fk in self.foreign_keys:
            connection.execute(sa.schema.DropConstraint(fk))
        for index in self.indexes:
            index.drop(connection, checkfirst=True)
        db.session.commit()

    def build(self) -> None:
        for index in self.indexes:  # one commit each: SQLite's write-ahead log stays one index big
            index.create(db.session.connection(), checkfirst=True)
            db.session.commit()
        connection = db.session.connection()
        for fk in self.foreign_keys:
            connection.execute(sa.schema.AddConstraint(fk))
        db.session.commit()


def reset_sequences(tables: Iterable[EntityTables]) -> None:
    """After explicit ids, PostgreSQL's id sequences must continue after the largest id."""
    if db.engine.dialect.name != "postgresql":
        return
    for et in tables:
        name = et.main.name
        db.session.execute(
            sa.text(
                f"SELECT setval(pg_get_serial_sequence('\"{name}\"', 'id'), "
                f'coalesce((SELECT max(id) FROM "{name}"), 0) + 1, false)'
            )
        )


FULL_STATISTICS_ROWS = 5_000_000  # SQLite tables up to this size get exact statistics


def _analyze_sqlite() -> None:
    """Sampled statistics for every table first (a full ANALYZE reads every index of a 25 GB
    file), then exact ones for the tables small enough to read whole. Sampling caps every
    "rows per key" near the sample size, so a status column with 2 M rows per value looks as
    selective as an employee column with 30: the planner then reads a manager's assignments
    through the status index (2.2 s instead of milliseconds at 1M customers)."""
    db.session.execute(sa.text("PRAGMA analysis_limit=2000"))
    db.session.execute(sa.text("ANALYZE"))
    db.session.commit()
    tables = [r[0] for r in db.session.execute(sa.text("SELECT DISTINCT tbl FROM sqlite_stat1"))]
    db.session.execute(sa.text("PRAGMA analysis_limit=0"))
    for name in tables:
        quoted = '"' + name.replace('"', '""') + '"'
        rows = db.session.execute(sa.text(f"SELECT max(rowid) FROM {quoted}")).scalar() or 0
        if rows <= FULL_STATISTICS_ROWS:
            db.session.execute(sa.text(f"ANALYZE {quoted}"))
    db.session.commit()


def analyze() -> None:
    """Fresh planner statistics after a bulk load (both databases plan badly without them). On
    PostgreSQL a VACUUM too: it sets the visibility map and the hint bits the bulk load left
    unset, which autovacuum would do later (until then reads write pages back and index-only
    scans visit the heap)."""
    db.session.commit()
    if db.engine.dialect.name == "sqlite":
        _analyze_sqlite()
        return
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM (ANALYZE)")
