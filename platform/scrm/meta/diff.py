"""A readable difference between two versions of a definition.

Lists of objects that carry an identity (``name``, ``id``, ``field``, ``key``) are compared by
that identity, not by position: adding a field to an entity reads as one added field, not as
every later field changed; moving a field reads as a move. Paths are JSON paths with the
identity in brackets (``$.fields[wechat_id].label``) so a reviewer finds what changed by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ADDED, REMOVED, CHANGED, MOVED = "added", "removed", "changed", "moved"
IDENTITIES = ("name", "id", "field", "key")
MISSING = object()


@dataclass(frozen=True)
class Change:
    op: str  # added | removed | changed | moved
    path: str
    old: Any = None
    new: Any = None

    def as_dict(self) -> dict:
        return {"op": self.op, "path": self.path, "old": self.old, "new": self.new}


def diff(old: Any, new: Any, path: str = "$") -> list[Change]:
    """Every change from ``old`` to ``new``, outermost first, in document order."""
    if isinstance(old, dict) and isinstance(new, dict):
        return _dicts(old, new, path)
    if isinstance(old, list) and isinstance(new, list):
        if _identity(old, new):
            return _keyed_lists(old, new, path)
        return _lists(old, new, path)
    if old == new and type(old) is type(new):
        return []
    return [Change(CHANGED, path, old, new)]


def _dicts(old: dict, new: dict, path: str) -> list[Change]:
    out: list[Change] = []
    for key in list(old) + [k for k in new if k not in old]:
        here = f"{path}.{key}"
        a, b = old.get(key, MISSING), new.get(key, MISSING)
        if a is MISSING:
            out.append(Change(ADDED, here, None, b))
        elif b is MISSING:
            out.append(Change(REMOVED, here, a, None))
        else:
            out += diff(a, b, here)
    return out


def _ident(item: dict) -> str | int | None:
    for key in IDENTITIES:
        value = item.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool):
            return value
    return None


def _identity(old: list, new: list) -> bool:
    """Whether every item of both lists is an object named uniquely within its list."""
    items = old + new
    if not items or not all(isinstance(x, dict) for x in items):
        return False
    for side in (old, new):
        names = [_ident(x) for x in side]
        if None in names or len(set(names)) != len(names):
            return False
    return True


def _keyed_lists(old: list, new: list, path: str) -> list[Change]:
    before = {_ident(x): x for x in old}
    after = {_ident(x): x for x in new}
    out: list[Change] = []
    for ident, item in before.items():
        if ident not in after:
            out.append(Change(REMOVED, f"{path}[{ident}]", item, None))
    kept_old = [k for k in before if k in after]
    kept_new = [k for k in after if k in before]
    moved = _moved(kept_old, kept_new)
    for ident, item in after.items():
        here = f"{path}[{ident}]"
        if ident not in before:
            out.append(Change(ADDED, here, None, item))
            continue
        if ident in moved:
            out.append(Change(MOVED, here, kept_old.index(ident), kept_new.index(ident)))
        out += diff(before[ident], item, here)
    return out


def _moved(old: list, new: list) -> set:
    """The items not on a longest common subsequence of the two orders: the ones that moved."""
    n, m = len(old), len(new)
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            table[i][j] = table[i + 1][j + 1] + 1 if old[i] == new[j] else max(table[i + 1][j], table[i][j + 1])
    stay, i, j = set(), 0, 0
    while i < n and j < m:
        if old[i] == new[j]:
            stay.add(old[i])
            i, j = i + 1, j + 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return set(old) - stay


def _lists(old: list, new: list, path: str) -> list[Change]:
    if len(old) == len(new):
        out: list[Change] = []
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            out += diff(a, b, f"{path}[{i}]")
        return out
    if all(not isinstance(x, dict | list) for x in old + new):
        out = [Change(REMOVED, f"{path}[{i}]", x, None) for i, x in enumerate(old) if x not in new]
        out += [Change(ADDED, f"{path}[{i}]", None, x) for i, x in enumerate(new) if x not in old]
        return out or [Change(CHANGED, path, old, new)]
    return [Change(CHANGED, path, old, new)]
