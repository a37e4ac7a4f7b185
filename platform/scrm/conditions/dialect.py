"""The few SQL constructs that differ between SQLite and PostgreSQL, as SQLAlchemy elements.

Each element renders per dialect (``@compiles``), so a compiled condition is one statement that
runs on both: local dates and times in the tenant's zone, date parts, day differences, integer
division, Unicode lower-casing and code-point ordering of texts.

On SQLite, local times come from ``scrm_localtime``, a function SCRM registers on every
connection (:mod:`scrm.db`), because SQLite knows no time zones beyond a fixed offset.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import GenericFunction
from sqlalchemy.sql.visitors import InternalTraversal


class UnicodeLower(GenericFunction):
    """``lower()`` with Unicode case folding: PostgreSQL's own; on SQLite, whose ``lower()`` folds
    ASCII only, the ``scrm_lower`` function registered on every connection."""

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
    """A text compared in code-point order: ``COLLATE "C"`` on PostgreSQL; SQLite's default
    BINARY collation already is."""

    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column):
        self.column = column
        self.type = column.type

    @property
    def _from_objects(self):
        return self.column._from_objects


@compiles(CodePointOrder)
def _code_point_default(element, compiler, **kw):
    return compiler.process(element.column, **kw)


@compiles(CodePointOrder, "postgresql")
def _code_point_pg(element, compiler, **kw):
    return f'({compiler.process(element.column, **kw)}) COLLATE "C"'


class Position(GenericFunction):
    """Where a text occurs in another (1-based, 0 when absent): instr on SQLite, strpos on PostgreSQL."""

    type = sa.Integer()
    name = "scrm_position"
    inherit_cache = True


@compiles(Position)
def _position_default(element, compiler, **kw):
    return f"instr({compiler.process(element.clauses, **kw)})"


@compiles(Position, "postgresql")
def _position_pg(element, compiler, **kw):
    return f"strpos({compiler.process(element.clauses, **kw)})"


class LocalTime(GenericFunction):
    """An instant as local wall-clock time (no zone) in the given time zone: ``timezone(tz, ts)``
    on PostgreSQL, ``scrm_localtime(ts, tz)`` on SQLite (text ``YYYY-MM-DD HH:MM:SS``)."""

    type = sa.String()
    name = "scrm_local_time"
    inherit_cache = True


@compiles(LocalTime)
def _local_time_sqlite(element, compiler, **kw):
    moment, tz = list(element.clauses)
    return f"scrm_localtime({compiler.process(moment, **kw)}, {compiler.process(tz, **kw)})"


@compiles(LocalTime, "postgresql")
def _local_time_pg(element, compiler, **kw):
    moment, tz = list(element.clauses)
    return f"timezone({compiler.process(tz, **kw)}, {compiler.process(moment, **kw)})"


class DatePart(sa.sql.expression.ColumnElement):
    """A part of a date or local time as an integer: year, quarter, month, day, dow (ISO: Monday
    1 … Sunday 7), doy, hour, minute."""

    inherit_cache = True
    type = sa.BigInteger()
    _traverse_internals = [("part", InternalTraversal.dp_string), ("value", InternalTraversal.dp_clauseelement)]

    def __init__(self, part: str, value):
        if part not in PARTS:
            raise ValueError(part)
        self.part = part
        self.value = value

    @property
    def _from_objects(self):
        return self.value._from_objects


_SQLITE_FORMATS = {"year": "%Y", "month": "%m", "day": "%d", "doy": "%j", "hour": "%H", "minute": "%M"}
PARTS = frozenset({*_SQLITE_FORMATS, "quarter", "dow"})
_PG_FIELDS = {"dow": "isodow"}


@compiles(DatePart)
def _date_part_sqlite(element, compiler, **kw):
    value = compiler.process(element.value, **kw)
    part = element.part
    if part == "quarter":
        return f"((CAST(strftime('%m', {value}) AS INTEGER) + 2) / 3)"
    if part == "dow":
        return f"(((CAST(strftime('%w', {value}) AS INTEGER) + 6) % 7) + 1)"
    return f"CAST(strftime('{_SQLITE_FORMATS[part]}', {value}) AS INTEGER)"


@compiles(DatePart, "postgresql")
def _date_part_pg(element, compiler, **kw):
    value = compiler.process(element.value, **kw)
    part = element.part
    return f"CAST(EXTRACT({_PG_FIELDS.get(part, part)} FROM {value}) AS BIGINT)"


class LocalDate(GenericFunction):
    """The calendar date of a local time (as produced by :class:`LocalTime`)."""

    type = sa.Date()
    name = "scrm_local_date"
    inherit_cache = True


@compiles(LocalDate)
def _local_date_sqlite(element, compiler, **kw):
    return f"date({compiler.process(element.clauses, **kw)})"


@compiles(LocalDate, "postgresql")
def _local_date_pg(element, compiler, **kw):
    return f"CAST({compiler.process(element.clauses, **kw)} AS DATE)"


class DaysBetween(GenericFunction):
    """Whole days from the first date to the second."""

    type = sa.BigInteger()
    name = "scrm_days_between"
    inherit_cache = True


@compiles(DaysBetween)
def _days_sqlite(element, compiler, **kw):
    a, b = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(julianday({b}) - julianday({a}) AS INTEGER)"


@compiles(DaysBetween, "postgresql")
def _days_pg(element, compiler, **kw):
    a, b = (compiler.process(c, **kw) for c in element.clauses)
    return f"(CAST({b} AS DATE) - CAST({a} AS DATE))"


class IntDiv(GenericFunction):
    """The integer quotient of two non-negative numbers (truncated)."""

    type = sa.Numeric()
    name = "scrm_int_div"
    inherit_cache = True


@compiles(IntDiv)
def _int_div_sqlite(element, compiler, **kw):
    a, b = (compiler.process(c, **kw) for c in element.clauses)
    return f"(({a}) / ({b}))"


@compiles(IntDiv, "postgresql")
def _int_div_pg(element, compiler, **kw):
    a, b = (compiler.process(c, **kw) for c in element.clauses)
    return f"div(CAST({a} AS NUMERIC), CAST({b} AS NUMERIC))"


class Wide(GenericFunction):
    """A number widened before multiplying: NUMERIC on PostgreSQL (no bigint overflow); SQLite's
    integers are 64-bit already."""

    type = sa.Numeric()
    name = "scrm_wide"
    inherit_cache = True


@compiles(Wide)
def _wide_sqlite(element, compiler, **kw):
    return f"({compiler.process(element.clauses, **kw)})"


@compiles(Wide, "postgresql")
def _wide_pg(element, compiler, **kw):
    return f"CAST({compiler.process(element.clauses, **kw)} AS NUMERIC)"


def local_date(expr, kind: str, tz: str):
    """The calendar date of a date (itself) or of an instant in the tenant's zone."""
    if kind == "date":
        return expr
    return LocalDate(LocalTime(expr, sa.literal(tz, sa.String())))


