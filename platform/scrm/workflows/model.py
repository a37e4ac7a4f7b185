"""A published workflow document read as objects: states, transitions, SLAs and calendars.

One workflow governs one entity's state field. A record keeps the workflow version it started
with (:mod:`.store` ``scrm_workflow_instance``); :func:`workflow_at` returns that version, built
once per process (published versions never change).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from .. import durations
from ..jobs.calendars import calendars
from .hours import BusinessHours

SAME = "$same"  # a transition that stays in the state it starts from (reassign)
STATIC, DYNAMIC = "static", "dynamic"
OPEN, WAITING, DONE = "open", "waiting", "done"


@dataclass(frozen=True)
class Transition:
    raw: dict

    @property
    def name(self) -> str:
        return self.raw["name"]

    @property
    def label(self) -> Any:
        return self.raw.get("label") or self.name

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(self.raw["from"])

    def target(self, state: str) -> str:
        return state if self.raw["to"] == SAME else self.raw["to"]

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(self.raw.get("roles", ()))

    @property
    def inputs(self) -> tuple[str, ...]:
        return tuple(self.raw.get("input", ()))

    @property
    def actions(self) -> list[dict]:
        return self.raw.get("actions", [])

    @property
    def trigger(self) -> dict | None:
        return self.raw.get("trigger")

    @property
    def manual(self) -> bool:
        """Offered to people: no trigger, or a trigger plus roles that may also take it."""
        return (self.trigger is None or bool(self.roles)) and not self.raw.get("hidden")

    @property
    def event(self) -> str | None:
        return (self.trigger or {}).get("event")

    @property
    def delay(self) -> durations.Duration | None:
        after = (self.trigger or {}).get("after")
        return durations.parse(after) if after else None

    @property
    def comment(self) -> str:
        return self.raw.get("comment", "optional")


@dataclass(frozen=True)
class Sla:
    raw: dict

    @property
    def name(self) -> str:
        return self.raw["name"]

    @property
    def label(self) -> Any:
        return self.raw.get("label") or self.name

    @property
    def start(self) -> dict:
        return self.raw["start"]

    @property
    def stops_on_transitions(self) -> tuple[str, ...]:
        return tuple(self.raw["stop"].get("on_transition", ()))

    @property
    def stops_in_states(self) -> tuple[str, ...]:
        return tuple(self.raw["stop"].get("on_state", ()))

    @property
    def pause_in(self) -> tuple[str, ...]:
        return tuple(self.raw.get("pause_in", ()))

    @property
    def target(self) -> dict:
        return self.raw["target"]

    @property
    def escalations(self) -> list[dict]:
        return self.raw.get("escalations", [])

    def starts_on(self, *, created: bool = False, transition: str | None = None, state: str | None = None) -> bool:
        on = self.start["on"]
        if on == "created":
            return created
        if on == "transition":
            return transition is not None and self.start.get("transition") == transition
        return state is not None and self.start.get("state") == state


@dataclass(frozen=True, eq=False)
class Workflow:
    name: str
    version: int
    body: dict

    @property
    def entity(self) -> str:
        return self.body["entity"]

    @property
    def state_field(self) -> str:
        return self.body["state_field"]

    @property
    def initial(self) -> str:
        return self.body["initial"]

    @property
    def states(self) -> dict[str, dict]:
        return self.body["states"]

    def category(self, state: str | None) -> str | None:
        return self.states.get(state, {}).get("category") if state else None

    def is_final(self, state: str | None) -> bool:
        return bool(self.states.get(state, {}).get("final")) if state else False

    def live_states(self) -> list[str]:
        """States in which a record still needs work (open or waiting)."""
        return [s for s, spec in self.states.items() if spec.get("category") in (OPEN, WAITING)]

    @cached_property
    def transitions(self) -> list[Transition]:
        return [Transition(t) for t in self.body["transitions"]]

    def transition(self, name: str) -> Transition | None:
        return next((t for t in self.transitions if t.name == name), None)

    def leaving(self, state: str) -> list[Transition]:
        return [t for t in self.transitions if state in t.sources]

    def on_event(self, event: str, state: str) -> Transition | None:
        return next((t for t in self.leaving(state) if t.event == event), None)

    @cached_property
    def slas(self) -> list[Sla]:
        return [Sla(s) for s in self.body.get("slas", [])]

    @property
    def classification(self) -> dict | None:
        return self.body.get("classification")

    @property
    def routing(self) -> dict | None:
        return self.body.get("routing")

    @property
    def public(self) -> dict:
        return self.body.get("public_status") or {}

    @cached_property
    def _hours(self) -> dict[str, BusinessHours]:
        known = calendars()
        return {name: BusinessHours.from_spec(spec, known) for name, spec in self.body.get("calendars", {}).items()}

    def hours(self, name: str | None, tz) -> BusinessHours:
        """A declared business calendar; without a name, round the clock in ``tz``."""
        if name and name in self._hours:
            return self._hours[name]
        return BusinessHours.always(tz)


def workflows_of(snapshot) -> dict[str, Workflow]:
    """The published workflows by the entity they govern (built once per revision)."""

    def build() -> dict[str, Workflow]:
        out = {}
        for name, body in snapshot.documents_of("workflow").items():
            out[body["entity"]] = Workflow(name, snapshot.versions[("workflow", name)], body)
        return out

    return snapshot.cached(("workflows",), build)


_VERSIONS: dict[tuple[str, int], Workflow] = {}


def workflow_at(snapshot, name: str, version: int) -> Workflow | None:
    """The workflow ``name`` as published in ``version`` (the current one when that is it)."""
    current = next((w for w in workflows_of(snapshot).values() if w.name == name), None)
    if current is not None and current.version == version:
        return current
    key = (name, version)
    if key not in _VERSIONS:
        from ..meta import store

        row = store.get_version("workflow", name, version)
        if row is None:
            return current
        _VERSIONS[key] = Workflow(name, version, row.body)
    return _VERSIONS[key]
