"""Logging in: sessions (Flask-Login) for pages, bearer tokens for the API, and throttling.

After :data:`MAX_FAILURES` wrong passwords an account is locked for :data:`LOCK_MINUTES`;
a locked account answers exactly like a wrong password, so it tells an attacker nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import Flask, g
from flask_login import LoginManager, UserMixin

from ..db import db, run
from ..meta import store
from ..notify.inbox import Notification
from .users import ADMIN_ROLE, User, UserRole, find_user, user_for_token, verify_password

MAX_FAILURES = 5
LOCK_MINUTES = 5
login_manager = LoginManager()


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "basic"


@dataclass(frozen=True)
class SessionUser(UserMixin):
    """The signed-in user as requests see it: read once per request with its roles (one query)."""

    id: int
    username: str
    display_name: str | None
    roles: tuple[str, ...]
    unread: int = 0  # unread inbox notifications when the request began (the page header's badge)

    @property
    def name(self) -> str:
        return self.display_name or self.username

    @property
    def is_admin(self) -> bool:
        return ADMIN_ROLE in self.roles

    def has_role(self, role: str) -> bool:
        return role in self.roles


def session_user(user_id: int) -> SessionUser | None:
    """The user with their roles and unread notifications: one statement (every page asks), which
    also reads the definitions revision for the request's snapshot."""
    users, roles, notes = User.__table__, UserRole.__table__, Notification.__table__
    unread = (
        sa.select(sa.func.count())
        .where(notes.c.user_id == users.c.id, notes.c.read_at.is_(None))
        .correlate(users)
        .scalar_subquery()
    )
    rows = run(
        sa.select(
            users.c.id,
            users.c.username,
            users.c.display_name,
            roles.c.role,
            unread.label("unread"),
            store.revision_column().label("revision"),
        )
        .select_from(users.outerjoin(roles, roles.c.user_id == users.c.id))
        .where(users.c.id == user_id, users.c.active.is_(True))
    ).all()
    if not rows:
        return None
    first = rows[0]
    store.saw_revision(first.revision)  # the request's definitions revision, without a statement of its own
    roles_held = tuple(sorted(r.role for r in rows if r.role))
    return SessionUser(first.id, first.username, first.display_name, roles_held, first.unread)


@login_manager.user_loader
def load_user(user_id: str) -> SessionUser | None:
    if not (user_id.isascii() and user_id.isdigit()) or len(user_id) > 18:
        return None
    return session_user(int(user_id))


@login_manager.request_loader
def load_user_from_request(req) -> User | None:
    header = req.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        user = user_for_token(header[7:].strip())
        if user is not None:
            g.token_auth = True
            return session_user(user.id)
    return None


def token_authenticated() -> bool:
    return bool(g.get("token_auth"))


def authenticate(username: str, password: str) -> User | None:
    """The user when the password is right and the account is neither locked nor inactive."""
    user = find_user(username) if isinstance(username, str) and len(username) <= 63 else None
    if user is None or not isinstance(password, str):
        verify_dummy(password)
        return None
    now = datetime.now(UTC)
    if user.locked_until and user.locked_until > now:
        return None
    if not verify_password(user, password):
        user.failed_logins = (user.failed_logins or 0) + 1
        if user.failed_logins >= MAX_FAILURES:
            user.locked_until = now + timedelta(minutes=LOCK_MINUTES)
            user.failed_logins = 0
        db.session.commit()
        return None
    if not user.is_active:
        return None
    if user.failed_logins:
        user.failed_logins = 0
        db.session.commit()
    return user


_DUMMY = None


def verify_dummy(password) -> None:
    """Spend the same time on unknown user names as on known ones."""
    global _DUMMY
    from .users import hasher

    if _DUMMY is None:
        _DUMMY = hasher.hash("not-a-real-password")
    try:
        hasher.verify(_DUMMY, password if isinstance(password, str) else "")
    except Exception:
        pass
