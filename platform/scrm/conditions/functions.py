"""The functions ``calc`` can name: the core's own and those plugins add (hook
``scrm_condition_functions``), looked up in the running application's registry.

The core's functions are implemented inside the back-ends (exact arithmetic, dates in the
tenant's zone); they are registered through the hook like a plugin's (``builtin=True``), so a
plugin's function of the same name replaces one. A plugin's function is a plain callable over
the argument values, and optionally a SQL builder over column expressions; one without a SQL
builder is refused by the preparer where the condition may compile to SQL. A plugin's function
that raises (or returns what its result type cannot hold) gives NULL, and the error is recorded
against the plugin: a broken plugin never breaks the page that evaluates a condition.
"""

from __future__ import annotations

import logging
import re
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from fractions import Fraction
from typing import Any

from .grammar import CALC_ARITY
from .values import CALC, DATE_CALC, ValueProblem, as_decimal, convert, date_part

log = logging.getLogger(__name__)

HOOK = "scrm_condition_functions"
RESULT_KINDS = frozenset({"string", "integer", "decimal", "bool", "date", "datetime"})
NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
MAX_ARGS = 20  # the metaschema's limit on ``args``


@dataclass(frozen=True)
class ConditionFunction:
    """One function of ``{"calc": name, "args": [...]}``.

    ``python(*values)`` computes it from the argument values (decimals as ``Decimal``, instants as
    aware ``datetime``, ``None`` for NULL); ``sql(*expressions)``, when given, builds the same as a
    SQLAlchemy expression over the arguments' column expressions (numbers as numeric SQL values),
    so the function can be used in list filters, alerts and dashboards. ``result`` is the kind of
    value it returns; ``arguments`` the kinds it accepts (the last repeats; empty: any single
    value). ``label`` and ``description`` are for people (text or ``{"zh-CN": …, "en": …}``).
    """

    name: str
    arity: tuple[int, int]
    python: Callable[..., Any]
    sql: Callable[..., Any] | None = None
    result: str | None = "string"
    arguments: tuple[str | None, ...] = ()
    label: Any = ""
    description: Any = ""
    builtin: bool = False  # the core's own: the back-ends implement it (grammar, values, sql)
    plugin: str | None = None  # who contributed it (filled in when collected)

    def argument_kind(self, i: int) -> str | None:
        if not self.arguments:
            return None
        return self.arguments[min(i, len(self.arguments) - 1)]

    def check(self) -> None:
        """Raise ``ValueError`` when the function cannot be used (a plugin's mistake)."""
        if not isinstance(self.name, str) or not NAME.match(self.name):
            raise ValueError(f"{self.name!r} is not a function name (lower-case letters, digits, _)")
        low, high = self.arity
        if not (isinstance(low, int) and isinstance(high, int) and 1 <= low <= high <= MAX_ARGS):
            raise ValueError(f"{self.name}: arity must be (low, high) with 1 <= low <= high <= {MAX_ARGS}")
        if not callable(self.python) or (self.sql is not None and not callable(self.sql)):
            raise ValueError(f"{self.name}: python (and sql, when given) must be callable")
        if not self.builtin and self.result not in RESULT_KINDS:
            raise ValueError(f"{self.name}: result must be one of {', '.join(sorted(RESULT_KINDS))}")
        if any(k is not None and k not in RESULT_KINDS for k in self.arguments):
            raise ValueError(f"{self.name}: argument kinds must be among {', '.join(sorted(RESULT_KINDS))}")


class Functions(Mapping[str, ConditionFunction]):
    """The functions by name; a later one replaces an earlier one of the same name."""

    def __init__(self, items: list[ConditionFunction] | None = None):
        self._by_name: dict[str, ConditionFunction] = {}
        for fn in items or ():
            self.add(fn)

    def add(self, fn: ConditionFunction) -> None:
        if not isinstance(fn, ConditionFunction):
            raise TypeError(f"{fn!r} is not a ConditionFunction")
        fn.check()
        self._by_name[fn.name] = fn

    def __getitem__(self, name: str) -> ConditionFunction:
        return self._by_name[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)


# -- the core's functions ----------------------------------------------------------------------
def builtin_functions() -> list[ConditionFunction]:
    """The core's functions, as registered by :mod:`scrm.plugins.builtins`."""
    python = {**CALC, **DATE_CALC, "date_part": date_part}
    return [
        ConditionFunction(name, arity, python[name], result=None, builtin=True, plugin="scrm.builtins")
        for name, arity in CALC_ARITY.items()
    ]


_CORE: Functions | None = None


def core() -> Functions:
    """The core's functions alone (outside an application)."""
    global _CORE
    if _CORE is None:
        _CORE = Functions(builtin_functions())
    return _CORE


