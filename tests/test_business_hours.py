"""Business-hours arithmetic of SLA clocks: nights, weekends, China's public holidays and make-up
working days, lunch breaks, DST, and ``add``/``elapsed`` as inverses. Moments are written in
Shanghai local time and passed as naive UTC, as the project stores them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from scrm.jobs.calendars import builtin_calendars
from scrm.workflows.hours import BusinessHours

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
CALENDARS = builtin_calendars()
HOLIDAYS = CALENDARS["cn_public_holidays"]

SERVICE = BusinessHours.from_spec(
    {"tz": "Asia/Shanghai", "weekly": {"mon-fri": [["08:30", "17:30"]]}, "holidays": "cn_public_holidays"},
    CALENDARS,
)
BRANCH = BusinessHours.from_spec(
    {
        "tz": "Asia/Shanghai",
        "weekly": {"mon-fri": [["09:00", "12:00"], ["13:00", "18:00"]], "sat": [["09:00", "12:00"]]},
        "holidays": "cn_public_holidays",
    },
    CALENDARS,
)
ROUND_THE_CLOCK = BusinessHours.from_spec({"weekly": {"mon-sun": [["00:00", "24:00"]]}}, {})


def shanghai(text: str) -> datetime:
    """``YYYY-MM-DD HH:MM`` in Shanghai as naive UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).astimezone(UTC).replace(tzinfo=None)


def in_shanghai(moment: datetime) -> str:
    return moment.replace(tzinfo=UTC).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


@pytest.mark.parametrize(
    ("start", "minutes", "expected"),
    [
        pytest.param("2025-03-14 17:20", 15, "2025-03-17 08:35", id="friday-evening-to-monday"),
        pytest.param("2025-03-11 16:30", 120, "2025-03-12 09:30", id="overnight"),
        pytest.param("2025-03-11 16:30", 60, "2025-03-11 17:30", id="ends-exactly-at-closing"),
        pytest.param("2025-03-11 17:30", 15, "2025-03-12 08:45", id="starts-exactly-at-closing"),
        pytest.param("2025-03-11 08:30", 15, "2025-03-11 08:45", id="starts-exactly-at-opening"),
        pytest.param("2025-03-11 03:00", 15, "2025-03-11 08:45", id="starts-before-opening"),
        pytest.param("2025-03-11 23:00", 15, "2025-03-12 08:45", id="starts-at-night"),
        pytest.param("2025-03-15 10:00", 15, "2025-03-17 08:45", id="starts-on-saturday"),
        pytest.param("2025-03-11 10:00", 0.5, "2025-03-11 10:00:30", id="fraction-of-a-minute"),
        pytest.param("2025-09-30 17:00", 60, "2025-10-09 09:00", id="eve-of-national-day-2025"),
        pytest.param("2025-10-03 10:00", 60, "2025-10-09 09:30", id="inside-national-day-2025"),
        pytest.param("2025-09-27 10:00", 30, "2025-09-28 09:00", id="makeup-sunday-2025-09-28"),
        pytest.param("2025-09-26 17:00", 60, "2025-09-28 09:00", id="friday-to-makeup-sunday"),
        pytest.param("2025-10-10 17:00", 60, "2025-10-11 09:00", id="makeup-saturday-2025-10-11"),
        pytest.param("2025-10-11 17:00", 60, "2025-10-13 09:00", id="makeup-saturday-to-monday"),
        pytest.param("2025-01-24 17:00", 60, "2025-01-26 09:00", id="makeup-sunday-2025-01-26"),
        pytest.param("2025-01-27 17:00", 60, "2025-02-05 09:00", id="spring-festival-2025"),
        pytest.param("2025-12-31 17:00", 60, "2026-01-04 09:00", id="new-year-2026-to-makeup-sunday"),
        pytest.param("2026-02-13 17:00", 60, "2026-02-14 09:00", id="makeup-saturday-2026-02-14"),
        pytest.param("2026-02-14 17:00", 60, "2026-02-24 09:00", id="spring-festival-2026"),
        pytest.param("2026-02-18 10:00", 60, "2026-02-24 09:30", id="inside-spring-festival-2026"),
        pytest.param("2026-02-27 17:00", 60, "2026-02-28 09:00", id="makeup-saturday-2026-02-28"),
        pytest.param("2026-02-28 17:00", 60, "2026-03-02 09:00", id="makeup-saturday-to-monday-2026"),
        pytest.param("2026-04-30 17:00", 60, "2026-05-06 09:00", id="labour-day-2026"),
        pytest.param("2025-03-10 08:30", 3 * 540, "2025-03-12 17:30", id="P3D-from-opening"),
        pytest.param("2025-03-12 10:00", 3 * 540, "2025-03-17 10:00", id="P3D-over-weekend"),
        pytest.param("2025-09-30 10:00", 3 * 540, "2025-10-11 10:00", id="P3D-over-national-day"),
        pytest.param("2025-03-03 08:30", 30 * 540, "2025-04-14 17:30", id="P30D-over-qingming"),
    ],
)
def test_add_on_the_service_calendar(start, minutes, expected):
    result = SERVICE.add(shanghai(start), minutes)
    assert in_shanghai(result) == expected[:16]
    assert result == shanghai(expected)


