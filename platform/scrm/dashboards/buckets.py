"""Time buckets: the start of the hour, day, week, month, quarter or year a moment falls in, in
the dashboard's time zone, as ``YYYY-MM-DD`` (``YYYY-MM-DD HH:00`` for hours) text computed by
the database; and the same series in Python, so empty buckets are filled and lines skip no gap."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.visitors import InternalTraversal

from ..conditions.dialect import local_moment
from ..conditions.reltime import add_months

UNITS = ("hour", "day", "week", "month", "quarter", "year")


class TimeBucket(sa.sql.expression.ColumnElement):
    """The bucket a local moment (or a date) falls in, as text."""

    inherit_cache = True
    type = sa.String()
    _traverse_internals = [
        ("unit", InternalTraversal.dp_string),
        ("sunday", InternalTraversal.dp_boolean),
        ("value", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, unit: str, value, sunday: bool = False):
        if unit not in UNITS:
            raise ValueError(unit)
        self.unit = unit
        self.value = value
        self.sunday = sunday

    @property
    def _from_objects(self):
        return self.value._from_objects


@compiles(TimeBucket)
def _bucket_sqlite(element, compiler, **kw):
    v = compiler.process(element.value, **kw)
    match element.unit:
        case "hour":
            return f"strftime('%Y-%m-%d %H:00', {v})"
        case "day":
            return f"date({v})"
        case "week":
            if element.sunday:
                return f"date({v}, '-' || strftime('%w', {v}) || ' days')"
            return f"date({v}, '-' || ((CAST(strftime('%w', {v}) AS INTEGER) + 6) % 7) || ' days')"
        case "month":
            return f"strftime('%Y-%m-01', {v})"
        case "quarter":
            return (
                f"(strftime('%Y-', {v}) || "
                f"printf('%02d', ((CAST(strftime('%m', {v}) AS INTEGER) - 1) / 3) * 3 + 1) || '-01')"
            )
    return f"strftime('%Y-01-01', {v})"


@compiles(TimeBucket, "postgresql")
def _bucket_pg(element, compiler, **kw):
    v = f"CAST({compiler.process(element.value, **kw)} AS TIMESTAMP)"
    if element.unit == "hour":
        return f"to_char(date_trunc('hour', {v}), 'YYYY-MM-DD HH24:00')"
    if element.unit == "week" and element.sunday:
        return f"to_char(date_trunc('week', {v} + INTERVAL '1 day') - INTERVAL '1 day', 'YYYY-MM-DD')"
    return f"to_char(date_trunc('{element.unit}', {v}), 'YYYY-MM-DD')"


def bucket_expr(unit: str, expr, kind: str, tz: str, sunday: bool = False):
    """The bucket of a date or datetime column, in the time zone ``tz``."""
    return TimeBucket(unit, local_moment(expr, kind, tz), sunday)


def start_of(unit: str, moment: datetime, sunday: bool = False) -> datetime:
    """The start of the bucket holding a local (naive) moment."""
    if unit == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "day":
        return day
    if unit == "week":
        back = (day.isoweekday() % 7) if sunday else day.isoweekday() - 1
        return day - timedelta(days=back)
    if unit == "month":
        return day.replace(day=1)
    if unit == "quarter":
        return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    return day.replace(month=1, day=1)


def step(unit: str, moment: datetime) -> datetime:
    """The start of the next bucket."""
    if unit == "hour":
        return moment + timedelta(hours=1)
    if unit == "day":
        return moment + timedelta(days=1)
    if unit == "week":
        return moment + timedelta(days=7)
    return add_months(moment, {"month": 1, "quarter": 3, "year": 12}[unit])


def key(unit: str, moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:00") if unit == "hour" else moment.strftime("%Y-%m-%d")


def series(unit: str, start: datetime, end: datetime, sunday: bool = False, limit: int = 1000) -> list[str]:
    """Every bucket key of the local range ``[start, end)``, at most ``limit`` of them."""
    out, moment = [], start_of(unit, start, sunday)
    while moment < end and len(out) < limit:
        out.append(key(unit, moment))
        moment = step(unit, moment)
    return out


def bounds(unit: str, bucket: str) -> tuple[datetime, datetime]:
    """The local range ``[start, next)`` a bucket key stands for."""
    start = datetime.strptime(bucket, "%Y-%m-%d %H:00" if unit == "hour" else "%Y-%m-%d")
    return start, step(unit, start)


def label(unit: str, bucket: str) -> str:
    """A short display name: ``2026-11`` for a month, ``2026 Q4`` for a quarter."""
    if unit == "month":
        return bucket[:7]
    if unit == "quarter":
        return f"{bucket[:4]} Q{(int(bucket[5:7]) - 1) // 3 + 1}"
    if unit == "year":
        return bucket[:4]
    return bucket


def as_day(value) -> date | None:
    return value.date() if isinstance(value, datetime) else value
