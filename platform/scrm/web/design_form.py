"""The form editor of the designer: the layout as a tree (tabs, sections with their columns,
fields with their widget), one node at a time in a side panel (its settings, where it sits, and
the rules that show, hide, require or lock it, each written in the condition builder), and a live
preview of the draft with a sample record."""

from __future__ import annotations

from flask import flash, request

from ..designer import edits
from ..errors import ValidationFailed
from ..i18n import _, text
from ..runtime import runtime, snapshot
from .designer import (
    Working,
    apply_edit,
    back,
    bp,
    condition_of,
    edit_page,
    editor,
    save,
    submitted_condition,
    working,
)

EFFECTS = ("show", "hide", "require", "disable", "enable")
MODES = ("create", "edit", "view")


def effect_label(effect: str) -> str:
    return {"show": _("show when"), "hide": _("hide when"), "require": _("required when"),
            "disable": _("read-only when"), "enable": _("editable only when")}.get(effect, effect)  # fmt: skip


def node_label(node: edits.Node, field_labels: dict[str, str]) -> str:
    if node.type == "field":
        return field_labels.get(node.item.get("field"), str(node.item.get("field")))
    return text(node.item.get("label")) or node.item.get("id") or node.type


def containers(nodes: list[edits.Node], field_labels: dict[str, str], kinds=("tab", "section")) -> list[tuple]:
    """(address, label with its depth, type) of every tab and section, in layout order."""
    out: list[tuple] = []

    def visit(ns: list[edits.Node], trail: str) -> None:
        for n in ns:
            here = f"{trail} › {node_label(n, field_labels)}" if trail else node_label(n, field_labels)
            if n.type in kinds:
                out.append((n.address, here, n.type))
            visit(n.children, here if n.type in ("tab", "section") else trail)

    visit(nodes, "")
    return out


@editor("form")
def form_context(w: Working) -> dict:
    snap = snapshot()
    entity = snap.entity(w.body.get("entity")) if isinstance(w.body.get("entity"), str) else None
    fields = [(f.name, text(f.label) or f.name) for f in entity.active_fields] if entity else []
    labels = dict(fields)
    placed = edits.placed_fields(w.body)
    nodes = edits.layout_nodes(w.body)
    root = w.body.get("layout") if isinstance(w.body.get("layout"), dict) else {}
    return {
        "nodes": nodes,
        "root_type": root.get("type"),
        "field_labels": labels,
        "unplaced": [(n, label) for n, label in fields if n not in placed],
        "sections": containers(nodes, labels),
        "tabs_address": "" if root.get("type") == "tabs" else None,
        "entity_missing": entity is None,
        "selected": selected_node(w, entity, nodes, labels),
        "text": text,
        "effect_label": effect_label,
    }


def selected_node(w: Working, entity, nodes: list[edits.Node], labels: dict[str, str], rules=None) -> dict | None:
    """The node the side panel edits (``?node=<address>``), with what its settings offer."""
    address = request.args.get("node") or request.form.get("address") or ""
    if not address or entity is None:
        return None
    try:
        item = edits.node_at(w.body, address)
    except ValidationFailed:
        return None
    kind = item.get("type")
    panel: dict = {"address": address, "type": kind, "item": item, "label": text(item.get("label")) or ""}
    if kind == "field":
        f = entity.field(item.get("field", ""))
        ftype = runtime().field_types.get(f.type) if f else None
        panel["label"] = labels.get(item.get("field"), item.get("field"))
        panel["widgets"] = list(ftype.widgets) if ftype else []
    if kind in ("field", "section", "note", "tab"):
        moves = ("tab",) if kind == "section" and w.body["layout"].get("type") == "tabs" else ("tab", "section")
        panel["targets"] = [c for c in containers(nodes, labels, moves)
                            if c[0] != address and not c[0].startswith(address + ".") and kind != "tab"]  # fmt: skip
    if kind != "tabs":
        panel["rules"] = rules if rules is not None else rule_builders(w.body.get("entity"), item.get("rules") or [])
    return panel


def rule_builders(entity: str, rules: list) -> list[dict]:
    """Each rule as (effect, its condition in a builder), and one blank rule to add."""
    shown = [r for r in rules if isinstance(r, dict)] + [{"effect": "show", "when": None}]
    return [{"effect": r.get("effect", "show"), "cb": condition_of(f"rule{i}", entity, r.get("when"))}
            for i, r in enumerate(shown)]  # fmt: skip


def edit(name: str, change, comment: str, address: str = ""):
    """Save a pure layout edit; back to the node's panel."""
    return apply_edit("form", name, change, comment, **({"node": address} if address else {}))


def i18n_label(form, key: str = "label") -> dict | None:
    zh, en = form.get(key, "").strip(), form.get(f"{key}_en", "").strip()
    return {"zh-CN": zh or en, "en": en or zh} if zh or en else None


