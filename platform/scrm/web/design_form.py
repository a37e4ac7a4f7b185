"""The form editor of the designer: the layout as a tree (place, move, remove fields), and the
rules that show, hide, require or lock a field or section."""

from __future__ import annotations

from flask import flash, request

from ..designer import edits
from ..errors import ValidationFailed
from ..i18n import _, text
from ..runtime import runtime, snapshot
from .designer import Working, back, bp, editor, save, working
from .filter_builder import operator_label


@editor("form")
def form_context(w: Working) -> dict:
    snap = snapshot()
    entity = snap.entity(w.body.get("entity")) if isinstance(w.body.get("entity"), str) else None
    placed = edits.placed_fields(w.body)
    fields = [(f.name, text(f.label) or f.name) for f in entity.active_fields] if entity else []
    labels = dict(fields)
    types = runtime().field_types
    kinds = {f.name: (types.get(f.type).value_kind if types.get(f.type) else "string") for f in
             (entity.active_fields if entity else [])}  # fmt: skip
    return {
        "nodes": edits.layout_nodes(w.body),
        "field_labels": labels,
        "unplaced": [(n, label) for n, label in fields if n not in placed],
        "all_fields": fields,
        "value_kinds": kinds,
        "operators": RULE_OPERATORS,
        "effects": RULE_EFFECTS,
        "entity_missing": entity is None,
        "text": text,
        "operator_label": operator_label,
    }


RULE_OPERATORS = ("eq", "ne", "in", "not_in", "is_null", "is_not_null", "gt", "gte", "lt", "lte", "contains")
RULE_EFFECTS = ("show", "hide", "require", "disable")


def rule_from(form, snap, entity_name: str) -> list[dict] | None:
    """The rule row of a form editor form (effect + field / operator / value), or None."""
    field_name = form.get("rule_field", "")
    if not field_name:
        return None
    entity = snap.entity(entity_name)
    f = entity.field(field_name) if entity else None
    ftype = runtime().field_types.get(f.type) if f else None
    when = edits.leaf(field_name, form.get("rule_op", "eq"), form.get("rule_value", ""),
                      ftype.value_kind if ftype else "string")  # fmt: skip
    effect = form.get("rule_effect", "show")
    return [{"effect": effect if effect in RULE_EFFECTS else "show", "when": when}]


def form_edit(name: str, change, comment: str):
    w = working("form", name)
    try:
        body = change(w.body)
    except ValidationFailed as exc:
        flash(exc.message, "danger")
        return back("form", name)
    save("form", name, body, comment=comment)
    return back("form", name)


@bp.post("/form/<name>/place")
def place_field(name: str):
    form = request.form
    w_entity = working("form", name).body.get("entity", "")
    rules = rule_from(form, snapshot(), w_entity)
    field_name = form.get("field", "")
    return form_edit(
        name,
        lambda body: edits.place_field(body, form.get("section", ""), field_name, form.get("widget") or None, rules),
        _("Placed field {field}").format(field=field_name),
    )


@bp.post("/form/<name>/move")
def move_node(name: str):
    delta = -1 if request.form.get("direction") == "up" else 1
    address = request.form.get("address", "")
    return form_edit(name, lambda body: edits.move_node(body, address, delta), _("Moved an item"))


@bp.post("/form/<name>/remove")
def remove_node(name: str):
    address = request.form.get("address", "")
    return form_edit(name, lambda body: edits.remove_node(body, address), _("Removed an item"))


@bp.post("/form/<name>/rules")
def set_rules(name: str):
    address = request.form.get("address", "")
    w_entity = working("form", name).body.get("entity", "")
    rules = None if request.form.get("clear") else rule_from(request.form, snapshot(), w_entity)
    return form_edit(name, lambda body: edits.set_rules(body, address, rules), _("Changed a rule"))
