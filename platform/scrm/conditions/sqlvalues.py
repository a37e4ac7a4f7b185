"""Values in the SQL back-end, and exact arithmetic and comparison on them.

A compiled operand is one of:

* :class:`Num` — an exact number ``num / (den · 10^scale)`` with ``den`` positive (or ``None``
  for 1). SQLite stores decimals as scaled integers, so its ``num`` is that integer; PostgreSQL's
  NUMERIC is exact, so its ``num`` is the column. Quotients keep their denominator and
  comparisons cross-multiply: no division ever happens in SQL, so integer division and float
  rounding cannot flip a boundary case;
* :class:`Val` — any other scalar (text, bool, date, instant);
* :class:`SetVal` — a multi-valued field (rows of a link table);
* :class:`Known` — a value known before the query runs, bound as a parameter where it is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

import sqlalchemy as sa

from ..fields.sqltypes import ExactDecimal, UTCDateTime
from .dialect import IntDiv, Wide
from .values import number


@dataclass(frozen=True)
class Num:
    num: Any
    den: Any = None
    scale: int = 0
    nullable: bool = True
    whole: bool = True  # ``num`` is always a whole number
    # an average read by correlated subqueries: (select over its rows, sum, count), so that a
    # comparison with a constant reads the rows once (see :func:`compare_numbers`)
    rows: Any = None

    def null(self):
        tests = [self.num.is_(None)]
        if self.den is not None:
            tests.append(self.den.is_(None))
        return sa.or_(*tests) if len(tests) > 1 else tests[0]


@dataclass(frozen=True)
class Val:
    expr: Any
    kind: str
    nullable: bool = True


@dataclass(frozen=True)
class SealedVal(Val):
    """An encrypted field: ``expr`` is its blind index; known values are blinded to compare."""

    blind: Any = None


@dataclass(frozen=True)
class SetVal:
    link: sa.Table
    owner: Any  # the owning row's id


@dataclass(frozen=True)
class Known:
    value: Any
    kind: str | None


# -- numbers -----------------------------------------------------------------------------------
def as_num(v) -> Num:
    """A number operand, or a known number as literals (a fraction keeps its denominator)."""
    if isinstance(v, Num):
        return v
    if isinstance(v, Known):
        if v.value is None:
            return Num(sa.null(), None, 0, True)
        f = Fraction(number(v.value))
        den = sa.literal(f.denominator, sa.BigInteger()) if f.denominator != 1 else None
        return Num(sa.literal(f.numerator, sa.BigInteger()), den, 0, False)
    raise TypeError(f"not a number: {v!r}")


def add(a: Num, b: Num, *, subtract: bool = False) -> Num:
    top = max(a.scale, b.scale)
    left = times(a.num, b.den, 10 ** (top - a.scale))
    right = times(b.num, a.den, 10 ** (top - b.scale))
    total = left - right if subtract else left + right
    return Num(total, product(a.den, b.den), top, a.nullable or b.nullable, a.whole and b.whole)


def multiply(a: Num, b: Num) -> Num:
    return Num(
        Wide(a.num) * b.num, product(a.den, b.den), a.scale + b.scale, a.nullable or b.nullable, a.whole and b.whole
    )


def divide(a: Num, b: Num, *, positive_only: bool = False) -> Num:
    """``a / b`` as a fraction with a positive denominator; NULL where ``b`` is 0 (or, with
    ``positive_only``, not positive)."""
    top = times(a.num, b.den, 10**b.scale)
    if positive_only:
        den = product(a.den, sa.case((b.num > 0, b.num), else_=sa.null()))
        return Num(top, den, a.scale, True, a.whole and b.whole)
    sign = sa.case((b.num < 0, -1), else_=1)
    den = product(a.den, sa.func.nullif(sa.func.abs(b.num), 0))
    return Num(Wide(top) * sign, den, a.scale, True, a.whole and b.whole)


def pct_change(a: Num, b: Num) -> Num:
    """(b − a) / a, NULL unless a > 0."""
    change = add(b, a, subtract=True)
    return divide(Num(change.num, change.den, change.scale, True, change.whole), a, positive_only=True)


def round_half_away(x: Num, digits: int) -> Num:
    """Half away from zero: ``sign(N) · ⌊(2|N| + D) / 2D⌋`` for ``x · 10^digits = N / D``."""
    if x.den is None and x.whole and digits >= x.scale:
        return Num(times(x.num, None, 10 ** (digits - x.scale)), None, digits, x.nullable, True)
    if digits >= x.scale:
        n, d = times(x.num, None, 10 ** (digits - x.scale)), x.den
    else:
        n, d = x.num, product(x.den, sa.literal(10 ** (x.scale - digits), sa.BigInteger()))
    d = d if d is not None else sa.literal(1, sa.BigInteger())
    magnitude = IntDiv(Wide(sa.func.abs(n)) * 2 + d, Wide(d) * 2)
    return Num(sa.case((n < 0, -magnitude), else_=magnitude), None, digits, x.nullable, True)


def coalesce(nums: list[Num]) -> Num:
    """The first number that is not NULL, brought to a common scale."""
    top = max(n.scale for n in nums)
    with_den = any(n.den is not None for n in nums)
    num_cases, den_cases = [], []
    for n in nums:
        present = sa.false() if isinstance(n.num, sa.sql.elements.Null) else sa.not_(n.null())
        num_cases.append((present, times(n.num, None, 10 ** (top - n.scale))))
        if with_den:
            den_cases.append((present, n.den if n.den is not None else sa.literal(1, sa.BigInteger())))
    num = sa.case(*num_cases, else_=sa.null())
    den = sa.case(*den_cases, else_=sa.null()) if with_den else None
    return Num(num, den, top, all(n.nullable for n in nums), all(n.whole for n in nums))


def compare_numbers(op: str, a: Num, b) -> sa.ColumnElement[bool]:
    """``a op b``. Against a known number the column stays alone on its side (index-friendly),
    the threshold rounded the right way when the column holds whole (scaled) numbers."""
    if a.rows is not None and isinstance(b, Known) and b.value is not None:
        return _compare_over_rows(op, a, as_num(b))
    if isinstance(b, Known) and a.den is None:
        threshold = Fraction(number(b.value)) * 10**a.scale
        if threshold.denominator == 1:
            return apply(op, a.num, sa.literal(int(threshold), sa.BigInteger()))
        if not a.whole and terminates(threshold):
            return apply(op, a.num, sa.literal(as_decimal(threshold), sa.Numeric()))
        if a.whole:
            floor = threshold.numerator // threshold.denominator
            match op:
                case "eq":
                    return sa.false()
                case "gt" | "lte":
                    return apply(op, a.num, sa.literal(floor, sa.BigInteger()))
                case "gte" | "lt":
                    return apply(op, a.num, sa.literal(floor + 1, sa.BigInteger()))
    b = as_num(b)
    top = max(a.scale, b.scale)
    return apply(op, times(a.num, b.den, 10 ** (top - a.scale)), times(b.num, a.den, 10 ** (top - b.scale)))


def _compare_over_rows(op: str, a: Num, b: Num) -> sa.ColumnElement[bool]:
    """``avg(…) op b`` as one correlated subquery: the sum and the count of the same rows,
    cross-multiplied inside it, NULL without rows (as ``sum / nullif(count, 0)`` would be);
    instead of one subquery for the sum and another for the count."""
    select, total, count = a.rows
    top = max(a.scale, b.scale)
    test = apply(op, times(total, b.den, 10 ** (top - a.scale)), times(b.num, count, 10 ** (top - b.scale)))
    return select(sa.case((count == 0, sa.null()), else_=test)).scalar_subquery()


def numbers_in(a: Num, values: tuple) -> sa.ColumnElement[bool]:
    if a.den is not None:
        return sa.or_(*[compare_numbers("eq", a, Known(v, "decimal")) for v in values])
    wanted = []
    for v in values:
        t = Fraction(number(v)) * 10**a.scale
        if t.denominator == 1:
            wanted.append(int(t))
        elif not a.whole and terminates(t):
            wanted.append(as_decimal(t))
    if not wanted:
        return sa.false()
    kind = sa.BigInteger() if all(isinstance(w, int) for w in wanted) else sa.Numeric()
    return a.num.in_([sa.literal(w, kind) for w in dict.fromkeys(wanted)])


# -- helpers -----------------------------------------------------------------------------------
def unknown_when(*values) -> Any:
    """An expression true where SQL would find a comparison of these values UNKNOWN (a NULL
    operand), or None when none of them can be NULL."""
    tests = []
    for v in values:
        if isinstance(v, Num) and v.nullable:
            tests.append(v.null())
        elif isinstance(v, Val) and v.nullable:
            tests.append(v.expr.is_(None))
    if not tests:
        return None
    return sa.or_(*tests) if len(tests) > 1 else tests[0]


def apply(op: str, left, right) -> sa.ColumnElement[bool]:
    match op:
        case "eq":
            return left == right
        case "lt":
            return left < right
        case "lte":
            return left <= right
        case "gt":
            return left > right
        case "gte":
            return left >= right
    raise ValueError(op)


def times(expr, den, factor: int):
    """``expr · den · factor``, skipping the factors that are 1."""
    out = expr
    if den is not None:
        out = Wide(out) * den
    if factor != 1:
        out = Wide(out) * sa.literal(factor, sa.BigInteger())
    return out


def product(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return Wide(a) * b


def terminates(f: Fraction) -> bool:
    """Whether a fraction has a finite decimal expansion."""
    den = f.denominator
    for p in (2, 5):
        while den % p == 0:
            den //= p
    return den == 1


def as_decimal(f: Fraction) -> Decimal:
    return Decimal(f.numerator) / Decimal(f.denominator)


def bind(value: Any, kind: str | None, like=None):
    """A constant as a typed bind parameter (``like``: the column it is compared with)."""
    if like is not None and isinstance(getattr(like, "type", None), sa.Date | UTCDateTime | sa.Boolean | sa.String):
        return sa.literal(value, like.type)
    if kind == "date" or (isinstance(value, date) and not hasattr(value, "hour")):
        return sa.literal(value, sa.Date())
    if kind == "datetime" or hasattr(value, "hour"):
        return sa.literal(value, UTCDateTime())
    if kind == "bool":
        return sa.literal(value, sa.Boolean())
    return sa.literal(value, sa.String())


def typed(value, dialect: str):
    """A SQL value as one column whose result processor gives the Python value."""
    if isinstance(value, Known):
        if isinstance(value.value, int | Decimal | Fraction):
            return sa.literal(value.value if not isinstance(value.value, Fraction) else as_decimal(value.value))
        return bind(value.value, value.kind)
    if isinstance(value, Val):
        return value.expr
    if isinstance(value, SetVal):
        raise TypeError("a multi-valued field is not a column")
    if value.den is not None:
        raise TypeError("a quotient needs rounding before it is selected")
    if value.scale and dialect == "sqlite":  # a scaled integer, read back as a Decimal
        return sa.type_coerce(value.num, ExactDecimal(38, value.scale))
    if value.scale:
        return sa.cast(Wide(value.num) / sa.literal(10**value.scale, sa.BigInteger()), sa.Numeric(38, value.scale))
    if value.whole:
        return sa.type_coerce(value.num, sa.BigInteger())
    return sa.type_coerce(value.num, sa.Numeric(asdecimal=True))


def plain_sql(value, dialect: str):
    """An operand as one plain SQL value, for a plugin's SQL builder: numbers as numeric values
    (SQLite's scaled integers and quotients divided out, as REAL there), known values bound."""
    if isinstance(value, Known):
        v = value.value
        if isinstance(v, bool) or v is None or not isinstance(v, int | Decimal | Fraction):
            return sa.null() if v is None else bind(v, value.kind)
        if isinstance(v, int):
            return sa.literal(v, sa.BigInteger())
        d = as_decimal(Fraction(v)) if terminates(Fraction(v)) else Decimal(float(v))
        return sa.literal(float(d), sa.Float()) if dialect == "sqlite" else sa.literal(d, sa.Numeric())
    if isinstance(value, SetVal):
        raise TypeError("a multi-valued field is not one value")
    if isinstance(value, Val):
        return value.expr
    divisor = 10**value.scale
    if value.den is None and divisor == 1:
        return value.num
    den = sa.literal(divisor, sa.BigInteger()) if value.den is None else Wide(value.den) * divisor
    if dialect == "sqlite":
        return sa.cast(value.num, sa.Float()) / den
    return sa.cast(value.num, sa.Numeric()) / den


def from_sql(expr, kind: str):
    """A plugin's SQL expression as an operand of ``kind``."""
    if kind in ("integer", "decimal"):
        return Num(expr, None, 0, True, kind == "integer")
    return Val(expr, kind, True)


def raw_number(expr, dialect: str):
    """A number selected as it is computed: an exact int on SQLite, a Decimal on PostgreSQL."""
    return sa.type_coerce(expr, sa.BigInteger() if dialect == "sqlite" else sa.Numeric(asdecimal=True))
