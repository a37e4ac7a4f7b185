"""The prepared form of a condition: typed nodes that both back-ends interpret.

:mod:`.prepare` builds these from the JSON tree once per definition version: names are resolved
to field definitions, literals are converted, ``use`` and ``metric`` are expanded, sugar
(``ne``, ``within_last``, ``changed`` …) is rewritten into a small core. What remains:

* groups :class:`All`, :class:`AnyOf`, :class:`Not`, and :class:`Const` (a known answer);
* :class:`Cmp` leaves with a *positive* operator — ``eq lt lte gt gte between in is_null
  is_empty contains starts_with ends_with has_any has_all in_period anniversary_is`` — every
  negative operator is a :class:`Not` around its positive partner;
* operands: :class:`Field` (a path from the row in scope, the outer record or the old values),
  :class:`Lit`, :class:`RelTime`, :class:`Ctx`, :class:`Param`, :class:`Agg`, :class:`Calc`.

Every node carries the JSON path it came from, for messages and explanations.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..meta.model import EntityDef, FieldDef, RelationDef

CONSTANT_SCOPES = ("record", "old")


@dataclass(frozen=True, eq=False)
class Operand:
    kind: str | None  # string integer decimal bool date datetime set ref json (None: unknown)
    path: str


@dataclass(frozen=True, eq=False)
class Lit(Operand):
    value: Any  # canonical: int, Decimal, str, bool, date, aware datetime, frozenset, tuple (lists)


@dataclass(frozen=True, eq=False)
class Field(Operand):
    """A field reached from a scope: ``field`` (the row tested), ``record`` (the outer row: the
    parent inside ``agg.where``, the edited record in lookup filters) or ``old`` (values before
    the change). ``steps`` are the reference fields followed, then the field itself."""

    scope: str
    steps: tuple[FieldDef, ...]
    entities: tuple[EntityDef, ...]  # the entity each step belongs to
    computed: Operand | None = None  # a computed field: its prepared expression
    digits: int | None = None  # computed decimals are rounded to the field's scale
    top: bool = True  # ``record``: the document's outer record (constant) rather than an agg parent

    @property
    def last(self) -> FieldDef:
        return self.steps[-1]

    @property
    def owner(self) -> EntityDef:
        return self.entities[-1]

    @property
    def dotted(self) -> str:
        return ".".join(f.name for f in self.steps)

    @property
    def constant(self) -> bool:
        return self.scope == "old" or (self.scope == "record" and self.top)


@dataclass(frozen=True, eq=False)
class RelTime(Operand):
    expr: str  # kind "date": a local calendar date; "datetime": an instant


@dataclass(frozen=True, eq=False)
class Ctx(Operand):
    key: str


@dataclass(frozen=True, eq=False)
class Param(Operand):
    name: str


@dataclass(frozen=True, eq=False)
class Window:
    field: Field
    start: RelTime | None
    end: RelTime | None


@dataclass(frozen=True, eq=False)
class Agg(Operand):
    fn: str
    relation: RelationDef
    parent: EntityDef
    child: EntityDef
    via: FieldDef  # the child's reference to the parent
    of: Field | None = None
    where: Node | None = None
    window: Window | None = None
    order: Field | None = None
    uses_record: bool = False  # ``where`` reads the parent row: evaluate per row (correlated)


@dataclass(frozen=True, eq=False)
class Calc(Operand):
    fn: str
    args: tuple[Operand, ...]
    digits: int = 0  # round
    part: str | None = None  # date_part
    function: Any = None  # a plugin's ConditionFunction (None: the core's own, by ``fn``)


@dataclass(frozen=True, eq=False)
class Node:
    path: str


@dataclass(frozen=True, eq=False)
class All(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True, eq=False)
class AnyOf(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True, eq=False)
class Not(Node):
    item: Node


@dataclass(frozen=True, eq=False)
class Const(Node):
    value: bool


@dataclass(frozen=True, eq=False)
class Cmp(Node):
    op: str
    left: Operand
    args: tuple[Operand | None, ...] = ()  # right-hand operands (in_period: start, end; None = open)
    ci: bool = True
    source: str = ""  # the operator as written (``ne``, ``within_last`` …), for explanations


CONSTANT_OPERANDS = (Lit, RelTime, Ctx, Param)


def is_constant(op: Operand | None) -> bool:
    """Known before any row is read: literals, relative times, context, parameters, the outer
    record and the old values (and functions of those)."""
    if op is None or isinstance(op, CONSTANT_OPERANDS):
        return True
    if isinstance(op, Field):
        return op.constant
    if isinstance(op, Calc):
        return all(is_constant(a) for a in op.args)
    return False


def operands(op: Operand | None) -> Iterator[Operand]:
    """An operand and every operand inside it in the same scope (an aggregate's own operands
    belong to its child rows and are not visited)."""
    if op is None:
        return
    yield op
    if isinstance(op, Calc):
        for a in op.args:
            yield from operands(a)
    elif isinstance(op, Field) and op.computed is not None:
        yield from operands(op.computed)


def leaves(node: Node) -> Iterator[Cmp]:
    if isinstance(node, All | AnyOf):
        for item in node.items:
            yield from leaves(item)
    elif isinstance(node, Not):
        yield from leaves(node.item)
    elif isinstance(node, Cmp):
        yield node


def params_of(node: Node) -> frozenset[str]:
    return frozenset(o.name for leaf in leaves(node) for o in _leaf_operands(leaf) if isinstance(o, Param))


def _leaf_operands(leaf: Cmp) -> Iterator[Operand]:
    for op in (leaf.left, *leaf.args):
        for inner in operands(op):
            yield inner
            if isinstance(inner, Agg) and inner.where is not None:
                for sub in leaves(inner.where):
                    yield from _leaf_operands(sub)


@dataclass
class Deps:
    """What a condition reads: for htmx triggers, rename and delete protection, re-evaluation."""

    fields: set[str] = field(default_factory=set)  # "entity.field" (every step of every path)
    paths: set[str] = field(default_factory=set)  # dotted paths read from the tested row
    relations: set[str] = field(default_factory=set)  # "entity.relation"
    params: set[str] = field(default_factory=set)
    context: set[str] = field(default_factory=set)
    old: set[str] = field(default_factory=set)
    record: set[str] = field(default_factory=set)
    uses_time: bool = False
    uses_instant: bool = False  # a relative instant (now-30d), not only local dates (today)

    def as_dict(self) -> dict:
        out = {k: sorted(v) for k, v in vars(self).items() if isinstance(v, set)}
        out["uses_time"] = self.uses_time
        return out

    def read_time(self, t: RelTime | None) -> None:
        if t is not None:
            self.uses_time = True
            self.uses_instant = self.uses_instant or t.kind != "date"


def deps(node: Node | Operand) -> Deps:
    out = Deps()
    if isinstance(node, Operand):
        _operand_deps(node, out, nested=False)
    else:
        _node_deps(node, out, nested=False)
    return out


def _node_deps(node: Node, out: Deps, nested: bool) -> None:
    for leaf in leaves(node):
        for op in (leaf.left, *leaf.args):
            if op is not None:
                _operand_deps(op, out, nested)
        if leaf.op in ("in_period", "anniversary_is"):
            for a in leaf.args:
                if isinstance(a, RelTime):
                    out.read_time(a)


def _operand_deps(op: Operand, out: Deps, nested: bool) -> None:
    for inner in operands(op):
        if isinstance(inner, Field):
            for f in inner.steps:
                out.fields.add(f"{f.entity}.{f.name}")
            if inner.scope == "field" and not nested:
                out.paths.add(inner.dotted)
            elif inner.scope == "old":
                out.old.add(inner.dotted)
            elif inner.scope == "record":
                out.record.add(inner.dotted)
        elif isinstance(inner, Param):
            out.params.add(inner.name)
        elif isinstance(inner, Ctx):
            out.context.add(inner.key)
        elif isinstance(inner, RelTime):
            out.read_time(inner)
        elif isinstance(inner, Agg):
            out.relations.add(f"{inner.parent.name}.{inner.relation.name}")
            out.fields.add(f"{inner.child.name}.{inner.via.name}")
            if not nested:
                out.paths.add(inner.relation.name)
            for own in (inner.of, inner.order, inner.window.field if inner.window else None):
                if own is not None:
                    _operand_deps(own, out, nested=True)
            if inner.window is not None:
                out.read_time(inner.window.start)
                out.read_time(inner.window.end)
            if inner.where is not None:
                _node_deps(inner.where, out, nested=True)
