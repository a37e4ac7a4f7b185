"""Running a rule: one statement finds the matching records with their metric values; firings are
inserted under the unique (rule, record, period key) index, so only records that have not fired
for this period come back; their actions are applied in the same transaction, a batch at a time.
A tagging rule then ends the tags of the records that no longer qualify.

A dry run evaluates the same statement and reports what would fire and why, writing nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app

from ..conditions.ir import deps
from ..conditions.sql import Scope, SqlCompiler
from ..data.evaluation import environment
from ..data.records import RecordService
from ..db import TimeLimitExceeded, db, dialect_name, run, within, write_intent
from ..errors import NotFound
from ..i18n import _
from . import actions
from .action_types import action_types
from .compile import PreparedRule, link_entity, matches, prepare, statement
from .model import Rule, rules_of
from .store import DONE, FAILED, RUNNING, Firing, Run, firing_insert, utcnow

log = logging.getLogger(__name__)
BATCH = 500
SAMPLE = 20


@dataclass
class Outcome:
    rule: str
    dry_run: bool
    matched: int = 0
    fired: int = 0
    untagged: int = 0
    statement_ms: float = 0.0
    duration_ms: float = 0.0
    run_id: int | None = None
    status: str = DONE
    error: str | None = None
    applied: actions.Applied = field(default_factory=actions.Applied)
    sample: list[dict] = field(default_factory=list)  # dry run: what would fire, and why
    actions: list[dict] = field(default_factory=list)  # dry run: what each action would do

    def as_dict(self) -> dict:
        out = {
            "rule": self.rule,
            "dry_run": self.dry_run,
            "matched": self.matched,
            "fired": self.fired,
            "untagged": self.untagged,
            "status": self.status,
            "statement_ms": round(self.statement_ms, 1),
            "duration_ms": round(self.duration_ms, 1),
            "run_id": self.run_id,
        }
        if self.error:
            out["error"] = self.error
        if not self.dry_run:
            out["tasks"], out["tagged"], out["updated"], out["messages"] = (
                self.applied.tasks,
                self.applied.tagged,
                self.applied.updated,
                self.applied.messages,
            )
            if self.applied.failed:
                out["failed_actions"] = self.applied.failed
        else:
            out["sample"], out["actions"] = self.sample, self.actions
        return out


def find_rule(snapshot, name: str) -> Rule:
    rule = rules_of(snapshot).get(name)
    if rule is None:
        raise NotFound(_("There is no alert rule {name!r}.").format(name=name))
    return rule


def run_rule(
    name: str,
    *,
    reason: str = "manual",
    now: datetime | None = None,
    occurrence: datetime | None = None,
    dry_run: bool = False,
    ids: list[int] | None = None,
    params: dict[str, Any] | None = None,
    old: dict[str, Any] | None = None,
    rule: Rule | None = None,
) -> Outcome:
    """Evaluate rule ``name`` now (``occurrence``: the scheduled time it stands for, which the
    period key uses); ``ids`` limits it to some records (events). Errors are recorded in the run
    history and returned, not raised. ``rule``: evaluate this (unpublished) rule instead of the
    published one named ``name`` — the designer's dry run of a draft."""
    from ..runtime import runtime  # (the runtime builds on the alert layer)

    snapshot = runtime().registry.current()
    rule = rule or find_rule(snapshot, name)
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    outcome = Outcome(rule.name, dry_run)
    prepared = prepare(snapshot, rule)
    env = environment(snapshot, now=now, params={**rule.params, **(params or {})}, old=old)
    moment = (occurrence or now).astimezone(env.tz)
    service = RecordService(snapshot, None, system=True)
    if not dry_run:
        outcome.run_id = _start(rule, reason, moment)
    try:
        with write_intent():
            _evaluate(snapshot, prepared, env, moment, service, outcome, ids)
    except Exception as exc:  # recorded for admins; the scheduler goes on with other rules
        db.session.rollback()
        log.exception("rule %s failed", rule.name)
        outcome.status, outcome.error = FAILED, _describe(exc)[:2000]
    outcome.duration_ms = (time.perf_counter() - started) * 1000
    if outcome.run_id is not None:
        _finish(outcome)
    return outcome


class RuleTimedOut(Exception):
    """The evaluating statements ran past ``SCRM_RULE_TIMEOUT``."""


