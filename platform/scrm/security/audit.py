"""The audit log: append-only and hash-chained.

Every entry carries the hash of the entry before it, and its own hash covers its content and
that link: ``hash = sha256(prev_hash + "\\n" + canonical JSON of the entry)``. Changing, removing
or reordering any entry breaks the chain at that entry, which :func:`verify` names. Database
triggers refuse UPDATE and DELETE on the table (a bug cannot rewrite history; someone with the
database's keys can, and the chain shows it).

Entries are appended inside the transaction of what they record (a record change and its entry
commit together or not at all). On PostgreSQL, appends from several workers are serialised by a
transaction-level advisory lock, so the chain stays one line.

Old entries move to an archive file (JSON lines, verifiable on their own) with :func:`archive`;
the last archived hash is kept as the anchor the remaining chain starts from.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..db import db

GENESIS = "0" * 64
LOCK_KEY = 7_302_114_501  # pg_advisory_xact_lock key of the chain
BATCH = 5_000
# what an entry is made of, in the order the hash reads it
CONTENT = ("at", "user_id", "username", "roles", "ip", "action", "entity", "record_id", "fields", "row_count",
           "reason", "result", "detail")  # fmt: skip


class AuditEntry(db.Model):
    __tablename__ = "scrm_audit"
    __table_args__ = (
        sa.Index("ix_scrm_audit_at", "at"),
        sa.Index("ix_scrm_audit_record", "entity", "record_id"),
        sa.Index("ix_scrm_audit_user", "user_id", "at"),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True)
    at: Mapped[str] = mapped_column(sa.String(27))  # 2026-11-21T10:15:00.123456Z: sorts as it reads
    user_id: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    username: Mapped[str | None] = mapped_column(sa.String(63), nullable=True)
    roles: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    ip: Mapped[str | None] = mapped_column(sa.String(45), nullable=True)
    action: Mapped[str] = mapped_column(sa.String(32))
    entity: Mapped[str | None] = mapped_column(sa.String(63), nullable=True)
    record_id: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    fields: Mapped[str | None] = mapped_column(sa.Text, nullable=True)  # comma-separated field names
    row_count: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    reason: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    result: Mapped[str] = mapped_column(sa.String(12), default="ok")
    detail: Mapped[str | None] = mapped_column(sa.Text, nullable=True)  # JSON text, kept as written
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64), unique=True)


class AuditAnchor(db.Model):
    """Where the chain in the table starts after an archive: the last archived entry."""

    __tablename__ = "scrm_audit_anchor"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    last_id: Mapped[int] = mapped_column(sa.BigInteger)
    last_hash: Mapped[str] = mapped_column(sa.String(64))
    archived_at: Mapped[str] = mapped_column(sa.String(27))
    archive_file: Mapped[str] = mapped_column(sa.String(500))
    entries: Mapped[int] = mapped_column(sa.BigInteger)


@dataclass(frozen=True)
class Actor:
    """Who did it, from where."""

    user_id: int | None = None
    username: str | None = None
    roles: tuple[str, ...] = ()
    ip: str | None = None


SYSTEM = Actor(None, "system")


def stamp(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(values: dict[str, Any]) -> str:
    return json.dumps([values.get(k) for k in CONTENT], ensure_ascii=False, separators=(",", ":"))


def digest(prev_hash: str, values: dict[str, Any]) -> str:
    return hashlib.sha256(f"{prev_hash}\n{canonical(values)}".encode()).hexdigest()


def append(
    action: str,
    actor: Actor = SYSTEM,
    *,
    entity: str | None = None,
    record_id: int | None = None,
    fields: list[str] | tuple[str, ...] | None = None,
    row_count: int | None = None,
    reason: str | None = None,
    result: str = "ok",
    detail: dict | None = None,
) -> str:
    """Add an entry in the current transaction (the caller commits); returns its hash."""
    values = {
        "at": stamp(),
        "user_id": actor.user_id,
        "username": actor.username,
        "roles": ",".join(actor.roles) or None,
        "ip": actor.ip,
        "action": action,
        "entity": entity,
        "record_id": record_id,
        "fields": ",".join(fields) if fields else None,
        "row_count": row_count,
        "reason": reason,
        "result": result,
        "detail": json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str) if detail else None,
    }
    session = db.session
    table = AuditEntry.__table__
    prev = _tail_appended()
    if prev is None and db.engine.dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
    if prev is None:
        prev = session.execute(sa.select(table.c.hash).order_by(table.c.id.desc()).limit(1)).scalar()
    if prev is None:
        prev = (
            session.execute(
                sa.select(AuditAnchor.__table__.c.last_hash).order_by(AuditAnchor.__table__.c.id.desc()).limit(1)
            ).scalar()
            or GENESIS
        )
    values["prev_hash"] = prev
    values["hash"] = digest(prev, values)
    session.execute(sa.insert(table).values(**values))
    session.info[TAIL] = (_innermost_transaction(), values["hash"])
    return values["hash"]


TAIL = "scrm_audit_tail"  # the session's ``info`` key: (transaction, hash) of its last append


def _innermost_transaction():
    session = db.session()
    return session.get_nested_transaction() or session.get_transaction()


def _tail_appended() -> str | None:
    """The hash this transaction appended last, while nobody else can append (the chain's lock
    on PostgreSQL, the write lock on SQLite, both held until the transaction ends): the next
    entry chains to it without reading the table. A savepoint rolled back, or a new
    transaction, reads the table again."""
    appended = db.session.info.get(TAIL)
    if appended is None or appended[0] is not _innermost_transaction():
        return None
    return appended[1]


# -- verifying ------------------------------------------------------------------------------
@dataclass
class Verification:
    entries: int
    first_broken: int | None = None
    problem: str | None = None
    last_hash: str | None = None

    @property
    def ok(self) -> bool:
        return self.first_broken is None


def _rows(start_after: int = 0) -> Iterator[dict]:
    table = AuditEntry.__table__
    last = start_after
    while True:
        batch = (
            db.session.execute(sa.select(table).where(table.c.id > last).order_by(table.c.id).limit(BATCH))
            .mappings()
            .all()
        )
        if not batch:
            return
        yield from batch
        last = batch[-1]["id"]


def check_chain(rows, start: str) -> Verification:
    """Walk entries in order from the hash ``start``; the first that does not fit is named."""
    prev, count = start, 0
    for row in rows:
        count += 1
        if row["prev_hash"] != prev:
            return Verification(
                count, row["id"], "previous hash does not match: an entry before it was removed or changed", prev
            )
        if digest(prev, row) != row["hash"]:
            return Verification(count, row["id"], "content does not match its hash: the entry was changed", prev)
        prev = row["hash"]
    return Verification(count, None, None, prev)


def verify() -> Verification:
    anchor = db.session.execute(
        sa.select(AuditAnchor.__table__.c.last_hash).order_by(AuditAnchor.__table__.c.id.desc()).limit(1)
    ).scalar()
    return check_chain(_rows(), anchor or GENESIS)


def verify_file(path: Path) -> Verification:
    """An archive file: its first line is the header with the hash the chain starts from."""
    with path.open(encoding="utf-8") as f:
        header = json.loads(f.readline())

        def rows():
            for line in f:
                if line.strip():
                    yield json.loads(line)

        return check_chain(rows(), header["start"])


# -- archiving ------------------------------------------------------------------------------
TRIGGERS = {
    "sqlite": [
        "CREATE TRIGGER IF NOT EXISTS scrm_audit_no_update BEFORE UPDATE ON scrm_audit "
        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
        "CREATE TRIGGER IF NOT EXISTS scrm_audit_no_delete BEFORE DELETE ON scrm_audit "
        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION scrm_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$",
        "DROP TRIGGER IF EXISTS scrm_audit_append_only ON scrm_audit",
        "CREATE TRIGGER scrm_audit_append_only BEFORE UPDATE OR DELETE ON scrm_audit "
        "FOR EACH ROW EXECUTE FUNCTION scrm_audit_append_only()",
    ],
}
DROP_TRIGGERS = {
    "sqlite": ["DROP TRIGGER IF EXISTS scrm_audit_no_update", "DROP TRIGGER IF EXISTS scrm_audit_no_delete"],
    "postgresql": ["DROP TRIGGER IF EXISTS scrm_audit_append_only ON scrm_audit"],
}


def protect(conn) -> None:
    """Install the append-only triggers (idempotent)."""
    for statement in TRIGGERS.get(conn.dialect.name, []):
        conn.exec_driver_sql(statement)


def archive(path: Path, before: datetime) -> int:
    """Move the entries older than ``before`` to ``path`` (JSON lines: a header, then the entries
    as stored) and keep the last one's hash as the anchor. One transaction: the file is written
    first, the rows go only if it was. Refuses when the chain is already broken."""
    check = verify()
    if not check.ok:
        raise ValueError(f"the audit log is broken at entry #{check.first_broken}; archive refused")
    table = AuditEntry.__table__
    cutoff = stamp(before)
    last = db.session.execute(sa.select(sa.func.max(table.c.id)).where(table.c.at < cutoff)).scalar()
    if last is None:
        return 0
    anchor = (
        db.session.execute(
            sa.select(AuditAnchor.__table__.c.last_hash).order_by(AuditAnchor.__table__.c.id.desc()).limit(1)
        ).scalar()
        or GENESIS
    )
    count, last_hash = 0, anchor
    with path.open("x", encoding="utf-8") as f:
        f.write(json.dumps({"kind": "scrm-audit-archive", "start": anchor, "before": cutoff}) + "\n")
        for row in _rows():
            if row["id"] > last:
                break
            f.write(json.dumps(dict(row), ensure_ascii=False, separators=(",", ":")) + "\n")
            count, last_hash = count + 1, row["hash"]
    conn = db.session.connection()
    for statement in DROP_TRIGGERS.get(conn.dialect.name, []):
        conn.exec_driver_sql(statement)
    db.session.info.pop(TAIL, None)
    db.session.execute(sa.delete(table).where(table.c.id <= last))
    db.session.execute(
        sa.insert(AuditAnchor.__table__).values(
            last_id=last, last_hash=last_hash, archived_at=stamp(), archive_file=str(path), entries=count
        )
    )
    protect(conn)
    return count


# -- in a request -----------------------------------------------------------------------------
def request_ip() -> str | None:
    from flask import has_request_context, request

    return (request.remote_addr or None) if has_request_context() else None


def later(action: str, actor: Actor, **kwargs) -> None:
    """Record a read (sensitive views, searches) when the request ends, in its own short write
    transaction; outside a request, now."""
    from flask import g, has_request_context

    if has_request_context():
        pending = g.setdefault("audit_pending", [])
        if (action, actor, kwargs) not in pending:  # the same record's same fields read twice: one view
            pending.append((action, actor, kwargs))
        return
    append(action, actor, **kwargs)
    db.session.commit()


def flush_pending() -> None:
    """Write the reads a request queued (called after the response is ready)."""
    from flask import g

    from ..db import writing

    pending = g.pop("audit_pending", None)
    if not pending:
        return
    with writing():
        for action, actor, kwargs in pending:
            append(action, actor, **kwargs)
        db.session.commit()


class RevealGrant(db.Model):
    """A masked value shown in full for a while, because a user gave a reason (logged)."""

    __tablename__ = "scrm_reveal"
    __table_args__ = (sa.Index("ix_scrm_reveal_lookup", "user_id", "entity", "record_id"),)

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.BigInteger)
    entity: Mapped[str] = mapped_column(sa.String(63))
    record_id: Mapped[int] = mapped_column(sa.BigInteger)
    fields: Mapped[str] = mapped_column(sa.Text)  # comma-separated
    reason: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[str] = mapped_column(sa.String(27))
    expires_at: Mapped[str] = mapped_column(sa.String(27))


def active_reveals(user_id: int | None, entity: str, record_ids: list[int]) -> dict[int, set[str]]:
    """The fields each record has revealed for the user right now."""
    if user_id is None or not record_ids:
        return {}
    table = RevealGrant.__table__
    rows = db.session.execute(
        sa.select(table.c.record_id, table.c.fields).where(
            table.c.user_id == user_id,
            table.c.entity == entity,
            table.c.record_id.in_(record_ids[:1000]),
            table.c.expires_at > stamp(),
        )
    ).all()
    out: dict[int, set[str]] = {}
    for record_id, fields in rows:
        out.setdefault(record_id, set()).update(fields.split(","))
    return out
