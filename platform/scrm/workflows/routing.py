"""Classification and routing of a new record, as the workflow's ``classification`` and
``routing`` sections declare them (reference domain §6.2).

Classification: the text fields are normalised (full-width → half-width, lower case), each
category scores the sum of its matched keywords' weights times the field's weight (the subject
counts twice); the best category wins when it reaches the threshold, else the fallback (manual
triage). ``confidence = top / (top + second)``. An urgent keyword list may raise the priority,
optionally only while a calendar is open (trading hours); overlays (complaint or fraud signals)
raise or set the priority on top of the category.

Routing: the first ``prefer`` recipient that is an active employee (the customer's account
manager for the manager queue), else the queue's pool — employees with the pool's roles in the
record's org unit, or up the tree until a unit has some — chosen round-robin or least-busy. The
pool's cursor row is locked while choosing, so concurrent creations take distinct turns.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

import sqlalchemy as sa

from ..data.evaluation import prepared
from ..db import db, dialect_name, run
from ..notify.people import People
from .model import Workflow
from .store import RouteCursor, insert_missing

PRIORITIES = ("P1", "P2", "P3", "P4")


def normalise(value: str) -> str:
    return unicodedata.normalize("NFKC", value or "").lower()


@dataclass
class Classification:
    category: str
    priority: str | None
    queue: str | None
    confidence: float
    matched: dict[str, list[str]] = field(default_factory=dict)  # category -> keywords found
    overlays: list[str] = field(default_factory=list)


def classify(
    workflow: Workflow, record: dict, now_open=None, base_priority: str | None = None
) -> Classification | None:
    """The category, priority and queue the dictionary gives ``record``'s text; ``now_open``
    tells whether a named calendar is open now (for urgent keywords "during" it)."""
    spec = workflow.classification
    if not spec:
        return None
    texts = {name: normalise(str(record.get(name) or "")) for name in spec["text"]}
    scores, matched = {}, {}
    for category, cat in spec["categories"].items():
        scores[category], matched[category] = _score(cat["keywords"], texts, spec["text"])
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], list(spec["categories"]).index(kv[0])))
    (top, top_score), second = ranked[0], (ranked[1][1] if len(ranked) > 1 else 0)
    fallback = spec.get("fallback") or {"category": "other"}
    if top_score >= spec.get("threshold", 2):
        cat = spec["categories"][top]
        result = Classification(
            top,
            cat.get("priority") or base_priority,
            cat.get("queue"),
            top_score / (top_score + second),
            {top: matched[top]},
        )
        urgent = cat.get("urgent")
        if urgent and any(normalise(k) in t for k in urgent["keywords"] for t in texts.values()):
            if not urgent.get("during") or (now_open and now_open(urgent["during"])):
                result.priority = urgent["priority"]
    else:
        result = Classification(
            fallback["category"], fallback.get("priority") or base_priority, fallback.get("queue"), 0.0
        )
    for name, overlay in (spec.get("overlays") or {}).items():
        score, found = _score(overlay["keywords"], texts, spec["text"])
        if score < spec.get("threshold", 2):
            continue
        result.overlays.append(name)
        result.matched[name] = found
        if result.category == fallback["category"]:
            result.category = name
        order = spec.get("priorities") or list(PRIORITIES)
        if overlay.get("priority"):
            result.priority = _higher(order, result.priority, overlay["priority"])
        if overlay.get("raise") and result.priority in order:
            result.priority = order[max(0, order.index(result.priority) - overlay["raise"])]
        if overlay.get("queue"):
            result.queue = overlay["queue"]
    return result


def _score(keywords: dict[str, int], texts: dict[str, str], weights: dict[str, int]) -> tuple[int, list[str]]:
    score, found = 0, []
    for keyword, weight in keywords.items():
        hits = [name for name, t in texts.items() if normalise(keyword) in t]
        if hits:
            found.append(keyword)
            score += weight * max(weights[name] for name in hits)
    return score, found


def _higher(order: list[str], current: str | None, other: str) -> str:
    if current not in order or other not in order:
        return other
    return order[min(order.index(current), order.index(other))]


class Router:
    """Chooses an assignee for one record (in the caller's transaction)."""

    def __init__(self, workflow: Workflow, entity, snapshot, actions):
        self.workflow, self.entity, self.snapshot, self.actions = workflow, entity, snapshot, actions
        self.spec = workflow.routing or {}
        self.people: People = actions.people

    def choose(self, record: dict) -> dict:
        """``{assignee_field: id}`` (and nothing when nobody fits)."""
        field_name = self.spec["assignee_field"]
        for option in self.spec.get("prefer", []):
            if "when" in option:
                key = ("workflow", self.workflow.name, self.workflow.version, "prefer", str(option["when"]))
                cond = prepared(self.snapshot, option["when"], self.entity, "guard", key=key)
                if not cond.predicate(record, self.actions.env):
                    continue
            for employee_id in self.actions.recipients(option["to"], record):
                person = self.people.employee(employee_id)
                if person and person.get("status") not in ("left", "on_leave", "resigning"):
                    return {field_name: employee_id}
        queue = record.get(self.spec.get("queue_field", "queue")) or self.spec.get("default_pool")
        pool = (self.spec.get("pools") or {}).get(queue) or (self.spec.get("pools") or {}).get(
            self.spec.get("default_pool", "")
        )
        if pool is None:
            return {}
        unit = record.get(self.spec.get("unit_field", "org_unit"))
        for level in self.people.ancestry(unit) if isinstance(unit, int) else []:
            candidates = self.people.with_roles(self.people.subtree(level), pool["roles"], present=True)
            if candidates:
                chosen = self._take_turn(f"{self.workflow.name}:{queue}:{level}", candidates, pool)
                return {field_name: chosen}
        return {}

    def _take_turn(self, key: str, candidates: list[int], pool: dict) -> int:
        cursor = self._lock(key)
        after = [c for c in candidates if cursor.last_employee is None or c > cursor.last_employee]
        ordered = after + [c for c in candidates if c not in after]  # round-robin order from the cursor
        chosen = ordered[0]
        if pool.get("strategy") == "least_busy":
            load = self._open_counts(candidates)
            chosen = min(ordered, key=lambda c: load.get(c, 0))  # ties keep round-robin order
        cursor.last_employee, cursor.turns = chosen, (cursor.turns or 0) + 1
        db.session.flush()
        return chosen

    def _lock(self, key: str) -> RouteCursor:
        """The pool's cursor row, locked until the transaction ends (SQLite: the writer lock)."""
        insert_missing(RouteCursor, pool=key, turns=0)
        q = sa.select(RouteCursor).where(RouteCursor.pool == key)
        if dialect_name() == "postgresql":
            q = q.with_for_update()
        return db.session.execute(q.execution_options(populate_existing=True)).scalar_one()

    def _open_counts(self, candidates: list[int]) -> dict[int, int]:
        t = self.snapshot.tables[self.entity.name].main
        assignee = t.c[self.entity.field(self.spec["assignee_field"]).column]
        state = t.c[self.entity.field(self.workflow.state_field).column]
        q = (
            sa.select(assignee, sa.func.count())
            .where(assignee.in_(candidates), state.in_(self.workflow.live_states()), t.c.deleted_at.is_(None))
            .group_by(assignee)
        )
        return {r[0]: r[1] for r in run(q)}
