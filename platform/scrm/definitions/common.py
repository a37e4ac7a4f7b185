"""What the definition lifecycle modules share: the result of a publish, the actor an audit
entry names, and running a publish or a purge as one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from ..db import db
from ..meta.problems import Problem
from ..security import audit


@dataclass
class PublishResult:
    published: list[tuple[str, str, int]]
    steps: list[str] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    revision: int = 0


def _actor(user_id: int | None) -> audit.Actor:
    if user_id is None:
        return audit.SYSTEM
    return audit.Actor(user_id, _username(user_id), (), audit.request_ip())


def _username(user_id: int | None) -> str | None:
    if user_id is None:
        return None
    from ..security.users import User

    return db.session.scalar(sa.select(User.username).where(User.id == user_id))


def one_transaction(work, dry_run: bool = False):
    """Run ``work`` in the session's transaction: all of it is committed, or (on failure, or for a
    dry run) none of it."""
    try:
        result = work()
    except Exception:
        db.session.rollback()
        raise
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()
    return result
