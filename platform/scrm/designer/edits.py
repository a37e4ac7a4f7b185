"""The designer's edits, as pure functions from a definition body to a new body.

Each editor page turns a button or a small form into one of these and saves the result as the
draft; the checker (not these functions) decides whether the result is valid, so an edit never
needs to know every rule, and what the JSON view accepts the editors accept too. Layout nodes
of a form are addressed by their index path from the layout root (``"0.2"``: the third item of
the first tab), the same addresses the page renders.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from ..errors import Detail, ValidationFailed
from ..i18n import _

NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
NO_VALUE = frozenset({"is_null", "is_not_null", "is_empty", "is_not_empty"})
LIST_VALUE = frozenset({"in", "not_in", "has_any", "has_all", "has_none"})
MAX_RULES = 20  # rules on one layout node (the form schema's limit)
LIST_SPLIT = re.compile(r"\s*[,，;；、|]\s*")


def refuse(path: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, [Detail(path, message)], "invalid_edit")


# -- entities ---------------------------------------------------------------------------------
def field_names(body: dict) -> list[str]:
    return [f["name"] for f in body.get("fields", []) if isinstance(f, dict) and isinstance(f.get("name"), str)]


def add_field(body: dict, spec: dict) -> dict:
    """``body`` with the field ``spec`` appended (its name must be new and well-formed)."""
    name = spec.get("name", "")
    if not NAME.match(name):
        raise refuse("name", _("Use lower-case letters, digits and _, starting with a letter."))
    if name in field_names(body):
        raise refuse("name", _("The field {field!r} exists already.").format(field=name))
    out = copy.deepcopy(body)
    out.setdefault("fields", []).append({k: v for k, v in spec.items() if v not in (None, "", [], {})})
    return out


def change_field(body: dict, name: str, changes: dict) -> dict:
    """``body`` with the named field's keys replaced (a value of None removes the key)."""
    out = copy.deepcopy(body)
    for f in out.get("fields", []):
        if f.get("name") == name:
            for key, value in changes.items():
                if value is None:
                    f.pop(key, None)
                else:
                    f[key] = value
            return out
    raise refuse("field", _("There is no field {field!r}.").format(field=name))


def without_field(body: dict, name: str) -> dict:
    """``body`` without the field: publishing it deactivates the field; its column and values
    stay (the normaliser keeps it, ``active: false``), so a rollback brings it back whole."""
    if name not in field_names(body):
        raise refuse("field", _("There is no field {field!r}.").format(field=name))
    out = copy.deepcopy(body)
    out["fields"] = [f for f in out["fields"] if f.get("name") != name]
    return out


def enum_options(text: str) -> list[dict]:
    """Option lines ``value = 中文标签 / English label`` (labels optional) as enum options."""
    options = []
    for i, line in enumerate(x.strip() for x in text.splitlines()):
        if not line:
            continue
        value, _eq, labels = (part.strip() for part in line.partition("="))
        if not NAME.match(value):
            raise refuse(
                "options", _("Line {n}: an option's value is lower-case letters, digits and _.").format(n=i + 1)
            )
        zh, _slash, en = (part.strip() for part in labels.partition("/"))
        option: dict = {"value": value}
        if zh or en:
            option["label"] = {"zh-CN": zh or en, "en": en or zh}
        options.append(option)
    return options


# -- forms ------------------------------------------------------------------------------------
@dataclass
class Node:
    """One layout node as the form editor shows it."""

    address: str
    type: str
    item: dict
    depth: int
    children: list[Node] = field(default_factory=list)


def layout_nodes(body: dict) -> list[Node]:
    """The layout's nodes in a tree, each with its address."""
    root = body.get("layout")
    if not isinstance(root, dict):
        return []

    def walk(items: list, prefix: str, depth: int) -> list[Node]:
        out = []
        for i, item in enumerate(items if isinstance(items, list) else []):
            if not isinstance(item, dict):
                continue
            address = f"{prefix}.{i}" if prefix else str(i)
            node = Node(address, str(item.get("type")), item, depth)
            node.children = walk(item.get("items", []), address, depth + 1)
            out.append(node)
        return out

    return walk(root.get("items", []), "", 0)


def placed_fields(body: dict) -> set[str]:
    found: set[str] = set()

    def visit(nodes: list[Node]) -> None:
        for n in nodes:
            if n.type == "field" and isinstance(n.item.get("field"), str):
                found.add(n.item["field"])
            visit(n.children)

    visit(layout_nodes(body))
    return found


def node_at(body: dict, address: str) -> dict:
    """The layout node at ``address`` (``""``: the layout root)."""
    layout = body.get("layout")
    if not isinstance(layout, dict):
        raise refuse("layout", _("The form has no layout; fix it in the JSON view."))
    if address == "":
        return layout
    items, index = _container(layout, address)
    return items[index]


def layout_ids(body: dict) -> set[str]:
    found: set[str] = set()

    def visit(nodes: list[Node]) -> None:
        for n in nodes:
            if isinstance(n.item.get("id"), str):
                found.add(n.item["id"])
            visit(n.children)

    visit(layout_nodes(body))
    return found


def free_id(body: dict, base: str) -> str:
    """``base``, or ``base_2``, ``base_3``… — an id no layout node uses yet."""
    taken, candidate, n = layout_ids(body), base, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    return candidate


CHILDREN = {"tabs": ("tab",), "tab": ("section", "field", "note"), "section": ("section", "field", "note")}


