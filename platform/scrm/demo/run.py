"""What every part of the demo generator shares: the seeded random source, the reference date,
id allocation, bulk writers, progress and the counts it reports."""

from __future__ import annotations

import random
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from ..db import db
from .bulk import BulkWriter
from .people import trading_days

SNAPSHOT_DAYS = 90


@dataclass
class Run:
    snap: object
    seed: int
    today: date
    days: int = SNAPSHOT_DAYS
    progress: bool = False
    rng: random.Random = field(init=False)
    now: datetime = field(init=False)
    trading: list[date] = field(init=False)
    counts: dict[str, int] = field(default_factory=dict)
    next_ids: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    def __post_init__(self):
        self.rng = random.Random(self.seed)
        # "now" for the data is the start of today in Beijing: the data then does not depend on the
        # time of day it was generated (same seed, same date, same rows) and nothing is in the future
        self.now = datetime(self.today.year, self.today.month, self.today.day, tzinfo=UTC) - timedelta(
            hours=8, seconds=1
        )
        # the last completed trading day: today's data arrives with the evening batch
        self.trading = trading_days(self.today - timedelta(days=1), self.days)

    def tables(self, entity: str):
        return self.snap.tables[entity]

    def column(self, entity: str, field: str) -> str:
        return self.snap.tables[entity].entity.field(field).column

    def writer(self, entity: str, fields: list[str]) -> BulkWriter:
        return BulkWriter(self.tables(entity), fields, self.now, self.snap)

    def allocate(self, entity: str, n: int) -> int:
        """The first of ``n`` fresh ids for ``entity``."""
        if entity not in self.next_ids:
            self.next_ids[entity] = BulkWriter.next_id(self.tables(entity))
        first = self.next_ids[entity]
        self.next_ids[entity] = first + n
        return first

    def add(self, entity: str, writer_or_count) -> None:
        n = writer_or_count if isinstance(writer_or_count, int) else writer_or_count.count
        self.counts[entity] = self.counts.get(entity, 0) + n

    def commit(self) -> None:
        db.session.commit()

    def say(self, message: str) -> None:
        if self.progress:
            print(f"  [{time.perf_counter() - self.started:7.1f} s] {message}", file=sys.stderr, flush=True)

    def moment(self, day: date, rng: random.Random | None = None, start: int = 9, end: int = 17) -> datetime:
        """A random Beijing-time moment on ``day`` between the hours, as UTC; never later than now
        for today and the past."""
        r = rng or self.rng
        seconds = r.randint(start * 3600, end * 3600 - 1)
        moment = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(seconds=seconds - 8 * 3600)
        if day <= self.today and moment > self.now:  # what already happened today happened before now
            moment = self.now - timedelta(seconds=r.randint(60, 3600))
        return moment
