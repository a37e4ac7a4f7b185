"""The outbox: messages for the outside world (e-mail, SMS) are rows written in the transaction
that decided to send them, and a worker delivers them after commit — with retries, and a status
per message that admins can see.

A message is ``pending`` until a channel accepts it (``sent``); a failure schedules another
attempt after a growing pause (:data:`BACKOFF`); after the last one it is ``failed`` with the
error kept. A channel that is not configured (no SMTP server, no SMS gateway) leaves messages
``pending`` with that reason, so nothing is lost when it is configured later. The recipient's
address is sealed with the installation key like any personal data at rest.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..db import db, write_intent
from ..security.crypto import keyring
from .channels import ChannelUnavailable, DeliveryError, channels
from .message import Message, utcnow

log = logging.getLogger(__name__)
PENDING, SENT, FAILED = "pending", "sent", "failed"
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2), timedelta(hours=6))
MAX_ATTEMPTS = len(BACKOFF) + 1
SEAL = "scrm_outbox.address"


class OutboxMessage(db.Model):
    __tablename__ = "scrm_outbox"
    __table_args__ = (sa.Index("ix_scrm_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    channel: Mapped[str] = mapped_column(sa.String(32))
    recipient: Mapped[str] = mapped_column(sa.String(200))  # the employee's name, for people to read
    address: Mapped[str | None] = mapped_column(sa.Text, nullable=True)  # sealed
    subject: Mapped[str] = mapped_column(sa.String(300))
    body: Mapped[str] = mapped_column(sa.Text)
    template: Mapped[str | None] = mapped_column(sa.String(100), nullable=True)
    params: Mapped[str] = mapped_column(sa.Text, default="{}")
    rule: Mapped[str | None] = mapped_column(sa.String(63), nullable=True)
    firing_id: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    status: Mapped[str] = mapped_column(sa.String(12), default=PENDING)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(sa.DateTime)
    last_error: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    provider_id: Mapped[str | None] = mapped_column(sa.String(120), nullable=True)
    created_at: Mapped[datetime] = mapped_column(sa.DateTime)
    sent_at: Mapped[datetime | None] = mapped_column(sa.DateTime, nullable=True)


def enqueue(message: Message) -> int:
    """Queue the message in the caller's transaction; 0 when the recipient has no address for
    the channel."""
    address = message.address()
    if address is None:
        return 0
    now = utcnow()
    db.session.execute(
        sa.insert(OutboxMessage).values(
            channel=message.channel,
            recipient=str(message.recipient.get("name") or "")[:200],
            address=keyring().seal(address, SEAL),
            subject=message.subject[:300],
            body=message.body,
            template=message.template,
            params=json.dumps(message.params, ensure_ascii=False),
            rule=message.rule,
            firing_id=message.firing_id,
            status=PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
    return 1


def deliver_due(limit: int = 100, now: datetime | None = None) -> dict[str, int]:
    """Send what is due, one message per transaction; returns counts by outcome."""
    counts = {SENT: 0, FAILED: 0, "retry": 0, "waiting": 0}
    now = now or utcnow()
    available = channels()
    for _ in range(limit):
        with write_intent():
            msg = _claim(now)
            if msg is None:
                break
            outcome = _send(msg, available, now)
            db.session.commit()
        counts[outcome] += 1
    return counts


def _claim(now: datetime) -> OutboxMessage | None:
    stmt = (
        sa.select(OutboxMessage)
        .where(OutboxMessage.status == PENDING, OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(1)
    )
    if db.engine.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return db.session.execute(stmt).scalars().first()


def _send(msg: OutboxMessage, available: dict, now: datetime) -> str:
    channel = available.get(msg.channel)
    try:
        if channel is None:
            raise ChannelUnavailable(f"no channel {msg.channel!r} is installed")
        address = keyring().open(msg.address, SEAL) if msg.address else None
        msg.provider_id = channel.send(
            address=address, subject=msg.subject, body=msg.body, template=msg.template, params=json.loads(msg.params)
        )
    except ChannelUnavailable as exc:  # not configured: keep it, try again later, no attempt used
        msg.last_error = str(exc)[:1000]
        msg.next_attempt_at = now + BACKOFF[-1]
        return "waiting"
    except DeliveryError as exc:
        msg.attempts += 1
        msg.last_error = str(exc)[:1000]
        if msg.attempts >= MAX_ATTEMPTS:
            msg.status = FAILED
            log.warning("outbox message %s failed for good: %s", msg.id, exc)
            return FAILED
        msg.next_attempt_at = now + BACKOFF[msg.attempts - 1]
        return "retry"
    msg.attempts += 1
    msg.status = SENT
    msg.sent_at = now
    msg.last_error = None
    return SENT
