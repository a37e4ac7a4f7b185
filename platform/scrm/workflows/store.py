"""The workflow engine's own tables: what each record runs, what happened to it, its clocks.

* ``scrm_workflow_instance`` — per record: the workflow and the version it started with, and
  when it entered its current state.
* ``scrm_workflow_history`` — every transition: who, when, from, to, the inputs and the comment.
* ``scrm_sla_clock`` — one row per record and SLA: started, paused, target and due in business
  minutes, the next moment the sweep must look at it and the escalation steps already taken.
  The partial work of the sweep is idempotent because the step number is stored with it.
* ``scrm_workflow_timer`` — delayed transitions (auto-close after 72 h), armed on entering a
  state, cancelled on leaving it, fired once by the sweep.
* ``scrm_route_cursor`` — per assignment pool, the last employee chosen (round-robin); its row
  is locked while choosing, so two tickets created at once never race for the same turn.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..db import db, dialect_name

RUNNING, PAUSED, STOPPED = "running", "paused", "stopped"
PENDING, FIRED, CANCELLED = "pending", "fired", "cancelled"
BIG_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


class Instance(db.Model):
    __tablename__ = "scrm_workflow_instance"
    __table_args__ = (sa.UniqueConstraint("entity", "record_id", name="uq_scrm_workflow_instance"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    entity: Mapped[str] = mapped_column(sa.String(63))
    record_id: Mapped[int] = mapped_column(sa.BigInteger)
    workflow: Mapped[str] = mapped_column(sa.String(63))
    version: Mapped[int] = mapped_column(sa.Integer)
    state: Mapped[str] = mapped_column(sa.String(63))
    state_entered_at: Mapped[datetime] = mapped_column(sa.DateTime)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime)
    public_token: Mapped[str | None] = mapped_column(sa.String(64), nullable=True, unique=True)


class History(db.Model):
    __tablename__ = "scrm_workflow_history"
    __table_args__ = (sa.Index("ix_scrm_workflow_history_record", "entity", "record_id", "id"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    entity: Mapped[str] = mapped_column(sa.String(63))
    record_id: Mapped[int] = mapped_column(sa.BigInteger)
    workflow: Mapped[str] = mapped_column(sa.String(63))
    version: Mapped[int] = mapped_column(sa.Integer)
    transition: Mapped[str] = mapped_column(sa.String(63))
    from_state: Mapped[str | None] = mapped_column(sa.String(63), nullable=True)
    to_state: Mapped[str] = mapped_column(sa.String(63))
    user_id: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    actor: Mapped[str] = mapped_column(sa.String(120))  # a user name, "system", or "sla:<name>"
    at: Mapped[datetime] = mapped_column(sa.DateTime)
    inputs: Mapped[str] = mapped_column(sa.Text, default="{}")  # JSON of the values given
    comment: Mapped[str | None] = mapped_column(sa.Text, nullable=True)


class Clock(db.Model):
    __tablename__ = "scrm_sla_clock"
    __table_args__ = (
        sa.UniqueConstraint("entity", "record_id", "sla", name="uq_scrm_sla_clock"),
        sa.Index("ix_scrm_sla_clock_due", "status", "next_check_at"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    entity: Mapped[str] = mapped_column(sa.String(63))
    record_id: Mapped[int] = mapped_column(sa.BigInteger)
    workflow: Mapped[str] = mapped_column(sa.String(63))
    version: Mapped[int] = mapped_column(sa.Integer)
    sla: Mapped[str] = mapped_column(sa.String(63))
    status: Mapped[str] = mapped_column(sa.String(12))  # running | paused | stopped
    calendar: Mapped[str | None] = mapped_column(sa.String(63), nullable=True)
    started_at: Mapped[datetime] = mapped_column(sa.DateTime)
    paused_at: Mapped[datetime | None] = mapped_column(sa.DateTime, nullable=True)
    paused_minutes: Mapped[float] = mapped_column(sa.Float, default=0.0)  # business minutes paused
    target_minutes: Mapped[float] = mapped_column(sa.Float)
    due_at: Mapped[datetime | None] = mapped_column(sa.DateTime, nullable=True)
    next_check_at: Mapped[datetime | None] = mapped_column(sa.DateTime, nullable=True)
    escalation_step: Mapped[int] = mapped_column(sa.Integer, default=0)  # steps already taken
    breached: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    stopped_at: Mapped[datetime | None] = mapped_column(sa.DateTime, nullable=True)
    elapsed_minutes: Mapped[float | None] = mapped_column(sa.Float, nullable=True)


class Timer(db.Model):
    __tablename__ = "scrm_workflow_timer"
    __table_args__ = (
        sa.Index("ix_scrm_workflow_timer_due", "status", "due_at"),
        sa.Index("ix_scrm_workflow_timer_record", "entity", "record_id", "status"),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    entity: Mapped[str] = mapped_column(sa.String(63))
    record_id: Mapped[int] = mapped_column(sa.BigInteger)
    transition: Mapped[str] = mapped_column(sa.String(63))
    state: Mapped[str] = mapped_column(sa.String(63))  # the state it was armed in
    due_at: Mapped[datetime] = mapped_column(sa.DateTime)
    status: Mapped[str] = mapped_column(sa.String(12))  # pending | fired | cancelled
    created_at: Mapped[datetime] = mapped_column(sa.DateTime)


class RouteCursor(db.Model):
    __tablename__ = "scrm_route_cursor"

    pool: Mapped[str] = mapped_column(sa.String(120), primary_key=True)
    last_employee: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    turns: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class Sequence(db.Model):
    """Per-day counters for record numbers (SR + yyyymmdd + sequence)."""

    __tablename__ = "scrm_sequence"

    name: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    value: Mapped[int] = mapped_column(sa.BigInteger, default=0)


def insert_missing(model, **values) -> None:
    """Insert the row unless its key exists already (two workers creating the same counter or
    cursor at once is not an error: one inserts, the other finds it)."""
    if dialect_name() == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    db.session.execute(insert(model.__table__).values(**values).on_conflict_do_nothing())