@pytest.mark.parametrize(
    ("start", "minutes", "expected"),
    [
        pytest.param("2025-03-11 12:30", 30, "2025-03-11 13:30", id="starts-in-lunch-break"),
        pytest.param("2025-03-11 11:50", 20, "2025-03-11 13:10", id="across-lunch-break"),
        pytest.param("2025-03-11 11:30", 30, "2025-03-11 12:00", id="ends-at-lunch"),
        pytest.param("2025-03-11 07:00", 30, "2025-03-11 09:30", id="starts-before-opening"),
        pytest.param("2025-03-14 18:00", 30, "2025-03-15 09:30", id="friday-closing-to-saturday"),
        pytest.param("2025-03-15 11:30", 60, "2025-03-17 09:30", id="saturday-to-monday"),
        pytest.param("2025-03-15 14:00", 10, "2025-03-17 09:10", id="saturday-afternoon-is-closed"),
        pytest.param("2025-03-13 10:00", 3 * 480, "2025-03-17 16:00", id="P3D-with-saturday"),
        pytest.param("2026-02-14 11:30", 60, "2026-02-14 13:30", id="makeup-saturday-has-weekday-hours"),
        pytest.param("2026-02-14 17:30", 60, "2026-02-24 09:30", id="spring-festival-2026"),
        pytest.param("2025-04-30 17:30", 60, "2025-05-06 09:30", id="labour-day-saturday-is-closed"),
        pytest.param("2025-04-26 11:30", 60, "2025-04-27 09:30", id="makeup-sunday-2025-04-27"),
    ],
)
def test_add_with_lunch_break_and_saturday_hours(start, minutes, expected):
    assert BRANCH.add(shanghai(start), minutes) == shanghai(expected)


def test_aware_start_gives_aware_utc():
    result = SERVICE.add(datetime(2025, 3, 14, 17, 20, tzinfo=SHANGHAI), 15)
    assert result == datetime(2025, 3, 17, 0, 35, tzinfo=UTC)
    assert result.tzinfo is UTC


@pytest.mark.parametrize("minutes", [0, -5])
@pytest.mark.parametrize("start", [shanghai("2025-03-15 10:00"), datetime(2025, 10, 1, 2, tzinfo=SHANGHAI)])
def test_no_minutes_leave_start_unchanged(start, minutes):
    assert SERVICE.add(start, minutes) is start


@pytest.mark.parametrize(
    ("start", "end", "minutes"),
    [
        pytest.param("2025-03-14 09:00", "2025-03-14 10:00", 60, id="within-a-day"),
        pytest.param("2025-03-14 17:00", "2025-03-17 09:00", 60, id="across-weekend"),
        pytest.param("2025-03-15 10:00", "2025-03-16 12:00", 0, id="inside-weekend"),
        pytest.param("2025-03-10 00:00", "2025-03-17 00:00", 5 * 540, id="whole-week"),
        pytest.param("2025-09-30 16:00", "2025-10-09 10:00", 180, id="across-national-day"),
        pytest.param("2025-09-27 00:00", "2025-09-29 00:00", 540, id="weekend-with-makeup-sunday"),
        pytest.param("2026-02-13 00:00", "2026-03-02 00:00", 7 * 540, id="spring-festival-2026"),
        pytest.param("2025-03-11 12:00", "2025-03-11 12:00", 0, id="same-moment"),
        pytest.param("2025-03-11 12:00", "2025-03-11 11:00", 0, id="end-before-start"),
    ],
)
def test_elapsed_on_the_service_calendar(start, end, minutes):
    assert SERVICE.elapsed(shanghai(start), shanghai(end)) == minutes


