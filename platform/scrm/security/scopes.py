"""Record scopes over the org tree: which records a user's role lets them see, as SQL.

Entities say how their records hang on the org tree in ``options.scope``::

    "scope": {"owner": "primary_manager", "org": "servicing_org",
              "shares": {"entity": "customer_assignment", "record": "customer", "employee": "employee",
                         "from": "valid_from", "to": "valid_to", "where": {...}}}
    "scope": {"via": "customer", "owner": "assignee"}

- ``owner``: references to the staff entity; ``own`` scope means "I am the owner".
- ``org``: references to the org-tree entity; ``team`` and ``branch`` scopes take records whose
  unit lies in the user's team or branch subtree (and records owned or shared by staff there).
- ``shares``: a link entity granting access to named staff for a period (customer assignments,
  primary and shared, with expiry).
- ``via``: references to a parent whose scope the record shares (a trade is in scope when its
  customer is).

The staff entity names the login it belongs to (``options.staff``: ``{"login": "login", "org":
"org_unit"}``) and the org tree names its parent reference and kind (``options.tree``:
``{"parent": "parent", "kind": "unit_type", "branch_kinds": ["branch", "region", "hq"]}``).
A user's *team* is the subtree of their own unit; their *branch* is the subtree of the nearest
unit above (or at) theirs whose kind is a branch kind.

An entity without ``options.scope`` scopes by who created the record. Every clause is a plain
``IN (subquery)`` over indexed columns; the database does the work, whatever the table size.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from ..conditions import Environment, Preparer
from ..conditions.sql import compile_sql
from ..db import dialect_name, run
from ..meta.model import EntityDef

LEVELS = ("own", "team", "branch", "all")
MAX_DEPTH = 4


@dataclass(frozen=True)
class Principal:
    """Who is asking, placed on the org tree."""

    user_id: int | None
    username: str | None = None
    employee: int | None = None
    org_unit: int | None = None
    team: tuple[int, ...] = ()
    branch: tuple[int, ...] = ()

    def units(self, level: str) -> tuple[int, ...]:
        return {"team": self.team, "branch": self.branch}.get(level, ())


def _option(entity: EntityDef | None, key: str) -> dict:
    return (entity.doc.get("options", {}).get(key) or {}) if entity is not None else {}


def _listed(value) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def staff_entity(snapshot) -> EntityDef | None:
    return snapshot.cached(("staff-entity",), lambda: _find(snapshot, "staff"))


def tree_entity(snapshot) -> EntityDef | None:
    return snapshot.cached(("tree-entity",), lambda: _find(snapshot, "tree"))


def _find(snapshot, option: str) -> EntityDef | None:
    for name in sorted(snapshot.documents_of("entity")):
        entity = snapshot.entity(name)
        if entity is not None and _option(entity, option):
            return entity
    return None


def principal(snapshot, user_id: int | None, username: str | None) -> Principal:
    """The user's employee record (by login) and the org units of their team and branch."""
    staff = staff_entity(snapshot)
    if staff is None or not username:
        return Principal(user_id, username)
    spec = _option(staff, "staff")
    login, org = staff.field(spec.get("login", "login")), staff.field(spec.get("org", "org_unit"))
    if login is None:
        return Principal(user_id, username)
    table = snapshot.tables[staff.name].main
    org_col = table.c[org.column] if org is not None else sa.literal(None)
    row = run(
        sa.select(table.c.id, org_col)
        .where(table.c[login.column] == username, table.c.deleted_at.is_(None))
        .order_by(table.c.id)
        .limit(1)
    ).first()
    if row is None:
        return Principal(user_id, username)
    employee, unit = row
    team, branch = subtrees(snapshot, unit)
    return Principal(user_id, username, employee, unit, team, branch)


