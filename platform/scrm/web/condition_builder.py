"""The designer's condition builder: a condition of the condition language as a tree of rows
a business administrator edits without writing JSON.

Rows are **groups** (all / any / not of their children), **comparisons** (field / operator /
value, with inputs that fit the field: option lists, dates, numbers, relative dates such as
``today-30d``), **aggregates over a relation** (``count`` of trades in the last 30 days where
…, compared with a number) and **JSON rows** for whatever the builder has no row for
(``use`` of a named condition, a parameter, arithmetic); nothing a document says is lost by
opening it here.

The tree travels in the form as ``<prefix>:<path>:<attribute>`` fields (``c:r.1.0:f`` is the
field of the first row of the root's second child), so an editor form submits its builder
together with its other inputs, and the builder re-renders itself through htmx on every
change, with the condition's JSON and how many records match it now (a time-limited count).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from ..conditions import reltime
from ..data.records import RecordService
from ..db import TimeLimitExceeded, time_limit
from ..errors import ScrmError
from ..fields import ConversionError
from ..i18n import _, text
from ..meta.model import EntityDef
from ..runtime import runtime, snapshot
from .context import Choice
from .filter_builder import (
    LIST_SPLIT,
    LIST_VALUE,
    NO_VALUE,
    date_operator_label,
    json_value,
    operator_label,
    operators_for,
    value_widget,
)

ROOT = "r"
MODES = ("all", "any", "not")
AGG_FUNCTIONS = ("count", "exists", "sum", "avg", "min", "max")
AGG_OPERATORS = ("gt", "gte", "eq", "ne", "lt", "lte")
MAX_NODES = 60
COUNT_SECONDS = 2.0


def many():
    return field(default_factory=list)


@dataclass
class Node:
    kind: str  # group | leaf | agg | json
    path: str = ROOT
    entity: EntityDef | None = None
    mode: str = "all"
    children: list[Node] = many()
    field: str = ""
    op: str = ""
    values: list[str] = many()
    value2: str = ""
    rel: str = ""
    fn: str = "count"
    of: str = ""
    window_field: str = ""
    window_from: str = ""
    where: Node | None = None
    raw: str = ""
    error: str = ""
    # for the template
    fields: list[Choice] = many()
    operators: list[Choice] = many()
    widget: str = "text"
    choices: list[Choice] = many()
    window_choices: list[Choice] = many()

    @property
    def value(self) -> str:
        return ", ".join(self.values)

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()
        if self.where is not None:
            yield from self.where.walk()


@dataclass
class Builder:
    prefix: str
    entity: EntityDef
    root: Node
    condition: dict | None
    errors: int
    count: int | None = None
    count_note: str = ""

    @property
    def json(self) -> str:
        return json.dumps(self.condition, ensure_ascii=False, indent=2) if self.condition is not None else ""


# -- from a document ----------------------------------------------------------------------------
def from_condition(cond, entity: EntityDef, path: str = ROOT) -> Node:
    """The root group of ``cond`` (``None``: an empty group)."""
    if cond is None:
        return Node("group", path, entity)
    if isinstance(cond, dict) and len(cond) == 1 and isinstance(cond.get("all", cond.get("any")), list):
        mode = "all" if "all" in cond else "any"
        children = [_node(c, entity, f"{path}.{i}") for i, c in enumerate(cond[mode])]
        return Node("group", path, entity, mode, children)
    if isinstance(cond, dict) and set(cond) == {"not"}:
        inner = cond["not"]
        if isinstance(inner, dict) and set(inner) == {"all"} and isinstance(inner["all"], list):
            children = [_node(c, entity, f"{path}.{i}") for i, c in enumerate(inner["all"])]
        else:
            children = [_node(inner, entity, f"{path}.0")]
        return Node("group", path, entity, "not", children)
    return Node("group", path, entity, "all", [_node(cond, entity, f"{path}.0")])


def _node(cond, entity: EntityDef, path: str) -> Node:
    if isinstance(cond, dict) and (set(cond) in ({"all"}, {"any"}, {"not"})):
        return from_condition(cond, entity, path)
    leaf = _as_leaf(cond, entity, path)
    if leaf is not None:
        return leaf
    agg = _as_agg(cond, entity, path)
    if agg is not None:
        return agg
    return Node("json", path, entity, raw=json.dumps(cond, ensure_ascii=False))


def _literal(value) -> list[str] | None:
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, (str, int, float)):
        return [str(value)]
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get("date", value.get("time")), str):
        return [value.get("date") or value.get("time")]
    return None


def _as_leaf(cond, entity: EntityDef, path: str) -> Node | None:
    if (
        not isinstance(cond, dict)
        or not set(cond) <= {"field", "op", "value"}
        or not isinstance(cond.get("field"), str)
    ):
        return None
    f = entity.field(cond["field"])
    op = cond.get("op")
    if f is None or not isinstance(op, str):
        return None
    node = Node("leaf", path, entity, field=f.name, op=op)
    if op in NO_VALUE:
        return node if "value" not in cond else None
    value = cond.get("value")
    if op == "between" and isinstance(value, list) and len(value) == 2:
        low, high = _literal(value[0]), _literal(value[1])
        if low is None or high is None:
            return None
        node.values, node.value2 = low, high[0]
        return node
    if isinstance(value, list):
        parts = [_literal(v) for v in value]
        if any(p is None for p in parts):
            return None
        node.values = [p[0] for p in parts]
        return node
    if isinstance(value, str) and op in ("within_last", "within_next"):
        node.values = [value[:-1] if value.endswith("d") else value]
        return node
    literal = _literal(value)
    if literal is None:
        return None
    node.values = literal
    return node


def _as_agg(cond, entity: EntityDef, path: str) -> Node | None:
    if not isinstance(cond, dict) or set(cond) != {"expr", "op", "value"}:
        return None
    expr, value = cond["expr"], cond["value"]
    if not isinstance(expr, dict) or not set(expr) <= {"agg", "rel", "of", "where", "window"}:
        return None
    rel = entity.relation(expr.get("rel", "")) if isinstance(expr.get("rel"), str) else None
    target_name = rel.target if rel else None
    if rel is None or expr.get("agg") not in AGG_FUNCTIONS or isinstance(value, (dict, list)):
        return None
    window = expr.get("window")
    if window is not None and not (isinstance(window, dict) and set(window) <= {"field", "from", "to"}
                                   and window.get("to", "now") in ("now", "today")):  # fmt: skip
        return None
    node = Node("agg", path, entity, rel=rel.name, fn=expr["agg"], of=expr.get("of") or "", op=cond["op"],
                values=_literal(value) or [])  # fmt: skip
    if window:
        node.window_field, node.window_from = window.get("field", ""), window.get("from", "")
    node.where = _agg_where(expr.get("where"), target_name, path)
    return node


def _agg_where(cond, target_name, path: str) -> Node:
    target = snapshot().entity(target_name) if target_name else None
    return from_condition(cond, target, f"{path}.w") if target else Node("group", f"{path}.w")


# -- from the form ------------------------------------------------------------------------------
def read(form, prefix: str, entity: EntityDef) -> Node:
    """The tree the builder's inputs describe, with the add / remove the designer asked for."""
    root = _read(form, prefix, ROOT, entity) if form.get(f"{prefix}:{ROOT}:t") else Node("group", ROOT, entity)
    action = form.get(f"{prefix}:action", "")
    if action:
        _apply(root, action)
    _renumber(root, ROOT)
    return root


