"""What one application instance holds: plugins, field types, the registry, the definition service."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, g, has_request_context, request

from .definitions import DefinitionService
from .fields import FieldTypes
from .plugins.manager import Plugins
from .registry import Registry, Snapshot


@dataclass
class Runtime:
    plugins: Plugins
    registry: Registry
    definitions: DefinitionService

    @property
    def field_types(self) -> FieldTypes:
        return self.plugins.field_types


def runtime() -> Runtime:
    return current_app.extensions["scrm"]


def snapshot() -> Snapshot:
    """The published definitions for this request (checked against the revision once per request;
    outside requests, once per application context)."""
    holder = request if has_request_context() else g
    snap = getattr(holder, "scrm_snapshot", None)
    if snap is None:
        snap = runtime().registry.current()
        holder.scrm_snapshot = snap
    return snap
