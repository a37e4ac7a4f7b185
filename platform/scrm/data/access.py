"""What a user may see, applied to queries and records: the record scope and the role's
filter on every statement, the readability check on every filter, and the presentation of
records (hidden fields left out, masked ones masked, plain views of sensitive data logged).

:class:`AccessMixin` is part of :class:`scrm.data.reading.RecordReader`; the decisions
themselves are :mod:`scrm.security.permissions` and :mod:`scrm.security.scopes`.
"""

from __future__ import annotations

import sqlalchemy as sa

from ..conditions import Environment, compile_sql, deps
from ..conditions.grammar import NO_VALUE
from ..conditions.ir import Field, leaves
from ..db import dialect_name
from ..errors import BadRequest, Detail
from ..i18n import _, text
from ..meta.model import SYSTEM_COLUMNS, EntityDef, FieldDef
from ..security import audit
from ..security.masking import mask
from ..security.permissions import SENSITIVE_MASKS
from ..security.scopes import ScopeCompiler
from .evaluation import prepared


class AccessMixin:
    def scoped(
        self, stmt: sa.Select, entity: EntityDef, env: Environment, branch: sa.ColumnElement[bool] | None = None
    ) -> sa.Select:
        """``stmt`` limited to the records the user's roles let them see: the record scope over
        the org tree (or, given ``branch``, one of :meth:`scope_branches`) and any condition the
        role adds."""
        if self.permissions.system:
            return stmt
        grant = self.permissions.grant(entity.name)
        if branch is not None:
            stmt = stmt.where(branch)
        elif grant.scope != "all":
            clause = ScopeCompiler(self.snapshot, self.principal, env).clause(entity, grant.scope)
            if clause is not None:
                stmt = stmt.where(clause)
        if grant.filters:
            condition = grant.filters[0] if len(grant.filters) == 1 else {"any": list(grant.filters)}
            node = prepared(self.snapshot, condition, entity, "permission").node
            stmt = compile_sql(node, entity, self.snapshot.tables, env, dialect_name()).apply(stmt)
        return stmt

    def scope_branches(self, entity: EntityDef, env: Environment) -> list[sa.ColumnElement[bool]] | None:
        """The user's record scope on ``entity`` as two or more alternatives (owner, org unit,
        shares…), or None when it is a single predicate or none at all."""
        if self.permissions.system:
            return None
        grant = self.permissions.grant(entity.name)
        if grant.scope == "all":
            return None
        parts = ScopeCompiler(self.snapshot, self.principal, env).branches(entity, grant.scope)
        return parts if parts is not None and len(parts) > 1 else None

    def check_readable(self, node, param: str) -> None:
        """A filter may only look at what the user can read: testing a masked or hidden value
        would reveal it one guess at a time. Asking whether it is empty is allowed."""
        if self.permissions.system:
            return
        used: set[str] = set()
        for leaf in leaves(node):
            if leaf.op in NO_VALUE and isinstance(leaf.left, Field) and not leaf.args:
                used |= {
                    f"{e.name}.{f.name}" for e, f in zip(leaf.left.entities[:-1], leaf.left.steps[:-1], strict=True)
                }
            else:
                used |= deps(leaf).fields
        for relation in deps(node).relations:
            owner, _dot, name = relation.partition(".")
            rel = self.snapshot.entity(owner).relation(name) if self.snapshot.entity(owner) else None
            if rel is not None and not self.permissions.can(rel.target, "read"):
                raise BadRequest(
                    _("The filter reads records you may not see."),
                    [Detail(param, _("You may not read {entity}.").format(entity=rel.target), "forbidden_entity")],
                    f"invalid_{param}",
                )
        for dotted in sorted(used):
            owner, _dot, name = dotted.partition(".")
            entity = self.snapshot.entity(owner)
            f = entity.field(name) if entity else None
            if f is None or name in SYSTEM_COLUMNS:
                continue
            if not self.permissions.can(entity, "read") or not self.permissions.readable(entity, f):
                raise BadRequest(
                    _("The filter uses {field}, which you may not read.").format(field=text(f.label) or f.name),
                    [Detail(param, _("You cannot filter by a field you may not read."), "forbidden_field")],
                    f"invalid_{param}",
                )

    def _presentation(self, entity: EntityDef) -> tuple[list[str], list[FieldDef], list[str], dict]:
        """What presenting this entity to these roles takes (computed once per revision):
        hidden field names, masked fields, plain C2-sensitive field names, masked titles."""
        hidden, masked, plain_sensitive = [], [], []
        for f in entity.active_fields:
            access = self.permissions.field(entity, f)
            if access.view == "hidden":
                hidden.append(f.name)
            elif access.view == "masked":
                masked.append(f)
            elif f.get("mask") in SENSITIVE_MASKS:
                plain_sensitive.append(f.name)
        titles = {}
        for f in entity.active_fields:
            if f.type != "ref":
                continue
            target = self.snapshot.entity(f.target)
            title = target.title_field if target is not None else None
            if target is not None and not self.permissions.can(target, "read"):
                titles[f.name] = ("hidden", None)
            elif title is not None:
                view = self.permissions.field(target, title).view
                if view != "plain":
                    titles[f.name] = (view, title.get("mask"))
        return hidden, masked, plain_sensitive, titles

    def present(self, entity: EntityDef, records: list[dict], *, log_view: bool = True) -> list[dict]:
        """Records as the user may see them: hidden fields left out, masked fields masked, and
        the titles of referenced records masked the way their own title field is. Unmasked
        sensitive values are logged as viewed, unless ``log_view`` is False (nothing is shown)."""
        if self.permissions.system or not records:
            return records
        hidden, masked, plain_sensitive, titles = self.snapshot.cached(
            ("presentation", self.permissions.roles, entity.name), lambda: self._presentation(entity)
        )
        shown = [n for n in plain_sensitive if any(r.get(n) not in (None, "", []) for r in records)]
        if shown and log_view:  # sensitive personal data leaves unmasked: who saw which, logged
            ids = [r["id"] for r in records]
            audit.later(
                "view_sensitive",
                self.actor(),
                entity=entity.name,
                record_id=ids[0] if len(ids) == 1 else None,
                fields=shown,
                row_count=len(ids),
                detail={"ids": ids[:200]} if len(ids) > 1 else None,
            )
        if not (hidden or masked or titles):
            return records
        revealed = audit.active_reveals(self.user_id, entity.name, [r["id"] for r in records]) if masked else {}
        for r in records:
            for name in hidden:
                r.pop(name, None)
            shown_plain = revealed.get(r["id"], ())
            for f in masked:
                if f.name in r and f.name not in shown_plain:
                    r[f.name] = mask(f.get("mask"), r[f.name])
            referenced = r.get("_titles")
            if referenced:
                for name, (view, rule) in titles.items():
                    if name in referenced:
                        referenced[name] = f"#{r.get(name)}" if view == "hidden" else mask(rule, referenced[name])
        return records