def test_elapsed_skips_lunch_and_counts_saturday_morning():
    assert BRANCH.elapsed(shanghai("2025-03-14 11:00"), shanghai("2025-03-17 10:00")) == 60 + 300 + 180 + 60


def fortnight_of_hourly_starts(first: str) -> list[datetime]:
    begin = shanghai(first)
    return [begin + timedelta(hours=h) for h in range(21 * 24)]


@pytest.mark.parametrize("minutes", [0.25, 15, 59.75, 540, 3 * 540, 30 * 540])
@pytest.mark.parametrize("hours", [SERVICE, BRANCH], ids=["service", "branch"])
@pytest.mark.parametrize("first", ["2025-09-22 00:00", "2026-02-09 00:00"], ids=["national-day", "spring-festival"])
def test_elapsed_inverts_add(first, hours, minutes):
    for start in fortnight_of_hourly_starts(first):
        end = hours.add(start, minutes)
        assert end > start
        assert hours.elapsed(start, end) == pytest.approx(minutes, abs=1e-6)
        assert hours.is_working(end - timedelta(microseconds=1)), (start, end)


@pytest.mark.parametrize("minutes", [1, 90.5, 1440, 7 * 1440, 30 * 1440])
@pytest.mark.parametrize("start", [shanghai("2025-09-30 17:00"), shanghai("2026-02-14 23:59")])
def test_round_the_clock_is_wall_clock_arithmetic(start, minutes):
    end = start + timedelta(minutes=minutes)
    assert ROUND_THE_CLOCK.add(start, minutes) == end
    assert BusinessHours.always().add(start, minutes) == end
    assert ROUND_THE_CLOCK.elapsed(start, end) == minutes
    assert ROUND_THE_CLOCK.is_working(start)


@pytest.mark.parametrize(
    ("moment", "working"),
    [
        ("2025-03-11 08:30", True),
        ("2025-03-11 08:29", False),
        ("2025-03-11 17:29", True),
        ("2025-03-11 17:30", False),
        ("2025-03-15 10:00", False),
        ("2025-10-01 10:00", False),
        ("2025-09-28 10:00", True),
        ("2026-02-28 10:00", True),
    ],
)
def test_is_working(moment, working):
    assert SERVICE.is_working(shanghai(moment)) is working


def test_intervals_are_local_and_follow_the_holiday_calendar():
    def local(day: date, hour: int, minute: int = 0) -> datetime:
        return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)

    makeup_sunday, national_day = date(2025, 9, 28), date(2025, 10, 1)
    makeup_saturday, saturday = date(2026, 2, 14), date(2025, 3, 15)
    assert SERVICE.intervals(makeup_sunday) == [(local(makeup_sunday, 8, 30), local(makeup_sunday, 17, 30))]
    assert SERVICE.intervals(makeup_sunday)[0][0].tzinfo is SHANGHAI
    assert SERVICE.intervals(national_day) == []
    assert BRANCH.intervals(makeup_saturday) == [
        (local(makeup_saturday, 9), local(makeup_saturday, 12)),
        (local(makeup_saturday, 13), local(makeup_saturday, 18)),
    ]
    assert BRANCH.intervals(saturday) == [(local(saturday, 9), local(saturday, 12))]


