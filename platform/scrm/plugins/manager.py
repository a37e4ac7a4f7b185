"""Load plugins: the built-ins, the ``scrm.plugins`` entry points and the ``plugins/`` folder.

A plugin that fails to import or register is recorded with its error and skipped: it never
takes the application down. ``SCRM_PLUGINS_DISABLED`` (comma-separated names) turns plugins off.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path

import pluggy

from ..fields import FieldType, FieldTypes
from . import builtins, hookspecs

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "scrm.plugins"


@dataclass
class PluginStatus:
    name: str
    source: str  # builtin | entry_point | folder
    status: str = "enabled"  # enabled | disabled | failed
    error: str | None = None
    hooks: list[str] = field(default_factory=list)


class Plugins:
    """One plugin manager per application, plus what each plugin contributed."""

    def __init__(self, folder: Path | None = None, disabled: set[str] | None = None, load_entry_points=True):
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

    def _register(self, module, name: str, source: str) -> None:
        if name in self.disabled:
            self.status.append(PluginStatus(name, source, "disabled"))
            return
        try:
            self.pm.register(module, name=name)
        except Exception as exc:  # a broken plugin is reported, never fatal
            log.warning("plugin %s failed to register: %s", name, exc)
            self.status.append(PluginStatus(name, source, "failed", f"{type(exc).__name__}: {exc}"))
            return
        hooks = [h.name for h in self.pm.get_hookcallers(module) or ()]
        self.status.append(PluginStatus(name, source, hooks=hooks))

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
            self._register(module, ep.name, "entry_point")

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