def _read(form, prefix: str, path: str, entity: EntityDef | None) -> Node:
    def get(attr: str) -> str:
        return (form.get(f"{prefix}:{path}:{attr}") or "").strip()

    kind = get("t")
    if kind == "group":
        mode = get("m") if get("m") in MODES else "all"
        return Node("group", path, entity, mode, [_read(form, prefix, f"{path}.{i}", entity) for i in
                                                  _child_indices(form, prefix, path)])  # fmt: skip
    if kind == "agg":
        node = Node("agg", path, entity, rel=get("rel"), fn=get("fn") or "count", of=get("of"), op=get("o"),
                    values=[get("v")] if get("v") else [], window_field=get("wf"), window_from=get("wt"))  # fmt: skip
        rel = entity.relation(node.rel) if entity else None
        target = snapshot().entity(rel.target) if rel else None
        node.where = (_read(form, prefix, f"{path}.w", target) if form.get(f"{prefix}:{path}.w:t")
                      else Node("group", f"{path}.w", target))  # fmt: skip
        return node
    if kind == "json":
        return Node("json", path, entity, raw=form.get(f"{prefix}:{path}:j") or "")
    values = [v.strip() for v in form.getlist(f"{prefix}:{path}:v") if v.strip()][:100]
    return Node("leaf", path, entity, field=get("f"), op=get("o"), values=values, value2=get("v2"))


