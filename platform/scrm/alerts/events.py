"""Event-triggered rules: writes and finished imports are queued as ``scrm_alert_event`` rows in
the writer's own transaction (so a committed write always has its event, and a rolled-back one
never does); the scheduler leader works the queue every few seconds.

A record event runs every rule whose ``trigger`` listens to the entity and the kind of write:
on the written record itself (same entity, with ``old`` values for ``changed`` operators), on the
record its ``trigger.record`` path points at (a fund transfer's customer), or on every record
with ``trigger.params`` bound from the written one (a negative announcement → its holders).
A named event (``import.asset_snapshot.completed``) runs the rules scheduled ``also_on`` it.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import sqlalchemy as sa

from ..conditions import ConditionError, Preparer, compile_operand, compile_sql
from ..data.evaluation import environment
from ..db import db, dialect_name, run, write_intent
from ..meta.model import EntityDef
from ..plugins.hookspecs import hookimpl
from .engine import Outcome, run_rule
from .model import Rule, rules_of
from .store import Event, utcnow

log = logging.getLogger(__name__)
BATCH = 200


def listeners(snapshot) -> dict[str, list[Rule]]:
    """Enabled event-triggered rules by the entity they listen to."""

    def build() -> dict[str, list[Rule]]:
        out: dict[str, list[Rule]] = {}
        for rule in rules_of(snapshot).values():
            if rule.enabled and rule.trigger is not None:
                out.setdefault(rule.trigger.entity, []).append(rule)
        return out

    return snapshot.cached(("alert-listeners",), build)


@hookimpl
def scrm_record_written(snapshot, entity, record_id, created, changed, old):
    rules = listeners(snapshot).get(entity.name)
    if not rules or not any(r.trigger.matches(created, changed) for r in rules):
        return
    previous = {}
    if old is not None:
        for name in changed:
            f = entity.field(name)
            if f is not None and not f.computed:
                previous[name] = snapshot.field_types[f.type].to_json(old.get(name), f)
    db.session.execute(
        sa.insert(Event).values(
            name=f"record.{entity.name}",
            entity=entity.name,
            record_id=record_id,
            created=created,
            changed=json.dumps(sorted(changed)),
            old=json.dumps(previous, ensure_ascii=False, default=str),
            created_at=utcnow(),
        )
    )


@hookimpl
def scrm_import_finished(snapshot, entity, job_id, status):
    if status == "done":
        queue(f"import.{entity}.completed", entity)


def queue(name: str, entity: str | None = None) -> None:
    """Queue a named event in the caller's transaction (``etl.asset_snapshot.completed``)."""
    db.session.execute(sa.insert(Event).values(name=name, entity=entity, created=False, created_at=utcnow()))


def process_pending(limit: int = BATCH) -> list[Outcome]:
    """Work the oldest queued events; each is marked processed (with the error, if any)."""
    from ..runtime import runtime

    outcomes: list[Outcome] = []
    with write_intent():
        pending = list(
            db.session.execute(
                sa.select(Event).where(Event.processed_at.is_(None)).order_by(Event.id).limit(limit)
            ).scalars()
        )
        db.session.rollback()
    for event in pending:
        snapshot = runtime().registry.current()
        error = None
        try:
            outcomes += dispatch(snapshot, event)
        except Exception as exc:  # one bad event does not block the queue
            db.session.rollback()
            log.exception("alert event %s failed", event.id)
            error = f"{type(exc).__name__}: {exc}"[:2000]
        error = error or next((o.error for o in outcomes if o.error), None)
        with write_intent():
            db.session.execute(sa.update(Event).where(Event.id == event.id).values(processed_at=utcnow(), error=error))
            db.session.commit()
    return outcomes


def dispatch(snapshot, event: Event) -> list[Outcome]:
    if event.record_id is None:
        return [
            run_rule(rule.name, reason="event")
            for rule in rules_of(snapshot).values()
            if rule.enabled and rule.schedule and event.name in rule.schedule.events
        ]
    entity = snapshot.entity(event.entity)
    if entity is None:
        return []
    changed = set(json.loads(event.changed or "[]"))
    old = _restore(snapshot, entity, json.loads(event.old or "{}")) if not event.created else None
    out = []
    for rule in listeners(snapshot).get(entity.name, []):
        trigger = rule.trigger
        if not trigger.matches(event.created, changed):
            continue
        if trigger.when is not None and not _holds(snapshot, entity, event.record_id, trigger.when, old):
            continue
        paths = ([trigger.record] if trigger.record else []) + list(trigger.params.values())
        values = _values(snapshot, entity, event.record_id, paths)
        if values is None:  # deleted since
            continue
        params = {name: values[path] for name, path in trigger.params.items()}
        if trigger.record:
            target = values[trigger.record]
            if not isinstance(target, int):
                continue
            out.append(run_rule(rule.name, reason="event", ids=[target], params=params))
        elif trigger.entity == rule.entity:
            out.append(run_rule(rule.name, reason="event", ids=[event.record_id], params=params, old=old))
        else:
            out.append(run_rule(rule.name, reason="event", params=params))
    return out


def _restore(snapshot, entity: EntityDef, raw: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, value in raw.items():
        f = entity.field(name)
        if f is None:
            continue
        try:
            out[name] = snapshot.field_types[f.type].validate(value, f) if value is not None else None
        except Exception:  # a value the field no longer accepts: unknown
            out[name] = None
    return out


def _holds(snapshot, entity: EntityDef, record_id: int, condition, old) -> bool:
    try:
        node = Preparer(snapshot.field_types, snapshot.entity, "event").condition(condition, entity)
    except ConditionError:
        return False
    env = environment(snapshot, old=old or {})
    main = snapshot.tables[entity.name].main
    compiled = compile_sql(node, entity, snapshot.tables, env, dialect_name(), batch=False)
    stmt = compiled.apply(sa.select(main.c.id).select_from(main)).where(main.c.id == record_id)
    return run(stmt).first() is not None


def _values(snapshot, entity: EntityDef, record_id: int, paths: list[str]) -> dict[str, Any] | None:
    main = snapshot.tables[entity.name].main
    env = environment(snapshot)
    preparer = Preparer(snapshot.field_types, snapshot.entity, "event")
    cols, source = [main.c.id], main
    for i, path in enumerate(paths):
        expr, joins = compile_operand(
            preparer.operand({"field": path}, entity), entity, snapshot.tables, env, dialect_name(), batch=False
        )
        for target, on in joins:
            source = source.outerjoin(target, on)
        cols.append(expr.label(f"v{i}"))
    row = run(sa.select(*cols).select_from(source).where(main.c.id == record_id, main.c.deleted_at.is_(None))).first()
    if row is None:
        return None
    return {path: row[i + 1] for i, path in enumerate(paths)}
