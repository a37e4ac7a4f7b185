"""The in-app inbox: a notification per user, read in the app (the bell and its unread count)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..db import db, run
from .message import Message, utcnow


class Notification(db.Model):
    __tablename__ = "scrm_notification"
    __table_args__ = (sa.Index("ix_scrm_notification_user", "user_id", "read_at", "id"),)

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.Integer)
    title: Mapped[str] = mapped_column(sa.String(300))
    body: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    link: Mapped[str | None] = mapped_column(sa.String(300), nullable=True)
    severity: Mapped[str] = mapped_column(sa.String(12), default="medium")
    rule: Mapped[str | None] = mapped_column(sa.String(63), nullable=True)
    firing_id: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime)
    read_at: Mapped[datetime | None] = mapped_column(sa.DateTime, nullable=True)


def deliver(message: Message) -> int:
    """Put the message in its recipient's inbox (in the caller's transaction); 0 when the
    employee has no user account to read it with."""
    user_id = message.user_id()
    if user_id is None:
        return 0
    db.session.execute(
        sa.insert(Notification).values(
            user_id=user_id,
            title=message.subject[:300],
            body=message.body,
            link=message.link,
            severity=message.severity,
            rule=message.rule,
            firing_id=message.firing_id,
            created_at=utcnow(),
        )
    )
    return 1


def unread_count(user_id: int) -> int:
    t = Notification.__table__
    return run(sa.select(sa.func.count()).where(t.c.user_id == user_id, t.c.read_at.is_(None))).scalar_one()


def latest(user_id: int, limit: int = 50, unread_only: bool = False) -> list[Notification]:
    stmt = sa.select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    return list(db.session.execute(stmt.order_by(Notification.id.desc()).limit(limit)).scalars())


def mark_read(user_id: int, ids: list[int] | None = None) -> int:
    """Mark the user's notifications read (``ids`` None: all of them); returns how many changed."""
    t = Notification.__table__
    stmt = sa.update(t).where(t.c.user_id == user_id, t.c.read_at.is_(None)).values(read_at=utcnow())
    if ids is not None:
        stmt = stmt.where(t.c.id.in_(ids))
    count = db.session.execute(stmt).rowcount
    db.session.commit()
    return count
