"""The entity editor's relations, indexes and unique keys: listed, added and removed on the
draft. A relation that published definitions use (a form's related list) is not removed: the
page lists them. Indexes and unique keys reach the database when the draft is published; the
publish tab shows the steps first and refuses a unique key that stored records break."""

from __future__ import annotations

import copy

from flask import flash, request

from ..definitions import dependants
from ..designer import entity_edits as ee
from ..designer.edits import drop_item
from ..i18n import _, text
from ..meta import store
from ..runtime import runtime, snapshot
from .designer import Working, apply_edit, back, bp, change_draft, edit_page, save, working


def impact_card(what: str, found: list) -> dict:
    """What the page lists when a change is refused because published definitions use ``what``."""
    blocking = dependants(found)
    return {
        "what": what,
        "blocking": blocking,
        "problems": [p for p in found if p.severity == "error"],
        "affected": [d for d in dependants(found, errors_only=False) if d not in blocking],
    }


def column_fields(body: dict) -> list[tuple[str, str]]:
    """The active fields with a column of their own (what indexes and unique keys may cover)."""
    types = runtime().field_types
    out = []
    for f in body.get("fields") or []:
        if not isinstance(f, dict) or not f.get("active", True) or not isinstance(f.get("name"), str):
            continue
        ftype = types.get(str(f.get("type")))
        if ftype is None or ftype.multi or f.get("type") == "json" or ("computed" in f and not f.get("stored")):
            continue
        out.append((f["name"], text(f.get("label")) or f["name"]))
    return out


def back_references(entity: str) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """Published entities with reference fields to ``entity``: the has-many relations it can have."""
    out = []
    for other in sorted(snapshot().entities.values(), key=lambda e: e.name):
        refs = [
            (f.name, text(f.label) or f.name) for f in other.active_fields if f.type == "ref" and f.target == entity
        ]
        if refs:
            out.append((other.name, text(other.label) or other.name, refs))
    return out


def parts_context(w: Working) -> dict:
    body = w.body
    constraints = [c for c in body.get("constraints") or [] if isinstance(c, dict)]
    return {
        "relations": [
            {
                "name": r.get("name"),
                "kind": r.get("kind"),
                "target": r.get("target"),
                "via": r.get("via") or r.get("through") or "",
                "sort": r.get("sort", ""),
                "label": text(r.get("label")) or r.get("name"),
            }
            for r in body.get("relations") or []
            if isinstance(r, dict)
        ],
        "back_references": back_references(w.name),
        "indexes": [
            {
                "position": i,
                "name": x.get("name", ""),
                "keys": [(str(k).lstrip("-"), str(k).startswith("-")) for k in x.get("fields") or []],
                "unique": bool(x.get("unique")),
            }
            for i, x in enumerate(body.get("indexes") or [])
            if isinstance(x, dict)
        ],
        "index_slots": range(ee.MAX_INDEX_FIELDS),
        "column_fields": column_fields(body),
        "unique_keys": [
            {
                "name": c.get("name"),
                "fields": c.get("fields") or [],
                "message": text(c.get("message")),
                "partial": "where" in c,
            }  # fmt: skip
            for c in constraints
            if c.get("type") == "unique"
        ],
        "checks": [
            {"name": c.get("name"), "field": c.get("field", ""), "message": text(c.get("message"))}
            for c in constraints
            if c.get("type") == "check"
        ],
    }


def edit(name: str, change, comment: str, anchor: str):
    """Apply the pure edit ``change`` (body → body, or a refusal) to the draft and save it."""
    return apply_edit("entity", name, change, comment, _anchor=anchor)


