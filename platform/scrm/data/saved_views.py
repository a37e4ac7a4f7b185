"""Saved list views: a name for a list as the user left it — columns, filters, sort, search.

A view is personal unless its owner shares it; sharing needs a role with ``share_views`` (or an
administrator), since a shared view appears in every reader's view menu. A view stores the
list's query (the same parameters the page reads, so it reopens exactly as saved and keeps
working when a field is renamed: old names still answer) and the condition those filters make,
for the API, exports and the audit of what a view selects. Opening a view never widens what a
user sees: the list still applies the viewer's own record scope and field access.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..db import db, run, writing
from ..errors import BadRequest, Detail, Forbidden, NotFound
from ..i18n import _
from ..security.users import User

NAME_MAX = 60
PER_USER_MAX = 100  # views one user may keep per entity


class SavedView(db.Model):
    __tablename__ = "scrm_saved_view"
    __table_args__ = (
        sa.UniqueConstraint("entity", "owner_id", "name", name="uq_scrm_saved_view_name"),
        sa.Index("ix_scrm_saved_view_shared", "entity", "shared"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    entity: Mapped[str] = mapped_column(sa.String(63))
    owner_id: Mapped[int] = mapped_column(sa.Integer)
    name: Mapped[str] = mapped_column(sa.String(NAME_MAX))
    shared: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    query: Mapped[str] = mapped_column(sa.Text)  # the list's parameters, URL-encoded
    filter: Mapped[str | None] = mapped_column(sa.Text, nullable=True)  # condition JSON
    created_at: Mapped[str] = mapped_column(sa.String(27))
    updated_at: Mapped[str] = mapped_column(sa.String(27))

    @property
    def condition(self) -> dict | None:
        return json.loads(self.filter) if self.filter else None


class ViewChoice:
    """A view as the menu shows it."""

    def __init__(self, view, owner: str | None, mine: bool):
        self.id = view.id
        self.name = view.name
        self.shared = view.shared
        self.owner = owner
        self.mine = mine
        self.query = view.query


class SavedViews:
    """The saved views one user may open and change, for one entity at a time."""

    def __init__(self, user_id: int, may_share: bool, is_admin: bool = False):
        self.user_id = user_id
        self.may_share = may_share
        self.is_admin = is_admin

    def available(self, entity: str) -> tuple[list[ViewChoice], list[ViewChoice]]:
        """(the user's own views, views others shared), each by name; one Core query (every
        list page asks)."""
        views, users = SavedView.__table__, User.__table__
        rows = run(
            sa.select(views.c.id, views.c.name, views.c.shared, views.c.owner_id, views.c.query, users.c.display_name,
                      users.c.username)
            .join(users, users.c.id == views.c.owner_id, isouter=True)
            .where(views.c.entity == entity, sa.or_(views.c.owner_id == self.user_id, views.c.shared.is_(True)))
            .order_by(views.c.name, views.c.id)
        ).all()  # fmt: skip
        mine = [ViewChoice(r, None, True) for r in rows if r.owner_id == self.user_id]
        shared = [ViewChoice(r, r.display_name or r.username, False) for r in rows if r.owner_id != self.user_id]
        return mine, shared

    def get(self, entity: str, view_id: int) -> SavedView:
        view = db.session.get(SavedView, view_id)
        if view is None or view.entity != entity or not (view.shared or view.owner_id == self.user_id):
            raise NotFound(_("This view does not exist or is not shared with you."))
        return view

    def save(self, entity: str, name: str, params: list[tuple[str, str]], condition: dict | None, shared: bool):
        """Save the list state under a name; the user's own view of that name is replaced."""
        name = " ".join((name or "").split())
        if not name:
            raise BadRequest(_("Give the view a name."), [Detail("name", _("Required."))], "invalid_view")
        if len(name) > NAME_MAX:
            raise BadRequest(
                _("A view name has at most {n} characters.").format(n=NAME_MAX),
                [Detail("name", _("Too long."))],
                "invalid_view",
            )
        if shared and not self.may_share:
            raise Forbidden(_("Your role may not share views with everyone."), code="forbidden_share")
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        with writing():
            view = db.session.execute(
                sa.select(SavedView).where(
                    SavedView.entity == entity, SavedView.owner_id == self.user_id, SavedView.name == name
                )
            ).scalar_one_or_none()
            if view is None:
                count = db.session.execute(
                    sa.select(sa.func.count())
                    .select_from(SavedView)
                    .where(SavedView.entity == entity, SavedView.owner_id == self.user_id)
                ).scalar_one()
                if count >= PER_USER_MAX:
                    raise BadRequest(
                        _("You keep {n} views of this list already; delete one first.").format(n=count),
                        [Detail("name", _("Too many views."))],
                        "too_many_views",
                    )
                view = SavedView(entity=entity, owner_id=self.user_id, name=name, created_at=stamp)
                db.session.add(view)
            view.shared = bool(shared)
            view.query = urlencode(params)
            view.filter = json.dumps(condition, ensure_ascii=False) if condition else None
            view.updated_at = stamp
            db.session.commit()
        return view

    def delete(self, entity: str, view_id: int) -> str:
        view = self.get(entity, view_id)
        if view.owner_id != self.user_id and not self.is_admin:
            raise Forbidden(_("Only the owner of a view may delete it."), code="not_view_owner")
        name = view.name
        with writing():
            db.session.delete(db.session.merge(view))
            db.session.commit()
        return name
