"""Evaluate a condition in Python over one record (a mapping of field name to canonical value).

It follows the same operator table as :mod:`.sql`: a comparison with ``None`` is false; ``ne``,
``not_in``, ``not_contains`` and ``has_none`` are true on ``None``; ``not`` is plain negation
(the SQL side reaches the same answers through negation normal form).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..fields import FieldTypes
from ..i18n import _
from ..meta.model import EntityDef
from .ast import MAX_DEPTH, MAX_NODES, ConditionError, measure
from .resolve import Leaf, resolve_leaf


def evaluate(
    cond: dict | None, record: Mapping[str, Any], entity: EntityDef, field_types: FieldTypes, path: str = "$"
) -> bool:
    if not cond:
        return True
    depth, nodes = measure(cond)
    if depth > MAX_DEPTH or nodes > MAX_NODES:
        raise ConditionError(
            _("The condition is too deep or too large (at most {depth} levels and {nodes} nodes).").format(
                depth=MAX_DEPTH, nodes=MAX_NODES
            ),
            path,
            "E-COND-006",
        )
    return _node(cond, record, entity, field_types, path)


def _node(node, record, entity, field_types, path) -> bool:
    if not isinstance(node, dict):
        raise ConditionError(_("A condition must be an object."), path, "E-SCHEMA-003")
    if "all" in node:
        return all(_node(c, record, entity, field_types, f"{path}.all[{i}]") for i, c in enumerate(node["all"]))
    if "any" in node:
        return any(_node(c, record, entity, field_types, f"{path}.any[{i}]") for i, c in enumerate(node["any"]))
    if "not" in node:
        return not _node(node["not"], record, entity, field_types, f"{path}.not")
    if "use" in node:
        raise ConditionError(_("{construct} is not supported in this context yet.").format(construct="use"), path)
    leaf = resolve_leaf(node, entity, field_types, path)
    return _leaf(leaf, record.get(leaf.field.name))


def _leaf(leaf: Leaf, a: Any) -> bool:
    op, v = leaf.op, leaf.value
    if leaf.ftype.multi:
        members = set(a or ())
        match op:
            case "has_any":
                return bool(members & set(v))
            case "has_none":
                return not (members & set(v))
            case "has_all":
                return set(v) <= members
            case "is_empty":
                return not members
            case "is_not_empty":
                return bool(members)
    match op:
        case "is_null":
            return a is None
        case "is_not_null":
            return a is not None
        case "is_empty":
            return a is None or (leaf.ftype.searchable and a == "")
        case "is_not_empty":
            return a is not None and not (leaf.ftype.searchable and a == "")
        case "ne":
            return a is None or a != v
        case "not_in":
            return a is None or a not in v
        case "not_contains":
            return a is None or not _text(a, "contains", v, leaf.ci)
    if a is None:
        return False
    match op:
        case "eq":
            return a == v
        case "lt":
            return a < v
        case "lte":
            return a <= v
        case "gt":
            return a > v
        case "gte":
            return a >= v
        case "between":
            return v[0] <= a <= v[1]
        case "in":
            return a in v
        case "contains" | "starts_with" | "ends_with":
            return _text(a, op, v, leaf.ci)
    raise ConditionError(_("{construct} is not supported in this context yet.").format(construct=op), leaf.path)


def _text(a: str, op: str, v: str, ci: bool) -> bool:
    if ci:
        a, v = a.lower(), v.lower()
    if op == "starts_with":
        return a.startswith(v)
    if op == "ends_with":
        return a.endswith(v)
    return v in a
