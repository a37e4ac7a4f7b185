"""Users, their roles, passwords (argon2) and API tokens (stored as SHA-256 digests only)."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import db
from ..errors import BadRequest, Detail, NotFound
from ..fields.sqltypes import UTCDateTime
from ..i18n import _
from . import audit

hasher = PasswordHasher()
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{1,62}$")
MIN_PASSWORD = 8
ADMIN_ROLE = "admin"


class User(db.Model, UserMixin):
    __tablename__ = "scrm_user"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(63), unique=True)
    display_name: Mapped[str | None] = mapped_column(sa.String(100), nullable=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=lambda: datetime.now(UTC))
    failed_logins: Mapped[int] = mapped_column(sa.Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    role_rows: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def is_active(self) -> bool:
        return bool(self.active)

    @property
    def roles(self) -> list[str]:
        return sorted(r.role for r in self.role_rows)

    def has_role(self, role: str) -> bool:
        return role in self.roles

    @property
    def is_admin(self) -> bool:
        return self.has_role(ADMIN_ROLE)

    @property
    def name(self) -> str:
        return self.display_name or self.username


class UserRole(db.Model):
    __tablename__ = "scrm_user_role"
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("scrm_user.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(sa.String(63), primary_key=True)
    user: Mapped[User] = relationship(back_populates="role_rows")


class ApiToken(db.Model):
    __tablename__ = "scrm_api_token"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("scrm_user.id", ondelete="CASCADE"), index=True)
    digest: Mapped[str] = mapped_column(sa.String(64), unique=True)
    label: Mapped[str | None] = mapped_column(sa.String(100), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=lambda: datetime.now(UTC))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_password_strength(password: str, username: str | None = None) -> None:
    """The password policy: at least MIN_PASSWORD characters, letters and digits both, and not
    built on the user name (of five characters or more)."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise BadRequest(
            _("A password needs at least {n} characters.").format(n=MIN_PASSWORD),
            [Detail("password", _("Too short."))],
            "weak_password",
        )
    if not (any(c.isalpha() for c in password) and any(c.isdigit() for c in password)):
        raise BadRequest(
            _("A password needs both letters and digits."),
            [Detail("password", _("Add letters or digits."))],
            "weak_password",
        )
    if username and len(username) >= 5 and username.lower() in password.lower():
        raise BadRequest(
            _("A password may not contain the user name."),
            [Detail("password", _("Contains the user name."))],
            "weak_password",
        )


def generate_password() -> str:
    """A random password that meets the policy (printed once by init and user create)."""
    while True:
        candidate = secrets.token_urlsafe(12)
        if any(c.isalpha() for c in candidate) and any(c.isdigit() for c in candidate):
            return candidate


def find_user(username: str) -> User | None:
    return db.session.execute(sa.select(User).where(User.username == username)).scalar_one_or_none()


def create_user(username: str, password: str, roles: list[str], display_name: str | None = None) -> User:
    if not isinstance(username, str) or not USERNAME.match(username):
        raise BadRequest(
            _("{name!r} is not a valid user name (letters, digits, . _ @ -, 2 to 63 characters).").format(
                name=username
            ),
            [Detail("username", _("Invalid user name."))],
            "invalid_username",
        )
    if find_user(username) is not None:
        raise BadRequest(
            _("The user {name!r} already exists.").format(name=username),
            [Detail("username", _("Already taken."))],
            "user_exists",
        )
    check_password_strength(password, username)
    user = User(username=username, display_name=display_name, password_hash=hasher.hash(password), active=True)
    user.role_rows = [UserRole(role=r) for r in dict.fromkeys(roles)]
    db.session.add(user)
    db.session.flush()
    audit.append(
        "permission_change", audit.SYSTEM, entity="user", record_id=user.id,
        detail={"user": username, "roles": list(dict.fromkeys(roles)), "change": "created"},
    )  # fmt: skip
    db.session.commit()
    return user


def set_password(user: User, password: str) -> None:
    check_password_strength(password, user.username)
    user.password_hash = hasher.hash(password)
    user.failed_logins = 0
    user.locked_until = None
    audit.append("password_changed", audit.SYSTEM, entity="user", record_id=user.id, detail={"user": user.username})
    db.session.commit()


def verify_password(user: User, password: str) -> bool:
    try:
        hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return True


TOKEN_DAYS = 90


def issue_token(user: User, label: str | None = None, days: int | None = TOKEN_DAYS) -> str:
    """A new API token, stored as its SHA-256 digest only, valid for ``days`` (None: no expiry)."""
    token = "scrm_" + secrets.token_urlsafe(32)
    expires = datetime.now(UTC) + timedelta(days=days) if days else None
    db.session.add(ApiToken(user_id=user.id, digest=digest(token), label=label, expires_at=expires))
    audit.append(
        "token_issued", audit.SYSTEM, entity="user", record_id=user.id, detail={"user": user.username, "label": label}
    )
    db.session.commit()
    return token


def user_for_token(token: str) -> User | None:
    if not token or len(token) > 200:
        return None
    row = db.session.execute(
        sa.select(ApiToken).where(
            ApiToken.digest == digest(token),
            ApiToken.revoked_at.is_(None),
            sa.or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > datetime.now(UTC)),
        )
    ).scalar_one_or_none()
    if row is None:
        return None
    user = db.session.get(User, row.user_id)
    return user if user is not None and user.is_active else None


def revoke_tokens(user: User, token: str | None = None) -> int:
    """Revoke one token (by its value) or every live token of the user; returns how many."""
    table = ApiToken.__table__
    query = sa.update(table).where(table.c.user_id == user.id, table.c.revoked_at.is_(None))
    if token is not None:
        query = query.where(table.c.digest == digest(token))
    count = db.session.execute(query.values(revoked_at=datetime.now(UTC))).rowcount
    audit.append("token_revoked", audit.SYSTEM, entity="user", record_id=user.id,
                 detail={"user": user.username, "tokens": count})  # fmt: skip
    db.session.commit()
    return count


def require_user(username: str) -> User:
    user = find_user(username)
    if user is None:
        raise NotFound(_("There is no user {name!r}.").format(name=username))
    return user
