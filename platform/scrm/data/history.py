"""Change history of records: who changed which field when, from what to what."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..db import db
from ..fields.sqltypes import UTCDateTime


class Change(db.Model):
    __tablename__ = "scrm_change"
    __table_args__ = (sa.Index("ix_scrm_change_record", "entity", "record_id", "id"),)

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True)
    entity: Mapped[str] = mapped_column(sa.String(63))
    record_id: Mapped[int] = mapped_column(sa.BigInteger)
    version: Mapped[int] = mapped_column(sa.Integer)
    action: Mapped[str] = mapped_column(sa.String(12))  # create | update | delete
    field_id: Mapped[str | None] = mapped_column(sa.String(40), nullable=True)
    field_name: Mapped[str | None] = mapped_column(sa.String(63), nullable=True)
    old_value: Mapped[object | None] = mapped_column(sa.JSON, nullable=True)
    new_value: Mapped[object | None] = mapped_column(sa.JSON, nullable=True)
    user_id: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)


def record_changes(rows: list[dict]) -> None:
    if rows:
        db.session.execute(sa.insert(Change.__table__), rows)


def changes_of(entity: str, record_id: int, limit: int = 200) -> list[Change]:
    q = (
        sa.select(Change)
        .where(Change.entity == entity, Change.record_id == record_id)
        .order_by(Change.id.desc())
        .limit(limit)
    )
    return list(db.session.execute(q).scalars())