def add_container(body: dict, parent: str, node: dict) -> dict:
    """``body`` with a new tab or section ``node`` appended to the container at ``parent``
    (a tab goes into the tabs; a section into a tab or another section)."""
    out = copy.deepcopy(body)
    target = node_at(out, parent)
    if node.get("type") not in CHILDREN.get(str(target.get("type")), ()):
        raise refuse("parent", _("A {child} cannot go there.").format(child=node.get("type")))
    ident = node.get("id", "")
    if not NAME.match(ident):
        raise refuse("id", _("Use lower-case letters, digits and _, starting with a letter."))
    if ident in layout_ids(out):
        raise refuse("id", _("The layout has an item {id!r} already.").format(id=ident))
    target.setdefault("items", []).append(node)
    return out


def set_props(body: dict, address: str, props: dict) -> dict:
    """``body`` with the node's keys replaced (a value of None removes the key)."""
    out = copy.deepcopy(body)
    target = node_at(out, address)
    for key, value in props.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
    return out


def move_into(body: dict, address: str, container: str) -> dict:
    """``body`` with the node at ``address`` moved to the end of the container at ``container``."""
    if container == address or container.startswith(address + "."):
        raise refuse("container", _("An item cannot move into itself."))
    out = copy.deepcopy(body)
    node = node_at(out, address)
    target = node_at(out, container)
    if node.get("type") not in CHILDREN.get(str(target.get("type")), ()):
        raise refuse("container", _("A {child} cannot go there.").format(child=node.get("type")))
    target.setdefault("items", []).append(node)
    items, index = _container(out["layout"], address)  # (the old place is unchanged by an append elsewhere)
    items.pop(index)
    return out


def _container(layout: dict, address: str) -> tuple[list, int]:
    """The list holding the node at ``address`` and the node's index in it."""
    parts = address.split(".")
    if not all(p.isdigit() for p in parts):
        raise refuse("address", _("Unknown place in the layout."))
    items = layout.get("items")
    for depth, part in enumerate(parts):
        index = int(part)
        if not isinstance(items, list) or index >= len(items):
            raise refuse("address", _("Unknown place in the layout."))
        if depth == len(parts) - 1:
            return items, index
        items = items[index].get("items")
    raise refuse("address", _("Unknown place in the layout."))


def place_field(body: dict, section: str, field_name: str, widget: str | None = None, rules=None) -> dict:
    """``body`` with the field appended to the section (or tab) at address ``section``."""
    if field_name in placed_fields(body):
        raise refuse("field", _("The form shows {field!r} already.").format(field=field_name))
    out = copy.deepcopy(body)
    items, index = _container(out["layout"], section)
    target = items[index]
    if target.get("type") not in ("section", "tab"):
        raise refuse("section", _("Fields go into a section or a tab."))
    item: dict = {"type": "field", "field": field_name}
    if widget:
        item["widget"] = widget
    if rules:
        item["rules"] = rules
    target.setdefault("items", []).append(item)
    return out


def move_node(body: dict, address: str, delta: int) -> dict:
    """``body`` with the node moved ``delta`` places among its siblings (clamped)."""
    out = copy.deepcopy(body)
    items, index = _container(out["layout"], address)
    target = max(0, min(len(items) - 1, index + delta))
    items.insert(target, items.pop(index))
    return out


def remove_node(body: dict, address: str) -> dict:
    out = copy.deepcopy(body)
    items, index = _container(out["layout"], address)
    items.pop(index)
    return out


def set_rules(body: dict, address: str, rules: list[dict] | None) -> dict:
    out = copy.deepcopy(body)
    items, index = _container(out["layout"], address)
    if rules:
        items[index]["rules"] = rules
    else:
        items[index].pop("rules", None)
    return out


# -- conditions -------------------------------------------------------------------------------
def leaf(field_name: str, op: str, raw: str, value_kind: str) -> dict:
    """One condition row (field, operator, typed value) as a condition-language leaf; the
    checker judges whether the operator fits the field."""
    node: dict = {"field": field_name, "op": op}
    if op in NO_VALUE:
        return node
    raw = raw.strip()
    if op in LIST_VALUE:
        node["value"] = [_typed(v, value_kind) for v in LIST_SPLIT.split(raw) if v]
    elif op in ("within_last", "within_next", "older_than"):
        node["value"] = raw if raw[:1] == "P" else f"P{raw}D"
    else:
        node["value"] = _typed(raw, value_kind)
    return node


def _typed(raw: str, value_kind: str):
    if value_kind == "bool":
        return raw.lower() in ("1", "true", "yes", "是", "on")
    if value_kind in ("integer", "decimal"):
        try:
            number = Decimal(raw)
        except InvalidOperation:
            return raw  # the checker reports it at its path
        return int(number) if number == number.to_integral() else str(number)
    return raw


def drop_item(body: dict, key: str, value: str, *, by: str = "name", keep_empty: bool = True) -> bool:
    """Remove from the list ``body[key]`` the item whose ``by`` is ``value`` (in place); False when
    there is none. Without ``keep_empty`` an emptied list leaves the document."""
    items = body.get(key) or []
    kept = [x for x in items if not (isinstance(x, dict) and x.get(by) == value)]
    if len(kept) == len(items):
        return False
    if kept or keep_empty:
        body[key] = kept
    else:
        body.pop(key, None)
    return True
