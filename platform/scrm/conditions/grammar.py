"""The vocabulary of the condition language in one place: keys, operators, contexts and what
they allow, value kinds, function and aggregate signatures, limits."""

from __future__ import annotations

from typing import Any

from .messages import CONTEXT_NAMES

NUMERIC = frozenset({"integer", "decimal"})
TEMPORAL = frozenset({"date", "datetime"})

_COMPARE = frozenset({"eq", "ne", "lt", "lte", "gt", "gte", "between", "in", "not_in", "is_null", "is_not_null"})
OPERATORS: dict[str, frozenset[str]] = {
    "string": _COMPARE | {"contains", "not_contains", "starts_with", "ends_with", "is_empty", "is_not_empty"},
    "integer": _COMPARE,
    "decimal": _COMPARE,
    "bool": frozenset({"eq", "ne", "is_null", "is_not_null"}),
    "date": _COMPARE | {"in_period", "within_last", "within_next", "anniversary_is"},
    "datetime": _COMPARE | {"in_period", "within_last", "within_next", "anniversary_is"},
    "set": frozenset({"has_any", "has_all", "has_none", "contains", "is_empty", "is_not_empty"}),
    "ref": frozenset({"eq", "ne", "in", "not_in", "is_null", "is_not_null"}),
    "json": frozenset({"is_null", "is_not_null"}),
}

AGGREGATES = frozenset({"count", "count_distinct", "sum", "avg", "min", "max", "first", "last", "exists"})
DATE_PARTS = frozenset({"year", "quarter", "month", "day", "dow", "doy", "hour", "minute"})
CALC_ARITY = {
    "add": (2, 2),
    "sub": (2, 2),
    "mul": (2, 2),
    "div": (2, 2),
    "neg": (1, 1),
    "abs": (1, 1),
    "round": (1, 2),
    "coalesce": (2, 8),
    "pct_change": (2, 2),
    "days_between": (2, 2),
    "years_between": (2, 2),
    "date_part": (2, 2),
    "lower": (1, 1),
    "concat": (2, 8),
}


def numeric(kind: str | None) -> bool:
    return kind in NUMERIC


def comparable(a: str | None, b: str | None) -> bool:
    """Whether values of kinds ``a`` and ``b`` may be compared (``None`` means unknown: allowed)."""
    if a is None or b is None or a == b:
        return True
    if numeric(a) and numeric(b):
        return True
    return {a, b} <= {"ref", "integer"}


def agg_kind(agg: str, of_kind: str | None) -> str | None:
    if agg in ("count", "count_distinct"):
        return "integer"
    if agg == "exists":
        return "bool"
    if agg == "avg":
        return "decimal"
    if agg == "sum":
        return "decimal" if of_kind == "decimal" else "integer"
    return of_kind


def calc_kind(fn: str, kinds: list[str | None], digits: int = 0) -> str | None:
    if fn in ("add", "sub", "mul"):
        return "decimal" if "decimal" in kinds else "integer"
    if fn in ("div", "pct_change"):
        return "decimal"
    if fn in ("neg", "abs"):
        return kinds[0]
    if fn == "round":
        return "decimal" if digits else "integer"
    if fn == "coalesce":
        known = [k for k in kinds if k is not None]
        if known and all(numeric(k) for k in known):
            return "decimal" if "decimal" in known else "integer"
        return known[0] if known else None
    if fn in ("days_between", "years_between", "date_part"):
        return "integer"
    return "string"  # lower, concat


def calc_arguments_ok(fn: str, kinds: list[str | None]) -> bool:
    """The argument kinds each function accepts (unknown kinds pass; the value decides at run time)."""
    known = [k for k in kinds if k is not None]
    if fn in ("add", "sub", "mul", "div", "neg", "abs", "pct_change"):
        return all(numeric(k) for k in known)
    if fn == "round":
        return all(numeric(k) for k in known)
    if fn in ("days_between", "years_between"):
        return all(k in TEMPORAL for k in known)
    if fn == "date_part":
        return all(k in TEMPORAL for k in known)
    if fn in ("lower", "concat"):
        return all(k == "string" for k in known)
    if fn == "coalesce":
        return all(comparable(known[0], k) for k in known) if known else True
    return True


