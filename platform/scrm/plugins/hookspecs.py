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
def scrm_derive_record(entity, record, old, lookup, find, today, saving, svc):
    """Fill the fields a plugin derives, on a record about to be saved (created or updated).

    ``entity`` is the :class:`scrm.meta.model.EntityDef`; ``record`` the values to be saved
    (change it in place); ``old`` the stored values, or None on create; ``lookup(entity_name, id)``
    another record's stored values (None when there is none) and ``find(entity_name, condition)``
    stored records matching a condition (at most 1,000) read with system access, deliberately: a
    derivation must not depend on who saves, so use them only for what the derivation needs.
    ``svc`` is the saving user's :class:`scrm.data.records.RecordService` — their view, through
    their permissions and record scopes — for what must be read as them. ``today`` is the
    tenant's date; ``saving`` is False when the form only previews the save, so derivations with
    side effects (drawing a number, taking a routing turn) wait for the real one.
    Required fields, unique rules and the entity's check constraints are checked after, on the
    derived values: a plugin derives, the definitions decide what blocks.
    """


@hookspec
def scrm_check_record(entity, record, old, lookup, find, today, svc):
    """Return problems that block saving a record: a list of ``(field name, message)``.

    Called on create, on update and when a form asks for problems, after the entity's own
    rules, with the same arguments as :func:`scrm_derive_record` (``lookup`` and ``find`` read
    with system access, ``svc`` as the saving user). For rules whose message must
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


@hookspec
def scrm_importers(config):
    """Return importers: :class:`scrm.data.importers.Importer` objects, each a file format for
    one entity — which header names go to which field, the key that matches a row to a stored
    record (one field or several, e.g. account + date) and the default mode. The import page
    offers them and recognises a file by its header; ``scrm import --format`` names one. An
    importer with a ``pull`` callable and a ``schedule`` (cron) also runs in the scheduler, taking
    the files ``pull(config)`` returns (a trading system's nightly drop folder). ``config`` is the
    application's configuration. An importer named like another replaces it."""


@hookspec
def scrm_condition_functions():
    """Return functions to add to the condition language's ``calc``: a list of
    :class:`scrm.conditions.functions.ConditionFunction` (name, arity, a Python callable over the
    argument values, optionally a SQL builder over column expressions, the result's type). One
    without a SQL builder is refused where a condition may compile to SQL (list filters, alerts,
    dashboards, computed fields, permissions) and allowed in check constraints, form rules,
    workflow guards and stored computed fields. A function that raises gives NULL and the error is
    recorded against the plugin. A function named like a built-in (``lower``) replaces it."""


@hookspec
def scrm_dashboard_sources():
    """Return data sources for dashboard widgets: a list of
    :class:`scrm.dashboards.sources.DashboardSource` (name, label, the group and measure columns
    of its rows, and ``fetch(svc, params, filters)`` returning the rows). A widget says
    ``"source": name`` (and optionally ``"params"``) instead of a dataset. ``svc`` is the viewer's
    record service, so what a source reads goes through their permissions; ``params`` are the
    widget's own; ``filters`` the dashboard's chosen filter values and period. A source that
    raises shows an error in its widget only. A source named like another replaces it."""


@hookspec
def scrm_actions():
    """Return actions that alert rules and workflow steps may name as ``{"do": name, …}``: a list
    of :class:`scrm.alerts.action_types.Action` (``name``, ``label``, ``options_schema`` — the JSON
    Schema of the action's other keys, which the definition checker validates them with — and
    ``run(context, action, batch)``, applying the action to a batch of records inside the run's
    transaction; ``describe(action)`` is what a dry run shows, for a dry run never runs it).
    An action that raises is undone to a savepoint and recorded against the plugin; the rule's
    other actions and records go on. An action named like a built-in (``notify``) replaces it,
    except ``set`` and ``assign``."""


@hookspec
def scrm_cli_commands():
    """Return click commands to add to the ``scrm`` command line (a list of
    :class:`click.Command`, groups included). They run inside the application's context (its
    configuration, database and plugins; use :func:`scrm.db.write_intent` to write). A command
    named like a built-in one is not added (the built-in wins) and the clash is recorded against
    the plugin; a plugin whose hook fails adds no commands and breaks nothing."""
