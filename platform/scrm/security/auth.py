"""Logging in: sessions (Flask-Login) for pages, bearer tokens for the API, and throttling.

After :data:`MAX_FAILURES` wrong passwords an account is locked for :data:`LOCK_MINUTES`;
a locked account answers exactly like a wrong password, so it tells an attacker nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Flask, g
from flask_login import LoginManager

from ..db import db
from .users import User, find_user, user_for_token, verify_password

MAX_FAILURES = 5
LOCK_MINUTES = 5
login_manager = LoginManager()


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "basic"


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    if not user_id.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    return user if user is not None and user.is_active else None


@login_manager.request_loader
def load_user_from_request(req) -> User | None:
    header = req.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        user = user_for_token(header[7:].strip())
        if user is not None:
            g.token_auth = True
        return user
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
