"""ISO 8601 durations (``PT30M``, ``P3D``, ``P1Y2M``) as definitions write them: cooldowns, task
due times, tag expiry, SLA targets. Years and months are calendar arithmetic in local time (31
January + P1M is the last day of February); the rest is exact."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from .conditions.reltime import add_months

_DURATION = re.compile(
    r"^P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$"
)


@dataclass(frozen=True)
class Duration:
    months: int
    delta: timedelta

    def after(self, moment: datetime) -> datetime:
        """``moment`` plus this duration (month arithmetic on the local wall clock of ``moment``)."""
        return add_months(moment, self.months) + self.delta if self.months else moment + self.delta

    def before(self, moment: datetime) -> datetime:
        return add_months(moment, -self.months) - self.delta if self.months else moment - self.delta


def parse(text: str) -> Duration:
    """A duration; ``ValueError`` when ``text`` is not one (the metaschemas check the pattern first)."""
    match = _DURATION.match(text or "")
    if match is None:
        raise ValueError(f"not an ISO 8601 duration: {text!r}")
    years, months, weeks, days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    delta = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
    return Duration(years * 12 + months, delta)
