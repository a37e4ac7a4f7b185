"""The scheduler: APScheduler 3 in exactly one process, the holder of the leader lock.

Every process that may schedule (``scrm scheduler``, and ``scrm run`` unless
``SCRM_SCHEDULER=off``) starts as a **standby** and tries the lock every
:data:`LOCK_POLL` seconds. The one that gets it becomes the **leader** and starts APScheduler
with jobs it derives from the published definitions:

* one job per enabled scheduled rule (cron in the rule's time zone, or an interval);
* ``reconcile`` — every :data:`RECONCILE_EVERY` seconds: when the definitions revision changed,
  jobs are added, replaced or removed to match (no restart after a publish);
* ``events`` — the event queue of event-triggered rules, every :data:`EVENT_POLL` seconds;
* ``workflows`` — SLA escalations and delayed transitions that are due (:mod:`scrm.workflows.sweep`),
  every :data:`SWEEP_EVERY` seconds;
* ``outbox`` — e-mail and SMS delivery with retries;
* ``import:<name>`` — each importer that pulls files (``scrm_importers`` with ``pull`` and a
  ``schedule``), on its cron in the tenant's time zone;
* ``heartbeat`` — the node table that ``/healthz`` and the admin pages read.

APScheduler keeps its jobs in memory only: the truth of what ran is in SCRM's tables. Each rule
has a **watermark** (the last occurrence that completed). On becoming leader, and on every
reconcile, a rule whose last due occurrence is after its watermark runs once for that
occurrence (missed runs coalesce into one catch-up; ``"misfire": "skip"`` turns that off), so a
scheduler that was down or a standby that took over catches up; the firing index makes the
catch-up harmless if the dead leader had already fired part of it. A day the rule's calendar
marks closed is skipped, and the watermark moves past it.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.orm import Mapped, mapped_column

from ..alerts import events
from ..alerts.engine import run_rule
from ..alerts.model import Rule, rules_of
from ..alerts.store import Watermark, utcnow
from ..db import db, write_intent
from ..notify import outbox
from .calendars import calendars
from .leader import LeaderLock, lock_for

log = logging.getLogger(__name__)
LOCK_POLL = 2.0
RECONCILE_EVERY = 15
EVENT_POLL = 3
OUTBOX_POLL = 10
SWEEP_EVERY = 20
HEARTBEAT_EVERY = 5
NODE_ALIVE = timedelta(seconds=30)
MISFIRE_GRACE = 3600  # a run delayed less than an hour still runs; later ones coalesce into a catch-up
MAX_STEPS = 200_000  # occurrences walked while looking for the last one missed
OFF, STANDBY, LEADER = "off", "standby", "leader"


class Node(db.Model):
    """A scheduling process and its state, refreshed by its heartbeat."""

    __tablename__ = "scrm_scheduler_node"

    name: Mapped[str] = mapped_column(sa.String(120), primary_key=True)  # host:pid
    state: Mapped[str] = mapped_column(sa.String(12))
    started_at: Mapped[datetime] = mapped_column(sa.DateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(sa.DateTime)
    revision: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    jobs: Mapped[int] = mapped_column(sa.Integer, default=0)


def trigger_for(rule: Rule):
    schedule = rule.schedule
    if schedule is None:
        return None
    tz = ZoneInfo(schedule.tz) if schedule.tz else None
    if schedule.cron:
        return cron_trigger(schedule.cron, tz)
    if schedule.every is not None:
        seconds = schedule.every.delta.total_seconds() + schedule.every.months * 30 * 86400
        return IntervalTrigger(seconds=max(60, int(seconds)), timezone=tz)
    return None


DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def cron_trigger(expression: str, tz=None) -> CronTrigger:
    """A five-part crontab expression as standard cron reads it. (APScheduler 3 counts the days
    of the week from Monday = 0, so ``1-5`` would mean Tuesday to Saturday: the numbers are
    turned into day names first.)"""
    minute, hour, day, month, dow = expression.split()
    dow = re.sub(r"\d+", lambda m: DAY_NAMES[int(m.group())] if int(m.group()) < 8 else m.group(), dow)
    return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=dow, timezone=tz)


def last_due(trigger, after: datetime, now: datetime, is_open=None) -> datetime | None:
    """The last occurrence of ``trigger`` in ``(after, now]`` (on a day ``is_open`` accepts)."""
    last, current, steps = None, after, 0
    while steps < MAX_STEPS:
        nxt = trigger.get_next_fire_time(current, current + timedelta(microseconds=1))
        if nxt is None or nxt > now:
            return last
        if is_open is None or is_open(nxt):
            last = nxt
        current, steps = nxt, steps + 1
    return last


class Scheduler:
    """One process's part: standby until it holds the lock, then leader until it stops."""

    def __init__(self, app, *, lock: LeaderLock | None = None):
        self.app = app
        self.lock = lock or lock_for(app.config["SQLALCHEMY_DATABASE_URI"], app.config["SCRM_INSTANCE"])
        self.name = f"{socket.gethostname()}:{os.getpid()}"[:120]
        self.state = OFF
        self.revision: int | None = None
        self.aps: BackgroundScheduler | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._jobs: dict[str, tuple] = {}  # job id -> signature
        self._busy = threading.Lock()

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Run in a background thread (``scrm run``)."""
        self.state = STANDBY
        self._thread = threading.Thread(target=self.loop, name="scrm-scheduler", daemon=True)
        self._thread.start()

    def loop(self) -> None:
        """Standby until the lock is ours, then lead; stand down if the lock is lost."""
        self.state = STANDBY
        self._beat()
        while not self._stop.is_set():
            if self.state == STANDBY and self.lock.try_acquire():
                log.info("scheduler %s is the leader", self.name)
                self._lead()
            elif self.state == LEADER and not self.lock.still_held():
                log.warning("scheduler %s lost the leader lock", self.name)
                self._stand_down()
            if self.state == STANDBY:
                self._beat()
            self._stop.wait(LOCK_POLL)
        self._stand_down()
        self.state = OFF
        self._beat()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _lead(self) -> None:
        self.state = LEADER
        self.aps = BackgroundScheduler(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE},
            timezone=self.app.config["SCRM_TIMEZONE"],
        )
        every = self.app.config.get("SCRM_SCHEDULER_RECONCILE") or RECONCILE_EVERY
        self.aps.add_job(self.reconcile, IntervalTrigger(seconds=every), id="reconcile")
        self.aps.add_job(self.work_events, IntervalTrigger(seconds=EVENT_POLL), id="events")
        sweep_every = self.app.config.get("SCRM_SCHEDULER_SWEEP") or SWEEP_EVERY
        self.aps.add_job(self.sweep, IntervalTrigger(seconds=sweep_every), id="workflows")
        self.aps.add_job(self.deliver, IntervalTrigger(seconds=OUTBOX_POLL), id="outbox")
        self.aps.add_job(self._beat, IntervalTrigger(seconds=HEARTBEAT_EVERY), id="heartbeat")
        self._add_pulls()
        self.aps.start()
        self._beat()
        self.reconcile(force=True)

    def _add_pulls(self) -> None:
        from ..data.importers import importers

        with self.app.app_context():
            pulled = importers().pulled()
        for importer in pulled:
            try:
                trigger = cron_trigger(importer.schedule, ZoneInfo(self.app.config["SCRM_TIMEZONE"]))
            except (ValueError, KeyError) as exc:
                log.warning("importer %s has a schedule that cannot be read (%s): it does not run", importer.name, exc)
                continue
            self.aps.add_job(self.pull, trigger, args=[importer.name], id=f"import:{importer.name}")

    def pull(self, name: str) -> None:
        """Import the files an importer pulls (one after the other, as the system)."""
        from ..data.importers import importers, pull_files

        with self.app.app_context():
            importer = importers().get(name)
        if importer is not None:
            pull_files(self.app, importer)

    def _stand_down(self) -> None:
        if self.aps is not None:
            self.aps.shutdown(wait=True)
            self.aps = None
        self._jobs.clear()
        self.revision = None
        self.lock.release()
        if self.state == LEADER:
            self.state = STANDBY

    # -- jobs -----------------------------------------------------------------------------
    def reconcile(self, force: bool = False) -> None:
        """Match the rule jobs to the published definitions; catch up what is overdue."""
        with self.app.app_context():
            from ..runtime import runtime

            snapshot = runtime().registry.current()
            if not force and snapshot.revision == self.revision:
                self._catch_up(snapshot)
                return
            wanted = {}
            for rule in rules_of(snapshot).values():
                trigger = trigger_for(rule) if rule.enabled else None
                if trigger is not None:
                    wanted[f"rule:{rule.name}"] = (rule, trigger, (rule.version, str(trigger)))
            for job_id in list(self._jobs):
                if job_id not in wanted:
                    self.aps.remove_job(job_id)
                    del self._jobs[job_id]
            for job_id, (rule, trigger, signature) in wanted.items():
                if self._jobs.get(job_id) != signature:
                    self.aps.add_job(
                        self.fire, trigger, args=[rule.name], id=job_id, name=rule.name, replace_existing=True
                    )
                    self._jobs[job_id] = signature
            self.revision = snapshot.revision
            self._catch_up(snapshot)
            db.session.remove()

    def _catch_up(self, snapshot) -> None:
        now = datetime.now(UTC)
        for rule in rules_of(snapshot).values():
            trigger = trigger_for(rule) if rule.enabled else None
            if trigger is None or self._stop.is_set():
                continue
            mark = db.session.get(Watermark, rule.name)
            db.session.rollback()
            if mark is None:  # a new rule starts from now: nothing to catch up
                due = last_due(trigger, now - timedelta(days=8), now)
                if due is not None:
                    self._advance(rule.name, due)
                continue
            due = last_due(trigger, mark.occurrence.replace(tzinfo=UTC), now, self._open_days(rule))
            if due is not None and rule.schedule.catch_up:
                self.fire(rule.name, due, reason="catch_up")
            elif due is not None:
                self._advance(rule.name, due)

    def _open_days(self, rule: Rule):
        calendar = calendars().get(rule.schedule.calendar) if rule.schedule.calendar else None
        if calendar is None:
            return None
        tz = ZoneInfo(rule.schedule.tz or self.app.config["SCRM_TIMEZONE"])
        return lambda moment: calendar.is_open(moment.astimezone(tz).date())

    def fire(self, name: str, occurrence: datetime | None = None, reason: str = "schedule") -> None:
        """Run one scheduled occurrence of a rule (skipped on a day its calendar marks closed)."""
        with self._busy, self.app.app_context():
            from ..runtime import runtime

            rule = rules_of(runtime().registry.current()).get(name)
            if rule is None or not rule.enabled or rule.schedule is None:
                return
            mark = db.session.get(Watermark, name)
            if reason == "catch_up" and mark is not None and occurrence is not None:
                if mark.occurrence >= occurrence.astimezone(UTC).replace(tzinfo=None):
                    return  # the scheduled run got there first
            tz = ZoneInfo(rule.schedule.tz or self.app.config["SCRM_TIMEZONE"])
            occurrence = occurrence or datetime.now(UTC).replace(second=0, microsecond=0)
            calendar = calendars().get(rule.schedule.calendar) if rule.schedule.calendar else None
            if calendar is not None and not calendar.is_open(occurrence.astimezone(tz).date()):
                self._advance(name, occurrence)
                return
            outcome = run_rule(name, reason=reason, occurrence=occurrence)
            if outcome.error is None:
                self._advance(name, occurrence)
            db.session.remove()

    def _advance(self, name: str, occurrence: datetime) -> None:
        moment = occurrence.astimezone(UTC).replace(tzinfo=None)
        with write_intent():
            mark = db.session.get(Watermark, name)
            if mark is None:
                db.session.add(Watermark(rule=name, occurrence=moment, updated_at=utcnow()))
            elif mark.occurrence < moment:
                mark.occurrence, mark.updated_at = moment, utcnow()
            db.session.commit()

    def work_events(self) -> None:
        with self._busy, self.app.app_context():
            events.process_pending()
            db.session.remove()

    def sweep(self) -> None:
        with self._busy, self.app.app_context():
            from ..workflows.sweep import sweep

            sweep()
            db.session.remove()

    def deliver(self) -> None:
        with self.app.app_context():
            outbox.deliver_due()
            db.session.remove()

    def _beat(self) -> None:
        try:
            with self.app.app_context(), write_intent():
                node = db.session.get(Node, self.name)
                now = utcnow()
                if node is None:
                    node = Node(name=self.name, state=self.state, started_at=now, heartbeat_at=now)
                    db.session.add(node)
                node.state, node.heartbeat_at = self.state, now
                node.revision, node.jobs = self.revision, len(self._jobs)
                db.session.commit()
                db.session.remove()
        except Exception as exc:  # the database is away: the lock decides, not the heartbeat
            log.warning("scheduler heartbeat failed: %s", exc)


def cluster_state() -> str:
    """``leader`` when a leader's heartbeat is fresh, ``standby`` when only standbys are alive,
    else ``off`` (what ``/healthz`` reports for processes that do not schedule themselves)."""
    since = utcnow() - NODE_ALIVE
    states = {r[0] for r in db.session.execute(sa.select(Node.state).where(Node.heartbeat_at >= since))}
    if LEADER in states:
        return LEADER
    return STANDBY if STANDBY in states else OFF