# -- the running application's registry --------------------------------------------------------
def contributions(plugins, hook: str) -> list[tuple[str, list]]:
    """What each implementation of a registry hook returns, in registration order (a later one
    may replace an earlier one): ``(plugin name, items)``. A plugin's implementation that raises
    is recorded against it and skipped; the built-ins' errors surface like any other."""
    out = []
    for impl in getattr(plugins.pm.hook, hook).get_hookimpls():
        if plugins.is_builtin(impl.plugin_name):
            out.append((impl.plugin_name, list(impl.function() or ())))
            continue
        try:
            out.append((impl.plugin_name, list(impl.function() or ())))
        except Exception as exc:  # a plugin's error is its own
            plugins.record_error(impl.plugin_name, hook, f"{type(exc).__name__}: {exc}")
    return out


_REGISTRIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def registry_of(plugins) -> Functions:
    """The functions of a plugin manager: built anew when its implementations change."""
    key = tuple((impl.plugin_name, impl.function) for impl in plugins.pm.hook.scrm_condition_functions.get_hookimpls())
    found = _REGISTRIES.get(plugins)
    if found is not None and found[0] == key:
        return found[1]
    registry = Functions()
    for plugin, items in contributions(plugins, HOOK):
        for fn in items:
            try:
                if not isinstance(fn, ConditionFunction):
                    raise TypeError(f"{fn!r} is not a ConditionFunction")
                registry.add(fn if fn.builtin else replace(fn, plugin=plugin))
            except (TypeError, ValueError) as exc:
                if plugins.is_builtin(plugin):
                    raise
                plugins.record_error(plugin, HOOK, f"{type(exc).__name__}: {exc}")
    _REGISTRIES[plugins] = (key, registry)
    return registry


def _app_plugins():
    from flask import current_app, has_app_context

    if not has_app_context():
        return None
    rt = current_app.extensions.get("scrm")
    return rt.plugins if rt is not None else None


def current() -> Functions:
    """The functions of the running application (the core's alone outside one)."""
    plugins = _app_plugins()
    return registry_of(plugins) if plugins is not None else core()


# -- calling a plugin's function -----------------------------------------------------------------
def plain(value: Any) -> Any:
    """An argument as a plugin sees it: exact quotients as ``Decimal``."""
    if isinstance(value, Fraction):
        return as_decimal(value)
    return value


def call(fn: ConditionFunction, values: list) -> Any:
    """A plugin's function over argument values: its result as a value of its kind, or ``None``
    when it raises or returns something its kind cannot hold (the error is recorded)."""
    try:
        result = fn.python(*(plain(v) for v in values))
    except Exception as exc:  # a plugin's error is its own: the value is unknown
        report(fn, exc)
        return None
    if result is None:
        return None
    try:
        if fn.result == "decimal" and isinstance(result, float):
            result = Decimal(repr(result))
        return convert(fn.result, result)
    except (ValueProblem, ValueError, TypeError) as exc:
        report(fn, exc)
        return None


def compiled(fn: ConditionFunction) -> None:
    """Note that this request's SQL holds a plugin function's expression: should the database
    refuse a statement, :func:`blame_compiled` says which function (never a 500)."""
    from flask import g, has_request_context

    if has_request_context() and fn.plugin is not None:
        g.setdefault("scrm_sql_functions", {})[fn.name] = fn


def blame_compiled(exc: Exception):
    """For a database error in a request whose SQL holds plugin functions: record it against
    their plugins and give the error the user sees (None: no plugin function was compiled)."""
    from flask import g, has_request_context

    found = g.get("scrm_sql_functions") if has_request_context() else None
    if not found:
        return None
    from ..errors import BadRequest

    detail = str(getattr(exc, "orig", exc)).splitlines()[0][:300]
    for fn in found.values():
        report(fn, RuntimeError(f"the database refused its SQL: {detail}"))
    from .messages import ConditionError

    return BadRequest(ConditionError("E-COND-016", fn=", ".join(sorted(found))).message, code="E-COND-016")


def report(fn: ConditionFunction, exc: Exception) -> None:
    """Record a plugin function's failure against its plugin (once per request and function)."""
    error = f"{fn.name}: {type(exc).__name__}: {exc}"
    plugins = _app_plugins()
    if plugins is None or fn.plugin is None:
        log.warning("condition function %s failed: %s", fn.name, error)
        return
    from flask import g, has_request_context

    if has_request_context():
        seen = g.setdefault("scrm_function_errors", set())
        if (fn.plugin, fn.name) in seen:
            return
        seen.add((fn.plugin, fn.name))
    plugins.record_error(fn.plugin, HOOK, error)
