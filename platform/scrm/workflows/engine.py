"""Applying transitions (reference formats §6.2), all in one database transaction:

1. load the record in the user's scope; the state must be one the transition leaves from
   (else 409: someone moved it meanwhile);
2. roles — static roles, ``$assignee``, ``$supervisor`` (the assignee's), ``$owner``,
   ``$creator`` — and self-approval / maker-checker (403);
3. inputs validated as the user's own edit, required ones present, the comment when required
   (422 at the field);
4. the guard, evaluated on the record with the inputs (422 with the guard's message);
5. local actions (``set``, ``assign``) and the new state written with compare-and-set on the
   version (409 when another transition won);
6. history, timers of delayed transitions, SLA clocks;
7. external actions (inbox, outbox, tasks, surveys, new records) — delivered after commit.
"""

from __future__ import annotations

import json
import secrets
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import sqlalchemy as sa

from ..data.evaluation import prepared
from ..data.records import RecordService
from ..db import db, writing
from ..errors import Conflict, Detail, Forbidden, NotFound, ValidationFailed
from ..i18n import _, current_locale, text
from ..security import audit
from .actions import Actions
from .model import Transition, Workflow, workflow_at, workflows_of
from .routing import Router
from .sla import Clocks, naive
from .store import CANCELLED, PENDING, History, Instance, Timer

_transitioning: ContextVar[bool] = ContextVar("scrm_workflow_transitioning", default=False)
SYSTEM_ACTOR = "system"


def transitioning() -> bool:
    """True while the engine writes a record's state (direct edits of it are refused)."""
    return _transitioning.get()


@contextmanager
def engine_writes():
    token = _transitioning.set(True)
    try:
        yield
    finally:
        _transitioning.reset(token)


@dataclass
class Applied:
    record: dict
    transition: str
    from_state: str
    to_state: str


def system_service(snapshot, user_id: int | None = None, acting: RecordService | None = None) -> RecordService:
    """System access for the engine's own writes. With ``acting``, conditions and templates
    still see that user (``ctx.employee`` in a ``set`` action is the person taking the step)."""
    if acting is None:
        return RecordService(snapshot, user_id, system=True)
    return RecordService(
        snapshot,
        acting.user_id,
        system=True,
        user=lambda _principal: acting.user,
        principal=lambda: acting.principal,
        username=acting.username,
    )


def governing(snapshot, entity_name: str) -> Workflow | None:
    return workflows_of(snapshot).get(entity_name)


def instance_of(entity_name: str, record_id: int) -> Instance | None:
    return db.session.scalars(
        sa.select(Instance).where(Instance.entity == entity_name, Instance.record_id == record_id)
    ).first()


def workflow_for(snapshot, entity_name: str, record: dict) -> tuple[Workflow | None, Instance | None]:
    """The workflow version ``record`` runs (the one it started with), and its instance row."""
    current = governing(snapshot, entity_name)
    if current is None:
        return None, None
    inst = instance_of(entity_name, record["id"])
    if inst is None:
        return current, None
    return workflow_at(snapshot, inst.workflow, inst.version) or current, inst


# -- who may ------------------------------------------------------------------------------------
def may_take(svc: RecordService, wf: Workflow, t: Transition, record: dict) -> bool:
    """Whether the service's user holds one of the transition's roles on this record."""
    if not t.manual:
        return False
    if svc.permissions.system and svc.user_id is None:
        return True  # the system itself (the CLI, a job) may take any manual step
    if not t.roles:
        return svc.permissions.can(svc.entity(wf.entity), "update")
    roles = set(svc.user.roles)
    employee = svc.principal.employee
    assignee_field = (wf.routing or {}).get("assignee_field", "assignee")
    for role in t.roles:
        if role == "$assignee" and employee is not None and record.get(assignee_field) == employee:
            return True
        if role == "$supervisor" and employee is not None and isinstance(record.get(assignee_field), int):
            boss = (
                svc.load("employee", record[assignee_field]).get("supervisor")
                if svc.snapshot.entity("employee")
                else None
            )
            if boss == employee:
                return True
        if role == "$creator" and svc.user_id is not None and record.get("created_by") == svc.user_id:
            return True
        if role == "$owner" and employee is not None and _owner(svc, wf, record) == employee:
            return True
        if not role.startswith("$") and role in roles:
            return True
    return False


def _owner(svc, wf: Workflow, record: dict):
    spec = (svc.entity(wf.entity).doc.get("options", {}).get("scope") or {}).get("owner")
    names = [spec] if isinstance(spec, str) else spec or []
    return next((record.get(n) for n in names if record.get(n) is not None), None)


def available(svc: RecordService, entity_name: str, record: dict) -> list[Transition]:
    """The transitions the user may take now (rendered as buttons)."""
    wf, _inst = workflow_for(svc.snapshot, entity_name, record)
    if wf is None:
        return []
    state = record.get(wf.state_field)
    return [t for t in wf.leaving(state) if may_take(svc, wf, t, record) and _same_person(svc, wf, t, record) is None]


