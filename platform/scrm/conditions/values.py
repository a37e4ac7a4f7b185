"""What every operator and function means, defined once, in Python.

The Python back-end evaluates with these functions; the SQL back-end folds constant leaves with
them and its own translations are tested against them. Rules that hold everywhere:

* numbers are exact: integers stay ``int``, decimals become :class:`~fractions.Fraction` for
  arithmetic (comparisons between ``int``, ``Decimal`` and ``Fraction`` are exact in Python);
* a comparison that meets ``None`` is false; negative operators are "not" of a positive one, so
  they are true on ``None``;
* functions return ``None`` when an argument is ``None`` (``coalesce`` and ``concat`` excepted),
  and ``div`` / ``pct_change`` return ``None`` where the quotient is not defined.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from .reltime import anniversary_matches

Number = int | Fraction


class ValueProblem(ValueError):
    """A value that does not fit the kind it is used as (the message is shown to the user)."""


# -- conversion ------------------------------------------------------------------------------
def number(value: Any) -> Number | None:
    """An exact number from an int, Decimal or Fraction (``None`` stays ``None``)."""
    if value is None or isinstance(value, int | Fraction):
        return value
    if isinstance(value, Decimal):
        return Fraction(value)
    raise TypeError(f"not a number: {value!r}")


def as_decimal(value: Number, digits: int | None = None) -> Decimal:
    """A number as a Decimal; quotients that do not end are rounded (half away from zero)."""
    if isinstance(value, int):
        return Decimal(value)
    if digits is None:
        den = value.denominator
        for p in (2, 5):
            while den % p == 0:
                den //= p
        if den == 1:  # a terminating decimal: exact
            return Decimal(value.numerator) / Decimal(value.denominator)
        digits = 12
    rounded = round_half_away(value, digits)
    return (Decimal(rounded.numerator) / Decimal(rounded.denominator)).quantize(Decimal(1).scaleb(-digits))


def aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def convert(kind: str, raw: Any) -> Any:
    """A JSON literal (or parameter value) as a value of ``kind``; raises :class:`ValueProblem`."""
    if raw is None:
        return None
    if kind in ("integer", "ref"):
        if isinstance(raw, bool):
            raise ValueProblem(f"{raw!r} is not a whole number")
        if isinstance(raw, int):
            return raw
        if isinstance(raw, str | Decimal | float):
            try:
                d = Decimal(str(raw).strip())
            except InvalidOperation:
                raise ValueProblem(f"{raw!r} is not a whole number") from None
            if d.is_finite() and d == d.to_integral_value():
                return int(d)
        raise ValueProblem(f"{raw!r} is not a whole number")
    if kind == "decimal":
        if isinstance(raw, bool):
            raise ValueProblem(f"{raw!r} is not a number")
        if isinstance(raw, int):
            return Decimal(raw)
        try:
            d = Decimal(str(raw).strip().replace(",", ""))
        except InvalidOperation:
            raise ValueProblem(f"{raw!r} is not a number") from None
        if not d.is_finite() or abs(d.adjusted()) > 30:
            raise ValueProblem(f"{raw!r} is not a usable number")
        return d
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        raise ValueProblem(f"{raw!r} is not true or false")
    if kind == "date":
        if isinstance(raw, datetime):
            raise ValueProblem(f"{raw!r} is not a date")
        if isinstance(raw, date):
            return raw
        try:
            return date.fromisoformat(str(raw))
        except ValueError:
            raise ValueProblem(f"{raw!r} is not a date (YYYY-MM-DD)") from None
    if kind == "datetime":
        if isinstance(raw, datetime):
            return aware(raw)
        try:
            return aware(datetime.fromisoformat(str(raw).replace("Z", "+00:00")))
        except ValueError:
            raise ValueProblem(f"{raw!r} is not a date and time (ISO 8601)") from None
    if kind == "set":
        items = raw if isinstance(raw, list | tuple | set | frozenset) else [raw]
        if not all(isinstance(i, str) for i in items):
            raise ValueProblem("a set holds texts")
        return frozenset(items)
    if kind == "string":
        if not isinstance(raw, str):
            raise ValueProblem(f"{raw!r} is not a text")
        return raw
    raise ValueProblem(f"values of kind {kind} cannot be written literally")


def is_empty_param(value: Any) -> bool:
    """A parameter without a value: its leaves are left out (an unset dashboard filter)."""
    return value is None or value == "" or (isinstance(value, list | tuple | set | frozenset) and not value)


# -- time ------------------------------------------------------------------------------------
def local_date(value: date | datetime | None, tz: ZoneInfo) -> date | None:
    """A date stays; an instant becomes the calendar date in the tenant's time zone."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return aware(value).astimezone(tz).date()
    return value


