"""A cheap test ahead of alternatives that all require it: ``any`` of branches that each compare
one aggregate with a constant the same way implies the loosest of those comparisons.

``alr_tier_upgrade`` is ``any(all(avg ≥ 1M, prev < 1M), all(avg ≥ 5M, prev < 5M))``: both
branches need the recent average ≥ 1M. Tested first, it spares most customers both branches
(SQLite evaluates aggregates as correlated subqueries, one per use). Only for a statement's
``WHERE`` at the top, where a FALSE and an UNKNOWN answer alike select nothing: under a ``not``
the added test could turn UNKNOWN into FALSE.
"""

from __future__ import annotations

from decimal import Decimal

from . import ir
from .aggregates import signature

LOWER = {"gte": "gt", "gt": None}  # the bound, and the stricter operator at the same value
UPPER = {"lte": "lt", "lt": None}


def guarded(node: ir.Node) -> ir.Node:
    """``node`` with the implied comparison ahead of each ``any`` at the top (itself, or an item
    of the top ``all``); unchanged where there is none."""
    if isinstance(node, ir.AnyOf):
        guard = implied(node)
        return ir.All(node.path, (guard, node)) if guard is not None else node
    if isinstance(node, ir.All):
        items: list[ir.Node] = []
        for item in node.items:
            guard = implied(item) if isinstance(item, ir.AnyOf) else None
            items.extend((guard, item) if guard is not None else (item,))
        return ir.All(node.path, tuple(items)) if len(items) != len(node.items) else node
    return node


def implied(alternatives: ir.AnyOf) -> ir.Cmp | None:
    """The loosest bound on one aggregate that every branch of ``alternatives`` requires."""
    branches = [_required(b) for b in alternatives.items]
    if len(branches) < 2:
        return None
    for leaf in branches[0]:
        for bounds in (LOWER, UPPER):
            if leaf.op not in bounds:
                continue
            key = signature(leaf.left)
            loosest = leaf
            for others in branches[1:]:
                same = [o for o in others if o.op in bounds and signature(o.left) == key]
                if not same:
                    break
                loosest = min([loosest, *same], key=lambda c, b=bounds: _strictness(c, b))
            else:
                return ir.Cmp(alternatives.path, loosest.op, loosest.left, loosest.args, source="implied")
    return None


def _required(branch: ir.Node) -> list[ir.Cmp]:
    """The comparisons of an aggregate with a number that ``branch`` cannot be true without."""
    items = branch.items if isinstance(branch, ir.All) else (branch,)
    return [
        c
        for c in items
        if isinstance(c, ir.Cmp)
        and isinstance(c.left, ir.Agg)
        and len(c.args) == 1
        and isinstance(c.args[0], ir.Lit)
        and isinstance(c.args[0].value, int | Decimal)
        and not isinstance(c.args[0].value, bool)
    ]


def _strictness(c: ir.Cmp, bounds: dict) -> tuple:
    """Order of looseness: a lower bound is looser the smaller it is (``≥`` before ``>`` at the
    same value), an upper bound the larger it is."""
    value = c.args[0].value
    return (value if bounds is LOWER else -value, bounds[c.op] is None)
