"""Relative time: ``now``, ``today``, offsets and truncation, resolved in the tenant's time zone.

Grammar: ``("now" | "today") (("+" | "-") N unit)* ("/" unit)?`` with units ``m h d w M Q y``
(minutes, hours, days, weeks, months, quarters, years). ``now`` is the instant captured once per
evaluation; ``today`` is local midnight. Offsets are applied in local time; month arithmetic
clamps the day (31 January + 1M = 28/29 February). ``/unit`` always means the *start* of the unit
(``/w`` is Monday). Ranges are half-open: "yesterday" is ``[today-1d, today)``.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_TERM = re.compile(r"([+-])([0-9]{1,4})([mhdwMQy])")
_FULL = re.compile(r"^(now|today)((?:[+-][0-9]{1,4}[mhdwMQy])*)(?:/([dwMQy]))?$")
_AMOUNT = re.compile(r"^([0-9]{1,4})([mhdwMQy])$")


class RelTimeError(ValueError):
    pass


def add_months(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    if not 1 <= year <= 9999:
        raise RelTimeError("out of range")
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def shift(moment: datetime, sign: int, amount: int, unit: str) -> datetime:
    n = sign * amount
    if unit == "m":
        return moment + timedelta(minutes=n)
    if unit == "h":
        return moment + timedelta(hours=n)
    if unit == "d":
        return moment + timedelta(days=n)
    if unit == "w":
        return moment + timedelta(weeks=n)
    if unit == "M":
        return add_months(moment, n)
    if unit == "Q":
        return add_months(moment, 3 * n)
    return add_months(moment, 12 * n)


def truncate(moment: datetime, unit: str) -> datetime:
    start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "d":
        return start
    if unit == "w":
        return start - timedelta(days=start.weekday())
    if unit == "M":
        return start.replace(day=1)
    if unit == "Q":
        return start.replace(month=(start.month - 1) // 3 * 3 + 1, day=1)
    return start.replace(month=1, day=1)


def parse(expression: str) -> re.Match:
    m = _FULL.match(expression) if isinstance(expression, str) else None
    if not m:
        raise RelTimeError(f"{expression!r} is not a relative time")
    return m


def resolve_local(expression: str, now: datetime, tz: ZoneInfo) -> datetime:
    """The naive local wall-clock time an expression denotes."""
    m = parse(expression)
    local = now.astimezone(tz).replace(tzinfo=None)
    if m.group(1) == "today":
        local = local.replace(hour=0, minute=0, second=0, microsecond=0)
    try:
        for sign, amount, unit in _TERM.findall(m.group(2)):
            local = shift(local, 1 if sign == "+" else -1, int(amount), unit)
        if m.group(3):
            local = truncate(local, m.group(3))
    except (OverflowError, ValueError) as exc:
        raise RelTimeError(f"{expression!r} is out of range") from exc
    return local


def resolve_instant(expression: str, now: datetime, tz: ZoneInfo) -> datetime:
    """A relative time as an aware UTC instant (for datetime fields)."""
    local = resolve_local(expression, now, tz)
    return local.replace(tzinfo=tz).astimezone(UTC)


def resolve_date(expression: str, now: datetime, tz: ZoneInfo) -> date:
    """A relative time as a local calendar date (for date fields)."""
    return resolve_local(expression, now, tz).date()


def amount(text: str) -> tuple[int, str]:
    """``30d`` into (30, "d") for within_last / within_next."""
    m = _AMOUNT.match(text or "")
    if not m:
        raise RelTimeError(f"{text!r} is not an amount of time such as 30d")
    return int(m.group(1)), m.group(2)


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def anniversary_matches(value: date, target: date) -> bool:
    """Same month and day; a 29 February anniversary falls on 28 February in common years."""
    if (value.month, value.day) == (target.month, target.day):
        return True
    return (
        (value.month, value.day) == (2, 29)
        and (target.month, target.day) == (2, 28)
        and not calendar.isleap(target.year)
    )
