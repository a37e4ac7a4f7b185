"""Widget data from plugins (hook ``scrm_dashboard_sources``): a widget says ``"source": name``
(and optionally ``"params"``) instead of querying a dataset, and the source's ``fetch`` returns
its rows — ``{column: value}`` with the source's group and measure columns, the shape the
presenter shows for a dataset's widget.

``fetch`` gets the viewer's record service, so what it reads goes through their permissions. A
source that raises, or returns rows of another shape, gives its widget an error message (the
rest of the dashboard renders) and the error is recorded against the plugin.
"""

from __future__ import annotations

import logging
import re
import time as clock
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from ..conditions.functions import contributions
from ..i18n import _
from ..plugins.watchdog import call_with_deadline

log = logging.getLogger(__name__)

HOOK = "scrm_dashboard_sources"
NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
SLOW_SECONDS = 2.0


@dataclass(frozen=True)
class DashboardSource:
    """A plugin's widget data. ``fetch(svc, params, filters)`` returns a list of rows, each a
    mapping with the ``groups`` columns (category, series: texts, numbers, dates, booleans) and the
    ``measures`` columns (numbers, or None). ``label`` and ``description`` are for people (text
    or ``{"zh-CN": …, "en": …}``)."""

    name: str
    label: Any
    fetch: Callable[..., Any]
    groups: tuple[str, ...] = ()
    measures: tuple[str, ...] = ("value",)
    description: Any = ""
    plugin: str | None = None  # who contributed it (filled in when collected)

    def check(self) -> None:
        """Raise ``ValueError`` when the source cannot be used (a plugin's mistake)."""
        if not isinstance(self.name, str) or not NAME.match(self.name):
            raise ValueError(f"{self.name!r} is not a source name (lower-case letters, digits, _)")
        if not callable(self.fetch):
            raise ValueError(f"{self.name}: fetch must be callable")
        columns = list(self.groups) + list(self.measures)
        if not self.measures or len(self.groups) > 3 or len(set(columns)) != len(columns):
            raise ValueError(f"{self.name}: at least one measure, at most three groups, no column twice")
        if not all(isinstance(c, str) and NAME.match(c) for c in columns):
            raise ValueError(f"{self.name}: column names are lower-case letters, digits and _")


@dataclass(frozen=True)
class Filters:
    """What the viewer chose on the dashboard: filter values by name, and the period ``[start,
    end)`` (instants, and ``local_start``/``local_end`` in the tenant's time zone)."""

    values: Mapping[str, Any] = field(default_factory=dict)
    start: datetime | None = None
    end: datetime | None = None
    local_start: datetime | None = None
    local_end: datetime | None = None

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]


class SourceFailed(Exception):
    """A source that could not give its rows: the message is shown in the widget."""


# -- the registry ------------------------------------------------------------------------------
_REGISTRIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def registry_of(plugins) -> dict[str, DashboardSource]:
    """The sources of a plugin manager by name (a later one replaces an earlier one)."""
    key = tuple((impl.plugin_name, impl.function) for impl in plugins.pm.hook.scrm_dashboard_sources.get_hookimpls())
    found = _REGISTRIES.get(plugins)
    if found is not None and found[0] == key:
        return found[1]
    registry: dict[str, DashboardSource] = {}
    for plugin, items in contributions(plugins, HOOK):
        for source in items:
            try:
                if not isinstance(source, DashboardSource):
                    raise TypeError(f"{source!r} is not a DashboardSource")
                source.check()
            except (TypeError, ValueError) as exc:
                plugins.record_error(plugin, HOOK, f"{type(exc).__name__}: {exc}")
                continue
            registry[source.name] = replace(source, plugin=plugin)
    _REGISTRIES[plugins] = (key, registry)
    return registry


def current() -> dict[str, DashboardSource]:
    """The sources of the running application (none outside one)."""
    from flask import current_app, has_app_context

    rt = current_app.extensions.get("scrm") if has_app_context() else None
    return registry_of(rt.plugins) if rt is not None else {}


