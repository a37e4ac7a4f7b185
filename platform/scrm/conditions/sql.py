"""Compile a condition to a SQLAlchemy Core boolean expression.

``not`` is pushed down to the leaves (De Morgan); each operator has an explicit negated form,
and null-inclusive forms add ``OR col IS NULL`` so SQL's three-valued logic never reaches the
user. Every value is a bind parameter; every column comes from metadata, never from text.
"""

from __future__ import annotations

from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles

from ..fields import FieldTypes
from ..i18n import _
from ..meta.model import EntityDef
from .ast import MAX_DEPTH, MAX_NODES, NEGATED, ConditionError, measure
from .resolve import Leaf, resolve_leaf


class EntityTables(Protocol):
    main: sa.Table
    links: dict[str, sa.Table]  # field id -> link table (multi-valued fields)


def compile_sql(
    cond: dict | None, entity: EntityDef, tables: EntityTables, field_types: FieldTypes, path: str = "$"
) -> sa.ColumnElement[bool]:
    if not cond:
        return sa.true()
    depth, nodes = measure(cond)
    if depth > MAX_DEPTH or nodes > MAX_NODES:
        raise ConditionError(
            _("The condition is too deep or too large (at most {depth} levels and {nodes} nodes).").format(
                depth=MAX_DEPTH, nodes=MAX_NODES
            ),
            path,
            "E-COND-006",
        )
    return _Compiler(entity, tables, field_types).node(cond, False, path)


class _Compiler:
    def __init__(self, entity: EntityDef, tables: EntityTables, field_types: FieldTypes):
        self.entity = entity
        self.tables = tables
        self.field_types = field_types

    def node(self, node: Any, neg: bool, path: str) -> sa.ColumnElement[bool]:
        if not isinstance(node, dict):
            raise ConditionError(_("A condition must be an object."), path, "E-SCHEMA-003")
        for key, combine, dual in (("all", sa.and_, sa.or_), ("any", sa.or_, sa.and_)):
            if key in node:
                items = node[key]
                if not isinstance(items, list) or not items:
                    raise ConditionError(
                        _("{key} needs a non-empty list of conditions.").format(key=key), path, "E-SCHEMA-006"
                    )
                parts = [self.node(c, neg, f"{path}.{key}[{i}]") for i, c in enumerate(items)]
                return (dual if neg else combine)(*parts)
        if "not" in node:
            return self.node(node["not"], not neg, f"{path}.not")
        if "use" in node:
            raise ConditionError(_("{construct} is not supported in this context yet.").format(construct="use"), path)
        return self.leaf(resolve_leaf(node, self.entity, self.field_types, path), neg)

    def leaf(self, leaf: Leaf, neg: bool) -> sa.ColumnElement[bool]:
        op = leaf.op
        guard = False
        if neg and op in NEGATED:
            # a negated comparison is true on NULL (not (x >= 5) holds when x is NULL)
            guard = op in ("lt", "lte", "gt", "gte")
            op, neg = NEGATED[op], False
        if leaf.ftype.multi:
            expr = self.set_op(leaf, op)
            return sa.not_(expr) if neg else expr
        col = self.tables.main.c[leaf.field.column]
        expr = self.scalar_op(leaf, op, col)
        if neg:  # operators without a named negation: NOT plus a NULL guard
            return sa.or_(sa.not_(expr), col.is_(None))
        return sa.or_(expr, col.is_(None)) if guard else expr

    def scalar_op(self, leaf: Leaf, op: str, col) -> sa.ColumnElement[bool]:
        v = leaf.value
        if op in ("lt", "lte", "gt", "gte", "between") and leaf.ftype.value_kind == "string":
            col = CodePointOrder(col)  # compare texts by code point, as Python does, whatever the collation
        match op:
            case "eq":
                return col == v
            case "ne":
                return sa.or_(col != v, col.is_(None))
            case "lt":
                return col < v
            case "lte":
                return col <= v
            case "gt":
                return col > v
            case "gte":
                return col >= v
            case "between":
                return col.between(v[0], v[1])
            case "in":
                return col.in_(v)
            case "not_in":
                return sa.or_(col.not_in(v), col.is_(None))
            case "is_null":
                return col.is_(None)
            case "is_not_null":
                return col.is_not(None)
            case "is_empty":
                return sa.or_(col.is_(None), col == "") if leaf.ftype.searchable else col.is_(None)
            case "is_not_empty":
                return sa.and_(col.is_not(None), col != "") if leaf.ftype.searchable else col.is_not(None)
            case "contains" | "starts_with" | "ends_with":
                return text_match(col, op, v, leaf.ci)
            case "not_contains":
                return sa.or_(sa.not_(text_match(col, "contains", v, leaf.ci)), col.is_(None))
        raise ConditionError(_("{construct} is not supported in this context yet.").format(construct=op), leaf.path)

    def set_op(self, leaf: Leaf, op: str) -> sa.ColumnElement[bool]:
        link = self.tables.links[leaf.field.id]
        owner = self.tables.main.c.id
        members = sa.select(link.c.record_id).where(link.c.record_id == owner)
        match op:
            case "has_any":
                return sa.exists(members.where(link.c.value.in_(leaf.value)))
            case "has_none":
                return sa.not_(sa.exists(members.where(link.c.value.in_(leaf.value))))
            case "has_all":
                wanted = set(leaf.value)
                if not wanted:
                    return sa.true()
                count = (
                    sa.select(sa.func.count())
                    .select_from(link)
                    .where(link.c.record_id == owner, link.c.value.in_(wanted))
                    .scalar_subquery()
                )
                return count == len(wanted)
            case "is_empty":
                return sa.not_(sa.exists(members))
            case "is_not_empty":
                return sa.exists(members)
        raise ConditionError(_("{construct} is not supported in this context yet.").format(construct=op), leaf.path)


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def text_match(col, op: str, value: str, ci: bool) -> sa.ColumnElement[bool]:
    """Case-insensitive by default (``lower`` on both sides); ``ci: false`` compares exactly."""
    if ci:
        pattern = escape_like(value.lower())
        pattern = {"contains": f"%{pattern}%", "starts_with": f"{pattern}%", "ends_with": f"%{pattern}"}[op]
        folded = UnicodeLower(col) if needs_unicode_folding(value) else sa.func.lower(col)
        return folded.like(pattern, escape="\\")
    n = len(value)
    if op == "starts_with":
        return sa.func.substr(col, 1, n) == value
    if op == "ends_with":
        return sa.and_(sa.func.length(col) >= n, sa.func.substr(col, sa.func.length(col) - n + 1) == value)
    return _Position(col, sa.literal(value, sa.String())) > 0


