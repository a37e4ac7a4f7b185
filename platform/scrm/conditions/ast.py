"""Shape helpers for condition trees: walking, dependencies, size limits, operator tables."""

from __future__ import annotations

from collections.abc import Iterator

MAX_DEPTH = 12
MAX_NODES = 200

# Each operator's negation, used to push ``not`` down to the leaves (negation normal form).
NEGATED = {
    "eq": "ne",
    "ne": "eq",
    "lt": "gte",
    "gte": "lt",
    "gt": "lte",
    "lte": "gt",
    "in": "not_in",
    "not_in": "in",
    "is_null": "is_not_null",
    "is_not_null": "is_null",
    "is_empty": "is_not_empty",
    "is_not_empty": "is_empty",
    "contains": "not_contains",
    "not_contains": "contains",
    "has_any": "has_none",
    "has_none": "has_any",
}
NO_VALUE = frozenset({"is_null", "is_not_null", "is_empty", "is_not_empty", "changed"})
LIST_VALUE = frozenset({"in", "not_in", "has_any", "has_all", "has_none"})
# true when the operand is NULL (defined as the negation of their positive partner)
NULL_INCLUSIVE = frozenset({"ne", "not_in", "not_contains", "has_none", "is_null", "is_empty"})
TEXT_MATCH = frozenset({"contains", "not_contains", "starts_with", "ends_with"})


class ConditionError(Exception):
    """A condition that cannot be evaluated: ``path`` is the JSON path inside the condition."""

    def __init__(self, message: str, path: str = "$", code: str = "E-COND-004"):
        super().__init__(message)
        self.message = message
        self.path = path
        self.code = code


def is_group(node: dict) -> bool:
    return any(k in node for k in ("all", "any", "not", "use"))


def walk_leaves(node, path: str = "$") -> Iterator[tuple[dict, str]]:
    """Every leaf of a condition with its JSON path (``$.all[1].any[0]``)."""
    if not isinstance(node, dict):
        return
    for key in ("all", "any"):
        if key in node and isinstance(node[key], list):
            for i, child in enumerate(node[key]):
                yield from walk_leaves(child, f"{path}.{key}[{i}]")
            return
    if "not" in node:
        yield from walk_leaves(node["not"], f"{path}.not")
        return
    if "use" in node:
        return
    yield node, path


def measure(node, depth: int = 1) -> tuple[int, int]:
    """(depth, node count) of a condition tree."""
    if not isinstance(node, dict):
        return depth, 1
    children = []
    for key in ("all", "any"):
        if isinstance(node.get(key), list):
            children = node[key]
    if "not" in node:
        children = [node["not"]]
    best, count = depth, 1
    for child in children:
        d, n = measure(child, depth + 1)
        best, count = max(best, d), count + n
    return best, count


def deps(node) -> set[str]:
    """Field paths a condition reads (for htmx triggers, rename and delete protection)."""
    out: set[str] = set()
    for leaf, _path in walk_leaves(node):
        if isinstance(leaf.get("field"), str):
            out.add(leaf["field"])
        for operand in (leaf.get("expr"), leaf.get("value")):
            _operand_deps(operand, out)
    return out


def _operand_deps(operand, out: set[str]) -> None:
    if isinstance(operand, list):
        for item in operand:
            _operand_deps(item, out)
    elif isinstance(operand, dict):
        if isinstance(operand.get("field"), str):
            out.add(operand["field"])
        for arg in operand.get("args", ()) if isinstance(operand.get("args"), list) else ():
            _operand_deps(arg, out)
