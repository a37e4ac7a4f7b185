"""Business-hours arithmetic for the SLA clocks of ticket workflows.

Conventions:

* Weekly hours are keyed by ISO weekday (Monday 1 … Sunday 7); each working interval is a pair of
  minutes since local midnight, ``start < end``, where ``end`` may be 1440 (24:00).
* With a holiday calendar, a closed day has no hours and a make-up working day (``open_days``,
  调休上班) has the hours of the first of Monday … Friday that has any; closed wins over open.
* Naive datetimes are UTC, as the project stores them. ``add`` answers naive UTC for a naive
  start and aware UTC for an aware one.
* Intervals are built as local datetimes in the calendar's zone and measured in real elapsed time,
  so a day of 00:00–24:00 lasts 23 or 25 hours across a DST change.
* Intervals are half-open: the opening moment is working time, the closing moment is not; a target
  that is met exactly at closing time ends at closing time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ..jobs.calendars import Calendar

Span = tuple[int, int]  # minutes since local midnight: [start, end)
DayHours = tuple[Span, ...]

DEFAULT_TZ = "Asia/Shanghai"
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 1440
HORIZON_DAYS = 800
ONE_MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class BusinessHours:
    tz: ZoneInfo
    weekly: dict[int, DayHours]
    holidays: Calendar | None = None

    @classmethod
    def from_spec(cls, spec: Mapping, calendars: Mapping[str, Calendar]) -> BusinessHours:
        """The hours a workflow document declares, e.g. ``{"tz": "Asia/Shanghai", "weekly":
        {"mon-fri": [["08:30", "17:30"]]}, "holidays": "cn_public_holidays"}``."""
        weekly: dict[int, DayHours] = {}
        for days, spans in (spec.get("weekly") or {}).items():
            hours = _parse_day_hours(spans)
            for weekday in _parse_days(days):
                if weekday in weekly:
                    raise ValueError(f"weekly hours name {DAY_NAMES[weekday - 1]} more than once")
                weekly[weekday] = hours
        return cls(ZoneInfo(spec.get("tz") or DEFAULT_TZ), weekly, _find_calendar(spec.get("holidays"), calendars))

    @classmethod
    def always(cls, tz: ZoneInfo | str = DEFAULT_TZ) -> BusinessHours:
        zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
        return cls(zone, {weekday: ((0, MINUTES_PER_DAY),) for weekday in range(1, 8)})

    def hours_on(self, day: date) -> DayHours:
        if self.holidays is not None:
            if day in self.holidays.closed:
                return ()
            if day in self.holidays.open_days:
                return self._makeup_day_hours()
        return self.weekly.get(day.isoweekday(), ())

    def intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """That day's working intervals as aware datetimes in the calendar's zone."""
        return [
            (opening.astimezone(self.tz), closing.astimezone(self.tz)) for opening, closing in self._utc_intervals(day)
        ]

    def is_working(self, moment: datetime) -> bool:
        instant = _as_utc(moment)
        return any(opening <= instant < closing for opening, closing in self._utc_intervals(self._local_date(instant)))

    def add(self, start: datetime, minutes: float) -> datetime:
        """The moment ``minutes`` business minutes after ``start``; counting begins at the next opening."""
        if minutes <= 0:
            return start
        begin = _as_utc(start)
        remaining = timedelta(minutes=minutes)
        for opening, closing in self._intervals_ending_after(begin):
            counted_from = max(opening, begin)
            available = closing - counted_from
            if remaining <= available:
                return _like(start, counted_from + remaining)
            remaining -= available
        raise ValueError("calendar has no working hours")

    def elapsed(self, start: datetime, end: datetime) -> float:
        """Business minutes between two moments; 0 when ``end`` is not after ``start``."""
        begin, finish = _as_utc(start), _as_utc(end)
        if finish <= begin:
            return 0.0
        total = timedelta()
        for day in _days_between(self._local_date(begin), self._local_date(finish)):
            for opening, closing in self._utc_intervals(day):
                overlap = min(closing, finish) - max(opening, begin)
                if overlap > timedelta():
                    total += overlap
        return total / ONE_MINUTE

    def _makeup_day_hours(self) -> DayHours:
        return next((self.weekly[d] for d in range(1, 6) if self.weekly.get(d)), ())

    def _utc_intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        return [(self._local_moment(day, start), self._local_moment(day, end)) for start, end in self.hours_on(day)]

    def _local_moment(self, day: date, minute: int) -> datetime:
        days, minute_of_day = divmod(minute, MINUTES_PER_DAY)
        hour, minute_of_hour = divmod(minute_of_day, 60)
        local = datetime.combine(day + timedelta(days=days), time(hour, minute_of_hour), tzinfo=self.tz)
        return local.astimezone(UTC)

    def _local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.tz).date()

    def _intervals_ending_after(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        """UTC working intervals that close after ``moment``, in order; stops after HORIZON_DAYS days in a row without any."""
        day = self._local_date(moment)
        idle_days = 0
        while idle_days < HORIZON_DAYS:
            spans = [(opening, closing) for opening, closing in self._utc_intervals(day) if closing > moment]
            idle_days = 0 if spans else idle_days + 1
            yield from spans
            day += timedelta(days=1)


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _like(template: datetime, moment: datetime) -> datetime:
    """``moment`` (aware UTC) naive when ``template`` is naive."""
    return moment.replace(tzinfo=None) if template.tzinfo is None else moment


def _days_between(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def _find_calendar(name: str | None, calendars: Mapping[str, Calendar]) -> Calendar | None:
    if not name:
        return None
    if name not in calendars:
        known = ", ".join(sorted(calendars)) or "none"
        raise KeyError(f"unknown holiday calendar {name!r} (known: {known})")
    return calendars[name]


def _parse_days(key: str) -> list[int]:
    """ISO weekdays of ``mon``, ``mon-fri`` or a wrapping range such as ``fri-mon``."""
    first, _, last = key.strip().lower().partition("-")
    start, end = _weekday_number(first), _weekday_number(last or first)
    return [(start - 1 + offset) % 7 + 1 for offset in range((end - start) % 7 + 1)]


def _weekday_number(name: str) -> int:
    if name.strip() not in DAY_NAMES:
        raise ValueError(f"unknown day {name!r}: use {', '.join(DAY_NAMES)} or a range such as mon-fri")
    return DAY_NAMES.index(name.strip()) + 1


def _parse_day_hours(spans: list[list[str]]) -> DayHours:
    parsed = sorted((_clock_minutes(start), _clock_minutes(end)) for start, end in spans)
    for start, end in parsed:
        if not start < end:
            raise ValueError(f"working interval {_clock_text(start)}–{_clock_text(end)} must end after it starts")
    for (_, earlier_end), (later_start, _) in zip(parsed, parsed[1:], strict=False):
        if later_start < earlier_end:
            raise ValueError(f"working intervals overlap at {_clock_text(later_start)}")
    return tuple(parsed)


def _clock_minutes(text: str) -> int:
    hour, sep, minute = text.strip().partition(":")
    if sep and hour.isdigit() and minute.isdigit() and len(minute) == 2:
        total = int(hour) * 60 + int(minute)
        if int(minute) < 60 and total <= MINUTES_PER_DAY:
            return total
    raise ValueError(f"invalid time {text!r}: use HH:MM between 00:00 and 24:00")


def _clock_text(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