# -- applying -----------------------------------------------------------------------------------
def apply(
    svc: RecordService,
    entity_name: str,
    record_id: int,
    name: str,
    inputs: dict | None = None,
    comment: str | None = None,
    version: int | None = None,
) -> Applied:
    """Take transition ``name`` on the record as ``svc``'s user (see the module docstring)."""
    entity = svc.entity(entity_name)
    with writing():
        try:
            svc.get(entity_name, record_id)  # in the user's scope, else 404
            current = svc.load(entity_name, record_id)
            wf, inst = workflow_for(svc.snapshot, entity_name, current)
            if wf is None:
                raise NotFound(_("{entity} has no workflow.").format(entity=text(entity.label)))
            t = wf.transition(name)
            if t is None or not t.manual:
                raise NotFound(_("There is no transition {name!r} here.").format(name=name))
            _require_current(entity, wf, t, current, version)
            if not may_take(svc, wf, t, current):
                raise Forbidden(_("You may not take the step “{step}” on this record.").format(step=text(t.label)))
            _require_other_person(svc, wf, t, current)
            cleaned = _inputs(svc, entity, t, current, inputs or {}, comment)
            applied = _transit(svc, wf, inst, t, current, cleaned, comment, actor=svc.username or str(svc.user_id))
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
    return applied


def fire(
    snapshot, entity_name: str, record_id: int, name: str, actor: str = SYSTEM_ACTOR, comment=None
) -> Applied | None:
    """Take a triggered transition (an event, a delay) as the system, in the caller's
    transaction; None when the record is no longer in a state it leaves from."""
    svc = system_service(snapshot)
    try:
        current = svc.load(entity_name, record_id)
    except NotFound:
        return None
    wf, inst = workflow_for(snapshot, entity_name, current)
    t = wf.transition(name) if wf else None
    if t is None or current.get(wf.state_field) not in t.sources:
        return None
    if "guard" in t.raw and not _guard_holds(svc, wf, t, current):
        return None
    return _transit(svc, wf, inst, t, current, {}, comment, actor=actor)


def fire_event(snapshot, entity_name: str, record_id: int, event: str, actor: str, comment=None) -> Applied | None:
    """The transition that ``event`` triggers from the record's state, if any."""
    svc = system_service(snapshot)
    current = svc.load(entity_name, record_id)
    wf, _inst = workflow_for(snapshot, entity_name, current)
    t = wf.on_event(event, current.get(wf.state_field)) if wf else None
    return fire(snapshot, entity_name, record_id, t.name, actor, comment) if t else None


def _require_current(entity, wf: Workflow, t: Transition, current: dict, version: int | None) -> None:
    state = current.get(wf.state_field)
    if (version is not None and current["version"] != version) or state not in t.sources:
        label = text(wf.states.get(state, {}).get("label")) or state
        raise Conflict(
            _("This {entity} is now “{state}” (version {version}); reload to see what changed.").format(
                entity=text(entity.label), state=label, version=current["version"]
            )
        )


def _require_other_person(svc: RecordService, wf: Workflow, t: Transition, current: dict) -> None:
    problem = _same_person(svc, wf, t, current)
    if problem:
        raise Forbidden(problem)


def _same_person(svc: RecordService, wf: Workflow, t: Transition, current: dict) -> str | None:
    """Why self-approval or maker-checker forbids this user the step, if they do."""
    if svc.user_id is None:
        return None
    if t.raw.get("allow_self_approval") is False and current.get("created_by") == svc.user_id:
        return _("You created this record, so someone else must take the step “{step}”.").format(step=text(t.label))
    maker = (t.raw.get("maker_checker") or {}).get("of")
    if maker:
        last = db.session.scalars(
            sa.select(History.user_id)
            .where(History.entity == wf.entity, History.record_id == current["id"], History.transition == maker)
            .order_by(History.id.desc())
            .limit(1)
        ).first()
        if last is not None and last == svc.user_id:
            return _("The person who made the request cannot also approve it.")
    return None


def _inputs(svc: RecordService, entity, t: Transition, current: dict, inputs: dict, comment) -> dict:
    if not isinstance(inputs, dict):
        raise ValidationFailed(
            _("Expected a JSON object of field values."), [Detail("input", _("Expected an object."))]
        )
    unknown = sorted(set(inputs) - set(t.inputs))
    if unknown:
        raise ValidationFailed(
            _("This step does not take these fields."),
            [Detail(f"input.{k}", _("Not an input of this step.")) for k in unknown],
        )
    cleaned = svc.validate(entity, inputs, partial=True, current=current) if inputs else {}
    details = [
        Detail(name, _("This field is required."))
        for name in t.inputs
        if {**current, **cleaned}.get(name) in (None, "", [])
    ]
    if t.comment == "required" and not (comment or "").strip():
        details.append(Detail("comment", _("Please give a reason.")))
    if details:
        raise ValidationFailed(_("Please correct the marked fields."), details)
    if "guard" in t.raw and not _guard_holds(svc, None, t, {**current, **cleaned}, entity=entity):
        message = text(t.raw.get("guard_message")) or _("The conditions for this step are not met.")
        raise ValidationFailed(message, [Detail("$", message)], "guard_failed")
    return cleaned


