"""Actions: what ``{"do": name, …}`` does in an alert rule or a workflow step.

An :class:`Action` has a name, a label, the JSON Schema of the action's other keys
(``options_schema``: the definition checker validates them with it) and :meth:`Action.run`, which
applies it to a batch of records. SCRM's own actions (:mod:`scrm.alerts.builtin_actions`) and
IT's come through the hook ``scrm_actions``; a plugin's action named like a built-in replaces it,
except ``set`` and ``assign``, which decide the values a workflow step writes with its new state.

A plugin's action runs isolated, like every plugin hook: when it raises, its database work is
undone to a savepoint and it is tried again record by record, the error is recorded against the
plugin, and the rule's other actions and records go on. A built-in's error fails the run, as it
always did.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from ..i18n import text
from ..plugins.watchdog import HookTimeout, call_with_deadline

if TYPE_CHECKING:
    from ..plugins.manager import Plugins

log = logging.getLogger(__name__)
HOOK = "scrm_actions"
NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
PINNED = ("set", "assign")  # built-ins no plugin replaces: workflows write their values with the state


@dataclass
class Fired:
    """One record an action applies to: its id and the values of the record paths the action
    reads; in an alert rule also the firing, its metric values and its period key."""

    record_id: int
    firing_id: int | None
    metrics: dict[str, Any]
    values: dict[str, Any]  # record paths ("primary_manager.org_unit")
    period_key: str = ""


@dataclass(eq=False)
class ActionContext:
    """What an action's ``run`` works with besides its options and its batch."""

    snapshot: Any  # the published definitions
    entity: Any  # the EntityDef of the batch's records
    service: Any  # a system RecordService, in the run's transaction
    env: Any  # the conditions' environment: now, tz, params
    locale: str
    source: str  # what runs it: the rule's name, or the workflow step ("transition:resolve")
    render: Callable[[str, Fired], str | None]  # the action's text ``key`` (title, body …) for one record
    recipients: Callable[[dict, Fired], list[int]]  # the employee ids a recipient spec names for one record
    runner: Any = None  # the engine's own runner (the built-in actions use it)

    @property
    def now(self):
        return self.env.now


class Action:
    """One kind of action. A plugin subclasses it, sets ``name``, ``label`` and
    ``options_schema`` and implements :meth:`run`."""

    name: str = ""
    label: str | dict[str, str] = ""
    options_schema: dict = {}  # JSON Schema ``properties`` (and ``required``) of the keys besides do and when

    def run(self, context: ActionContext, action: dict, batch: list[Fired]) -> None:
        """Apply ``action`` (the definition's object) to each record of ``batch``, in the run's
        transaction: what it writes commits with the firings or not at all."""
        raise NotImplementedError

    def describe(self, action: dict) -> str:
        """What a dry run says the action would do: a dry run never runs an action."""
        return text(self.label) or self.name


