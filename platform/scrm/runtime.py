"""What one application instance holds: plugins, field types, the registry, the definition service."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import current_app, g, has_request_context, request

from .definitions import DefinitionService
from .fields import FieldTypes
from .meta import store
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
    sees one consistent configuration; outside requests (CLI, jobs) on every call, unless the
    job has :func:`pinned` one."""
    if not has_request_context():
        return g.get("scrm_pinned_snapshot") or runtime().registry.current()
    snap = getattr(request, "scrm_snapshot", None)
    if snap is None:
        snap = request.scrm_snapshot = runtime().registry.current(store.seen_revision())
    return snap


@contextmanager
def pinned(snap: Snapshot) -> Iterator[Snapshot]:
    """Within the block (a job in its own application context), :func:`snapshot` is ``snap``:
    one consistent configuration for the whole job, as a request has, without asking the
    database for the revision on every call."""
    before = g.get("scrm_pinned_snapshot")
    g.scrm_pinned_snapshot = snap
    try:
        yield snap
    finally:
        g.scrm_pinned_snapshot = before