MAX_DEPTH = 12
MAX_NODES = 200
MAX_EXPANDED = 2000  # nodes after ``use`` / ``metric`` / computed fields are expanded
MAX_TEXT = 200  # longest text contains / starts_with / ends_with match


# construct -> contexts that allow it (everything else: field paths, literals, calc, groups)
ALLOWED = {
    "agg": {"filter", "lookup", "form", "guard", "alert", "event", "dashboard", "computed", "named"},
    "ctx": {"filter", "lookup", "form", "guard", "dashboard", "permission", "named"},
    "old": {"check", "form", "guard", "event", "named"},
    "param": {"alert", "event", "dashboard"},
    "metric": {"alert", "event", "dashboard"},
    "time": {
        "filter",
        "lookup",
        "check",
        "form",
        "guard",
        "alert",
        "event",
        "dashboard",
        "computed",
        "permission",
        "named",
    },
    "use": {"filter", "lookup", "check", "form", "guard", "alert", "event", "dashboard", "permission", "named"},
    "record": {"lookup"},  # the outer record at the top level; inside agg.where it is always allowed
}
CONTEXTS = frozenset(CONTEXT_NAMES)
# contexts evaluated by the Python back-end only (one record at a time): elsewhere a condition may
# compile to SQL, so a plugin's function without a SQL builder is refused there
PYTHON_ONLY = frozenset({"check", "form", "guard", "stored"})

CTX_KINDS = {
    "user.id": "integer",
    "user.roles": "set",
    "user.org_unit": "ref",
    "user.org_units": "ids",
    "user.branches": "ids",
    "user.team": "ref",
    "user.employee": "ref",
    "tenant.tz": "string",
}
GROUP_KEYS = ("all", "any", "not", "use")
LEAF_KEYS = frozenset({"field", "expr", "op", "value", "ci"})
OPERAND_KEYS = ("field", "record", "old", "ctx", "param", "metric", "time", "date", "agg", "calc")
EXTRA_KEYS = {
    "agg": frozenset({"rel", "of", "where", "window", "order_by", "name", "format"}),
    "calc": frozenset({"args", "name", "format"}),
}
NO_VALUE = frozenset({"is_null", "is_not_null", "is_empty", "is_not_empty", "changed"})
NEGATIVE = {
    "ne": "eq",
    "not_in": "in",
    "not_contains": "contains",
    "has_none": "has_any",
    "is_not_null": "is_null",
    "is_not_empty": "is_empty",
}
TEXT_MATCH = frozenset({"contains", "not_contains", "starts_with", "ends_with"})
LIST_OPS = frozenset({"in", "not_in", "has_any", "has_all", "has_none"})
CHANGE_OPS = frozenset({"changed", "changed_to", "changed_from"})
ALL_OPS = frozenset(
    {"eq", "lt", "lte", "gt", "gte", "between", "in", "is_null", "is_empty", "contains", "starts_with", "ends_with"}
    | {"has_any", "has_all", "in_period", "within_last", "within_next", "anniversary_is"}
    | set(NEGATIVE)
    | CHANGE_OPS
)
FLIPPED = {"lt": "gt", "gt": "lt", "lte": "gte", "gte": "lte", "eq": "eq"}
NUMERIC_AGGS = frozenset({"sum", "avg"})


def measure(node: Any, depth: int = 1) -> tuple[int, int]:
    """(depth, node count) of a condition tree, counting conditions inside aggregates."""
    if not isinstance(node, dict):
        return depth, 1
    children: list = []
    for key in ("all", "any"):
        if isinstance(node.get(key), list):
            children = node[key]
    if "not" in node:
        children = [node["not"]]
    for key in ("expr", "value"):
        if isinstance(node.get(key), dict):
            children = children + [node[key]]
    if isinstance(node.get("where"), dict):
        children = children + [node["where"]]
    if isinstance(node.get("args"), list):
        children = children + [a for a in node["args"] if isinstance(a, dict)]
    best, count = depth, 1
    for child in children:
        d, n = measure(child, depth + 1)
        best, count = max(best, d), count + n
    return best, count