# -- relations ------------------------------------------------------------------------------------
@bp.post("/entity/<name>/relations")
def add_relation(name: str):
    """A has-many relation (the target's reference field pointing back) or a many-to-many one
    (through a link entity), both over published entities."""
    form = request.form
    relation = {"name": form.get("relation", "").strip(), "kind": form.get("kind", "")}
    label = ee.i18n_pair(form.get("label", ""), form.get("label_en", ""))
    entities = snapshot().entities
    if relation["kind"] == "has_many":
        target, _colon, via = form.get("target_via", "").partition(":")
        refs = {(t, v) for t, _l, fields in back_references(name) for v, _fl in fields}
        problem = None if (target, via) in refs else _("Choose the records whose reference field points here.")
        relation.update(target=target, via=via)
    else:
        relation.update(kind="many_to_many", target=form.get("target", ""), through=form.get("through", ""))
        problem = (
            None if {relation["target"], relation["through"]} <= set(entities) else _("Choose published entities.")
        )
    relation["label"] = label
    if problem:
        flash(problem, "danger")
        return back("entity", name, _anchor="entity-relations")
    published = published_of(name)
    return edit(name, lambda body: ee.add_relation(body, relation, published),
                _("Added relation {name}").format(name=relation["name"]), "entity-relations")  # fmt: skip


@bp.post("/entity/<name>/relations/remove")
def remove_relation(name: str):
    """Remove a relation, unless published definitions use it (a form's related list): then
    the page lists them, each place, and nothing changes."""
    w = working("entity", name)
    relation = request.form.get("relation", "")
    body = copy.deepcopy(w.body)
    if not drop_item(body, "relations", relation, keep_empty=False):
        flash(_("There is no such relation."), "danger")
        return back("entity", name, _anchor="entity-relations")
    published = [r.get("name") for r in (published_of(name) or {}).get("relations") or []]
    if relation in published:
        service = runtime().definitions
        known = {(p.kind, p.name, p.path, p.code) for p in service.impact("entity", name, w.body)}
        found = [p for p in service.impact("entity", name, body) if (p.kind, p.name, p.path, p.code) not in known]
        if dependants(found):
            flash(_("{what} cannot be removed: {users} use it. Change them first.").format(
                what=relation, users=", ".join(dependants(found))), "danger")  # fmt: skip
            return edit_page(w, 422, impact=impact_card(relation, found))
    save("entity", name, body, comment=_("Removed relation {name}").format(name=relation))
    return back("entity", name, _anchor="entity-relations")


# -- indexes and unique keys ------------------------------------------------------------------------
def allowed(body: dict) -> set[str]:
    return {n for n, _label in column_fields(body)}


@bp.post("/entity/<name>/indexes")
def add_index(name: str):
    form = request.form
    keys = [(form.get(f"ix_field_{i}", ""), bool(form.get(f"ix_desc_{i}"))) for i in range(ee.MAX_INDEX_FIELDS)]
    keys = [(k, desc) for k, desc in keys if k]
    unique, index_name = bool(form.get("unique")), form.get("index_name", "").strip()
    return edit(name, lambda body: ee.add_index(body, keys, unique, index_name, allowed(body)), _("Added an index"),
                "entity-indexes")  # fmt: skip


@bp.post("/entity/<name>/indexes/remove")
def remove_index(name: str):
    raw = request.form.get("position", "")
    position = int(raw) if raw.isdigit() else -1
    return edit(name, lambda body: ee.remove_index(body, position), _("Removed an index"), "entity-indexes")


@bp.post("/entity/<name>/keys")
def add_unique_key(name: str):
    form = request.form
    key = form.get("key", "").strip()
    fields = [f for f in form.getlist("fields") if f]
    message = ee.i18n_pair(form.get("message", ""), form.get("message_en", ""))
    return edit(name, lambda body: ee.add_unique_key(body, key, fields, message, allowed(body)),
                _("Added unique key {name}").format(name=key), "entity-keys")  # fmt: skip


@bp.post("/entity/<name>/keys/remove")
def remove_unique_key(name: str):
    key = request.form.get("key", "")

    def change(body: dict) -> str | None:
        unique = [c for c in body.get("constraints") or [] if isinstance(c, dict) and c.get("type") == "unique"]
        if not any(c.get("name") == key for c in unique):
            return _("There is no such unique key.")
        drop_item(body, "constraints", key, keep_empty=False)
        return None

    return change_draft("entity", name, change, _("Removed unique key {name}").format(name=key), _anchor="entity-keys")


def published_of(name: str) -> dict | None:
    row = store.get("entity", name, store.PUBLISHED)
    return row.body if row else None
