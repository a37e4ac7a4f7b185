"""The entity editor of the designer: add fields with the options their type takes; edit a
field in its panel (labels, help, flags and the type's own settings, generated from the type's
``options_schema`` — options in a table, deactivated rather than deleted); rename it (its id and
column stay, old references keep working); deactivate it (refused, with the list of dependants,
while published definitions use it). Relations, indexes and unique keys: :mod:`.design_entity_parts`."""

from __future__ import annotations

from flask import flash, request

from ..definitions import dependants
from ..designer import edits
from ..designer import entity_edits as ee
from ..errors import NotFound, ValidationFailed
from ..i18n import _, text
from ..runtime import runtime, snapshot
from .design_entity_parts import impact_card, parts_context
from .designer import Working, back, bp, edit_page, editor, save, working
from .render import render


def active_fields(body: dict) -> list[dict]:
    return [f for f in body.get("fields") or [] if isinstance(f, dict) and f.get("active", True)]


def published_body(w: Working) -> dict:
    return w.published.body if w.published else {}


@editor("entity")
def entity_context(w: Working) -> dict:
    published = published_body(w)
    fields, present = [], set()
    for f in active_fields(w.body):
        before = ee.published_field(f, published)
        if before is not None:
            present.add(before.get("id"))
        fields.append(
            {
                "name": f.get("name"),
                "label": text(f.get("label")) or f.get("name"),
                "type": f.get("type"),
                "flags": [flag for flag in ee.FLAGS if f.get(flag)],
                "new": before is None,
                "renamed_from": before["name"] if before and before.get("name") != f.get("name") else None,
            }
        )
    removed = [p for p in active_fields(published) if p.get("id") not in present]
    context = {
        "fields": fields,
        "removed": [{"name": p["name"], "label": text(p.get("label")) or p["name"]} for p in removed],
        "types": [t.name for t in runtime().field_types],
        "entities": sorted(snapshot().entities),
        "impact": None,
        "panel": field_panel(w, request.args["field"], users=bool(request.args.get("users")))
        if request.args.get("field")
        else None,
        "flag_labels": flag_labels(),
        "setting_labels": setting_labels(),
        "colors": ee.COLORS,
        "new_rows": range(ee.NEW_ROWS),
    }
    context.update(parts_context(w))
    return context


def flag_labels() -> dict[str, str]:
    return {"required": _("Required"), "unique": _("Unique"), "indexed": _("Indexed"), "readonly": _("Read-only")}


def setting_labels() -> dict[str, str]:
    """Names for the built-in types' settings (a plugin's own settings show their key)."""
    return {
        "max_length": _("Maximum length"), "min_length": _("Minimum length"),
        "pattern": _("Pattern (regular expression)"), "pattern_message": _("Message when the pattern does not match"),
        "min": _("Minimum"), "max": _("Maximum"), "precision": _("Digits in total"), "scale": _("Decimal places"),
        "currency": _("Currency"), "target": _("Refers to"), "on_delete": _("When the referred record is deleted"),
        "options": _("Options"), "max_items": _("At most this many values"), "vocabulary": _("Vocabulary"),
        "region": _("Region"), "restrict": _("refuse the deletion"), "set_null": _("clear the reference"),
    }  # fmt: skip


def field_panel(w: Working, name: str, values=None, errors: dict | None = None, users: bool = False) -> dict | None:
    """The edit panel of the draft's field ``name``: its settings (``values`` as submitted when
    they were refused, with ``errors`` by key) and, with ``users``, who uses it (else the page
    fetches that list: finding it checks the whole configuration)."""
    f = next((x for x in active_fields(w.body) if x.get("name") == name), None)
    if f is None:
        return None
    ftype = runtime().field_types.get(str(f.get("type")))
    inputs = ee.option_inputs(ftype.options_schema if ftype else {})
    before = ee.published_field(f, published_body(w))
    return {
        "name": name,
        "type": f.get("type"),
        "label": text(f.get("label")) or name,
        "id": f.get("id") or (before or {}).get("id"),
        "column": f.get("column") or (before or {}).get("column"),
        "previous_names": f.get("previous_names") or [],
        "published": before is not None,
        "inputs": inputs,
        "options": {i.key: ee.as_options(f.get(i.key)) for i in inputs if i.kind == "choices"},
        "published_options": {o.get("value") for o in ee.as_options((before or {}).get("options"))},
        "values": values if values is not None else ee.field_values(f, inputs),
        "errors": errors or {},
        "users": field_users(w, before) if users else None,
        "raw": {i.key: f.get(i.key) for i in inputs if i.kind == "other" and i.key in f},
    }


