"""The definition store: every version of every definition, in the database.

A definition has at most one ``draft`` and one ``published`` version at a time; older published
versions become ``archived`` and stay for diff and rollback. ``scrm_revision`` is a single
counter bumped by every publish, so each worker can tell cheaply that its cache is stale.
This module only persists; checking and migrating live in :mod:`scrm.definitions`.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..db import db, run
from ..fields.sqltypes import UTCDateTime

DRAFT, PUBLISHED, ARCHIVED = "draft", "published", "archived"


class DefinitionVersion(db.Model):
    __tablename__ = "scrm_definition"
    __table_args__ = (
        sa.UniqueConstraint("kind", "name", "version", name="uq_scrm_definition_version"),
        sa.Index("ix_scrm_definition_status", "kind", "status"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(20))
    name: Mapped[str] = mapped_column(sa.String(63))
    version: Mapped[int] = mapped_column(sa.Integer)
    status: Mapped[str] = mapped_column(sa.String(12))
    body: Mapped[dict] = mapped_column(sa.JSON)
    source: Mapped[str] = mapped_column(sa.String(20), default="api")  # file | api | designer | rollback
    file_hash: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    comment: Mapped[str | None] = mapped_column(sa.String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=lambda: datetime.now(UTC))
    created_by: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    def summary(self) -> dict:
        return {
            "kind": self.kind,
            "name": self.name,
            "version": self.version,
            "status": self.status,
            "source": self.source,
            "comment": self.comment,
            "created_at": _iso(self.created_at),
            "created_by": self.created_by,
            "published_at": _iso(self.published_at),
        }


class Revision(db.Model):
    __tablename__ = "scrm_revision"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    value: Mapped[int] = mapped_column(sa.BigInteger, default=0)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def content_hash(body: dict) -> str:
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def etag(row: DefinitionVersion) -> str:
    """What an editor opened: the version and its content, so two saves of the same draft (which
    keep its version number) still tell apart."""
    return f"{row.version}-{content_hash(row.body)[:12]}"


REVISION_SEEN = "scrm_revision_seen"  # the session's ``info`` key: the revision another statement read


def current_revision() -> int:
    table = Revision.__table__
    return run(sa.select(table.c.value).where(table.c.id == 1)).scalar_one_or_none() or 0


def revision_column() -> sa.ScalarSelect:
    """The revision as a scalar subquery, so a statement every request runs anyway (the session
    user's) reads it too; hand the value to :func:`saw_revision`."""
    table = Revision.__table__
    return sa.select(table.c.value).where(table.c.id == 1).scalar_subquery()


def saw_revision(value: int | None) -> None:
    """Remember the revision another statement read, for :func:`seen_revision` in the same
    transaction."""
    db.session.info[REVISION_SEEN] = (db.session().get_transaction(), value or 0)


def seen_revision() -> int:
    """The revision remembered by :func:`saw_revision` (once), if the transaction that read it
    is still the session's; else read now."""
    transaction, value = db.session.info.pop(REVISION_SEEN, (None, 0))
    if transaction is None or transaction is not db.session().get_transaction():
        return current_revision()
    return value


def bump_revision() -> int:
    """Increment the global revision inside the caller's transaction (row-locks on PostgreSQL)."""
    db.session.info.pop(REVISION_SEEN, None)
    db.session.execute(sa.update(Revision).where(Revision.id == 1).values(value=Revision.value + 1))
    return current_revision()


def ensure_revision_row() -> None:
    if db.session.get(Revision, 1) is None:
        db.session.add(Revision(id=1, value=0))
        db.session.flush()


def published(kind: str | None = None) -> list[DefinitionVersion]:
    q = sa.select(DefinitionVersion).where(DefinitionVersion.status == PUBLISHED)
    if kind:
        q = q.where(DefinitionVersion.kind == kind)
    return list(db.session.execute(q.order_by(DefinitionVersion.kind, DefinitionVersion.name)).scalars())


def get(kind: str, name: str, status: str = PUBLISHED) -> DefinitionVersion | None:
    return db.session.execute(
        sa.select(DefinitionVersion)
        .where(DefinitionVersion.kind == kind, DefinitionVersion.name == name, DefinitionVersion.status == status)
        .order_by(DefinitionVersion.version.desc())
        .limit(1)
    ).scalar_one_or_none()


def get_version(kind: str, name: str, version: int) -> DefinitionVersion | None:
    return db.session.execute(
        sa.select(DefinitionVersion).where(
            DefinitionVersion.kind == kind, DefinitionVersion.name == name, DefinitionVersion.version == version
        )
    ).scalar_one_or_none()


def latest(kind: str, name: str) -> DefinitionVersion | None:
    return db.session.execute(
        sa.select(DefinitionVersion)
        .where(DefinitionVersion.kind == kind, DefinitionVersion.name == name)
        .order_by(DefinitionVersion.version.desc())
        .limit(1)
    ).scalar_one_or_none()


def latest_before(kind: str, name: str, version: int) -> DefinitionVersion | None:
    return db.session.execute(
        sa.select(DefinitionVersion)
        .where(DefinitionVersion.kind == kind, DefinitionVersion.name == name, DefinitionVersion.version < version)
        .order_by(DefinitionVersion.version.desc())
        .limit(1)
    ).scalar_one_or_none()


def versions(kind: str, name: str) -> list[DefinitionVersion]:
    return list(
        db.session.execute(
            sa.select(DefinitionVersion)
            .where(DefinitionVersion.kind == kind, DefinitionVersion.name == name)
            .order_by(DefinitionVersion.version.desc())
        ).scalars()
    )


def names(kind: str) -> list[str]:
    return list(
        db.session.execute(
            sa.select(DefinitionVersion.name)
            .where(DefinitionVersion.kind == kind)
            .distinct()
            .order_by(DefinitionVersion.name)
        ).scalars()
    )


def add_version(
    kind: str,
    name: str,
    body: dict,
    status: str,
    *,
    source: str,
    user_id: int | None = None,
    file_hash: str | None = None,
    comment: str | None = None,
) -> DefinitionVersion:
    last = latest(kind, name)
    row = DefinitionVersion(
        kind=kind,
        name=name,
        version=(last.version + 1) if last else 1,
        status=status,
        body=body,
        source=source,
        file_hash=file_hash,
        comment=comment,
        created_by=user_id,
    )
    db.session.add(row)
    db.session.flush()
    return row


def mark_published(row: DefinitionVersion) -> None:
    """Make ``row`` the published version; the previous one (if any) becomes archived."""
    now = datetime.now(UTC)
    db.session.execute(
        sa.update(DefinitionVersion)
        .where(
            DefinitionVersion.kind == row.kind,
            DefinitionVersion.name == row.name,
            DefinitionVersion.status == PUBLISHED,
            DefinitionVersion.id != row.id,
        )
        .values(status=ARCHIVED)
    )
    row.status = PUBLISHED
    row.published_at = now
    db.session.flush()


def discard_draft(kind: str, name: str) -> bool:
    row = get(kind, name, DRAFT)
    if row is None:
        return False
    db.session.delete(row)
    db.session.flush()
    return True