def _child_indices(form, prefix: str, path: str) -> list[int]:
    pattern = re.compile(rf"^{re.escape(prefix)}:{re.escape(path)}\.(\d+):t$")
    return sorted({int(m.group(1)) for k in form.keys() if (m := pattern.match(k))})


def _find(node: Node, path: str) -> Node | None:
    return next((n for n in node.walk() if n.path == path), None)


def _apply(root: Node, action: str) -> None:
    verb, _sep, path = action.partition(":")
    target = _find(root, path)
    if target is None or sum(1 for _n in root.walk()) >= MAX_NODES and verb.startswith("add"):
        return
    if verb == "remove":
        parent = next((n for n in root.walk() if target in n.children), None)
        if parent is not None:
            parent.children.remove(target)
        return
    if target.kind != "group":
        return
    entity = target.entity
    if verb == "add_leaf" and entity is not None:
        first = next(iter(entity.active_fields), None)
        target.children.append(Node("leaf", "", entity, field=first.name if first else ""))
    elif verb == "add_group":
        target.children.append(Node("group", "", entity, "any"))
    elif verb == "add_agg" and entity is not None and entity.relations:
        target.children.append(Node("agg", "", entity, rel=entity.relations[0].name, op="gt", values=["0"]))
    elif verb == "add_json":
        target.children.append(Node("json", "", entity, raw='{"use": ""}'))


def _renumber(node: Node, path: str) -> None:
    node.path = path
    for i, child in enumerate(node.children):
        _renumber(child, f"{path}.{i}")
    if node.kind == "agg":
        from ..runtime import snapshot

        rel = node.entity.relation(node.rel) if node.entity else None
        target = snapshot().entity(rel.target) if rel else None
        if node.where is None or node.where.entity is not target:
            node.where = Node("group", "", target)
        _renumber(node.where, f"{path}.w")


# -- to a document ------------------------------------------------------------------------------
def build(svc: RecordService, prefix: str, entity: EntityDef, root: Node, *, count: bool = True) -> Builder:
    """The condition the tree makes (each row's problem set on the row), ready to render."""
    condition = _emit(svc, root)
    errors = sum(1 for n in root.walk() if n.error)
    builder = Builder(prefix, entity, root, condition, errors)
    if count and condition is not None and not errors:
        builder.count, builder.count_note = matches(svc, entity, condition)
    return builder


def _emit(svc: RecordService, node: Node):
    if node.kind == "group":
        _dress_group(node)
        parts = [c for c in (_emit(svc, child) for child in node.children) if c is not None]
        if not parts:
            return None
        if node.mode == "not":
            return {"not": parts[0] if len(parts) == 1 else {"all": parts}}
        return {node.mode: parts}
    if node.kind == "json":
        try:
            return json.loads(node.raw)
        except json.JSONDecodeError as exc:
            node.error = _("Not valid JSON at column {column}: {error}").format(column=exc.colno, error=exc.msg)
            return None
    if node.kind == "agg":
        return _emit_agg(svc, node)
    return _emit_leaf(svc, node)


def _dress_group(node: Node) -> None:
    labels = {"all": _("all of"), "any": _("any of"), "not": _("none of")}
    node.operators = [Choice(m, labels[m], m == node.mode) for m in MODES]


def _field_choices(entity: EntityDef, chosen: str, *, kinds=None) -> list[Choice]:
    types = _types()
    fields = [f for f in entity.active_fields if f.type != "json"]
    if kinds is not None:
        fields = [f for f in fields if types[f.type].value_kind in kinds]
    fields.sort(key=lambda f: text(f.label))
    return [Choice(f.name, f"{text(f.label)} · {f.name}", f.name == chosen) for f in fields]


def _types():
    return runtime().field_types


