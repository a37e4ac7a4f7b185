"""What ran, what fired and what is waiting: the alert engine's own tables.

* ``scrm_alert_firing`` — one row per firing; the unique index on (rule, record, period key) makes
  a re-run, a catch-up and a second scheduler harmless: the insert finds the row and fires nothing.
* ``scrm_alert_run`` — the run history admins see (start, duration, matched, fired, errors).
* ``scrm_alert_watermark`` — per rule, the last scheduled occurrence that completed; a scheduler
  that was down catches up from it.
* ``scrm_alert_event`` — records written and imports finished, queued in the writer's own
  transaction for the event-triggered rules (so an event is never lost between commit and rule).
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..db import db

RUNNING, DONE, FAILED = "running", "done", "failed"


def utcnow() -> datetime:
    """Naive UTC, as the engine's tables store instants (the same on SQLite and PostgreSQL)."""
    return datetime.now(UTC).replace(tzinfo=None)


class Firing(db.Model):
    __tablename__ = "scrm_alert_firing"
    __table_args__ = (
        sa.UniqueConstraint("rule", "record_id", "period_key", name="uq_scrm_alert_firing"),
        sa.Index("ix_scrm_alert_firing_recent", "rule", "record_id", "fired_at"),
        sa.Index("ix_scrm_alert_firing_run", "run_id"),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    rule: Mapped[str] = mapped_column(sa.String(63))
    version: Mapped[int] = mapped_column(sa.Integer)
    entity: Mapped[str] = mapped_column(sa.String(63))
    record_id: Mapped[int] = mapped_column(sa.BigInteger)
    period_key: Mapped[str] = mapped_column(sa.String(200))
    severity: Mapped[str] = mapped_column(sa.String(12))
    fired_at: Mapped[datetime] = mapped_column(sa.DateTime)
    run_id: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    metrics: Mapped[str] = mapped_column(sa.Text, default="{}")  # JSON: the metric values that fired it


class Run(db.Model):
    __tablename__ = "scrm_alert_run"
    __table_args__ = (sa.Index("ix_scrm_alert_run_rule", "rule", "id"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    rule: Mapped[str] = mapped_column(sa.String(63))
    version: Mapped[int] = mapped_column(sa.Integer)
    reason: Mapped[str] = mapped_column(sa.String(16))  # schedule | catch_up | event | manual | dry_run
    period: Mapped[str] = mapped_column(sa.String(32))  # the occurrence evaluated (local time)
    started_at: Mapped[datetime] = mapped_column(sa.DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(sa.DateTime, nullable=True)
    duration_ms: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    statement_ms: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)  # the one evaluating statement
    matched: Mapped[int] = mapped_column(sa.Integer, default=0)
    fired: Mapped[int] = mapped_column(sa.Integer, default=0)
    untagged: Mapped[int] = mapped_column(sa.Integer, default=0)
    status: Mapped[str] = mapped_column(sa.String(12), default=RUNNING)
    error: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    host: Mapped[str | None] = mapped_column(sa.String(120), nullable=True)


class Watermark(db.Model):
    __tablename__ = "scrm_alert_watermark"

    rule: Mapped[str] = mapped_column(sa.String(63), primary_key=True)
    occurrence: Mapped[datetime] = mapped_column(sa.DateTime)  # UTC instant of the last completed occurrence
    updated_at: Mapped[datetime] = mapped_column(sa.DateTime)


class Event(db.Model):
    __tablename__ = "scrm_alert_event"
    __table_args__ = (sa.Index("ix_scrm_alert_event_pending", "processed_at", "id"),)

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))  # record.<entity> | import.<entity>.completed | …
    entity: Mapped[str | None] = mapped_column(sa.String(63), nullable=True)
    record_id: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    created: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    changed: Mapped[str] = mapped_column(sa.Text, default="[]")  # JSON list of field names
    old: Mapped[str] = mapped_column(sa.Text, default="{}")  # JSON: previous values of the changed fields
    created_at: Mapped[datetime] = mapped_column(sa.DateTime)
    processed_at: Mapped[datetime | None] = mapped_column(sa.DateTime, nullable=True)
    error: Mapped[str | None] = mapped_column(sa.Text, nullable=True)


def firing_insert(dialect: str):
    """``INSERT … ON CONFLICT DO NOTHING RETURNING record_id`` on the firing table."""
    table = Firing.__table__
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return (
        insert(table)
        .on_conflict_do_nothing(index_elements=["rule", "record_id", "period_key"])
        .returning(table.c.record_id, table.c.id)
    )
