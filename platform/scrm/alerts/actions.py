"""What a firing does, applied a batch of firings at a time inside the transaction that inserted
them: tasks, tags, field values and notifications either all exist with their firings or none do.
Notifications to the outside (e-mail, SMS) only enter the outbox here; a worker sends them after
commit (:mod:`scrm.notify.outbox`).

Recipients are employees: ``{"field": path}`` names one through a reference (the account
manager, ``primary_manager.supervisor``), ``{"role": r, "within": {"field": org}}`` finds the
nearest active employee with that role in the record's org unit or above it, ``{"user": name}``
a user by login.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from .. import durations
from ..conditions import Environment
from ..conditions.reltime import resolve_instant
from ..data.records import RecordService
from ..db import db, run
from ..i18n import _candidates
from ..meta.model import EntityDef
from ..notify.people import People
from ..security import audit
from .action_types import ActionContext, ActionTypes, Fired, action_types
from .compile import LOCALES, PreparedRule, link_entity


@dataclass
class Applied:
    tasks: int = 0
    tagged: int = 0
    updated: int = 0
    messages: int = 0
    started: int = 0
    failed: int = 0  # records a plugin's action failed for (recorded against the plugin)


@dataclass(eq=False)
class ActionRunner:
    snapshot: Any
    prepared: PreparedRule
    env: Environment
    locale: str
    service: RecordService
    applied: Applied = field(default_factory=Applied)
    types: ActionTypes | None = None  # default: this installation's actions
    _people: People | None = None
    _tag_ids: dict[str, int] = field(default_factory=dict)

    @property
    def rule(self):
        return self.prepared.rule

    @property
    def entity(self) -> EntityDef:
        return self.prepared.entity

    def apply(self, batch: list[Fired]) -> None:
        """Each action of the rule, by the registered action of its name, for the firings its
        ``when`` holds for (a plugin's action that fails is recorded; the others go on)."""
        if self.types is None:
            self.types = action_types()
        for i, action in enumerate(self.rule.actions):
            chosen = [x for x in batch if x.values.get(f"when:{i}", True)]
            if chosen:
                self.applied.failed += self.types.run(self.context(i), action, chosen)

    def context(self, index: int) -> ActionContext:
        """What the rule's action at ``index`` runs with."""
        return ActionContext(
            self.snapshot, self.entity, self.service, self.env, self.locale, self.rule.name,
            render=lambda key, fired: self.render(index, key, fired), recipients=self.recipients, runner=self,
        )  # fmt: skip

    # -- texts --------------------------------------------------------------------------------
    def values(self, fired: Fired) -> dict:
        return {
            "record": _nested(fired.values) | {"id": fired.record_id},
            "metrics": fired.metrics,
            "rule": {"name": self.rule.name, "label": _text(self.rule.label, self.locale)},
            "params": dict(self.env.params),
        }

    def render(self, index: int, key: str, fired: Fired) -> str | None:
        templates = self.prepared.templates.get(index, {})
        if key in templates:
            return templates[key].render(self.values(fired))
        for locale in _candidates(self.locale):
            if f"{key}:{locale}" in templates:
                return templates[f"{key}:{locale}"].render(self.values(fired))
        localised = [k for k in templates if k.startswith(f"{key}:")]
        return templates[localised[0]].render(self.values(fired)) if localised else None

    # -- recipients ---------------------------------------------------------------------------
    def recipients(self, spec: dict, fired: Fired) -> list[int]:
        """Employee ids a recipient spec names for one firing."""
        if "field" in spec:
            value = fired.values.get(spec["field"])
            return [value] if isinstance(value, int) else []
        if "role" in spec:
            unit = fired.values.get(spec["within"]["field"]) if "within" in spec else None
            found = self.people.role_holder(unit, spec["role"]) if isinstance(unit, int) else None
            return [found] if found else []
        if "user" in spec:
            found = self.people.by_login(spec["user"])
            return [found] if found else []
        return []

    @property
    def people(self) -> People:
        if self._people is None:
            self._people = People(self.snapshot, self.service.load)
        return self._people

    def due(self, due) -> datetime | None:
        if due is None:
            return None
        if isinstance(due, dict):
            return resolve_instant(due["time"], self.env.now, self.env.tz)
        return durations.parse(due).after(self.env.now.astimezone(self.env.tz))

    def tag_ids(self, codes: list[str]) -> dict[str, int]:
        missing = [c for c in codes if c not in self._tag_ids]
        if missing:
            self._tag_ids.update(tag_ids(self.snapshot, self.service, missing, create=True))
        return {c: self._tag_ids[c] for c in codes if c in self._tag_ids}

    def text_value(self, raw, fired: Fired) -> str | None:
        from ..notify import placeholders

        translated = isinstance(raw, dict) and bool(raw) and set(raw) <= LOCALES
        if not (isinstance(raw, str) or translated):
            return None
        source = raw if isinstance(raw, str) else (raw.get(self.locale) or raw.get("zh-CN") or raw.get("en"))
        if not isinstance(source, str) or "{{" not in source:
            return source if translated else None
        return placeholders.parse(source).render(self.values(fired))


# -- tags ----------------------------------------------------------------------------------------
def tag_ids(snapshot, service: RecordService, codes: list[str], *, create: bool) -> dict[str, int]:
    """Tag records by code; with ``create``, a code nobody defined yet becomes a rule tag."""
    tag = snapshot.entity("tag")
    t = snapshot.tables["tag"].main
    code_col = t.c[tag.field("code").column]
    found = {r[1]: r[0] for r in run(sa.select(t.c.id, code_col).where(code_col.in_(codes), t.c.deleted_at.is_(None)))}
    missing = [c for c in codes if c not in found]
    if missing and create:
        rows = [_complete(tag, {"code": c, "name": c, "tag_type": "rule", "active": True}) for c in missing]
        for code, new_id in zip(missing, service.insert_many(tag, rows), strict=True):
            found[code] = new_id
    return found


def _complete(entity: EntityDef, row: dict) -> dict:
    """``row`` less the fields ``entity`` lacks, with its other required choices set to their
    first option (a tag a rule creates gets the first category; an admin recategorises it)."""
    out = {k: v for k, v in row.items() if entity.field(k) is not None}
    for f in entity.active_fields:
        if f.name not in out and f.get("required") and not f.has_default and f.options:
            out[f.name] = f.options[0].value
    return out


def _tag_names(snapshot, ids: list[int]) -> dict[int, str]:
    tag = snapshot.entity("tag")
    t = snapshot.tables["tag"].main
    name = t.c[tag.field("name").column]
    return {r[0]: r[1] for r in run(sa.select(t.c.id, name).where(t.c.id.in_(ids)))}


def add_tags(
    snapshot, service, entity: EntityDef, ids: list[int], tags: dict[str, int], env, rule: str, expires, evidence
):
    """Link each record to each tag it does not hold yet; keep the summary field in step."""
    link = link_entity(snapshot, entity)
    t = snapshot.tables[link.name].main
    record_col, tag_col = t.c[link.field(entity.name).column], t.c[link.field("tag").column]
    removed = t.c[link.field("removed_at").column]
    until = t.c[link.field("valid_until").column]
    today = env.now.astimezone(env.tz).date()
    held = {
        (r[0], r[1])
        for r in run(
            sa.select(record_col, tag_col).where(
                record_col.in_(ids),
                tag_col.in_(list(tags.values())),
                removed.is_(None),
                t.c.deleted_at.is_(None),
                sa.or_(until.is_(None), until >= today),
            )
        )
    }
    rows = []
    for record_id in ids:
        for tag_id in tags.values():
            if (record_id, tag_id) not in held:
                rows.append(
                    {
                        entity.name: record_id,
                        "tag": tag_id,
                        "source": "rule",
                        "applied_at": env.now,
                        "valid_until": expires,
                        "evidence": {"rule": rule, "metrics": evidence.get(record_id, {})},
                    }
                )
    rows = [{k: v for k, v in r.items() if link.field(k) is not None and v is not None} for r in rows]
    new = service.insert_many(link, rows)
    if new:
        _summary(snapshot, entity, [(r[entity.name], r["tag"]) for r in rows], add=True)
        audit.append("rule_tag", audit.SYSTEM, entity=link.name, row_count=len(new), reason=rule)
    return len(new)


def untag(
    snapshot, entity: EntityDef, ids: list[int] | None, tags: dict[str, int], now: datetime, rule: str, source=None
) -> int:
    """End the records' active links to ``tags`` (``ids`` None: every holder; ``source``: only
    links of that source, so a rule never ends a tag a person applied); returns how many."""
    link = link_entity(snapshot, entity)
    t = snapshot.tables[link.name].main
    record_col, tag_col = t.c[link.field(entity.name).column], t.c[link.field("tag").column]
    removed = t.c[link.field("removed_at").column]
    where = [tag_col.in_(list(tags.values())), removed.is_(None), t.c.deleted_at.is_(None)]
    if ids is not None:
        where.append(record_col.in_(ids))
    if source is not None:
        where.append(t.c[link.field("source").column] == source)
    pairs = [(r[0], r[1]) for r in run(sa.select(record_col, tag_col).where(*where))]
    if not pairs:
        return 0
    db.session.execute(
        sa.update(t).where(*where).values({removed.name: now, "version": t.c.version + 1, "updated_at": now})
    )
    _summary(snapshot, entity, pairs, add=False)
    audit.append("rule_untag", audit.SYSTEM, entity=link.name, row_count=len(pairs), reason=rule)
    return len(pairs)


def _summary(snapshot, entity: EntityDef, pairs: list[tuple[int, int]], *, add: bool) -> None:
    """The entity's ``tags`` field (a quick view of current tag names) follows its links."""
    f = entity.field("tags")
    et = snapshot.tables[entity.name]
    if f is None or f.id not in et.links or not pairs:
        return
    names = _tag_names(snapshot, sorted({tag for _r, tag in pairs}))
    link = et.links[f.id]
    wanted = {(record, names[tag]) for record, tag in pairs if tag in names}
    records = sorted({r for r, _n in wanted})
    existing = {
        (r[0], r[1]) for r in run(sa.select(link.c.record_id, link.c.value).where(link.c.record_id.in_(records)))
    }
    if add:
        rows = [{"record_id": r, "value": v} for r, v in sorted(wanted - existing)]
        if rows:
            db.session.execute(sa.insert(link), rows)
    else:
        for record, value in sorted(wanted & existing):
            db.session.execute(sa.delete(link).where(link.c.record_id == record, link.c.value == value))


# -- helpers ---------------------------------------------------------------------------------------
def _nested(values: dict[str, Any]) -> dict:
    """``{"a.b": 1}`` as ``{"a": {"b": 1}}`` for templates; a reference's own value stays under
    its name when a deeper path also reads it."""
    out: dict[str, Any] = {}
    for path, value in sorted(values.items(), key=lambda kv: kv[0].count(".")):
        parts = path.split(".")
        node = out
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {} if child is None else {"id": child}
            node = child
        node[parts[-1]] = value
    return out


def _json(values: dict) -> dict:
    return {k: _plain(v) for k, v in values.items()}


def _plain(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value


def metrics_json(values: dict) -> str:
    return json.dumps(_json(values), ensure_ascii=False, sort_keys=True)


def _text(value, locale: str) -> str:
    if isinstance(value, dict):
        for key in _candidates(locale):
            if value.get(key):
                return value[key]
        return next(iter(value.values()), "")
    return str(value or "")