# -- fetching ----------------------------------------------------------------------------------
def widget_rows(widget, svc, values: Mapping[str, Any], time_range, limit: int) -> tuple[list[dict], bool]:
    """A source widget's rows for the viewer (``svc``), the dashboard's filter ``values`` and
    period, in the widget's sort, at most ``limit``; and whether there were more."""
    source = current().get(widget.source)
    if source is None:  # the plugin is gone since the plan was made
        raise SourceFailed(_("The data source {source} is not available; please tell IT.").format(source=widget.source))
    tr = time_range
    filters = Filters(dict(values), tr.start, tr.end, tr.local_start, tr.local_end)
    rows = fetch(source, svc, widget.params, filters, limit + 1)
    return sort_rows(rows[:limit], widget.raw.get("sort", [])), len(rows) > limit


def sort_rows(rows: list[dict], sort: list[dict]) -> list[dict]:
    """Rows in a widget's declared sort (empty values last); without one, as the source gave them."""
    for spec in reversed(sort):
        name, desc = spec["by"], spec.get("dir", "asc") == "desc"
        present = sorted((r for r in rows if r.get(name) is not None), key=lambda r: _order(r[name]), reverse=desc)
        rows = present + [r for r in rows if r.get(name) is None]
    return rows


def _order(value: Any) -> tuple:
    return (0, value, "") if isinstance(value, int | Fraction) else (1, 0, str(value))


def fetch(source: DashboardSource, svc, params: Mapping[str, Any], filters: Filters, limit: int) -> list[dict]:
    """The source's rows, checked and converted (numbers as exact fractions), at most ``limit``;
    raises :class:`SourceFailed` with a message for the viewer, having recorded the error."""
    from ..db import db

    session = db.session()
    savepoint = session.begin_nested() if session.in_transaction() else None
    started = clock.monotonic()
    try:
        result = call_with_deadline(_timeout(), source.fetch, svc, dict(params), filters)
        rows = _rows(source, result, limit)
    except Exception as exc:  # a plugin's error is its own: its widget says so, the page goes on
        if savepoint is not None and savepoint.is_active:
            savepoint.rollback()
        elif savepoint is None and session.in_transaction():
            session.rollback()  # a read that failed must not leave an aborted transaction behind
        _record(source, f"{type(exc).__name__}: {exc}")
        raise SourceFailed(
            _("The data source {source} failed, so this widget cannot be shown; please tell IT.").format(
                source=source.name
            )
        ) from None
    if savepoint is not None and savepoint.is_active:
        savepoint.commit()
    elapsed = clock.monotonic() - started
    if elapsed > SLOW_SECONDS:
        _record(source, f"slow: {elapsed:.1f} s (more than {SLOW_SECONDS:g} s)")
    return rows


def _timeout() -> float:
    from flask import current_app, has_app_context

    rt = current_app.extensions.get("scrm") if has_app_context() else None
    return rt.plugins.deadline() if rt is not None else 0


def _record(source: DashboardSource, error: str) -> None:
    from flask import current_app, has_app_context

    rt = current_app.extensions.get("scrm") if has_app_context() else None
    if rt is None or source.plugin is None:
        log.warning("dashboard source %s failed: %s", source.name, error)
        return
    rt.plugins.record_error(source.plugin, HOOK, f"{source.name}: {error}")


def _rows(source: DashboardSource, result: Any, limit: int) -> list[dict]:
    if isinstance(result, Mapping) or not isinstance(result, list | tuple):
        raise TypeError(f"fetch returned {type(result).__name__}, not a list of rows")
    out = []
    for item in result[:limit]:
        if not isinstance(item, Mapping):
            raise TypeError(f"a row is {type(item).__name__}, not a mapping")
        row = {g: _key(item.get(g)) for g in source.groups}
        row.update({m: _number(item.get(m), m) for m in source.measures})
        out.append(row)
    return out


def _key(value: Any) -> Any:
    if value is None or isinstance(value, str | int | date):  # (bool is an int; datetime a date)
        return value
    if isinstance(value, Decimal | Fraction | float):
        return str(value)
    raise TypeError(f"a group value is {type(value).__name__}")


def _number(value: Any, name: str) -> Fraction | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError(f"{name} is a boolean, not a number")
    if isinstance(value, int | Fraction):
        return Fraction(value)
    try:
        return Fraction(Decimal(repr(value) if isinstance(value, float) else str(value)))
    except (InvalidOperation, ValueError, OverflowError):
        raise TypeError(f"{name} is {value!r}, not a number") from None
