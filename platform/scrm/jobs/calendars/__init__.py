"""Calendars that say which days a scheduled rule runs: the built-in ``sse_trading_days``
(weekdays less the exchange's published holidays) and those plugins add (``scrm_calendars``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Calendar:
    name: str
    weekdays: frozenset[int]  # ISO: Monday 1 … Sunday 7
    closed: frozenset[date]
    open_days: frozenset[date] = frozenset()  # weekend days that are open (make-up days)

    def is_open(self, day: date) -> bool:
        if day in self.closed:
            return False
        return day.isoweekday() in self.weekdays or day in self.open_days

    def previous_open(self, day: date, n: int = 1) -> date:
        """The ``n``-th open day before ``day``."""
        while n > 0:
            day -= timedelta(days=1)
            if self.is_open(day):
                n -= 1
        return day

    @classmethod
    def from_file(cls, path: Path) -> Calendar:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            raw["name"],
            frozenset(raw.get("weekdays", (1, 2, 3, 4, 5))),
            frozenset(date.fromisoformat(d) for d in raw.get("closed", ())),
            frozenset(date.fromisoformat(d) for d in raw.get("open", ())),
        )


def builtin_calendars() -> dict[str, Calendar]:
    return {c.name: c for c in (Calendar.from_file(p) for p in sorted(HERE.glob("*.json")))}


def calendars() -> dict[str, Calendar]:
    """Every calendar of this installation: built-ins, then plugins' (which may replace them)."""
    from ...runtime import runtime

    out: dict[str, Calendar] = {}
    for extra in reversed(runtime().plugins.call("scrm_calendars")):  # built-ins first, then plugins
        out.update(extra or {})
    return out