@bp.post("/form/<name>/place")
def place_field(name: str):
    form = request.form
    field_name, section = form.get("field", ""), form.get("section", "")
    body = working("form", name).body
    address = ""
    if section:
        try:
            address = f"{section}.{len(edits.node_at(body, section).get('items') or [])}"
        except ValidationFailed:
            address = ""
    return edit(name, lambda b: edits.place_field(b, section, field_name, form.get("widget") or None),
                _("Placed field {field}").format(field=field_name), address)  # fmt: skip


@bp.post("/form/<name>/add")
def add_container(name: str):
    """A new tab (with its first section) or section, holding a first field so that it is
    complete from the start."""
    form = request.form
    kind = form.get("type", "")
    parent = "" if kind == "tab" else form.get("parent", "")  # (tabs sit in the layout's root)
    label = i18n_label(form) or {"zh-CN": _("New section"), "en": "New section"}
    first = form.get("first_field", "")

    def change(body: dict) -> dict:
        ident = form.get("id", "").strip() or edits.free_id(body, kind)
        columns = form.get("columns", "2")
        section = {"type": "section", "id": ident if kind == "section" else edits.free_id(body, f"{ident}_section"),
                   "label": label, "columns": int(columns) if columns in ("1", "2", "3", "4") else 2,
                   "items": [{"type": "field", "field": first}] if first else []}  # fmt: skip
        if first and first in edits.placed_fields(body):
            raise edits.refuse("first_field", _("The form shows {field!r} already.").format(field=first))
        if not first:
            raise edits.refuse("first_field", _("Choose the first field it shows."))
        node = section if kind == "section" else {"type": "tab", "id": ident, "label": label, "items": [section]}
        return edits.add_container(body, parent, node)

    return edit(name, change, _("Added a {kind}").format(kind=kind))


@bp.post("/form/<name>/node")
def node_settings(name: str):
    """The panel's settings of one node: labels, columns, widget, width, modes, read-only."""
    form = request.form
    address = form.get("address", "")
    kind = form.get("type", "")
    props: dict = {}
    if kind in ("tab", "section", "field"):
        label = i18n_label(form)
        if label or kind != "tab":  # (a tab keeps its label)
            props["label"] = label
    if kind == "section":
        columns = form.get("columns", "")
        props["columns"] = int(columns) if columns in ("1", "2", "3", "4") else None
        props["collapsed"] = True if form.get("collapsed") else None
    if kind == "field":
        props["widget"] = form.get("widget") or None
        colspan = form.get("colspan", "")
        props["colspan"] = int(colspan) if colspan in ("2", "3", "4") else None
        props["readonly"] = True if form.get("readonly") else None
        modes = [m for m in MODES if form.get(f"mode_{m}")]
        if not modes:
            return refuse_panel(name, _("Show the field in at least one of create, edit and view."))
        props["modes"] = None if len(modes) == len(MODES) else modes
        props["help"] = i18n_label(form, "help")
    return edit(name, lambda b: edits.set_props(b, address, props), _("Changed an item's settings"), address)


def refuse_panel(name: str, message: str):
    flash(message, "danger")
    return back("form", name, node=request.form.get("address", ""))


@bp.post("/form/<name>/rules")
def set_rules(name: str):
    """The node's rules from their builders (an empty builder drops its rule); rows with problems
    come back as typed and nothing is saved."""
    w = working("form", name)
    address = request.form.get("address", "")
    entity = w.body.get("entity")
    rules, shown, problems = [], [], False
    for i in range(edits.MAX_RULES + 1):
        builder = submitted_condition(f"rule{i}", entity)
        if builder is None:
            break
        effect = request.form.get(f"effect{i}", "show")
        effect = effect if effect in EFFECTS else "show"
        shown.append({"effect": effect, "cb": builder})
        problems = problems or bool(builder.errors)
        if builder.condition is not None:
            rules.append({"effect": effect, "when": builder.condition})
    if problems:
        flash(_("Some rows need attention; nothing was saved."), "danger")
        snap = snapshot()
        entity_def = snap.entity(entity)
        nodes = edits.layout_nodes(w.body)
        labels = {f.name: text(f.label) or f.name for f in entity_def.active_fields} if entity_def else {}
        return edit_page(w, 422, selected=selected_node(w, entity_def, nodes, labels, rules=shown))
    body = edits.set_rules(w.body, address, rules or None)
    save("form", name, body, comment=_("Changed the rules of an item"))
    return back("form", name, node=address)


@bp.post("/form/<name>/move")
def move_node(name: str):
    delta = -1 if request.form.get("direction") == "up" else 1
    address = request.form.get("address", "")
    return edit(name, lambda body: edits.move_node(body, address, delta), _("Moved an item"))


@bp.post("/form/<name>/move-into")
def move_into(name: str):
    address, target = request.form.get("address", ""), request.form.get("container", "")
    return edit(name, lambda body: edits.move_into(body, address, target), _("Moved an item"))


@bp.post("/form/<name>/remove")
def remove_node(name: str):
    address = request.form.get("address", "")
    return edit(name, lambda body: edits.remove_node(body, address), _("Removed an item"))
