"""The kinds of values conditions compare, which operators each kind takes, and the signatures of
the ``calc`` functions. Shared by the static checker and both back-ends."""

from __future__ import annotations

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
