"""Who may change definitions: designers change entities, forms, workflows, alerts and
dashboards; only administrators change roles (a designer who could edit roles could grant
themselves everything). Record and field access is :mod:`scrm.security.permissions`."""

from __future__ import annotations

from ..errors import Forbidden
from ..i18n import _
from .users import ADMIN_ROLE


def role_flags(user, snapshot) -> set[str]:
    flags = set()
    for role in getattr(user, "roles", ()):
        doc = snapshot.documents.get(("role", role), {})
        if role == ADMIN_ROLE or doc.get("admin"):
            flags |= {"admin", "designer", "share_views"}
        if doc.get("designer"):
            flags.add("designer")
        if doc.get("share_views"):
            flags.add("share_views")
    return flags


def can_share_views(user, snapshot) -> bool:
    """Whether the user may publish list views to everyone (their own views need no right)."""
    return "share_views" in role_flags(user, snapshot)


def can_design(user, snapshot) -> bool:
    return "designer" in role_flags(user, snapshot)


def require_designer(user, snapshot, kind: str | None = None) -> None:
    if not can_design(user, snapshot):
        raise Forbidden(_("Only administrators and designers may change definitions."), code="not_designer")
    if kind == "role" and "admin" not in role_flags(user, snapshot):
        raise Forbidden(_("Only administrators may change roles."), code="not_admin")