def needs_unicode_folding(text: str) -> bool:
    """True when the text has a cased letter outside ASCII (Ä, Ａ, Σ): only then does SQLite's
    ASCII-only ``lower()`` differ from Python's. Chinese characters are uncased."""
    return any(not c.isascii() and c.lower() != c.upper() for c in text)


class UnicodeLower(sa.sql.functions.GenericFunction):
    """``lower()`` with Unicode case folding: PostgreSQL's own; on SQLite, whose ``lower()`` folds
    ASCII only, the ``scrm_lower`` function SCRM registers on every connection (slower, so it is
    used only when the searched text has cased letters outside ASCII)."""

    type = sa.String()
    name = "scrm_unicode_lower"
    inherit_cache = True


@compiles(UnicodeLower)
def _unicode_lower_default(element, compiler, **kw):
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(UnicodeLower, "sqlite")
def _unicode_lower_sqlite(element, compiler, **kw):
    return f"scrm_lower({compiler.process(element.clauses, **kw)})"


class CodePointOrder(sa.sql.expression.ColumnElement):
    """A text column compared in code-point order: ``COLLATE "C"`` on PostgreSQL; SQLite's
    default BINARY collation already is."""

    inherit_cache = True

    def __init__(self, column):
        self.column = column
        self.type = column.type


@compiles(CodePointOrder)
def _code_point_default(element, compiler, **kw):
    return compiler.process(element.column, **kw)


@compiles(CodePointOrder, "postgresql")
def _code_point_pg(element, compiler, **kw):
    return f'{compiler.process(element.column, **kw)} COLLATE "C"'


class _Position(sa.sql.functions.GenericFunction):
    """Portable position of a text in a column: instr on SQLite, strpos on PostgreSQL."""

    type = sa.Integer()
    name = "scrm_position"
    inherit_cache = True


@compiles(_Position)
def _position_default(element, compiler, **kw):
    return f"instr({compiler.process(element.clauses, **kw)})"


@compiles(_Position, "postgresql")
def _position_pg(element, compiler, **kw):
    return f"strpos({compiler.process(element.clauses, **kw)})"
