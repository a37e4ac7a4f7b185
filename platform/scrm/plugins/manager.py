"""Load plugins: the built-ins, the ``scrm.plugins`` entry points and the ``plugins/`` folder.

A plugin that fails to import or register is recorded with its error and skipped: it never
takes the application down. ``SCRM_PLUGINS_DISABLED`` (comma-separated names) turns plugins off.

Hooks are called through :meth:`Plugins.call`. A plugin's implementation that raises does not
break the page, job or transaction that called it: its database work is undone to a savepoint,
the error is recorded against the plugin (its status, the log and the audit trail, action
``plugin_error``) and the others go on — except in a validation hook, where the error becomes a
problem that refuses the save with a clear message. The built-ins are the product's own code
and are not isolated: their errors surface like any other.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path

import pluggy

from ..fields import FieldType, FieldTypes
from . import builtins, hookspecs
from .watchdog import call_with_deadline

log = logging.getLogger(__name__)


def _scrm_version() -> str:
    from .. import __version__

    return __version__


def _release(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3]) or (0,)


def compatible(version: str, requires: str) -> bool:
    """Whether ``version`` meets ``requires``: comma-separated clauses such as ``>=0.1,<2``
    (operators ``>= <= > < == !=``, release numbers only). An unreadable clause is not met."""
    have = _release(version)
    for clause in filter(None, (c.strip() for c in requires.split(","))):
        found = re.fullmatch(r"(>=|<=|==|!=|>|<)\s*(\d+(?:\.\d+){0,2})", clause)
        if not found:
            return False
        op, want = found.group(1), _release(found.group(2))
        width = max(len(have), len(want))
        a, b = have + (0,) * (width - len(have)), want + (0,) * (width - len(want))
        if not {">=": a >= b, "<=": a <= b, "==": a == b, "!=": a != b, ">": a > b, "<": a < b}[op]:
            return False
    return True


ENTRY_POINT_GROUP = "scrm.plugins"


SCRM_VERSION = _scrm_version()
SLOW_SECONDS = 2.0  # a hook implementation taking longer is recorded as slow
DEFAULT_TIMEOUT = 10  # and one taking longer than SCRM_PLUGIN_TIMEOUT seconds in a request is stopped
DEFAULT_JOB_TIMEOUT = 300  # outside requests (imports, scheduled jobs, the CLI): SCRM_PLUGIN_JOB_TIMEOUT


@dataclass
class PluginStatus:
    name: str
    source: str  # builtin | entry_point | folder
    status: str = "enabled"  # enabled | disabled | failed | incompatible
    error: str | None = None  # why it failed to load
    hooks: list[str] = field(default_factory=list)
    version: str | None = None
    requires: str | None = None  # the SCRM versions it declares it works with, e.g. ">=0.1,<2"
    hook_errors: int = 0  # calls that raised (or ran too long) since this process started
    last_error: str | None = None
    last_error_at: datetime | None = None


@dataclass(frozen=True)
class HookError:
    plugin: str
    hook: str
    error: str
    at: datetime


class Plugins:
    """One plugin manager per application, plus what each plugin contributed."""

    def __init__(
        self,
        folder: Path | None = None,
        disabled: set[str] | None = None,
        load_entry_points=True,
        timeout: float = DEFAULT_TIMEOUT,
        job_timeout: float = DEFAULT_JOB_TIMEOUT,
    ):
        self.timeout = timeout  # seconds a plugin's hook may run in a request before it is stopped; 0: no limit
        self.job_timeout = job_timeout  # … and outside one
        self.pm = pluggy.PluginManager("scrm")
        self.pm.add_hookspecs(hookspecs)
        self.status: list[PluginStatus] = []
        self.disabled = disabled or set()
        self._register(builtins, "scrm.builtins", "builtin")
        from ..alerts import events  # the alert engine listens to writes like any plugin

        self._register(events, "scrm.alerts", "builtin")
        from ..workflows import plugin as workflows  # and so does the workflow engine

        self._register(workflows, "scrm.workflows", "builtin")
        if load_entry_points:
            self._load_entry_points()
        if folder and folder.is_dir():
            self._load_folder(folder)
        self.field_types = self._collect_field_types()
        self.errors: deque[HookError] = deque(maxlen=100)
        self._sources = {st.name: st.source for st in self.status}

    def deadline(self) -> float:
        """How long plugin code called now may run: a request must answer; a job may take longer."""
        from flask import has_request_context

        return self.timeout if has_request_context() else self.job_timeout

    def is_builtin(self, plugin_name: str) -> bool:
        """Whether a registered plugin is SCRM's own code (not isolated, replaceable by plugins)."""
        return self._sources.get(plugin_name) == "builtin"

    def implemented(self, hook: str) -> bool:
        """Whether any plugin implements ``hook`` (to skip preparing its arguments)."""
        return bool(getattr(self.pm.hook, hook).get_hookimpls())

    def call(self, hook: str, *, validation: bool = False, **kwargs) -> list:
        """The results of every implementation of ``hook`` (in pluggy's order: the last registered
        first), each given the arguments it names. A plugin's error is recorded and skipped —
        in a ``validation`` hook it becomes a problem ``("", message)`` that refuses the save."""
        results = []
        for impl in reversed(getattr(self.pm.hook, hook).get_hookimpls()):
            args = {name: kwargs[name] for name in impl.argnames}
            if self._sources.get(impl.plugin_name) == "builtin":
                result = impl.function(**args)
            else:
                result = self._isolated(impl.plugin_name, hook, impl.function, args, validation)
            if result is not None:
                results.append(result)
        return results

    def _isolated(self, plugin: str, hook: str, function, args: dict, validation: bool):
        from ..db import db

        session = db.session() if _has_app() else None
        savepoint = session.begin_nested() if session is not None and session.in_transaction() else None
        started = time.monotonic()
        try:
            result = call_with_deadline(self.deadline(), function, **args)
        except Exception as exc:  # a plugin's error (or its timeout) is its own, not the caller's
            if savepoint is not None and savepoint.is_active:
                savepoint.rollback()
            self.record_error(plugin, hook, f"{type(exc).__name__}: {exc}")
            if validation:
                from ..i18n import _

                message = _("The check {plugin} failed, so nothing was saved; please tell IT ({error}).")
                return [("", message.format(plugin=plugin, error=type(exc).__name__))]
            return None
        if savepoint is not None and savepoint.is_active:
            savepoint.commit()
        elapsed = time.monotonic() - started
        if elapsed > SLOW_SECONDS:
            self.record_error(plugin, hook, f"slow: {elapsed:.1f} s (more than {SLOW_SECONDS:g} s)")
        return result

    def record_error(self, plugin: str, hook: str, error: str) -> None:
        """Note a hook's failure: in the plugin's status, the log and (in a request, once it has
        its answer) the audit trail, so that admins see it whichever worker it happened in."""
        now = datetime.now(UTC)
        self.errors.append(HookError(plugin, hook, error, now))
        for st in self.status:
            if st.name == plugin:
                st.hook_errors += 1
                st.last_error, st.last_error_at = f"{hook}: {error}", now
        log.warning("plugin %s failed in %s: %s", plugin, hook, error)
        from flask import has_request_context

        if has_request_context():  # (a job's log has it; writing the audit there would commit its work)
            from ..security import audit

            audit.later("plugin_error", audit.SYSTEM, reason=f"{plugin}.{hook}: {error}"[:2000],
                        detail={"plugin": plugin, "hook": hook, "error": error[:2000]})  # fmt: skip

    def _register(self, module, name: str, source: str, version: str | None = None) -> None:
        version = getattr(module, "__version__", None) or version
        requires = getattr(module, "SCRM_REQUIRES", None)
        if name in self.disabled:
            self.status.append(PluginStatus(name, source, "disabled", version=version, requires=requires))
            return
        if source != "builtin" and requires is not None and not compatible(SCRM_VERSION, str(requires)):
            why = f"requires SCRM {requires}; this is {SCRM_VERSION}"
            log.warning("plugin %s is not loaded: %s", name, why)
            self.status.append(PluginStatus(name, source, "incompatible", why, version=version, requires=requires))
            return
        try:
            self.pm.register(module, name=name)
        except Exception as exc:  # a broken plugin is reported, never fatal
            log.warning("plugin %s failed to register: %s", name, exc)
            self.status.append(PluginStatus(name, source, "failed", f"{type(exc).__name__}: {exc}", version=version))
            return
        hooks = [h.name for h in self.pm.get_hookcallers(module) or ()]
        self.status.append(PluginStatus(name, source, hooks=hooks, version=version, requires=requires))

    def _load_entry_points(self) -> None:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in self.disabled:
                self.status.append(PluginStatus(ep.name, "entry_point", "disabled"))
                continue
            try:
                module = ep.load()
            except Exception as exc:
                self.status.append(PluginStatus(ep.name, "entry_point", "failed", f"{type(exc).__name__}: {exc}"))
                continue
            self._register(module, ep.name, "entry_point", ep.dist.version if ep.dist else None)

    def _load_folder(self, folder: Path) -> None:
        candidates = sorted(p for p in folder.glob("*.py") if not p.name.startswith("_"))
        candidates += sorted(p / "__init__.py" for p in folder.iterdir() if (p / "__init__.py").is_file())
        for path in candidates:
            name = path.parent.name if path.name == "__init__.py" else path.stem
            if name in self.disabled:
                self.status.append(PluginStatus(name, "folder", "disabled"))
                continue
            module_name = f"scrm_plugin_{name}"
            try:
                spec = importlib.util.spec_from_file_location(module_name, path)
                module = importlib.util.module_from_spec(spec)
                sys.modules[module_name] = module
                spec.loader.exec_module(module)
            except Exception as exc:
                sys.modules.pop(module_name, None)
                self.status.append(PluginStatus(name, "folder", "failed", f"{type(exc).__name__}: {exc}"))
                continue
            self._register(module, name, "folder")

    def _collect_field_types(self) -> FieldTypes:
        registry = FieldTypes()
        # pluggy calls the most recently registered plugin first; apply in registration order
        for impl in self.pm.hook.scrm_field_types.get_hookimpls():
            try:
                types = impl.function() or []
                for t in types:
                    if not isinstance(t, FieldType):
                        raise TypeError(f"{t!r} is not a FieldType")
                    registry.add(t)
            except Exception as exc:
                self._fail(impl.plugin_name, exc)
        return registry

    def _fail(self, name: str, exc: Exception) -> None:
        for s in self.status:
            if s.name == name:
                s.status, s.error = "failed", f"{type(exc).__name__}: {exc}"
        log.warning("plugin %s failed: %s", name, exc)


def _has_app() -> bool:
    from flask import has_app_context

    return has_app_context()


def recorded_errors(limit: int = 500) -> dict[str, tuple[datetime, str]]:
    """The latest hook error of each plugin in the audit trail (from any worker or process):
    plugin → (when, "hook: error")."""
    import json

    import sqlalchemy as sa

    from ..db import db
    from ..security.audit import AuditEntry

    table = AuditEntry.__table__
    rows = db.session.execute(
        sa.select(table.c.at, table.c.detail).where(table.c.action == "plugin_error").order_by(table.c.id.desc())
        .limit(limit)
    ).all()  # fmt: skip
    out: dict[str, tuple[datetime, str]] = {}
    for at, detail in rows:
        found = json.loads(detail or "{}")
        plugin = found.get("plugin")
        if plugin and plugin not in out:
            when = datetime.fromisoformat(at.replace("Z", "+00:00"))
            out[plugin] = (when, f"{found.get('hook')}: {found.get('error')}")
    return out
