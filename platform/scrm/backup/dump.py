"""``scrm backup FILE``: every table of the installation, read in one consistent snapshot.

Definitions and their history, users, records, attachments, the outbox and the audit chain are
all tables, so all of them are in the file, as stored: sealed fields stay sealed (the file holds
no key; the manifest names the keys by fingerprint, so a restore can tell whether it has them).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateIndex, CreateTable

from .. import __version__
from ..db import db, writing
from ..security import audit
from ..security.crypto import keyring
from .archive import (
    BATCH,
    SEALED_PREFIX,
    BackupError,
    Checksum,
    Manifest,
    TableInfo,
    Writer,
    encode,
    key_fingerprint,
    settle_session,
    stored_rows,
)

INTERNAL_TABLES = frozenset({"sqlite_sequence", "sqlite_stat1", "sqlite_stat4"})
TEXT_TYPES = ("TEXT", "CHAR", "CLOB")


@dataclass
class BackupSummary:
    path: Path
    manifest: Manifest
    size: int
    seconds: float


def describe(conn: Connection, name: str) -> TableInfo:
    """A table as the database declares it: columns, primary key and the DDL that makes it."""
    table = sa.Table(name, sa.MetaData(), autoload_with=conn)
    dialect = conn.dialect
    columns = []
    for column in table.columns:
        try:
            type_ = column.type.compile(dialect=dialect)
        except sa.exc.CompileError:
            type_ = "" if dialect.name == "sqlite" else "text"
        columns.append({"name": column.name, "type": type_, "nullable": bool(column.nullable)})
    try:
        ddl = [str(CreateTable(table).compile(dialect=dialect)).strip()]
        ddl += [str(CreateIndex(ix).compile(dialect=dialect)).strip() for ix in sorted(table.indexes, key=_name)]
    except sa.exc.CompileError:
        ddl = []  # a table SCRM makes itself needs none; another one cannot be remade (restore says so)
    return TableInfo(name, columns, [c.name for c in table.primary_key.columns], ddl)


def _name(index: sa.Index) -> str:
    return index.name or ""


def _dump_table(conn: Connection, info: TableInfo, writer: Writer, key_ids: set[str]) -> None:
    text_columns = [i for i, c in enumerate(info.columns) if any(t in c["type"].upper() for t in TEXT_TYPES)]
    checksum = Checksum()
    with writer.table(info) as out:
        buffer: list[bytes] = []
        for row in stored_rows(conn, info):
            line = encode(row)
            checksum.add(line)
            buffer.append(line)
            for i in text_columns:
                value = row[i]
                if isinstance(value, str) and value.startswith(SEALED_PREFIX):
                    key_ids.add(value[len(SEALED_PREFIX) :].partition(":")[0])
            if len(buffer) >= BATCH:
                out.write(b"\n".join(buffer) + b"\n")
                buffer.clear()
        if buffer:
            out.write(b"\n".join(buffer) + b"\n")
    info.rows, info.checksum = checksum.rows, checksum.hexdigest()


def make_backup(path: Path, *, overwrite: bool = False) -> BackupSummary:
    """Write the whole database to ``path``; then note the backup in the audit log."""
    if path.exists() and not overwrite:
        raise BackupError(f"{path} already exists: choose another name or pass --overwrite.")
    if not path.parent.is_dir():
        raise BackupError(f"The folder {path.parent} does not exist.")
    started = time.monotonic()
    ring = keyring()
    options = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
    with db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(**options)
        with conn.begin():
            settle_session(conn)
            names = sorted(n for n in sa.inspect(conn).get_table_names() if n not in INTERNAL_TABLES)
            if "scrm_revision" not in names:
                raise BackupError("This database holds no SCRM installation (run scrm init first).")
            writer = Writer(path)
            try:
                tables, key_ids = [], set()
                for name in names:
                    info = describe(conn, name)
                    _dump_table(conn, info, writer, key_ids)
                    tables.append(info)
                revision = conn.execute(sa.text("SELECT value FROM scrm_revision WHERE id = 1")).scalar() or 0
                keys = {k: key_fingerprint(ring.by_id[k].index) if k in ring.by_id else None for k in sorted(key_ids)}
                manifest = Manifest(
                    dialect=conn.dialect.name,
                    made_at=datetime.now(UTC).isoformat(timespec="seconds"),
                    scrm_version=__version__,
                    revision=int(revision),
                    tables=tables,
                    keys=keys,
                    current_key=key_fingerprint(ring.current.index),
                )
                writer.finish(manifest)
            except BaseException:
                writer.abandon()
                raise
    with writing():
        audit.append("backup.create", row_count=manifest.rows, detail={"file": path.name, "tables": len(tables)})
        db.session.commit()
    return BackupSummary(path, manifest, path.stat().st_size, time.monotonic() - started)
