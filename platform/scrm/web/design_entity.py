"""The entity editor of the designer: add fields with the options their type takes, deactivate
them (refused, with the list of dependants, while published definitions use them)."""

from __future__ import annotations

from flask import flash, request

from ..definitions import dependants
from ..designer import edits
from ..errors import ValidationFailed
from ..i18n import _, text
from ..runtime import runtime, snapshot
from .designer import Working, back, bp, edit_page, editor, save, working


@editor("entity")
def entity_context(w: Working) -> dict:
    types = runtime().field_types
    fields = []
    active = {f.get("name") for f in w.body.get("fields", []) if isinstance(f, dict)}
    published = (w.published.body if w.published else {}).get("fields", [])
    for f in w.body.get("fields", []):
        if not isinstance(f, dict):
            continue
        fields.append(
            {
                "name": f.get("name"),
                "label": text(f.get("label")) or f.get("name"),
                "type": f.get("type"),
                "required": bool(f.get("required")),
                "active": f.get("active", True),
                "new": not any(p.get("name") == f.get("name") for p in published),
            }
        )
    removed = [p for p in published if p.get("name") not in active and p.get("active", True)]
    return {
        "fields": fields,
        "removed": [{"name": p["name"], "label": text(p.get("label")) or p["name"]} for p in removed],
        "types": [t.name for t in types],
        "entities": sorted(snapshot().entities),
        "impact": None,
    }


def field_spec(form) -> dict:
    """The add-field form as a field definition (type-aware options)."""
    ftype = form.get("type", "")
    zh = form.get("label", "").strip()
    spec: dict = {
        "name": form.get("name", "").strip(),
        "type": ftype,
        "label": {"zh-CN": zh or form.get("name", ""), "en": form.get("label_en", "").strip() or zh},
    }
    if form.get("required"):
        spec["required"] = True
    if form.get("max_length", "").strip().isdigit():
        spec["max_length"] = int(form["max_length"])
    if ftype in ("ref",) and form.get("target"):
        spec["target"] = form["target"]
    if ftype in ("enum", "multi_enum", "tags") and form.get("options", "").strip():
        spec["options"] = edits.enum_options(form["options"])
    help_text = form.get("help", "").strip()
    if help_text:
        spec["help"] = {"zh-CN": help_text, "en": help_text}
    return spec


@bp.post("/entity/<name>/fields")
def add_field(name: str):
    w = working("entity", name)
    try:
        body = edits.add_field(w.body, field_spec(request.form))
    except ValidationFailed as exc:
        flash(exc.message, "danger")
        return back("entity", name)
    save("entity", name, body, comment=_("Added field {field}").format(field=request.form.get("name")))
    return back("entity", name)


@bp.post("/entity/<name>/fields/<field>/deactivate")
def deactivate_field(name: str, field: str):
    """Take the field out of the draft, unless published definitions still use it: then the
    page lists them (each place) and nothing changes."""
    w = working("entity", name)
    found = []
    if w.published and any(f.get("name") == field for f in w.published.body.get("fields", [])):
        found = runtime().definitions.field_impact(name, field)
    blocking = dependants(found)
    if blocking:
        flash(
            _("{field} cannot be deactivated: {users} use it. Change them first.").format(
                field=field, users=", ".join(blocking)
            ),
            "danger",
        )
        impact = {
            "field": field,
            "blocking": blocking,
            "problems": [p for p in found if p.severity == "error"],
            "affected": [d for d in dependants(found, errors_only=False) if d not in blocking],
        }
        return edit_page(w, 422, impact=impact)
    try:
        body = edits.without_field(w.body, field)
    except ValidationFailed as exc:
        flash(exc.message, "danger")
        return back("entity", name)
    affected = dependants(found, errors_only=False)
    if affected:
        flash(_("Forms and roles that show it leave it out: {which}.").format(which=", ".join(affected)), "info")
    save("entity", name, body, comment=_("Deactivated field {field}").format(field=field))
    return back("entity", name)
