"""SLA clocks: started, paused, resumed, retargeted and stopped by what happens to a record, and
stored (``scrm_sla_clock``) so that the sweep — not a timer in some process — escalates them.

Time is business time on the SLA's calendar: a target of ``PT2H`` is two working hours, ``P1D``
one working day (the length of the calendar's first weekday). ``paused_minutes`` is business
time spent in the SLA's pause states, so at any moment

    consumed = elapsed(started_at, now) − paused_minutes
    due_at   = add(started_at, target_minutes + paused_minutes)

An escalation step ``"75%"`` falls at 75 % of the target, ``"PT30M"`` 30 business minutes after
the start; ``next_check_at`` is the moment of the first step not yet taken.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from .. import durations
from ..data.evaluation import prepared
from ..db import db
from .hours import BusinessHours
from .model import Sla, Workflow
from .store import PAUSED, RUNNING, STOPPED, Clock


def naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def day_minutes(hours: BusinessHours) -> float:
    for day in range(1, 8):
        spans = hours.weekly.get(day) or ()
        if spans:
            return float(sum(end - start for start, end in spans))
    return 1440.0


def business_minutes(text: str, hours: BusinessHours) -> float:
    d = durations.parse(text)
    whole_days, rest = divmod(d.delta.total_seconds(), 86400)
    return whole_days * day_minutes(hours) + rest / 60 + d.months * 30 * day_minutes(hours)


class Clocks:
    """The clocks of one record, changed in the caller's transaction."""

    def __init__(self, workflow: Workflow, entity, snapshot, env):
        self.workflow, self.entity, self.snapshot, self.env = workflow, entity, snapshot, env

    def hours(self, clock_or_sla) -> BusinessHours:
        name = clock_or_sla.calendar if isinstance(clock_or_sla, Clock) else clock_or_sla.raw.get("calendar")
        return self.workflow.hours(name, self.env.tz)

    def case(self, sla: Sla, record: dict) -> dict | None:
        """The first target case whose condition holds on the record (None: the default)."""
        for i, case in enumerate(sla.target.get("cases", [])):
            key = ("workflow", self.workflow.name, self.workflow.version, sla.name, i)
            if prepared(self.snapshot, case["when"], self.entity, "guard", key=key).predicate(record, self.env):
                return case
        return None

    def target(self, sla: Sla, record: dict, clock: Clock | None = None) -> tuple[float, str | None]:
        """The target in business minutes and its calendar (a case ``until`` a field of the
        record falls due at that moment, paused time included)."""
        case = self.case(sla, record) or {}
        calendar = case.get("calendar", sla.raw.get("calendar"))
        hours = self.workflow.hours(calendar, self.env.tz)
        until = record.get(case["until"]["field"]) if "until" in case else None
        if isinstance(until, datetime):
            start = naive(clock.started_at if clock is not None and clock.started_at else self.env.now)
            paused = (clock.paused_minutes or 0.0) if clock is not None else 0.0
            return max(hours.elapsed(start, naive(until)) - paused, 0.0), calendar
        return business_minutes(case.get("duration") or sla.target["default"], hours), calendar

    def clocks(self, record_id: int) -> dict[str, Clock]:
        rows = db.session.scalars(
            sa.select(Clock).where(Clock.entity == self.entity.name, Clock.record_id == record_id)
        )
        return {c.sla: c for c in rows}

    # -- events -------------------------------------------------------------------------------
    def on_event(self, record: dict, *, created=False, transition=None, old_state=None) -> dict:
        """Start, pause, resume and stop clocks after a record was created or transitioned;
        returns the record fields to write (due times, elapsed minutes, breach flags)."""
        now = self.env.now
        state = record[self.workflow.state_field]
        existing = self.clocks(record["id"])
        values: dict = {}
        for sla in self.workflow.slas:
            clock = existing.get(sla.name)
            stops = transition in sla.stops_on_transitions or state in sla.stops_in_states
            if clock is None or clock.status == STOPPED:
                starts = sla.starts_on(
                    created=created, transition=transition, state=state if state != old_state else None
                )
                if starts and not stops:
                    clock = self._start(sla, record, now, clock)
                    values.update(self._record_values(sla, clock))
                continue
            if stops:
                values.update(self._stop(sla, clock, now))
            elif state in sla.pause_in and clock.status == RUNNING:
                self._pause(clock, now)
            elif state not in sla.pause_in and clock.status == PAUSED:
                self._resume(sla, clock, now)
                values.update(self._record_values(sla, clock))
        return values

    def retarget(self, record: dict) -> dict:
        """Recompute targets after a field the cases read changed (priority, customer tier)."""
        values: dict = {}
        for sla in self.workflow.slas:
            clock = self.clocks(record["id"]).get(sla.name)
            if clock is None or clock.status == STOPPED or sla.target.get("on_change", "retarget") != "retarget":
                continue
            minutes, calendar = self.target(sla, record, clock)
            if minutes != clock.target_minutes or calendar != clock.calendar:
                clock.target_minutes, clock.calendar = minutes, calendar
                self.schedule(sla, clock)
                if "until" not in (self.case(sla, record) or {}):  # the record holds that moment
                    values.update(self._record_values(sla, clock))
        return values

    # -- clock arithmetic ---------------------------------------------------------------------
    def _start(self, sla: Sla, record: dict, now: datetime, clock: Clock | None) -> Clock:
        minutes, calendar = self.target(sla, record)
        if clock is None:
            clock = Clock(entity=self.entity.name, record_id=record["id"], sla=sla.name)
            db.session.add(clock)
        clock.workflow, clock.version = self.workflow.name, self.workflow.version
        clock.status, clock.calendar = RUNNING, calendar
        clock.started_at, clock.paused_at, clock.paused_minutes = naive(now), None, 0.0
        clock.target_minutes, clock.escalation_step, clock.breached = minutes, 0, False
        clock.stopped_at = clock.elapsed_minutes = None
        if record[self.workflow.state_field] in sla.pause_in:
            clock.status, clock.paused_at = PAUSED, naive(now)
        self.schedule(sla, clock)
        db.session.flush()
        return clock

    def _pause(self, clock: Clock, now: datetime) -> None:
        clock.status, clock.paused_at, clock.next_check_at = PAUSED, naive(now), None

    def _resume(self, sla: Sla, clock: Clock, now: datetime) -> None:
        clock.paused_minutes += self.hours(clock).elapsed(clock.paused_at, naive(now))
        clock.status, clock.paused_at = RUNNING, None
        self.schedule(sla, clock)

    def _stop(self, sla: Sla, clock: Clock, now: datetime) -> dict:
        hours = self.hours(clock)
        if clock.status == PAUSED:
            clock.paused_minutes += hours.elapsed(clock.paused_at, naive(now))
        elapsed = max(0.0, hours.elapsed(clock.started_at, naive(now)) - clock.paused_minutes)
        clock.status, clock.paused_at, clock.next_check_at = STOPPED, None, None
        clock.stopped_at, clock.elapsed_minutes = naive(now), elapsed
        clock.breached = clock.breached or elapsed > clock.target_minutes
        values = {}
        if sla.raw.get("record_elapsed_to"):
            values[sla.raw["record_elapsed_to"]] = round(elapsed)
        if clock.breached and sla.raw.get("record_breach_to"):
            values[sla.raw["record_breach_to"]] = True
        return values

    def schedule(self, sla: Sla, clock: Clock) -> None:
        hours = self.hours(clock)
        clock.due_at = hours.add(clock.started_at, clock.target_minutes + clock.paused_minutes)
        steps = thresholds(sla, clock.target_minutes, hours)
        pending = steps[clock.escalation_step :] if clock.status == RUNNING else []
        clock.next_check_at = hours.add(clock.started_at, pending[0] + clock.paused_minutes) if pending else None

    def _record_values(self, sla: Sla, clock: Clock) -> dict:
        field = sla.raw.get("record_due_to")
        return {field: aware(clock.due_at)} if field else {}


