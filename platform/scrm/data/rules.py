"""The entity's own rules on a save: required fields, unique fields and combinations (plain and
conditional), references, check constraints, and the problems plugins add."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ..conditions import ConditionError
from ..db import run
from ..errors import Detail, ValidationFailed
from ..i18n import _, text
from ..meta.model import EntityDef, FieldDef
from .evaluation import prepared
from .form_rules import form_rules
from .reading import RecordReader
from .sealed import equals
from .tables import EntityTables


@dataclass(frozen=True)
class FormOutcome:
    """What the form's rules decided on a save: hidden fields (not required), fields a rule
    requires, and the submitted values that were dropped."""

    hidden: frozenset[str] = frozenset()
    required: frozenset[str] = frozenset()
    dropped: frozenset[str] = frozenset()


class RulesMixin:
    def _apply_form_rules(self, entity: EntityDef, merged: dict, cleaned: dict, current: dict | None) -> FormOutcome:
        """The form's rules on a save, as the form page applies them: values sent for hidden or
        disabled fields are dropped (the stored or default value stays), fields a ``require`` rule
        makes required must have a value when visible. Feeds and the system are not bound by a
        form's presentation."""
        rules = form_rules(self.snapshot, entity)
        if not rules or self.system or self.permissions.system:
            return FormOutcome()
        states = rules.field_states(merged, self.environment(old=current))
        base = current if current is not None else self.defaults(entity)
        hidden = {name for name, s in states.items() if not s.visible}
        dropped = {name for name, s in states.items() if (not s.visible or not s.enabled) and name in cleaned}
        for name in dropped:
            del cleaned[name]
            if name in base:
                merged[name] = base[name]
            else:
                merged.pop(name, None)
        required = {name for name, s in states.items() if s.visible and s.required}
        return FormOutcome(frozenset(hidden), frozenset(required), frozenset(dropped))

    def _check_rules(
        self,
        entity: EntityDef,
        merged: dict,
        changed: set[str],
        record_id: int | None,
        current: dict | None = None,
        form: FormOutcome | None = None,
    ) -> None:
        et = self.tables(entity)
        form = form or FormOutcome()
        details: list[Detail] = []
        for f in entity.active_fields:
            needed = (f.required and not (f.readonly and not self.system)) or f.name in form.required
            if needed and f.name not in form.hidden and merged.get(f.name) in (None, [], ""):
                details.append(Detail(f.name, _("This field is required.")))
        for f in self.stored_fields(entity):
            value = merged.get(f.name)
            if f.name not in changed or value is None:
                continue
            if f.unique:
                other = self._find_duplicate(et, [(f, value)], record_id)
                if other:
                    details.append(Detail(f.name, _("Already used by record #{id}.").format(id=other)))
            if f.type == "ref" and not self._exists(f.target, value):  # within the user's scope
                details.append(
                    Detail(
                        f.name,
                        _("There is no {target} record #{id}.").format(
                            target=text(self.entity(f.target).label), id=value
                        ),
                    )
                )
        for c in entity.doc.get("constraints", []):
            if c["type"] == "unique" and "where" not in c and changed & set(c["fields"]):
                fields = [entity.field(n) for n in c["fields"]]
                pairs = [(f, merged.get(f.name)) for f in fields if f]
                if all(v is not None for _f, v in pairs):
                    other = self._find_duplicate(et, pairs, record_id)
                    if other:
                        message = text(c.get("message")) or _(
                            "This combination is already used by record #{id}."
                        ).format(id=other)
                        details.append(Detail(c["fields"][-1], message))
            elif c["type"] == "unique" and "where" in c:
                detail = self._conditional_duplicate(entity, et, c, merged, changed, record_id, current)
                if detail:
                    details.append(detail)
            elif c["type"] == "check":
                env = self.environment(old=current)
                applies = not c.get("when") or self._holds(entity, c, "when", merged, env)
                holds = not applies or self._holds(entity, c, "assert", merged, env)
                if not holds:
                    details.append(Detail(c.get("field") or "$", text(c.get("message")) or c["name"]))
        details += self._plugin_problems(entity, merged, current)
        if details:
            raise ValidationFailed(_("Please correct the marked fields."), details)

    def _conditional_duplicate(
        self, entity: EntityDef, et: EntityTables, c: dict, merged: dict, changed: set[str], record_id, current
    ) -> Detail | None:
        """A unique rule that applies only to records matching ``where`` (one *current* primary
        servicer, one *live* consent per purpose): the other records with the same values are
        few, so each is tested with the same condition the saved record is. Unlike a plain unique
        rule, empty values are compared as equal."""
        fields = [entity.field(n) for n in c["fields"]]
        try:
            where = prepared(
                self.snapshot, c["where"], entity, "check", key=("constraint", entity.version, c["name"], "where")
            )
        except ConditionError:
            return None
        read = {p.split(".")[0] for p in where.deps.paths}
        if current is not None and not changed & (set(c["fields"]) | read):
            return None
        env = self.environment(old=current)
        if not all(fields) or not where.predicate(merged, env):
            return None
        # empty values count as equal here: "one live consent per purpose and recipient" means
        # one without a recipient too
        same = [
            et.main.c[f.column].is_(None) if merged.get(f.name) is None else equals(et, f, merged.get(f.name))
            for f in fields
        ]
        q = sa.select(et.main.c.id).where(et.main.c.deleted_at.is_(None), *same)
        if record_id is not None:
            q = q.where(et.main.c.id != record_id)
        for other in run(q.order_by(et.main.c.id).limit(50)).scalars():
            if where.predicate(RecordReader(self.snapshot, self.user_id, user=self.user).load(entity.name, other), env):
                message = text(c.get("message")) or _("This combination is already used by record #{id}.").format(
                    id=other
                )
                return Detail(c["fields"][-1], message)
        return None

    def _holds(self, entity: EntityDef, constraint: dict, part: str, record: dict, env) -> bool:
        key = ("constraint", entity.version, constraint["name"], part)
        try:
            check = prepared(self.snapshot, constraint[part], entity, "check", key=key)
        except ConditionError:
            return True  # checked when the definition was published; never block a save on it here
        return check.predicate(record, env)

    def _find_duplicate(self, et: EntityTables, pairs: list[tuple[FieldDef, Any]], record_id: int | None) -> int | None:
        q = sa.select(et.main.c.id).where(et.main.c.deleted_at.is_(None), *[equals(et, f, v) for f, v in pairs])
        if record_id is not None:
            q = q.where(et.main.c.id != record_id)
        return run(q.limit(1)).scalar_one_or_none()