def field_users(w: Working, before: dict | None) -> list[dict]:
    """Who uses the published field ``before``: each definition and place (the entity's own too)."""
    if before is None or not before.get("active", True):
        return []
    found = runtime().definitions.field_impact(w.name, before["name"])
    return [{"who": f"{p.kind}/{p.name}", "path": p.path} for p in found]


@bp.get("/entity/<name>/fields/<field>/users")
def field_users_fragment(name: str, field: str):
    """The panel's list of who uses the field (htmx fetches it when the panel opens)."""
    w = working("entity", name)
    panel = field_panel(w, field, users=True)
    if panel is None:
        raise NotFound(_("There is no field {field!r}.").format(field=field))
    return render("design_entity_users", {"w": w, "panel": panel})


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


@bp.post("/entity/<name>/fields/<field>/settings")
def save_field(name: str, field: str):
    """Save the panel: every refused input is shown at its place with what was typed, and
    nothing is saved."""
    w = working("entity", name)
    f = next((x for x in active_fields(w.body) if x.get("name") == field), None)
    if f is None:
        flash(_("There is no field {field!r}.").format(field=field), "danger")
        return back("entity", name)
    ftype = runtime().field_types.get(str(f.get("type")))
    inputs = ee.option_inputs(ftype.options_schema if ftype else {})
    before = ee.published_field(f, published_body(w)) or {}
    published_options = {o.get("value") for o in ee.as_options(before.get("options"))}
    changes, errors = ee.read_field(f, inputs, request.form, published_options)
    if errors:
        flash(_("Some settings need attention; nothing was saved."), "danger")
        return edit_page(w, 422, panel=field_panel(w, field, request.form, errors))
    body = edits.change_field(w.body, field, changes)
    save("entity", name, body, comment=_("Changed field {field}").format(field=field))
    return back("entity", name, field=field, _anchor="field-panel")


@bp.post("/entity/<name>/fields/<field>/rename")
def rename_field(name: str, field: str):
    """Give the field a new identifier. A published field keeps its id and column; the
    definitions that name it keep working through the old name, and are listed."""
    w = working("entity", name)
    new = request.form.get("new_name", "").strip()
    try:
        body = ee.rename_field(w.body, field, new, w.published.body if w.published else None)
    except ValidationFailed as exc:
        flash(exc.message, "danger")
        return back("entity", name, field=field, _anchor="field-panel")
    moved = next(f for f in active_fields(body) if f.get("name") == new)
    before = ee.published_field(moved, published_body(w))
    found = []
    if before is not None and before.get("active", True):
        found = runtime().definitions.field_impact(name, before["name"], new_name=new)
    refusals = [p.message for p in found if p.severity == "error"]
    if refusals:
        flash(_("{field} cannot be renamed: {why}").format(field=field, why=" ".join(refusals)), "danger")
        return back("entity", name, field=field, _anchor="field-panel")
    if not save("entity", name, body, comment=_("Renamed field {old} to {new}").format(old=field, new=new)):
        return back("entity", name, field=field)
    users = dependants(found, errors_only=False)
    if users:
        flash(_("{old} is now {new}. These definitions still use the old name, which keeps working: {users}.").format(
            old=field, new=new, users=", ".join(users)), "info")  # fmt: skip
    return back("entity", name, field=new, _anchor="field-panel")


@bp.post("/entity/<name>/fields/<field>/deactivate")
def deactivate_field(name: str, field: str):
    """Take the field out of the draft, unless published definitions still use it: then the
    page lists them (each place) and nothing changes."""
    w = working("entity", name)
    f = next((x for x in active_fields(w.body) if x.get("name") == field), None)
    before = ee.published_field(f, published_body(w)) if f else None
    found = []
    if before is not None and before.get("active", True):
        found = runtime().definitions.field_impact(name, before["name"])
    blocking = dependants(found)
    if blocking:
        flash(
            _("{field} cannot be deactivated: {users} use it. Change them first.").format(
                field=field, users=", ".join(blocking)
            ),
            "danger",
        )
        return edit_page(w, 422, impact=impact_card(field, found))
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
