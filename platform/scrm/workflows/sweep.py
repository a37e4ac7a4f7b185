"""The scheduler's workflow job: escalate SLA clocks whose next step is due and fire delayed
transitions whose time has come — found by indexed queries on ``(status, next_check_at)`` and
``(status, due_at)``, each handled in its own transaction.

Exactly once: an escalation step's actions (inbox and outbox rows, field values) commit together
with the clock's new step number, so a crash before the commit redoes the step and one after it
never repeats it; on PostgreSQL ``FOR UPDATE SKIP LOCKED`` keeps two sweepers off the same row.
Nothing is missed: a scheduler that was down finds every overdue row on its first sweep and
takes each step it skipped, in order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa

from ..data.evaluation import environment
from ..db import db, dialect_name, write_intent
from ..i18n import text
from .actions import Actions
from .engine import engine_writes, fire, system_service
from .model import workflow_at
from .sla import Clocks, naive, thresholds
from .store import FIRED, PENDING, RUNNING, Clock, Timer

log = logging.getLogger(__name__)
BATCH = 500


@dataclass
class Swept:
    escalations: int = 0
    transitions: int = 0
    errors: int = 0


def sweep(now=None, limit: int = BATCH) -> Swept:
    """One pass: every due escalation step and delayed transition (at most ``limit`` of each)."""
    from ..runtime import runtime

    snapshot = runtime().registry.current()
    env = environment(snapshot, now=now)
    out = Swept()
    for clock_id in _due(
        Clock.id, Clock.status == RUNNING, Clock.next_check_at <= naive(env.now), Clock.next_check_at, limit
    ):
        _one(lambda cid=clock_id: _escalate(snapshot, env, cid), out, "escalations")
    for timer_id in _due(Timer.id, Timer.status == PENDING, Timer.due_at <= naive(env.now), Timer.due_at, limit):
        _one(lambda tid=timer_id: _fire_timer(snapshot, env, tid), out, "transitions")
    return out


def _due(column, status, due, order, limit: int) -> list[int]:
    ids = list(db.session.scalars(sa.select(column).where(status, due).order_by(order).limit(limit)))
    db.session.rollback()
    return ids


def _one(work, out: Swept, counter: str) -> None:
    try:
        with write_intent():
            done = work()
            db.session.commit()
        if done:
            setattr(out, counter, getattr(out, counter) + done)
    except Exception:
        db.session.rollback()
        out.errors += 1
        log.exception("workflow sweep: a step failed; it is retried on the next pass")


def _locked(model, row_id: int):
    q = sa.select(model).where(model.id == row_id)
    if dialect_name() == "postgresql":
        q = q.with_for_update(skip_locked=True)
    return db.session.execute(q.execution_options(populate_existing=True)).scalar_one_or_none()


def _escalate(snapshot, env, clock_id: int) -> int:
    """Take every escalation step of one clock that is due now; the number taken."""
    clock = _locked(Clock, clock_id)
    if clock is None or clock.status != RUNNING or clock.next_check_at is None or clock.next_check_at > naive(env.now):
        return 0  # another sweeper has it, or it moved on
    wf = workflow_at(snapshot, clock.workflow, clock.version)
    sla = next((s for s in wf.slas if s.name == clock.sla), None) if wf else None
    entity = snapshot.entity(clock.entity)
    if sla is None or entity is None:
        clock.next_check_at = None
        return 0
    svc = system_service(snapshot)
    record = svc.load(entity.name, clock.record_id)
    clocks = Clocks(wf, entity, snapshot, env)
    hours = clocks.hours(clock)
    steps = thresholds(sla, clock.target_minutes, hours)
    taken, values = 0, {}
    while clock.escalation_step < len(steps):
        at = hours.add(clock.started_at, steps[clock.escalation_step] + clock.paused_minutes)
        if at > naive(env.now):
            break
        step = sla.escalations[clock.escalation_step]
        if steps[clock.escalation_step] >= clock.target_minutes:
            clock.breached = True
            if sla.raw.get("record_breach_to"):
                values[sla.raw["record_breach_to"]] = True
        context = {
            "what": f"{text(sla.label)} {step['at']}",
            "severity": "high",
            "sla": {"name": sla.name, "at": step["at"]},
        }
        actions = Actions(wf, entity, svc, env, source=f"sla:{sla.name}@{step['at']}")
        merged = {**record, **values}
        values.update(actions.local(step["actions"], merged))
        values.update(actions.external(step["actions"], {**merged, **values}, context))
        clock.escalation_step += 1
        taken += 1
    clocks.schedule(sla, clock)
    values = {k: v for k, v in values.items() if record.get(k) != v}
    if values:
        with engine_writes():
            svc.write_values(entity, record, values)
    return taken


def _fire_timer(snapshot, env, timer_id: int) -> int:
    timer = _locked(Timer, timer_id)
    if timer is None or timer.status != PENDING:
        return 0
    timer.status = FIRED
    applied = fire(snapshot, timer.entity, timer.record_id, timer.transition, actor="timer")
    return 1 if applied else 0
