"""``scrm restore FILE``: one transaction that either rebuilds the installation exactly or leaves
the database as it was.

The tables are made the way SCRM makes them (system tables with the audit log's append-only
triggers, then one table per published entity with its indexes and foreign keys), so the result
is an installation, not a copy of rows. A table SCRM no longer makes (a purged field's archive,
say) is made from the DDL the manifest carries. Rows go in parents first; a reference to a row
not yet loaded (a record pointing at another of its own table) is written after all rows are in.
Then every table is read back and its checksum compared with the manifest before the commit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..db import db, writing
from ..installation import system_metadata
from ..meta import store
from ..registry import Snapshot
from ..runtime import runtime
from ..security import audit
from ..security.crypto import keyring
from .archive import BATCH, BackupError, Checksum, Manifest, Reader, TableInfo, key_fingerprint, settle_session
from .dump import INTERNAL_TABLES


@dataclass
class RestoreSummary:
    manifest: Manifest
    replaced: int  # tables dropped first (--force)
    audit_entries: int
    audit_intact: bool
    seconds: float


def check_keys(manifest: Manifest) -> None:
    """Sealed values need the keys that sealed them, and equality search the key that wrote the
    blind indexes: refuse before touching the database when this installation lacks them."""
    if not manifest.keys:
        return
    ring = keyring()
    for key_id, fingerprint in manifest.keys.items():
        key = ring.by_id.get(key_id)
        if key is None:
            raise BackupError(
                f"Values in this backup are sealed with key {key_id!r}, which SCRM_ENCRYPTION_KEY here "
                "does not hold: set it to the keys of the installation that made the backup."
            )
        if fingerprint and key_fingerprint(key.index) != fingerprint:
            raise BackupError(
                f"The key {key_id!r} of SCRM_ENCRYPTION_KEY here is not the key {key_id!r} that sealed this "
                "backup's values: set it to the keys of the installation that made the backup."
            )
    if manifest.current_key and key_fingerprint(ring.current.index) != manifest.current_key:
        raise BackupError(
            "The first key of SCRM_ENCRYPTION_KEY is not the one the backup's installation wrote with: "
            "put that key first (rotate afterwards with scrm keys rotate)."
        )


class Restorer:
    def __init__(self, conn: Connection, reader: Reader):
        self.conn = conn
        self.reader = reader
        self.manifest = reader.manifest
        self.quote = conn.dialect.identifier_preparer.quote
        self.mark = "?" if conn.dialect.name == "sqlite" else "%s"
        self.loaded: set[str] = set()
        self.later: list[tuple[str, list[str], list[str], list[tuple]]] = []  # deferred references

    # -- the schema ---------------------------------------------------------------------
    def drop_everything(self, names: list[str]) -> int:
        """Drop every table (--force). References between them are not checked: on SQLite until
        the commit, when none is left; PostgreSQL drops the constraints with the tables."""
        if self.conn.dialect.name == "sqlite":
            self.conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
        cascade = " CASCADE" if self.conn.dialect.name == "postgresql" else ""
        for name in names:
            self.conn.exec_driver_sql(f"DROP TABLE IF EXISTS {self.quote(name)}{cascade}")
        return len(names)

    def make_system_tables(self) -> None:
        system_metadata().create_all(self.conn)
        audit.protect(self.conn)

    def make_entity_tables(self) -> None:
        rows = [(r.kind, r.name, r.version, r.body) for r in store.published()]
        snap = Snapshot.build(store.current_revision(), rows, runtime().field_types)
        snap.metadata.create_all(self.conn)

    def make_the_rest(self) -> None:
        """Tables SCRM no longer makes, and columns a table has here that it lacks."""
        inspector = sa.inspect(self.conn)
        for info in self.manifest.tables:
            if not inspector.has_table(info.name):
                if not info.ddl:
                    raise BackupError(f"The backup cannot remake table {info.name}: its manifest has no DDL.")
                for statement in info.ddl:
                    self.conn.exec_driver_sql(statement)
                continue
            present = {c["name"] for c in inspector.get_columns(info.name)}
            for column in info.columns:
                if column["name"] not in present:
                    self.conn.exec_driver_sql(
                        f"ALTER TABLE {self.quote(info.name)} ADD COLUMN {self.quote(column['name'])} {column['type']}"
                    )

    # -- the rows -----------------------------------------------------------------------
    def load(self, names: list[str]) -> None:
        """Load the named tables, parents before children."""
        inspector = sa.inspect(self.conn)
        parents = {
            name: {(fk["referred_table"], tuple(fk["constrained_columns"])) for fk in inspector.get_foreign_keys(name)}
            for name in names
        }
        waiting = list(names)
        while waiting:
            ready = [n for n in waiting if all(p in self.loaded or p == n for p, _c in parents[n])]
            name = ready[0] if ready else waiting[0]  # a cycle: the first waits for no one
            waiting.remove(name)
            deferred = {c for parent, cols in parents[name] if parent not in self.loaded for c in cols}
            self._load_table(self._info(name), deferred)
            self.loaded.add(name)

    def _info(self, name: str) -> TableInfo:
        return next(t for t in self.manifest.tables if t.name == name)

    def _load_table(self, info: TableInfo, deferred: set[str]) -> None:
        columns = info.column_names
        put_off = [i for i, c in enumerate(columns) if c in deferred]
        keys = [columns.index(c) for c in info.primary_key]
        if put_off and not keys:
            raise BackupError(f"Table {info.name} refers to rows loaded after it and has no primary key.")
        sql = (
            f"INSERT INTO {self.quote(info.name)} ({', '.join(self.quote(c) for c in columns)}) "
            f"VALUES ({', '.join([self.mark] * len(columns))})"
        )
        checksum, batch, later = Checksum(), [], []
        for values in self.reader.rows(info, checksum):
            if put_off and any(values[i] is not None for i in put_off):
                later.append((*(values[i] for i in put_off), *(values[k] for k in keys)))
                for i in put_off:
                    values[i] = None
            batch.append(tuple(values))
            if len(batch) >= BATCH:
                self.conn.exec_driver_sql(sql, batch)
                batch = []
        if batch:
            self.conn.exec_driver_sql(sql, batch)
        if (checksum.rows, checksum.hexdigest()) != (info.rows, info.checksum):
            raise BackupError(f"The backup is damaged: table {info.name} does not match its checksum.")
        if later:
            self.later.append((info.name, [columns[i] for i in put_off], info.primary_key, later))

    def load_references(self) -> None:
        for name, columns, keys, rows in self.later:
            assign = ", ".join(f"{self.quote(c)} = {self.mark}" for c in columns)
            where = " AND ".join(f"{self.quote(k)} = {self.mark}" for k in keys)
            sql = f"UPDATE {self.quote(name)} SET {assign} WHERE {where}"
            for start in range(0, len(rows), BATCH):
                self.conn.exec_driver_sql(sql, rows[start : start + BATCH])

    def reset_sequences(self) -> None:
        """PostgreSQL: the next id of each table follows the restored ones."""
        if self.conn.dialect.name != "postgresql":
            return
        for info in self.manifest.tables:
            if len(info.primary_key) != 1:
                continue
            table, key = self.quote(info.name), self.quote(info.primary_key[0])
            sequence = self.conn.execute(
                sa.text("SELECT pg_get_serial_sequence(:table, :column)"),
                {"table": table, "column": info.primary_key[0]},
            ).scalar()
            if sequence:
                self.conn.execute(
                    sa.text(
                        f"SELECT setval(CAST(:sequence AS regclass), COALESCE(MAX({key}), 0) + 1, false) FROM {table}"
                    ),
                    {"sequence": sequence},
                )

    def verify(self) -> None:
        from .archive import table_checksum

        for info in self.manifest.tables:
            found = table_checksum(self.conn, info)
            if (found.rows, found.hexdigest()) != (info.rows, info.checksum):
                raise BackupError(
                    f"Table {info.name} did not restore exactly ({found.rows:,} rows read back, {info.rows:,} in the "
                    "backup); nothing was changed."
                )


def restore_backup(path: Path, *, force: bool = False) -> RestoreSummary:
    """Replace the database's contents with the backup's, in one transaction."""
    started = time.monotonic()
    with Reader(path) as reader, writing():
        manifest = reader.manifest
        session = db.session()
        conn = session.connection()
        if manifest.dialect != conn.dialect.name:
            raise BackupError(
                f"This backup was made on {manifest.dialect}; restore it into a {manifest.dialect} database."
            )
        check_keys(manifest)
        present = [n for n in sa.inspect(conn).get_table_names() if n not in INTERNAL_TABLES]
        if present and not force:
            raise BackupError(
                f"The database is not empty ({len(present)} tables): restore into an empty database, "
                "or pass --force to replace everything in it."
            )
        previous = store.current_revision() if "scrm_revision" in present else None
        try:
            settle_session(conn)
            restorer = Restorer(conn, reader)
            replaced = restorer.drop_everything(present) if present else 0
            restorer.make_system_tables()
            in_backup = {t.name for t in manifest.tables}
            system = [t.name for t in system_metadata().sorted_tables if t.name in in_backup]
            restorer.load(system)
            restorer.make_entity_tables()
            restorer.make_the_rest()
            restorer.load([t.name for t in manifest.tables if t.name not in restorer.loaded])
            restorer.load_references()
            restorer.reset_sequences()
            restorer.verify()
            chain = audit.verify()
            if previous is not None:  # running workers must see a new revision and reload
                bumped = max(previous, manifest.revision) + 1
                conn.execute(sa.text("UPDATE scrm_revision SET value = :v WHERE id = 1"), {"v": bumped})
            audit.append(
                "backup.restore",
                row_count=manifest.rows,
                detail={"file": path.name, "made_at": manifest.made_at, "tables": len(manifest.tables)},
            )
            session.commit()
        except BaseException:
            session.rollback()
            raise
    runtime().registry.invalidate()
    return RestoreSummary(manifest, replaced, chain.entries, chain.ok, time.monotonic() - started)