def local_moment(value: date | datetime, tz: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        return aware(value).astimezone(tz).replace(tzinfo=None)
    return datetime(value.year, value.month, value.day)


def date_part(part: str, value: date | datetime | None, tz: ZoneInfo) -> int | None:
    if value is None:
        return None
    m = local_moment(value, tz)
    match part:
        case "year":
            return m.year
        case "quarter":
            return (m.month + 2) // 3
        case "month":
            return m.month
        case "day":
            return m.day
        case "dow":
            return m.isoweekday()  # Monday 1 … Sunday 7
        case "doy":
            return m.timetuple().tm_yday
        case "hour":
            return m.hour
        case "minute":
            return m.minute
    raise ValueProblem(f"unknown date part {part!r}")


def days_between(a, b, tz: ZoneInfo) -> int | None:
    da, db = local_date(a, tz), local_date(b, tz)
    if da is None or db is None:
        return None
    return (db - da).days


def years_between(a, b, tz: ZoneInfo) -> int | None:
    """Whole years from ``a`` to ``b`` (an age): the anniversary must have been reached."""
    da, db = local_date(a, tz), local_date(b, tz)
    if da is None or db is None:
        return None
    return db.year - da.year - (1 if (db.month, db.day) < (da.month, da.day) else 0)


# -- arithmetic ------------------------------------------------------------------------------
def round_half_away(value: Number, digits: int = 0) -> Number:
    """Round to ``digits`` decimals, halves away from zero (as bankers and PostgreSQL's numeric do)."""
    if isinstance(value, int) and digits >= 0:
        return value
    scale = 10**digits
    scaled = Fraction(value) * scale
    whole = (abs(scaled.numerator) * 2 + scaled.denominator) // (2 * scaled.denominator)
    result = Fraction(whole if scaled >= 0 else -whole, scale)
    return int(result) if digits == 0 else result


def _nums(args) -> list[Number] | None:
    out = [number(a) for a in args]
    return None if any(a is None for a in out) else out


def _div(a, b):
    n = _nums((a, b))
    if n is None or n[1] == 0:
        return None
    return Fraction(n[0]) / n[1]


def _pct_change(a, b):
    n = _nums((a, b))
    if n is None or n[0] <= 0:
        return None
    return Fraction(n[1] - n[0]) / n[0]


def _arith(fn):
    def apply(*args):
        n = _nums(args)
        return None if n is None else fn(*n)

    return apply


def _round(x, digits=0):
    n = number(x)
    return None if n is None else round_half_away(n, digits)


def _coalesce(*args):
    return next((a for a in args if a is not None), None)


def _concat(*args):
    return "".join("" if a is None else str(a) for a in args)


def _lower(s):
    return None if s is None else s.lower()


# Functions that need no time zone; the date functions take it as their last argument.
CALC = {
    "add": _arith(lambda a, b: a + b),
    "sub": _arith(lambda a, b: a - b),
    "mul": _arith(lambda a, b: a * b),
    "neg": _arith(lambda a: -a),
    "abs": _arith(abs),
    "div": _div,
    "pct_change": _pct_change,
    "round": _round,
    "coalesce": _coalesce,
    "concat": _concat,
    "lower": _lower,
}
DATE_CALC = {"days_between": days_between, "years_between": years_between}


# -- leaf tests ------------------------------------------------------------------------------
def _text(a: str, op: str, v: str, ci: bool) -> bool:
    if ci:
        a, v = a.lower(), v.lower()
    if op == "starts_with":
        return a.startswith(v)
    if op == "ends_with":
        return a.endswith(v)
    return v in a


def test(op: str, a: Any, args: tuple, *, ci: bool = True, tz: ZoneInfo | None = None) -> bool:
    """The positive operators. ``a`` is the left value, ``args`` the right-hand values."""
    match op:
        case "is_null":
            return a is None
        case "is_empty":
            return a is None or a == "" or (isinstance(a, frozenset) and not a)
        case "has_any":
            wanted = args[0]
            return wanted is not None and bool((a or frozenset()) & frozenset(wanted))
        case "has_all":
            wanted = args[0]
            return wanted is not None and frozenset(wanted) <= (a or frozenset())
        case "in_period":
            lo, hi = args
            return a is not None and (lo is None or a >= lo) and (hi is None or a < hi)
    if a is None or any(v is None for v in args):
        return False
    match op:
        case "eq":
            return a == args[0]
        case "lt":
            return a < args[0]
        case "lte":
            return a <= args[0]
        case "gt":
            return a > args[0]
        case "gte":
            return a >= args[0]
        case "between":
            return args[0] <= a <= args[1]
        case "in":
            return any(a == v for v in args[0])
        case "contains" | "starts_with" | "ends_with":
            return _text(a, op, args[0], ci)
        case "anniversary_is":
            return anniversary_matches(local_date(a, tz), local_date(args[0], tz))
    raise ValueProblem(f"unknown operator {op!r}")


def leap(year: int) -> bool:
    return calendar.isleap(year)


def show(value: Any) -> Any:
    """A value as JSON for explanations (exact decimals as strings)."""
    if isinstance(value, Fraction):
        return str(as_decimal(value))
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return aware(value).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, frozenset | set):
        return sorted(value)
    if isinstance(value, tuple):
        return [show(v) for v in value]
    return value
