"""Saved list views on the list page: the views menu, saving the list as it is, deleting a view.

Saving takes the list's state from the filter form itself (htmx includes it; without
JavaScript the save form carries the state the page was rendered with), so what is saved is
exactly what the user sees: columns, filter bar, builder rows, search and sort.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from flask import Blueprint, flash, redirect, request, url_for
from flask_htmx import make_response as htmx_response
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from ..data.records import RecordService
from ..data.saved_views import SavedViews, ViewChoice
from ..errors import BadRequest, Forbidden, NotFound
from ..i18n import _
from ..meta.model import EntityDef
from ..runtime import snapshot
from ..security.access import can_share_views, role_flags
from .listing import chosen_columns, filter_state, list_params
from .pages import require_login, service

bp = Blueprint("list_views", __name__)
bp.before_request(require_login)

STATE_KEYS = ("q", "sort", "cols")


@dataclass
class ViewMenu:
    mine: list[ViewChoice]
    shared: list[ViewChoice]
    current: ViewChoice | None
    may_share: bool
    save_url: str
    all_url: str

    @property
    def label(self) -> str:
        return self.current.name if self.current else _("All records")


def saved_views() -> SavedViews:
    flags = role_flags(current_user, snapshot())
    return SavedViews(current_user.id, "share_views" in flags, "admin" in flags)


def view_menu(svc: RecordService, entity: EntityDef) -> ViewMenu:
    mine, shared = saved_views().available(entity.name)
    chosen = request.args.get("view", "")
    current = next((v for v in mine + shared if str(v.id) == chosen), None)
    return ViewMenu(
        mine,
        shared,
        current,
        can_share_views(current_user, svc.snapshot),
        url_for("list_views.save", entity=entity.name),
        url_for("pages.list_records", entity=entity.name) + "?cols=",
    )


def state_of(svc: RecordService, entity: EntityDef, form: MultiDict) -> list[tuple[str, str]]:
    """The list state posted with a save: the filter form's fields when htmx included them,
    else the page's state as it was rendered (``state``, URL-encoded)."""
    if not any(k in form for k in ("q", "sort")):
        from urllib.parse import parse_qsl

        form = MultiDict(parse_qsl(form.get("state", ""), keep_blank_values=False))
    builder = filter_state(entity, svc, form).builder
    params = [
        (k, v)
        for k, v in list_params(form, builder, drop=("after", "view", "state", "name", "shared", "csrf_token"))
        if k in STATE_KEYS or k.startswith(("f_", "w")) or k == "ids"
    ]
    if not any(k == "cols" for k, _v in params):
        params += [("cols", c) for c in chosen_columns(entity, svc)]
    return params


@bp.post("/e/<entity>/views")
def save(entity: str):
    svc = service()
    definition = svc.entity(entity)
    params = state_of(svc, definition, request.form)
    condition = filter_state(definition, svc, MultiDict(params)).condition
    try:
        view = saved_views().save(
            entity, request.form.get("name", ""), params, condition, request.form.get("shared") == "on"
        )
    except (BadRequest, Forbidden) as exc:
        flash(exc.message, "danger")
        return _back(entity, params)
    flash(_("View “{name}” saved.").format(name=view.name), "success")
    return _back(entity, [*params, ("view", str(view.id))])


@bp.get("/e/<entity>/views/<int:view_id>")
def open_view(entity: str, view_id: int):
    svc = service()
    svc.entity(entity)
    view = saved_views().get(entity, view_id)
    base = url_for("pages.list_records", entity=entity)
    query = view.query or "cols="
    return redirect(f"{base}?{query}&{urlencode([('view', view.id)])}")


@bp.post("/e/<entity>/views/<int:view_id>/delete")
def delete(entity: str, view_id: int):
    svc = service()
    svc.entity(entity)
    try:
        name = saved_views().delete(entity, view_id)
    except (Forbidden, NotFound) as exc:
        flash(exc.message, "danger")
    else:
        flash(_("View “{name}” deleted.").format(name=name), "success")
    return _back(entity, [])


def _back(entity: str, params: list[tuple[str, str]]):
    base = url_for("pages.list_records", entity=entity)
    target = f"{base}?{urlencode(params)}" if params else base
    if request.headers.get("HX-Request"):
        return htmx_response("", redirect=target)
    return redirect(target)