def _read(prepared: PreparedRule, snapshot, env, moment, outcome: Outcome, stmt, holding) -> tuple[list, list]:
    """The records the condition matches, and for those due to fire their metrics and values."""
    rule = prepared.rule
    clock = time.perf_counter()
    rows = run(stmt).all()
    outcome.statement_ms = (time.perf_counter() - clock) * 1000
    outcome.matched = len(rows)
    since = rule.cooldown.before(env.now).replace(tzinfo=None) if rule.cooldown else None
    due = sorted(
        row.id
        for row in rows
        if not (since is not None and row.last_fired is not None and row.last_fired >= since)
        and not (holding and row.held)
    )
    paths = list(prepared.paths)
    candidates = []
    for start in range(0, len(due), BATCH):
        details = run(statement(prepared, snapshot, env, dialect_name(), ids=due[start : start + BATCH])).all()
        for row in sorted(details, key=lambda r: r.id):
            mapping = row._mapping
            metrics = {name: mapping[f"m_{name}"] for name in prepared.metrics}
            values = {path: mapping[f"p_{i}"] for i, path in enumerate(paths)}
            values.update({f"when:{i}": bool(mapping[f"w_{i}"]) for i in prepared.whens})
            candidates.append((row.id, metrics, values, rule.period_key(moment, values, dict(env.params))))
    return rows, candidates


def _evaluate(snapshot, prepared: PreparedRule, env, moment, service, outcome: Outcome, ids) -> None:
    rule = prepared.rule
    held = rule.held_tags()
    tags = actions.tag_ids(snapshot, service, held, create=False) if held else {}
    holding = list(tags.values()) if held and len(tags) == len(set(held)) else None
    stmt = matches(prepared, snapshot, env, dialect_name(), ids=ids, tag_ids=holding)
    limit = current_app.config.get("SCRM_RULE_TIMEOUT", 0)
    try:
        with within(limit):
            rows, candidates = _read(prepared, snapshot, env, moment, outcome, stmt, holding)
    except TimeLimitExceeded:
        raise RuleTimedOut(
            _(
                "The rule's statements ran longer than {seconds} s and were stopped (SCRM_RULE_TIMEOUT); nothing was "
                "applied."
            ).format(seconds=limit)
        ) from None
    if outcome.dry_run:
        _dry(snapshot, prepared, env, candidates, outcome)
        return
    runner = actions.ActionRunner(snapshot, prepared, env, current_app.config["SCRM_LOCALE"], service)
    insert = firing_insert(dialect_name())
    fired_at = env.now.astimezone(UTC).replace(tzinfo=None)
    for start in range(0, len(candidates), BATCH):
        chunk = candidates[start : start + BATCH]
        firings = [
            {
                "rule": rule.name,
                "version": rule.version,
                "entity": rule.entity,
                "record_id": record_id,
                "period_key": key,
                "severity": rule.severity,
                "fired_at": fired_at,
                "run_id": outcome.run_id,
                "metrics": actions.metrics_json(metrics),
            }
            for record_id, metrics, _values, key in chunk
        ]
        new = {r[0]: r[1] for r in db.session.execute(insert, firings)}
        batch = [
            actions.Fired(record_id, new[record_id], metrics, values, key)
            for record_id, metrics, values, key in chunk
            if record_id in new
        ]
        if batch:
            runner.apply(batch)
        db.session.commit()
        outcome.fired += len(batch)
    if holding:
        outcome.untagged = _release(snapshot, prepared, env, tags, {r.id for r in rows}, ids)
        db.session.commit()
    outcome.applied = runner.applied


def _release(snapshot, prepared: PreparedRule, env, tags: dict[str, int], matched: set[int], ids) -> int:
    """End the rule's tags on records that no longer qualify: those ``untag`` holds for, or
    without ``untag`` those the condition no longer matches."""
    rule, entity = prepared.rule, prepared.entity
    link = link_entity(snapshot, entity)
    t = snapshot.tables[link.name].main
    record_col = t.c[link.field(entity.name).column]
    where = [
        t.c[link.field("tag").column].in_(list(tags.values())),
        t.c[link.field("removed_at").column].is_(None),
        t.c[link.field("source").column] == "rule",
        t.c.deleted_at.is_(None),
    ]
    if ids is not None:
        where.append(record_col.in_(ids))
    holders = {r[0] for r in run(sa.select(record_col).where(*where).distinct())}
    if prepared.untag is not None:
        main = snapshot.tables[entity.name].main
        # the holders are few: aggregates as correlated subqueries, read for them alone
        compiler = SqlCompiler(snapshot.tables, env, dialect_name(), batch=False)
        scope = Scope(entity, main, [])
        clause = compiler.condition(prepared.untag, scope)
        source = main
        for target, on in scope.joins:
            source = source.outerjoin(target, on)
        stmt = sa.select(main.c.id).select_from(source).where(main.c.id.in_(sa.select(record_col).where(*where)))
        leaving = {r[0] for r in run(stmt.where(clause) if clause is not None else stmt)}
    else:
        leaving = holders - matched
    if not leaving:
        return 0
    return actions.untag(snapshot, entity, sorted(leaving), tags, env.now, rule.name, source="rule")


