"""What one application instance holds: plugins, field types, the registry, the definition service."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, has_request_context, request

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
    """The published definitions: checked against the revision once per request, so a request
    sees one consistent configuration; outside requests (CLI, jobs) on every call."""
    if not has_request_context():
        return runtime().registry.current()
    snap = getattr(request, "scrm_snapshot", None)
    if snap is None:
        snap = request.scrm_snapshot = runtime().registry.current()
    return snap