def _emit_leaf(svc: RecordService, node: Node):
    entity = node.entity
    f = entity.field(node.field) if entity and node.field else None
    if entity is None:
        node.error = _("Choose a relation first.")
        return None
    if f is None:
        f = next(iter(entity.active_fields), None)
        if f is None:
            return None
        node.field = f.name
    node.fields = _field_choices(entity, f.name)
    ops = operators_for(svc, f)
    if node.op not in ops:
        node.op = ops[0]
    label = date_operator_label if f.type in ("date", "datetime") else operator_label
    node.operators = [Choice(o, label(o), o == node.op) for o in ops]
    node.widget, node.choices = value_widget(svc, f, node.op, node.values)
    if node.widget == "date":
        node.widget = "reldate"  # a date, or today-30d
    op = node.op
    if op in NO_VALUE:
        return {"field": f.name, "op": op}
    try:
        if op in ("within_last", "within_next"):
            raw = node.values[0] if node.values else ""
            if not raw.isdigit() or not 1 <= int(raw) <= 3660:
                raise ConversionError(_("Give a number of days between 1 and 3660."))
            return {"field": f.name, "op": op, "value": f"{int(raw)}d"}
        if op in LIST_VALUE:
            parts = node.values if node.widget == "multi" else LIST_SPLIT.split(node.value)
            value = [_value(svc, f, p) for p in parts if p]
            if not value:
                raise ConversionError(_("Give at least one value."))
        elif op == "between":
            if not (node.values and node.value2):
                raise ConversionError(_("Give both ends of the range."))
            value = [_value(svc, f, node.values[0]), _value(svc, f, node.value2)]
        elif not node.values:
            raise ConversionError(_("Give a value."))
        elif op in ("contains", "not_contains", "starts_with", "ends_with"):
            value = node.values[0][:200]
        else:
            value = _value(svc, f, node.values[0])
    except ConversionError as exc:
        node.error = exc.message
        return None
    return {"field": f.name, "op": op, "value": value}


def _value(svc: RecordService, f, raw: str):
    """A literal, or a relative date (``today-30d``, ``now-2h``) for date and time fields."""
    kind = svc.field_types[f.type].value_kind
    if kind in ("date", "datetime") and raw[:3] in ("tod", "now"):
        try:
            reltime.parse(raw)
        except reltime.RelTimeError as exc:
            raise ConversionError(str(exc)) from None
        return {"date" if kind == "date" else "time": raw}
    return json_value(svc, f, raw)


def _emit_agg(svc: RecordService, node: Node):
    entity = node.entity
    rels = entity.relations if entity else ()
    node.fields = [Choice(r.name, f"{text(r.label)} · {r.name}", r.name == node.rel) for r in rels]
    rel = entity.relation(node.rel) if entity else None
    if rel is None:
        node.error = _("Choose a relation.")
        return None
    target = node.where.entity if node.where else None
    if node.fn not in AGG_FUNCTIONS:
        node.fn = "count"
    node.operators = [Choice(o, operator_label(o), o == node.op) for o in AGG_OPERATORS]
    if node.op not in AGG_OPERATORS:
        node.op = "gt"
    numeric = ("integer", "decimal")
    node.choices = _field_choices(target, node.of, kinds=numeric) if target else []
    dates = _field_choices(target, node.window_field, kinds=("date", "datetime")) if target else []
    node.window_choices = dates
    expr: dict = {"agg": node.fn, "rel": rel.name}
    if node.fn in ("sum", "avg", "min", "max"):
        if not node.of:
            node.error = _("Choose the field to total.")
            return None
        expr["of"] = node.of
    if node.window_field and node.window_from:
        try:
            reltime.parse(node.window_from)
        except reltime.RelTimeError as exc:
            node.error = str(exc)
            return None
        target_field = target.field(node.window_field) if target else None
        to = "today" if target_field is not None and target_field.type == "date" else "now"
        expr["window"] = {"field": node.window_field, "from": node.window_from, "to": to}
    where = _emit(svc, node.where) if node.where is not None else None
    if where is not None:
        expr["where"] = where
    if node.fn == "exists":
        return {"expr": expr, "op": "eq", "value": True}
    raw = node.values[0] if node.values else ""
    try:
        value = float(raw) if "." in raw else int(raw)
    except ValueError:
        node.error = _("Give a number to compare with.")
        return None
    return {"expr": expr, "op": node.op, "value": value}


# -- how many records match ---------------------------------------------------------------------
def matches(svc: RecordService, entity: EntityDef, condition: dict) -> tuple[int | None, str]:
    """How many of the records the designer may read match now, within :data:`COUNT_SECONDS`."""
    try:
        with time_limit(COUNT_SECONDS):
            return svc.count(entity.name, filter=condition), ""
    except TimeLimitExceeded:
        return None, _("Counting took longer than {n} seconds; the condition may be slow on real data.").format(
            n=int(COUNT_SECONDS)
        )
    except ScrmError as exc:
        return None, exc.message