def subtrees(snapshot, unit: int | None) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The unit's own subtree and its branch's subtree (one read of the org tree)."""
    tree = tree_entity(snapshot)
    if tree is None or unit is None:
        return ((unit,) if unit else ()), ((unit,) if unit else ())
    spec = _option(tree, "tree")
    parent_f, kind_f = tree.field(spec.get("parent", "parent")), tree.field(spec.get("kind", "unit_type"))
    table = snapshot.tables[tree.name].main
    kind_col = table.c[kind_f.column] if kind_f is not None else sa.literal(None)
    rows = run(sa.select(table.c.id, table.c[parent_f.column], kind_col).where(table.c.deleted_at.is_(None))).all()
    parent = {r[0]: r[1] for r in rows}
    kind = {r[0]: r[2] for r in rows}
    children: dict[int, list[int]] = {}
    for child, up in parent.items():
        children.setdefault(up, []).append(child)

    def below(root: int) -> tuple[int, ...]:
        out, stack, seen = [], [root], set()
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            out.append(node)
            stack.extend(children.get(node, ()))
        return tuple(sorted(out))

    branch_kinds = set(spec.get("branch_kinds", ["branch"]))
    top, steps = unit, 0
    while top is not None and kind.get(top) not in branch_kinds and steps < 50:
        top, steps = parent.get(top), steps + 1
    return below(unit), below(top if top is not None else unit)


class ScopeCompiler:
    """Scope clauses for one principal at one moment."""

    def __init__(self, snapshot, who: Principal, env: Environment):
        self.snapshot = snapshot
        self.who = who
        self.env = env

    @property
    def today(self) -> date:
        return self.env.now.astimezone(self.env.tz).date()

    def clause(self, entity: EntityDef, level: str, depth: int = 0) -> sa.ColumnElement[bool] | None:
        """Rows of ``entity`` inside ``level`` for the principal; None when every row is."""
        parts = self.branches(entity, level, depth)
        if parts is None:
            return None
        return sa.or_(*parts) if parts else sa.false()

    def branches(self, entity: EntityDef, level: str, depth: int = 0) -> list[sa.ColumnElement[bool]] | None:
        """The scope as alternatives whose OR it is: one per owner, org, share and parent clause
        (none: no row; None: every row). Each alone is a plain predicate a planner can estimate
        and serve from an index; their OR is not, so ordered lists query them one by one."""
        if level == "all":
            return None
        main = self.snapshot.tables[entity.name].main
        spec = _option(entity, "scope")
        if not spec:
            return [main.c.created_by == self.who.user_id] if self.who.user_id is not None else []
        units = self.who.units(level)
        parts: list[sa.ColumnElement[bool]] = []
        for name in _listed(spec.get("owner")):
            column = main.c[entity.field(name).column]
            if self.who.employee is not None:
                parts.append(column == self.who.employee)
            if units:
                parts.append(column.in_(self._staff_in(units)))
        if units:
            for name in _listed(spec.get("org")):
                parts.append(main.c[entity.field(name).column].in_(units))
        if spec.get("shares"):
            shared = self._shared(spec["shares"], units)
            if shared is not None:
                parts.append(main.c.id.in_(shared))
        if depth < MAX_DEPTH:
            for name in _listed(spec.get("via")):
                f = entity.field(name)
                parent = self.snapshot.entity(f.target)
                parents = self._parents(parent, level, depth + 1)
                if parents is not None:
                    parts.append(main.c[f.column].in_(parents))
        return parts

    def _parents(self, parent: EntityDef, level: str, depth: int) -> sa.Select | sa.CompoundSelect | None:
        """The ids of the parent records in scope (None: none is): one select per branch of the
        parent's scope, united — "my customers" as the customers I manage UNION those assigned to
        me, each read through its index, where one OR of the two would scan the customer table."""
        target = self.snapshot.tables[parent.name].main
        live = sa.select(target.c.id).where(target.c.deleted_at.is_(None))
        inner = self.branches(parent, level, depth)
        if inner is None:
            return live
        if not inner:
            return None
        return live.where(inner[0]) if len(inner) == 1 else sa.union(*(live.where(part) for part in inner))

    def _staff_in(self, units: tuple[int, ...]) -> sa.Select:
        staff = staff_entity(self.snapshot)
        spec = _option(staff, "staff")
        table = self.snapshot.tables[staff.name].main
        org = staff.field(spec.get("org", "org_unit"))
        return sa.select(table.c.id).where(table.c[org.column].in_(units))

    def _shared(self, spec: dict, units: tuple[int, ...]) -> sa.Select | None:
        link = self.snapshot.entity(spec["entity"])
        table = self.snapshot.tables[link.name].main
        record, employee = link.field(spec["record"]), link.field(spec["employee"])
        who = []
        if self.who.employee is not None:
            who.append(table.c[employee.column] == self.who.employee)
        if units:
            who.append(table.c[employee.column].in_(self._staff_in(units)))
        if not who:
            return None
        today = self.today
        stmt = sa.select(table.c[record.column]).where(table.c.deleted_at.is_(None), sa.or_(*who))
        if spec.get("from"):
            column = table.c[link.field(spec["from"]).column]
            stmt = stmt.where(sa.or_(column.is_(None), column <= today))
        if spec.get("to"):
            column = table.c[link.field(spec["to"]).column]
            stmt = stmt.where(sa.or_(column.is_(None), column >= today))
        if spec.get("where"):
            node = self.snapshot.cached(
                ("scope-share", link.name),
                lambda: Preparer(self.snapshot.field_types, self.snapshot.entity, "permission").condition(
                    spec["where"], link
                ),
            )
            stmt = compile_sql(node, link, self.snapshot.tables, self.env, dialect_name()).apply(stmt)
        return stmt