def local_moment(expr, kind: str, tz: str):
    """A value whose parts (month, hour …) are the local ones."""
    if kind == "date":
        return expr
    return LocalTime(expr, sa.literal(tz, sa.String()))


def date_part(part: str, expr, kind: str, tz: str):
    return DatePart(part, local_moment(expr, kind, tz))


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def needs_unicode_folding(text: str) -> bool:
    """True when the text has a cased letter outside ASCII (Ä, Ａ, Σ): only then does SQLite's
    ASCII-only ``lower()`` differ from Python's. Chinese characters are uncased."""
    return any(not c.isascii() and c.lower() != c.upper() for c in text)


def text_match(col, op: str, value: str, ci: bool) -> sa.ColumnElement[bool]:
    """Case-insensitive by default (``lower`` on both sides); ``ci: false`` compares exactly.
    ``%`` and ``_`` in the value match themselves."""
    if ci:
        pattern = escape_like(value.lower())
        pattern = {"contains": f"%{pattern}%", "starts_with": f"{pattern}%", "ends_with": f"%{pattern}"}[op]
        folded = UnicodeLower(col) if needs_unicode_folding(value) else sa.func.lower(col)
        return folded.like(sa.literal(pattern, sa.String()), escape="\\")
    n = len(value)
    if op == "starts_with":
        return sa.func.substr(col, 1, n) == sa.literal(value, sa.String())
    if op == "ends_with":
        return sa.and_(
            sa.func.length(col) >= n, sa.func.substr(col, sa.func.length(col) - n + 1) == sa.literal(value, sa.String())
        )
    return Position(col, sa.literal(value, sa.String())) > 0
