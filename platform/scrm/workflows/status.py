"""What the record page and the API show of a record's workflow: its state, the steps the user
may take now (with their input fields), its SLA clocks and its history."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ..db import db
from ..i18n import text
from .engine import available, workflow_for
from .model import Transition, Workflow
from .sla import Clocks, aware, describe
from .store import History


@dataclass
class WorkflowView:
    workflow: Workflow
    state: str
    transitions: list[Transition]
    clocks: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    public_token: str | None = None

    @property
    def state_label(self) -> str:
        return text(self.workflow.states.get(self.state, {}).get("label")) or self.state

    @property
    def category(self) -> str | None:
        return self.workflow.category(self.state)


def view(svc, entity_name: str, record: dict, *, with_history: bool = True) -> WorkflowView | None:
    wf, inst = workflow_for(svc.snapshot, entity_name, record)
    if wf is None:
        return None
    state = record.get(wf.state_field)
    out = WorkflowView(wf, state, available(svc, entity_name, record), public_token=inst.public_token if inst else None)
    clocks = Clocks(wf, svc.entity(entity_name), svc.snapshot, svc.environment())
    now = clocks.env.now
    for sla in wf.slas:
        clock = clocks.clocks(record["id"]).get(sla.name)
        if clock is not None:
            out.clocks.append({"name": sla.name, "label": text(sla.label), **describe(clock, now, clocks.hours(clock))})
    if with_history:
        out.history = history(wf, entity_name, record["id"])
    return out


def history(wf: Workflow, entity_name: str, record_id: int) -> list[dict[str, Any]]:
    rows = db.session.scalars(
        sa.select(History).where(History.entity == entity_name, History.record_id == record_id).order_by(History.id)
    )
    out = []
    for h in rows:
        t = wf.transition(h.transition)
        out.append(
            {
                "transition": h.transition,
                "label": text(t.label) if t else h.transition,
                "from": h.from_state,
                "from_label": text(wf.states.get(h.from_state or "", {}).get("label")) or h.from_state,
                "to": h.to_state,
                "to_label": text(wf.states.get(h.to_state, {}).get("label")) or h.to_state,
                "actor": h.actor,
                "user_id": h.user_id,
                "at": aware(h.at),
                "inputs": json.loads(h.inputs or "{}"),
                "comment": h.comment,
                "version": h.version,
            }
        )
    return out


def as_json(v: WorkflowView) -> dict[str, Any]:
    def stamp(value):
        return value.isoformat() if value else None

    return {
        "workflow": v.workflow.name,
        "version": v.workflow.version,
        "state": v.state,
        "state_label": v.state_label,
        "category": v.category,
        "transitions": [
            {
                "name": t.name,
                "label": text(t.label),
                "to": t.target(v.state),
                "input": list(t.inputs),
                "comment": t.comment,
            }
            for t in v.transitions
        ],
        "slas": [{**c, "due_at": stamp(c["due_at"])} for c in v.clocks],
        "history": [{**h, "at": stamp(h["at"])} for h in v.history],
    }
