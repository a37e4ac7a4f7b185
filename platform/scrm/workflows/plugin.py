"""The workflow engine on the record service's save path, registered like any plugin:

* ``scrm_derive_record`` — a new record starts in the initial state; it gets its number, its
  classification (category, priority, queue, confidence) and, when saved for real, its
  assignee (routing) and — if routing declares one — the routed state;
* ``scrm_check_record`` — the state changes only through transitions (never by an edit, a
  board move or an import), and a record in a final state is locked except for the fields
  that state lists as editable;
* ``scrm_record_written`` — after a creation: the instance row (the workflow version the
  record keeps), the history, the SLA clocks and the delayed transitions; after an edit of a
  field SLA targets read (priority): the clocks are retargeted.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from ..data.evaluation import environment, prepared
from ..data.hooks import carries_states
from ..db import db
from ..i18n import _, text
from ..plugins.hookspecs import hookimpl
from .actions import Actions
from .engine import (
    SYSTEM_ACTOR,
    arm_timers,
    engine_writes,
    ensure_instance,
    governing,
    instance_of,
    public_values,
    record_history,
    system_service,
    transitioning,
)
from .mentions import comment_relation, on_comment
from .routing import Router, classify
from .sla import Clocks
from .store import Sequence, insert_missing


def _snapshot():
    from ..runtime import snapshot

    return snapshot()


@hookimpl
def scrm_derive_record(entity, record, old, saving):
    snap = _snapshot()
    wf = governing(snap, entity.name)
    if wf is None or old is not None:
        return
    if carries_states() and record.get(wf.state_field) in wf.states:
        return  # an administrative copy continues in the state it carries
    record[wf.state_field] = wf.initial
    record.update(public_values(wf, wf.initial))
    env = environment(snap)
    spec = wf.classification
    if spec:
        _classify(wf, spec, record, env)
    numbering = wf.body.get("numbering")
    if saving and numbering and not record.get(numbering["field"]):
        record[numbering["field"]] = next_number(numbering, env.now.astimezone(env.tz))
    routing = wf.routing
    if saving and routing and not record.get(routing["assignee_field"]):
        actions = Actions(wf, entity, system_service(snap), env)
        record.update(Router(wf, entity, snap, actions).choose(record))
        routed = wf.transition(routing.get("transition", "")) if routing.get("transition") else None
        if routed is not None and record.get(routing["assignee_field"]) and wf.initial in routed.sources:
            record[wf.state_field] = routed.target(wf.initial)
            record.update(public_values(wf, record[wf.state_field]))


def _classify(wf, spec: dict, record: dict, env) -> None:
    by = spec.get("by_field")
    category_field = spec.get("category_field", "category")
    if by and record.get(by) == "rule":
        return  # derived already (the form's rules made the service derive again)
    if record.get(category_field):
        if by:
            record[by] = "agent"
        return
    base = record.get(spec.get("priority_field", "")) if spec.get("priority_field") else None
    found = classify(wf, record, lambda name: wf.hours(name, env.tz).is_working(env.now), base)
    if found is None:
        return
    record[category_field] = found.category
    for key, value in (("priority_field", found.priority), ("queue_field", found.queue)):
        if spec.get(key) and value:
            record[spec[key]] = value
    if spec.get("confidence_field"):
        record[spec["confidence_field"]] = round(found.confidence, 4)
    if by:
        record[by] = "rule"


def next_number(numbering: dict, local_now: datetime) -> str:
    """``prefix + yyyymmdd + sequence`` from a per-day counter row (locked by the update)."""
    name = f"{numbering['prefix']}{local_now:%Y%m%d}"
    insert_missing(Sequence, name=name, value=0)
    updated = db.session.execute(
        sa.update(Sequence).where(Sequence.name == name).values(value=Sequence.value + 1).returning(Sequence.value)
    ).scalar_one()
    return f"{name}{updated:0{numbering.get('digits', 4)}d}"


@hookimpl
def scrm_check_record(entity, record, old):
    if old is None or transitioning():
        return []
    wf = governing(_snapshot(), entity.name)
    if wf is None:
        return []
    problems = []
    state_field = wf.state_field
    if record.get(state_field) != old.get(state_field):
        problems.append(
            (state_field, _("The status changes only through the workflow's steps; use the buttons on the record."))
        )
    state = wf.states.get(old.get(state_field), {})
    if state.get("final"):
        editable = set(state.get("editable_fields", []))
        changed = [k for k in record if entity.field(k) and k not in editable and record.get(k) != old.get(k)]
        label = text(state.get("label")) or old.get(state_field)
        problems += [(k, _("The record is {state} and can no longer be changed.").format(state=label)) for k in changed]
    return problems


@hookimpl
def scrm_record_written(snapshot, entity, record_id, created, changed, old):
    if created and not transitioning():
        link = comment_relation(snapshot, entity.name)
        if link is not None:
            _comment_written(snapshot, entity, record_id, link)
    wf = governing(snapshot, entity.name)
    if wf is None or transitioning():
        return
    if not created and instance_of(entity.name, record_id) is None:
        return
    svc = system_service(snapshot)
    record = svc.load(entity.name, record_id)
    env = environment(snapshot)
    clocks = Clocks(wf, entity, snapshot, env)
    if created:
        ensure_instance(wf, entity.name, record, env.now)
        state = record[wf.state_field]
        start = wf.initial if state not in wf.states or not carries_states() else state
        record_history(wf, entity.name, record_id, "create", None, start, None, SYSTEM_ACTOR, {}, None, env.now)
        routed = (wf.routing or {}).get("transition")
        if routed and state != start:
            record_history(wf, entity.name, record_id, routed, wf.initial, state, None, SYSTEM_ACTOR, {}, None, env.now)
        arm_timers(wf, entity.name, record, env.now)
        values = clocks.on_event(record, created=True)
        actions = Actions(wf, entity, svc, env, source="create")
        values.update(actions.external(_overlay_actions(wf, record), record, {"what": text(entity.label)}))
    else:
        reads = _target_fields(wf)
        if not changed & reads:
            return
        values = clocks.retarget(record)
    values = {k: v for k, v in values.items() if record.get(k) != v}
    if values:
        with engine_writes():
            svc.write_values(entity, record, values)


def _comment_written(snapshot, entity, record_id: int, link) -> None:
    svc = system_service(snapshot)
    comment = svc.load(entity.name, record_id)
    author = comment.get("author")
    label = svc.load("employee", author).get("name") if isinstance(author, int) else text(entity.label)
    values = on_comment(snapshot, svc, entity, comment, link, label)
    if values and entity.field("mentions") is not None:
        with engine_writes():
            svc.write_values(entity, comment, values)


def _overlay_actions(wf, record: dict) -> list[dict]:
    """The actions of the classification overlays that matched (notify the team leader …)."""
    spec = wf.classification or {}
    found = classify(wf, record) if spec and record.get(spec.get("by_field", "")) == "rule" else None
    out = []
    for name in found.overlays if found else []:
        out += spec["overlays"][name].get("actions", [])
    return out


def _target_fields(wf) -> set[str]:
    """The record's own fields the SLA target cases read (their change retargets the clocks)."""
    snap = _snapshot()
    entity = snap.entity(wf.entity)
    out: set[str] = set()
    for sla in wf.slas:
        for case in sla.target.get("cases", []):
            out |= {p.split(".")[0] for p in prepared(snap, case["when"], entity, "guard").deps.paths}
    return out
