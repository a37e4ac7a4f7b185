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


@hookspec
def scrm_derive_record(entity, record, old, lookup, find, today):
    """Fill the fields a plugin derives, on a record about to be saved (created or updated).

    ``entity`` is the :class:`scrm.meta.model.EntityDef`; ``record`` the values to be saved
    (change it in place); ``old`` the stored values, or None on create; ``lookup(entity_name, id)``
    another record's stored values (None when there is none), read with system access;
    ``find(entity_name, condition)`` stored records matching a condition (at most 1,000);
    ``today`` the tenant's date. Required fields, unique rules and the entity's check constraints
    are checked after, on the derived values: a plugin derives, the definitions decide what blocks.
    """


@hookspec
def scrm_check_record(entity, record, old, lookup, find, today):
    """Return problems that block saving a record: a list of ``(field name, message)``.

    Called on create, on update and when a form asks for problems, after the entity's own
    rules, with the same arguments as :func:`scrm_derive_record`. For rules whose message must
    name what was found (a banned phrase and its compliant alternative); rules that a condition
    can express belong in the entity's check constraints, where business staff can change them.
    """