def test_local_hours_hold_across_a_dst_change():
    sundays = BusinessHours.from_spec({"tz": "America/New_York", "weekly": {"sun": [["00:00", "24:00"]]}}, {})
    assert sundays.elapsed(datetime(2025, 3, 8), datetime(2025, 3, 11)) == 23 * 60
    assert sundays.elapsed(datetime(2025, 11, 1), datetime(2025, 11, 4)) == 25 * 60
    office = BusinessHours.from_spec({"tz": "America/New_York", "weekly": {"mon-fri": [["09:00", "17:00"]]}}, {})
    friday_before = datetime(2025, 3, 7, 16, 30, tzinfo=NEW_YORK)
    assert office.add(friday_before, 60) == datetime(2025, 3, 10, 9, 30, tzinfo=NEW_YORK)


@pytest.mark.parametrize(
    ("key", "weekdays"),
    [
        ("wed", {3}),
        ("Mon-Fri", {1, 2, 3, 4, 5}),
        ("sat-sun", {6, 7}),
        ("fri-mon", {5, 6, 7, 1}),
        ("mon-sun", set(range(1, 8))),
    ],
)
def test_from_spec_reads_day_ranges(key, weekdays):
    hours = BusinessHours.from_spec({"weekly": {key: [["08:00", "12:00"]]}}, {})
    assert set(hours.weekly) == weekdays
    assert all(spans == ((480, 720),) for spans in hours.weekly.values())
    assert hours.tz == SHANGHAI
    assert hours.holidays is None


def test_from_spec_reads_holidays_and_midnight():
    assert SERVICE.holidays is HOLIDAYS
    assert ROUND_THE_CLOCK.weekly[7] == ((0, 1440),)


def test_from_spec_rejects_an_unknown_holiday_calendar():
    with pytest.raises(KeyError, match="unknown holiday calendar 'cn_bank_holidays'"):
        BusinessHours.from_spec(
            {"weekly": {"mon-fri": [["08:30", "17:30"]]}, "holidays": "cn_bank_holidays"}, CALENDARS
        )


@pytest.mark.parametrize(
    ("weekly", "message"),
    [
        ({"funday": [["08:30", "17:30"]]}, "unknown day 'funday'"),
        ({"mon": [["08:30", "25:00"]]}, "invalid time '25:00'"),
        ({"mon": [["08:30", "24:30"]]}, "invalid time '24:30'"),
        ({"mon": [["8h30", "17:30"]]}, "invalid time '8h30'"),
        ({"mon": [["17:30", "08:30"]]}, "must end after it starts"),
        ({"mon": [["08:30", "12:30"], ["12:00", "17:30"]]}, "overlap at 12:00"),
        ({"mon-fri": [["08:30", "17:30"]], "fri": [["08:30", "12:00"]]}, "fri more than once"),
    ],
)
def test_from_spec_rejects_malformed_hours(weekly, message):
    with pytest.raises(ValueError, match=message):
        BusinessHours.from_spec({"weekly": weekly}, {})


def test_a_calendar_without_hours_fails_instead_of_looping():
    closed = BusinessHours.from_spec({"weekly": {}}, {})
    with pytest.raises(ValueError, match="calendar has no working hours"):
        closed.add(shanghai("2025-03-11 10:00"), 1)
    assert closed.elapsed(shanghai("2025-03-11 10:00"), shanghai("2025-04-11 10:00")) == 0


def test_public_holidays_data_is_consistent():
    sse = CALENDARS["sse_trading_days"]
    assert all(day.isoweekday() in (6, 7) for day in HOLIDAYS.open_days)
    assert not HOLIDAYS.open_days & HOLIDAYS.closed
    weekday_holidays = {day for day in HOLIDAYS.closed if day.isoweekday() <= 5}
    assert weekday_holidays == {day for day in sse.closed if day.year in (2025, 2026)}
    assert len(HOLIDAYS.closed) == 61


@pytest.mark.parametrize("target", [21343.642441, 27637.74619, 28778.123456789, 21600.0])
def test_a_100_percent_escalation_falls_exactly_on_the_target(target):
    """The sweep marks a clock breached when a step reaches the target: ``100%`` must be the
    target itself, not a float one ulp below it (``target * 100 / 100``)."""
    from types import SimpleNamespace

    from scrm.workflows.sla import thresholds

    sla = SimpleNamespace(escalations=[{"at": "50%"}, {"at": "100%"}, {"at": "150%"}])
    half, full, late = thresholds(sla, target, ROUND_THE_CLOCK)
    assert full == target and half < full < late
