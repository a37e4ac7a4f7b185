"""Conditions inside definitions, checked in the definition checker (phase B).

The checker runs the same :class:`~.prepare.Preparer` as the runtime, collecting every problem
instead of stopping at the first, so what the checker accepts is exactly what runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..fields import FieldTypes
from ..meta.model import EntityDef, FieldDef
from .prepare import Preparer, Source

Lookup = Callable[[str], EntityDef | None]
Found = tuple[str, str, dict]  # (code, json path, message params)


class ConditionChecker:
    def __init__(self, field_types: FieldTypes, lookup: Lookup):
        self.field_types = field_types
        self.lookup = lookup

    def check(
        self,
        cond: Any,
        entity: EntityDef,
        path: str,
        context: str = "filter",
        *,
        source: Source | None = None,
        outer: EntityDef | None = None,
    ) -> list[Found]:
        preparer = Preparer(self.field_types, self.lookup, context, source=source, outer=outer, collect=True)
        try:
            preparer.condition(cond, entity, path)
        except Exception as exc:  # noqa: BLE001 - odd input must never crash the checker
            return [("E-COND-013", path, {"detail": type(exc).__name__})]
        return _found(preparer)

    def check_operand(
        self, operand: Any, entity: EntityDef, path: str, context: str, *, source: Source | None = None
    ) -> list[Found]:
        preparer = Preparer(self.field_types, self.lookup, context, source=source, collect=True)
        try:
            preparer.operand(operand, entity, path)
        except Exception as exc:  # noqa: BLE001
            return [("E-COND-013", path, {"detail": type(exc).__name__})]
        return _found(preparer)

    def check_computed(self, f: FieldDef, entity: EntityDef, path: str) -> list[Found]:
        """A computed field's expression: valid where it is evaluated, and of the field's type."""
        context = "stored" if f.get("stored") else "computed"
        preparer = Preparer(self.field_types, self.lookup, context, collect=True)
        try:
            operand = preparer.operand(f.spec["computed"], entity, path)
        except Exception as exc:  # noqa: BLE001
            return [("E-COND-013", path, {"detail": type(exc).__name__})]
        found = _found(preparer)
        ftype = self.field_types.get(f.type)
        if operand is not None and ftype is not None and not _fits(ftype.value_kind, operand.kind, ftype.multi):
            found.append(("E-COND-009", path, {"left": f.type, "right": operand.kind}))
        return found


def _fits(field_kind: str, value_kind: str | None, multi: bool) -> bool:
    """Whether a computed value of ``value_kind`` can be shown as a field of ``field_kind``."""
    if multi or field_kind == "json":
        return False
    if value_kind is None or value_kind == field_kind:
        return True
    return field_kind == "decimal" and value_kind == "integer"


def document_source(body: Mapping[str, Any], params: Mapping[str, str] | None = None) -> Source:
    """The names a document declares for its conditions: ``conditions``, ``metrics``, ``params``."""
    return Source(
        conditions=body.get("conditions") or {},
        metrics=body.get("metrics") or {},
        params=params or {},
    )


def _found(preparer: Preparer) -> list[Found]:
    out, seen = [], set()
    for p in preparer.problems:
        key = (p.code, p.path)
        if key not in seen:
            seen.add(key)
            out.append((p.code, p.path, p.params))
    return out