def _guard_holds(svc, wf, t: Transition, record: dict, entity=None) -> bool:
    entity = entity or svc.entity(wf.entity)
    cond = prepared(
        svc.snapshot, t.raw["guard"], entity, "guard", key=("guard", json.dumps(t.raw["guard"], sort_keys=True))
    )
    return bool(cond.predicate(record, svc.environment(old=record)))


def _transit(svc, wf: Workflow, inst, t: Transition, current: dict, cleaned: dict, comment, actor: str) -> Applied:
    snapshot = svc.snapshot
    entity = snapshot.entity(wf.entity)
    writer = system_service(snapshot, acting=svc)
    env = writer.environment()
    actions = Actions(wf, entity, writer, env, _locale(), f"transition:{t.name}")
    source, target = current[wf.state_field], t.target(current[wf.state_field])
    router = Router(wf, entity, snapshot, actions)
    record = {**current, **cleaned}
    leaving = wf.states[source].get("on_exit", []) if target != source else []
    entering = wf.states[target].get("on_enter", []) if target != source else []
    values = dict(cleaned)
    for group in (leaving, t.actions, entering):
        values.update(actions.local(group, {**record, **values}, route=router.choose))
    values[wf.state_field] = target
    values.update(public_values(wf, target))
    with engine_writes():
        written, _changed = writer.write_values(entity, current, values)
        clocks = Clocks(wf, entity, snapshot, env)
        extra = clocks.on_event(written, transition=t.name, old_state=source)
        extra.update(clocks.retarget({**written, **extra}))  # a step may change what targets read
        inst = ensure_instance(wf, entity.name, written, env.now, inst)
        if target != source:
            inst.state, inst.state_entered_at = target, naive(env.now)
            arm_timers(wf, entity.name, written, env.now)
        record_history(
            wf, entity.name, written["id"], t.name, source, target, svc.user_id, actor, cleaned, comment, env.now
        )
        for group in (leaving, t.actions, entering):
            extra.update(actions.external(group, written, {"what": text(t.label)}))
        extra = {k: v for k, v in extra.items() if written.get(k) != v}
        if extra:
            written, _ = writer.write_values(entity, writer.load(entity.name, written["id"]), extra)
    audit.append(
        "transition", svc.actor(), entity=entity.name, record_id=written["id"], reason=f"{source}->{target}:{t.name}"
    )
    from ..runtime import runtime  # (the runtime builds on the engines)

    runtime().plugins.call("scrm_record_transitioned", snapshot=snapshot, entity=entity, record_id=written["id"],
                           transition=t.name, from_state=source, to_state=target, user_id=svc.user_id)  # fmt: skip
    return Applied(writer.load(entity.name, written["id"]), t.name, source, target)


def _locale() -> str:
    try:
        return current_locale()
    except Exception:  # outside a request: the default
        return "zh_CN"


def public_values(wf: Workflow, state: str) -> dict:
    """The customer-visible status a state maps to, when the workflow declares one."""
    field_name, mapped = wf.public.get("status_field"), wf.states.get(state, {}).get("customer_status")
    return {field_name: mapped} if field_name and mapped else {}


def ensure_instance(wf: Workflow, entity_name: str, record: dict, now, inst: Instance | None = None) -> Instance:
    inst = inst or instance_of(entity_name, record["id"])
    if inst is None:
        inst = Instance(
            entity=entity_name,
            record_id=record["id"],
            workflow=wf.name,
            version=wf.version,
            state=record[wf.state_field],
            state_entered_at=naive(now),
            created_at=naive(now),
            public_token=secrets.token_urlsafe(24),
        )
        db.session.add(inst)
        db.session.flush()
    return inst


def record_history(
    wf, entity_name, record_id, transition, source, target, user_id, actor, inputs, comment, now
) -> None:
    db.session.add(
        History(
            entity=entity_name,
            record_id=record_id,
            workflow=wf.name,
            version=wf.version,
            transition=transition,
            from_state=source,
            to_state=target,
            user_id=user_id,
            actor=str(actor)[:120],
            at=naive(now),
            inputs=json.dumps(inputs, default=str, ensure_ascii=False),
            comment=(comment or "").strip() or None,
        )
    )


def arm_timers(wf: Workflow, entity_name: str, record: dict, now) -> None:
    """Cancel the delayed transitions of the state left; arm those of the state entered."""
    db.session.execute(
        sa.update(Timer)
        .where(Timer.entity == entity_name, Timer.record_id == record["id"], Timer.status == PENDING)
        .values(status=CANCELLED)
    )
    state = record[wf.state_field]
    for t in wf.leaving(state):
        if t.delay is None:
            continue
        calendar = t.trigger.get("calendar")
        if calendar:
            from .sla import business_minutes

            hours = wf.hours(calendar, None)
            due = hours.add(naive(now), business_minutes(t.trigger["after"], hours))
        else:
            due = naive(t.delay.after(now))
        db.session.add(
            Timer(
                entity=entity_name,
                record_id=record["id"],
                transition=t.name,
                state=state,
                due_at=due,
                status=PENDING,
                created_at=naive(now),
            )
        )
