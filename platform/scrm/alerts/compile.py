"""A rule as SQL: one evaluating statement, :func:`matches` — the records matching
``scope ∧ condition``, with when the rule last fired for each and whether it already holds the
rule's tags (correlated look-ups: they run for the matched rows only) — and, for the records that
will fire, :func:`statement`: their metric values, the record values the actions read and which
actions apply, read a batch of ids at a time.

A tagging rule matches a fifth of the book every night and fires for the few that do not hold
the tag yet; an alert in cooldown matches and does not fire. Metrics (averages over the
snapshots, often only there for ``untag`` or a message) are worth computing for those that fire.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ..conditions import Environment, Preparer, ir
from ..conditions.aggregates import all_aggregates
from ..conditions.check import document_source
from ..conditions.implied import guarded
from ..conditions.sql import Scope, SqlCompiler, compile_sql, grouped_by_default
from ..conditions.sqlvalues import typed
from ..meta.alert_checks import BUILTIN_ACTIONS, TEMPLATE_ROOTS, TEXT_KEYS, action_recipients, option_paths
from ..meta.model import EntityDef
from ..notify import placeholders
from .model import Rule
from .store import Firing

METRIC_DIGITS = 6  # a metric that is a quotient is rounded to this many decimals


@dataclass(eq=False)
class PreparedRule:
    rule: Rule
    entity: EntityDef
    node: ir.Node
    untag: ir.Node | None
    metrics: dict[str, ir.Operand]
    rounded: dict[str, ir.Operand]  # decimal metrics rounded, for those that are quotients
    paths: dict[str, ir.Operand]  # record paths the actions, templates and dedupe key read
    whens: dict[int, ir.Node]  # action index -> the condition it applies under
    sealed: dict[str, tuple]  # encrypted paths: (operand giving the owner's id or None, owner entity, column)
    templates: dict[int, dict[str, placeholders.MessageTemplate]] = field(default_factory=dict)


def prepare(snapshot, rule: Rule) -> PreparedRule:
    """The rule's condition, metrics and action paths, prepared once per published revision
    (:class:`~scrm.conditions.ConditionError` when the document does not fit the definitions)."""

    def build() -> PreparedRule:
        entity = snapshot.entity(rule.entity)
        context = "event" if rule.trigger else "alert"
        source = document_source(rule.doc, dict.fromkeys(rule.params) | dict.fromkeys(_trigger_params(rule)))
        preparer = Preparer(snapshot.field_types, snapshot.entity, context, source=source)
        parts = [rule.doc[k] for k in ("scope", "condition") if k in rule.doc]
        node = preparer.condition({"all": parts} if len(parts) > 1 else parts[0], entity)
        untag = preparer.condition(rule.doc["untag"], entity, "$.untag") if "untag" in rule.doc else None
        metrics, rounded = {}, {}
        for name, raw in rule.metrics.items():
            metrics[name] = preparer.operand(raw, entity, f"$.metrics.{name}")
            if metrics[name].kind == "decimal":
                rounded[name] = preparer.operand(
                    {"calc": "round", "args": [raw, METRIC_DIGITS]}, entity, f"$.metrics.{name}"
                )
        templates = action_templates(rule)
        paths, sealed = {}, {}
        for path in sorted(record_paths(rule, templates)):
            operand = paths[path] = preparer.operand({"field": path}, entity, "$.actions")
            if operand.last.encrypted:  # read the sealed column itself, opened by its type
                prefix = path.rpartition(".")[0]
                ref = preparer.operand({"field": prefix}, entity, "$.actions") if prefix else None
                sealed[path] = (ref, operand.owner.name, operand.last.column)
        whens = {
            i: preparer.condition(action["when"], entity, f"$.actions[{i}].when")
            for i, action in enumerate(rule.actions)
            if "when" in action
        }
        return PreparedRule(rule, entity, node, untag, metrics, rounded, paths, whens, sealed, templates)

    return snapshot.cached(("alert-prepared", rule.name, rule.version), build)


def _trigger_params(rule: Rule) -> list[str]:
    trigger = rule.trigger
    return list(trigger.params) if trigger else []


LOCALES = {"zh-CN", "en"}


def action_templates(rule: Rule) -> dict[int, dict[str, placeholders.MessageTemplate]]:
    """Every text of every action parsed as a message template, per locale (``params`` of an SMS
    by parameter name)."""
    out: dict[int, dict[str, placeholders.MessageTemplate]] = {}
    roots = TEMPLATE_ROOTS
    for i, action in enumerate(rule.actions):
        parsed = {}
        for key in TEXT_KEYS:
            value = action.get(key)
            if isinstance(value, str):
                parsed[key] = placeholders.parse(value, roots)
            elif isinstance(value, dict):
                for locale, text in value.items():
                    parsed[f"{key}:{locale}"] = placeholders.parse(text, roots)
        for name, text in (action.get("params") or {}).items():
            parsed[f"param:{name}"] = placeholders.parse(text, roots)
        for name, value in (action.get("values") or {}).items():  # start_workflow's texts
            if isinstance(value, str) and "{{" in value:
                parsed[f"value:{name}"] = placeholders.parse(value, roots)
            elif isinstance(value, dict) and value and set(value) <= LOCALES:
                for locale, text in value.items():
                    if isinstance(text, str):
                        parsed[f"value:{name}:{locale}"] = placeholders.parse(text, roots)
        out[i] = parsed
    return out


def record_paths(rule: Rule, templates: dict[int, dict[str, placeholders.MessageTemplate]]) -> set[str]:
    paths = set(rule.key_fields)
    for i, action in enumerate(rule.actions):
        for recipient in action_recipients(action):
            if "field" in recipient:
                paths.add(recipient["field"])
            if "within" in recipient:
                paths.add(recipient["within"]["field"])
        for value in (action.get("values") or {}).values():
            if isinstance(value, dict) and "field" in value:
                paths.add(value["field"])
        if action["do"] not in BUILTIN_ACTIONS:  # a plugin's action reads the paths its options name
            paths.update(path for _at, path in option_paths(action))
        for template in templates.get(i, {}).values():
            paths.update(p[len("record.") :] for p in template.paths if p.startswith("record."))
    return paths


def matches(
    prepared: PreparedRule,
    snapshot,
    env: Environment,
    dialect: str,
    *,
    ids: list[int] | None = None,
    tag_ids: list[int] | None = None,
) -> sa.Select:
    """The evaluating statement: ``id``, ``last_fired`` and ``held`` (the record holds every tag
    of ``tag_ids``) of each record the rule matches, in no particular order (an ``ORDER BY id``
    made SQLite walk the primary key instead of the condition's index)."""
    rule, entity = prepared.rule, prepared.entity
    main = snapshot.tables[entity.name].main
    set_wide = ids is None
    compiled = compile_sql(
        guarded(prepared.node), entity, snapshot.tables, env, dialect, batch=grouped_by_default(dialect) and set_wide,
        set_wide=set_wide,
    )  # fmt: skip
    firing = Firing.__table__
    cols: list[Any] = [
        main.c.id.label("id"),
        sa.select(sa.func.max(firing.c.fired_at))
        .where(firing.c.rule == rule.name, firing.c.record_id == main.c.id)
        .scalar_subquery()
        .label("last_fired"),
    ]
    if tag_ids:
        cols.append(held_clause(snapshot, entity, main.c.id, tag_ids, env).label("held"))
    stmt = compiled.apply(sa.select(*cols).select_from(main).where(main.c.deleted_at.is_(None)))
    return stmt.where(main.c.id.in_(ids)) if ids is not None else stmt


def statement(prepared: PreparedRule, snapshot, env: Environment, dialect: str, *, ids: list[int]) -> sa.Select:
    """What firing for the records ``ids`` takes: ``id``, ``m_<metric>``, ``p_<n>`` (action paths,
    in :attr:`PreparedRule.paths` order) and ``w_<action>`` (1 where the action's ``when``
    holds), of those that still match. Aggregates are correlated subqueries: they run for these
    records only, through the child tables' indexes."""
    entity = prepared.entity
    main = snapshot.tables[entity.name].main
    compiler = SqlCompiler(snapshot.tables, env, dialect, batch=False)
    scope = Scope(entity, main, [])
    compiler.share_picks(all_aggregates([prepared.node, *prepared.metrics.values(), *prepared.whens.values()]))
    where = compiler.condition(prepared.node, scope)
    cols: list[Any] = [main.c.id.label("id")]
    for name, operand in prepared.metrics.items():
        try:
            value = typed(compiler.operand(operand, scope), dialect)
        except TypeError:  # a quotient is selected rounded to METRIC_DIGITS decimals
            value = typed(compiler.operand(prepared.rounded[name], scope), dialect)
        cols.append(value.label(f"m_{name}"))
    for i, (path, operand) in enumerate(prepared.paths.items()):
        if path in prepared.sealed:
            ref, owner, column = prepared.sealed[path]
            if ref is None:
                cols.append(main.c[column].label(f"p_{i}"))
            else:
                target = snapshot.tables[owner].main.alias(f"sealed_{i}")
                owner_id = typed(compiler.operand(ref, scope), dialect)
                value = sa.select(target.c[column]).where(target.c.id == owner_id).scalar_subquery()
                cols.append(value.label(f"p_{i}"))
            continue
        cols.append(typed(compiler.operand(operand, scope), dialect).label(f"p_{i}"))
    for i, node in prepared.whens.items():
        clause = compiler.condition(node, scope)
        clause = sa.true() if clause is None else clause
        cols.append(sa.case((clause, sa.literal(1)), else_=sa.literal(0)).label(f"w_{i}"))
    return _select(cols, main, scope, where, ids)


def _select(cols: list, main, scope: Scope, where, ids: list[int]) -> sa.Select:
    source = main
    for target, on in scope.joins:
        source = source.outerjoin(target, on)
    stmt = sa.select(*cols).select_from(source).where(main.c.deleted_at.is_(None), main.c.id.in_(ids))
    return stmt.where(where) if where is not None else stmt


def link_entity(snapshot, entity: EntityDef) -> EntityDef | None:
    """The entity that holds ``entity``'s tags: ``<entity>_tag`` (``customer_tag``)."""
    return snapshot.entity(f"{entity.name}_tag")


def held_clause(snapshot, entity: EntityDef, record_id, tag_ids: list[int], env: Environment):
    """Whether the record holds every tag of ``tag_ids`` now (not removed, not expired)."""
    link = link_entity(snapshot, entity)
    t = snapshot.tables[link.name].main
    record_col, tag_col = t.c[link.field(entity.name).column], t.c[link.field("tag").column]
    today = env.now.astimezone(env.tz).date()
    active = sa.and_(
        t.c.deleted_at.is_(None),
        t.c[link.field("removed_at").column].is_(None),
        sa.or_(t.c[link.field("valid_until").column].is_(None), t.c[link.field("valid_until").column] >= today),
    )
    count = (
        sa.select(sa.func.count(sa.distinct(tag_col)))
        .where(record_col == record_id, tag_col.in_(tag_ids), active)
        .scalar_subquery()
    )
    return count >= len(tag_ids)