def thresholds(sla: Sla, target: float, hours: BusinessHours) -> list[float]:
    """Each escalation step's moment in business minutes after the start, in declared order."""
    out = []
    for step in sla.escalations:
        at = step["at"]
        # the share first: ``target * 100 / 100`` can come out one ulp below ``target``
        out.append(target * (float(at[:-1]) / 100) if at.endswith("%") else business_minutes(at, hours))
    return out


def describe(clock: Clock, now: datetime, hours: BusinessHours) -> dict[str, Any]:
    """A clock as the ticket page shows it: consumed share, remaining business minutes."""
    end = clock.stopped_at or (clock.paused_at if clock.status == PAUSED else naive(now))
    consumed = max(0.0, hours.elapsed(clock.started_at, end) - clock.paused_minutes)
    return {
        "status": clock.status,
        "target_minutes": clock.target_minutes,
        "consumed_minutes": round(consumed, 1),
        "remaining_minutes": round(clock.target_minutes - consumed, 1),
        "share": consumed / clock.target_minutes if clock.target_minutes else 1.0,
        "due_at": aware(clock.due_at),
        "breached": clock.breached or consumed > clock.target_minutes,
        "escalation_step": clock.escalation_step,
        "elapsed_minutes": clock.elapsed_minutes,
    }
