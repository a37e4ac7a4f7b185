"""Static checks of conditions inside definitions (phase B): fields exist, operators fit types,
literal values convert. Operand kinds that the runtime evaluates later (agg, calc, ctx, …) are
checked for the fields they name."""

from __future__ import annotations

from collections.abc import Callable

from ..fields import ConversionError, FieldTypes
from ..meta.model import EntityDef, FieldDef
from .ast import MAX_DEPTH, MAX_NODES, NO_VALUE, TEXT_MATCH, measure
from .resolve import system_field

Lookup = Callable[[str], EntityDef | None]
Found = tuple[str, str, dict]  # (code, json path, message params)


def resolve_path(entity: EntityDef, path: str, lookup: Lookup) -> FieldDef | None:
    """Follow a dotted path through reference fields; ``None`` when any step is unknown."""
    current = entity
    parts = path.split(".")
    for i, part in enumerate(parts):
        f = current.field(part) or system_field(current, part)
        if f is None:
            return None
        if i == len(parts) - 1:
            return f
        if f.type != "ref" or not f.target:
            return None
        current = lookup(f.target)
        if current is None:
            return None
    return None


class ConditionChecker:
    def __init__(self, field_types: FieldTypes, lookup: Lookup):
        self.field_types = field_types
        self.lookup = lookup

    def check(self, cond, entity: EntityDef, path: str, record: EntityDef | None = None) -> list[Found]:
        depth, nodes = measure(cond)
        if depth > MAX_DEPTH or nodes > MAX_NODES:
            return [("E-COND-006", path, {"depth": MAX_DEPTH, "nodes": MAX_NODES})]
        out: list[Found] = []
        self._node(cond, entity, path, record, out)
        return out

    def _node(self, node, entity, path, record, out) -> None:
        if not isinstance(node, dict):
            return
        for key in ("all", "any"):
            if isinstance(node.get(key), list):
                for i, child in enumerate(node[key]):
                    self._node(child, entity, f"{path}.{key}[{i}]", record, out)
                return
        if "not" in node:
            self._node(node["not"], entity, f"{path}.not", record, out)
            return
        if "use" in node:
            return
        self._leaf(node, entity, path, record, out)

    def _leaf(self, node, entity, path, record, out) -> None:
        op = node.get("op")
        f = None
        if isinstance(node.get("field"), str):
            f = resolve_path(entity, node["field"], self.lookup)
            if f is None:
                out.append(("E-COND-001", f"{path}.field", {"ref": node["field"], "entity": entity.name}))
                return
        elif "expr" in node:
            self._operand(node["expr"], entity, f"{path}.expr", record, out)
        value = node.get("value")
        if isinstance(value, dict):
            self._operand(value, entity, f"{path}.value", record, out)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    self._operand(item, entity, f"{path}.value[{i}]", record, out)
        if f is None or op is None:
            return
        ftype = self.field_types.get(f.type)
        if ftype is None:
            return
        if (
            op not in ftype.operators
            and not (op in TEXT_MATCH and ftype.searchable)
            and op not in ("changed", "changed_to", "changed_from")
        ):
            out.append(("E-COND-002", f"{path}.op", {"op": op, "type": f.type}))
            return
        if op in NO_VALUE or "value" not in node or isinstance(value, dict) or op in TEXT_MATCH:
            return
        items = value if isinstance(value, list) else [value]
        if isinstance(value, list) and any(v is None for v in value):
            out.append(("E-COND-005", f"{path}.value", {}))
            return
        if op in ("within_last", "within_next", "in_period"):
            return
        for i, item in enumerate(items):
            if item is None or isinstance(item, dict):
                continue
            try:
                ftype.convert([item] if ftype.multi else item, f)
            except ConversionError as exc:
                where = f"{path}.value[{i}]" if isinstance(value, list) else f"{path}.value"
                out.append(("E-COND-003", where, {"field": f.name, "detail": exc.message}))

    def _operand(self, operand, entity, path, record, out) -> None:
        if not isinstance(operand, dict):
            return
        for key, scope in (("field", entity), ("old", entity), ("record", record)):
            if isinstance(operand.get(key), str):
                if scope is None:
                    out.append(("E-COND-004", path, {"construct": key}))
                elif resolve_path(scope, operand[key], self.lookup) is None:
                    out.append(("E-COND-001", f"{path}.{key}", {"ref": operand[key], "entity": scope.name}))
                return
        if "agg" in operand and isinstance(operand.get("rel"), str):
            rel = entity.relation(operand["rel"])
            target = self.lookup(rel.target) if rel and rel.kind == "has_many" else None
            if target is None:
                out.append(("E-COND-001", f"{path}.rel", {"ref": operand["rel"], "entity": entity.name}))
                return
            for key in ("of", "order_by"):
                if isinstance(operand.get(key), str) and resolve_path(target, operand[key], self.lookup) is None:
                    out.append(("E-COND-001", f"{path}.{key}", {"ref": operand[key], "entity": target.name}))
            window = operand.get("window")
            if isinstance(window, dict) and isinstance(window.get("field"), str):
                if resolve_path(target, window["field"], self.lookup) is None:
                    out.append(("E-COND-001", f"{path}.window.field", {"ref": window["field"], "entity": target.name}))
            if isinstance(operand.get("where"), dict):
                self._node(operand["where"], target, f"{path}.where", entity, out)
        if "calc" in operand and isinstance(operand.get("args"), list):
            for i, arg in enumerate(operand["args"]):
                self._operand(arg, entity, f"{path}.args[{i}]", record, out)