def _dry(snapshot, prepared: PreparedRule, env, candidates, outcome: Outcome) -> None:
    """Which candidates have not fired for their period yet, with the metric values and the
    record title that explain each."""
    rule = prepared.rule
    f = Firing.__table__
    fired: set[tuple[int, str]] = set()
    ids = [c[0] for c in candidates]
    for start in range(0, len(ids), 1000):
        part = ids[start : start + 1000]
        fired |= {
            (r[0], r[1])
            for r in run(sa.select(f.c.record_id, f.c.period_key).where(f.c.rule == rule.name, f.c.record_id.in_(part)))
        }
    fresh = [c for c in candidates if (c[0], c[3]) not in fired]
    outcome.fired = len(fresh)
    types = action_types()  # described, never run: a dry run writes nothing
    outcome.actions = [{"do": a.get("do"), "description": types.describe(a)} for a in rule.actions]
    reader = RecordService(snapshot, None, system=True)
    titles = reader.titles(rule.entity, [c[0] for c in fresh[:SAMPLE]])
    shown = _explaining_fields(prepared)
    outcome.sample = [
        {
            "id": record_id,
            "title": titles.get(record_id),
            "period_key": key,
            "metrics": actions._json(metrics),
            "values": _shown_values(reader, rule.entity, record_id, shown),
        }
        for record_id, metrics, _values, key in fresh[:SAMPLE]
    ]


def _explaining_fields(prepared: PreparedRule) -> list[str]:
    """The record's own fields the rule's condition reads (not personal ones): with the metric
    values they explain why a record matches."""
    entity = prepared.entity
    names = []
    for path in sorted(deps(prepared.node).paths):
        f = entity.field(path)
        if f is not None and not f.encrypted and not f.get("pii"):
            names.append(f.name)
    return names[:8]


def _shown_values(reader: RecordService, entity: str, record_id: int, names: list[str]) -> dict[str, Any]:
    if not names:
        return {}
    record = reader.get(entity, record_id)
    return {n: record.get(n) for n in names}


def _describe(exc: Exception) -> str:
    """An error as one line for the run history: a validation failure names its fields."""
    details = getattr(exc, "details", None)
    if details:
        return f"{exc}: " + "; ".join(f"{d.path}: {d.message}" for d in details)
    return f"{type(exc).__name__}: {exc}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _close_abandoned(rule: Rule) -> None:
    """Runs of the rule left "running" by a process of this host that is gone (killed, crashed)
    are recorded as failed; what they committed stays, and this run fires the rest once."""
    here = socket.gethostname()
    dead = []
    for run_id, host in db.session.execute(
        sa.select(Run.id, Run.host).where(Run.rule == rule.name, Run.status == RUNNING)
    ):
        name, _sep, pid = (host or "").rpartition(":")
        if name == here and pid.isdigit() and not _alive(int(pid)):
            dead.append(run_id)
    if dead:
        db.session.execute(
            sa.update(Run)
            .where(Run.id.in_(dead))
            .values(status=FAILED, finished_at=utcnow(),
                    error=_("Interrupted: the process running it stopped before the end; the next run fired the rest."))
        )  # fmt: skip


def _start(rule: Rule, reason: str, moment: datetime) -> int:
    with write_intent():
        _close_abandoned(rule)
        entry = Run(
            rule=rule.name,
            version=rule.version,
            reason=reason,
            period=moment.strftime("%Y-%m-%dT%H:%M"),
            started_at=utcnow(),
            status="running",
            host=f"{socket.gethostname()}:{os.getpid()}"[:120],
        )
        db.session.add(entry)
        db.session.commit()
        return entry.id


def _finish(outcome: Outcome) -> None:
    with write_intent():
        db.session.execute(
            sa.update(Run)
            .where(Run.id == outcome.run_id)
            .values(
                finished_at=utcnow(),
                duration_ms=int(outcome.duration_ms),
                statement_ms=int(outcome.statement_ms),
                matched=outcome.matched,
                fired=outcome.fired,
                untagged=outcome.untagged,
                status=outcome.status,
                error=outcome.error,
            )
        )
        db.session.commit()