class ActionTypes(Mapping[str, Action]):
    """The registered actions by name, each with the plugin it came from."""

    def __init__(self, plugins: Plugins):
        self.plugins = plugins
        self._types: dict[str, Action] = {}
        self._owners: dict[str, str] = {}
        self._builtin: set[str] = set()

    def __getitem__(self, name: str) -> Action:
        return self._types[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._types)

    def __len__(self) -> int:
        return len(self._types)

    def owner(self, name: str) -> str | None:
        return self._owners.get(name)

    def is_builtin(self, name: str) -> bool:
        return name in self._builtin

    def add(self, plugin: str, returned, builtin: bool) -> None:
        for item in returned or ():
            refusal = None if builtin else self._refusal(item)
            if refusal:
                self.plugins.record_error(plugin, HOOK, refusal)
                continue
            self._types[item.name], self._owners[item.name] = item, plugin
            (self._builtin.add if builtin else self._builtin.discard)(item.name)

    def _refusal(self, item) -> str | None:
        """Why a plugin's action is not added (None: it is)."""
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        if not isinstance(item, Action):
            return f"{item!r} is not an Action"
        if not isinstance(item.name, str) or not NAME.match(item.name):
            return f"{item.name!r} is not an action name (lower case letters, digits and _)"
        if item.name in PINNED:
            return f"the built-in action {item.name!r} cannot be replaced"
        try:
            Draft202012Validator.check_schema(item.options_schema)
        except SchemaError as exc:
            return f"{item.name}: the options_schema is not valid JSON Schema: {exc.message}"
        from ..meta.structure import unresolvable_refs

        missing = unresolvable_refs(item.options_schema)
        if missing:
            return f"{item.name}: the options_schema refers to {', '.join(missing)}, which does not exist"
        return None

    # -- running ------------------------------------------------------------------------------
    def run(self, context: ActionContext, action: dict, batch: list[Fired]) -> int:
        """Run ``action`` for ``batch``; returns for how many records a plugin's action failed."""
        kind = self._types.get(action.get("do"))
        if kind is None:  # published with a plugin that is gone since
            log.warning("%s: the action %r is not registered; skipped", context.source, action.get("do"))
            return 0
        if self.is_builtin(kind.name):
            kind.run(context, action, batch)
            return 0
        try:
            _attempt(kind, context, action, batch, self.plugins.deadline())
            return 0
        except Exception as exc:  # a plugin's error is its own: try the records one by one
            error = f"{type(exc).__name__}: {exc}"
            timed_out = isinstance(exc, HookTimeout)  # (not one by one: each would time out too)
        failed = len(batch) if timed_out else 1
        if len(batch) > 1 and not timed_out:
            failed = 0
            for one in batch:
                try:
                    _attempt(kind, context, action, [one], self.plugins.deadline())
                except Exception:
                    failed += 1
        self.plugins.record_error(
            self._owners[kind.name], HOOK, f"{kind.name} in {context.source}: {error} ({failed} of {len(batch)})"
        )
        return failed

    def describe(self, action: dict) -> str:
        kind = self._types.get(action.get("do"))
        if kind is None:
            return str(action.get("do"))
        if self.is_builtin(kind.name):
            return kind.describe(action)
        try:
            return str(kind.describe(action))
        except Exception as exc:
            self.plugins.record_error(
                self._owners[kind.name], HOOK, f"{kind.name}.describe: {type(exc).__name__}: {exc}"
            )
            return kind.name


def _attempt(kind: Action, context: ActionContext, action: dict, batch: list[Fired], timeout: float) -> None:
    from ..db import db

    savepoint = db.session.begin_nested()
    try:
        call_with_deadline(timeout, kind.run, context, action, batch)
    except Exception:
        if savepoint.is_active:
            savepoint.rollback()
        raise
    if savepoint.is_active:
        savepoint.commit()


_COLLECTED: WeakKeyDictionary = WeakKeyDictionary()


def action_types(plugins: Plugins | None = None) -> ActionTypes:
    """The actions of this installation: the built-ins, then those plugins add (a plugin's of
    the same name replaces a built-in). Collected again only when the implementations change."""
    if plugins is None:
        from ..runtime import runtime  # (the runtime builds on the alert layer)

        plugins = runtime().plugins
    impls = plugins.pm.hook.scrm_actions.get_hookimpls()
    key = tuple((impl.plugin_name, id(impl.function)) for impl in impls)
    found = _COLLECTED.get(plugins)
    if found is not None and found[0] == key:
        return found[1]
    types = ActionTypes(plugins)
    builtin = {s.name for s in plugins.status if s.source == "builtin"}
    for impl in impls:  # in registration order: the built-ins first
        if impl.plugin_name in builtin:
            types.add(impl.plugin_name, impl.function(), builtin=True)
            continue
        try:
            returned = list(impl.function() or ())
        except Exception as exc:  # a plugin that cannot say its actions adds none
            plugins.record_error(impl.plugin_name, HOOK, f"{type(exc).__name__}: {exc}")
            continue
        types.add(impl.plugin_name, returned, builtin=False)
    _COLLECTED[plugins] = (key, types)
    return types
