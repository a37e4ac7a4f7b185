"""The backup file: a zip with one JSON-lines member per table and a manifest written last.

A line is one row, a JSON array of the column values exactly as the database stores them:
SQLite's own values (integers, reals, text; blobs as ``{"b64": …}``), and on PostgreSQL each
value's text form (``value::text``), which the same column type reads back unchanged. So a
backup restores into the kind of database that made it, and nothing is converted on the way.

Each table's checksum is the sum, modulo 2**256, of the SHA-256 of its lines: it does not
depend on the order rows come back in, so the restored table can be checked against the
manifest by reading it again, whatever order the other database returns.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..errors import Detail, ScrmError

FORMAT = "scrm-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MODULUS = 1 << 256
BATCH = 2_000
SEALED_PREFIX = "enc:"


class BackupError(ScrmError):
    def __init__(self, message: str, details: list[Detail] | None = None):
        super().__init__(message, details or [], "backup_refused", 400)


@dataclass
class TableInfo:
    name: str
    columns: list[dict[str, Any]]  # {"name", "type", "nullable"} as the source database declared them
    primary_key: list[str]
    ddl: list[str]  # CREATE TABLE and CREATE INDEX as the source database would write them
    rows: int = 0
    checksum: str = ""

    @property
    def member(self) -> str:
        return f"tables/{self.name}.jsonl"

    @property
    def column_names(self) -> list[str]:
        return [c["name"] for c in self.columns]


@dataclass
class Manifest:
    dialect: str
    made_at: str
    scrm_version: str
    revision: int
    tables: list[TableInfo]
    keys: dict[str, str | None] = field(default_factory=dict)  # key id sealing values -> fingerprint
    current_key: str | None = None  # fingerprint of the key that wrote the blind indexes
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    def dumps(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=1)

    @classmethod
    def loads(cls, text: str) -> Manifest:
        try:
            raw = json.loads(text)
            if raw.get("format") != FORMAT:
                raise BackupError("This file is not an SCRM backup.")
            if raw.get("format_version") != FORMAT_VERSION:
                raise BackupError(
                    f"This backup has format version {raw.get('format_version')}; this SCRM reads version {FORMAT_VERSION}."
                )
            tables = [TableInfo(**t) for t in raw.pop("tables")]
            return cls(tables=tables, **raw)
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            raise BackupError(f"The backup's manifest is damaged: {exc}") from None


class Checksum:
    """An order-independent checksum of a table's lines (an additive multiset hash)."""

    def __init__(self) -> None:
        self.total = 0
        self.rows = 0

    def add(self, line: bytes) -> None:
        self.total = (self.total + int.from_bytes(hashlib.sha256(line).digest(), "big")) % MODULUS
        self.rows += 1

    def hexdigest(self) -> str:
        return f"{self.total:064x}"


def key_fingerprint(index_key: bytes) -> str:
    """Names a field key without revealing it: equal fingerprints, equal keys."""
    return hashlib.sha256(b"scrm-backup-key\n" + index_key).hexdigest()[:24]


# -- rows ----------------------------------------------------------------------------------
def encode(row: Iterable[Any]) -> bytes:
    values = [{"b64": base64.b64encode(bytes(v)).decode()} if isinstance(v, bytes | memoryview) else v for v in row]
    return json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode()


def decode(line: bytes) -> list[Any]:
    return [base64.b64decode(v["b64"]) if isinstance(v, dict) else v for v in json.loads(line)]


def settle_session(conn: Connection) -> None:
    """PostgreSQL: text forms that do not depend on the server's or the session's settings."""
    if conn.dialect.name == "postgresql":
        for setting in ("TimeZone = 'UTC'", "DateStyle = 'ISO, YMD'", "IntervalStyle = 'postgres'",
                        "extra_float_digits = 1", "bytea_output = 'hex'"):  # fmt: skip
            conn.exec_driver_sql(f"SET LOCAL {setting}")


def stored_rows(conn: Connection, info: TableInfo) -> Iterator[tuple]:
    """A table's rows as the database stores them (see the module docstring), by primary key."""
    table = sa.table(info.name, *[sa.column(c) for c in info.column_names])
    if conn.dialect.name == "postgresql":
        columns = [sa.cast(table.c[c], sa.Text).label(c) for c in info.column_names]
    else:
        columns = [table.c[c] for c in info.column_names]
    order = [table.c[c] for c in info.primary_key if c in table.c]
    result = conn.execute(
        sa.select(*columns).order_by(*order), execution_options={"stream_results": True, "yield_per": BATCH}
    )
    for partition in result.partitions():
        yield from partition


def table_checksum(conn: Connection, info: TableInfo) -> Checksum:
    checksum = Checksum()
    for row in stored_rows(conn, info):
        checksum.add(encode(row))
    return checksum


# -- the file ------------------------------------------------------------------------------
class Reader:
    """An open backup file: its manifest, and each table's rows with their checksum kept."""

    def __init__(self, path: Path):
        try:
            self.zip = zipfile.ZipFile(path)
            self.manifest = Manifest.loads(self.zip.read(MANIFEST).decode("utf-8"))
        except (zipfile.BadZipFile, KeyError, OSError, UnicodeDecodeError) as exc:
            raise BackupError(f"{path} is not a readable SCRM backup ({type(exc).__name__}: {exc}).") from None

    def rows(self, info: TableInfo, checksum: Checksum) -> Iterator[list[Any]]:
        try:
            with self.zip.open(info.member) as member:
                for line in member:
                    line = line.rstrip(b"\n")
                    checksum.add(line)
                    yield decode(line)
        except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
            raise BackupError(f"The backup is damaged at table {info.name}: {type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        self.zip.close()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()


class Writer:
    """Writes to ``<path>.partial`` and renames it when complete: a crash leaves no file that
    looks like a backup."""

    def __init__(self, path: Path):
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        self.zip = zipfile.ZipFile(self.partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=3)

    def table(self, info: TableInfo) -> IO[bytes]:
        return self.zip.open(info.member, "w", force_zip64=True)

    def finish(self, manifest: Manifest) -> None:
        self.zip.writestr(MANIFEST, manifest.dumps())
        self.zip.close()
        with self.partial.open("rb") as f:
            os.fsync(f.fileno())
        self.partial.replace(self.path)

    def abandon(self) -> None:
        self.zip.close()
        self.partial.unlink(missing_ok=True)
