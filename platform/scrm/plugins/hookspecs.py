"""Every hook SCRM calls, one documented stub each (docs/plugins.md describes them for IT).

Plugins implement hooks with ``@scrm.plugins.hookimpl``; arguments are passed by keyword, so an
implementation may accept only the ones it needs. Built-in behaviour registers through these
same hooks (:mod:`scrm.plugins.builtins`). A meta-test fails when a hook has no test or is
missing from the documentation.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("scrm")
hookimpl = pluggy.HookimplMarker("scrm")


@hookspec
def scrm_field_types():
    """Return a list of :class:`scrm.fields.FieldType` instances to make available to entities.

    A later plugin may replace a built-in type by returning one with the same ``name``.
    """
