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
def scrm_derive_record(entity, record, old, lookup, find, today, saving):
    """Fill the fields a plugin derives, on a record about to be saved (created or updated).

    ``entity`` is the :class:`scrm.meta.model.EntityDef`; ``record`` the values to be saved
    (change it in place); ``old`` the stored values, or None on create; ``lookup(entity_name, id)``
    another record's stored values (None when there is none), read with system access;
    ``find(entity_name, condition)`` stored records matching a condition (at most 1,000);
    ``today`` the tenant's date; ``saving`` is False when the form only previews the save, so
    derivations with side effects (drawing a number, taking a routing turn) wait for the real one.
    Required fields, unique rules and the entity's check constraints are checked after, on the
    derived values: a plugin derives, the definitions decide what blocks.
    """


@hookspec
def scrm_check_record(entity, record, old, lookup, find, today):
    """Return problems that block saving a record: a list of ``(field name, message)``.

    Called on create, on update and when a form asks for problems, after the entity's own
    rules, with the same arguments as :func:`scrm_derive_record`. For rules whose message must
    name what was found (a banned phrase and its compliant alternative); rules that a condition
    can express belong in the entity's check constraints, where business staff can change them.
    """


@hookspec
def scrm_notification_channels(config):
    """Return notification channels to add: objects with a ``name`` and
    ``send(*, address, subject, body, template, params) -> provider id or None``.

    ``config`` is the application's configuration. Rules and workflows name channels in their
    ``notify`` actions (``"channel": "wecom"``); messages to them go through the outbox, so
    ``send`` runs after commit, and may raise :class:`scrm.notify.channels.DeliveryError` to be
    retried later or :class:`~scrm.notify.channels.ChannelUnavailable` while not configured. A
    channel named like a built-in (``email``, ``sms``) replaces it.
    """


@hookspec
def scrm_calendars():
    """Return trading or business calendars to add: a mapping of name to
    :class:`scrm.jobs.calendars.Calendar`.

    A rule's ``schedule.calendar`` names one; the scheduler skips the days it marks closed. The
    built-in ``sse_trading_days`` is the Shanghai Stock Exchange's (weekdays less the published
    holidays); a plugin's calendar of the same name replaces it.
    """


@hookspec
def scrm_record_written(snapshot, entity, record_id, created, changed, old):
    """A record was created (``created`` true) or updated, inside the writing transaction.

    ``entity`` is the :class:`scrm.meta.model.EntityDef`; ``changed`` the names of the fields
    whose value changed (every field on create); ``old`` the stored values before the update
    (None on create). Work done here commits or rolls back with the write, so queue what must
    follow it (the alert engine queues an event for event-triggered rules) rather than call out.
    """


@hookspec
def scrm_import_finished(snapshot, entity, job_id, status):
    """An import into ``entity`` (a name) finished with ``status`` (``done`` or ``rolled_back``);
    the alert engine runs the rules scheduled ``also_on`` the event ``import.<entity>.completed``."""


@hookspec
def scrm_record_transitioned(snapshot, entity, record_id, transition, from_state, to_state, user_id):
    """A workflow moved a record (``entity``: the :class:`scrm.meta.model.EntityDef`) from
    ``from_state`` to ``to_state`` by ``transition`` (its name), inside the writing transaction,
    after the record, its clocks and its history were written. ``user_id`` is who did it (None for
    the system: timers, events). As with :func:`scrm_record_written`, queue what must follow."""


@hookspec
def scrm_definitions_published(published, revision, user_id):
    """Definitions were published (a designer's publish, a rollback, a bundle import or a sync):
    ``published`` lists ``(kind, name, version)``; ``revision`` is the new configuration revision.
    Called inside the publishing transaction (not for dry runs), so a plugin can refresh what it
    derives from definitions — every process picks the new revision up on its next request."""


@hookspec
def scrm_customer_360_panels(svc, record):
    """Return extra panels for a customer's 360° page: a list of mappings with ``label`` (text),
    ``columns`` (list of headings), ``rows`` (list of lists of cells, shown as text) and optionally
    ``more_url``. ``svc`` is the viewer's record service — what it reads goes through their
    permissions and record scopes, so a panel never shows what the viewer may not see; ``record``
    is the customer as they see it (masked fields masked). Panels follow the trades panel."""
