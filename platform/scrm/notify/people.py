"""Who receives what: employees found by reference, by role up the org tree, or by login —
shared by alert rules and workflows. One instance per run or request caches what it read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ..db import run


@dataclass(eq=False)
class People:
    snapshot: Any
    load: Any  # (entity name, id) -> record dict; raises when the record is gone
    _employees: dict[int, dict | None] = field(default_factory=dict)
    _org_parents: dict[int, int | None] | None = None
    _role_holders: dict[tuple[int, str], int | None] = field(default_factory=dict)

    def employee(self, employee_id: int) -> dict | None:
        if employee_id not in self._employees:
            try:
                self._employees[employee_id] = self.load("employee", employee_id)
            except Exception:  # deleted meanwhile: nobody to tell
                self._employees[employee_id] = None
        return self._employees[employee_id]

    def by_login(self, login_name: str) -> int | None:
        emp = self.snapshot.entity("employee")
        login = emp.field("login") if emp else None
        if login is None:
            return None
        t = self.snapshot.tables["employee"].main
        found = run(sa.select(t.c.id).where(t.c[login.column] == login_name, t.c.deleted_at.is_(None))).first()
        return found[0] if found else None

    def role_holder(self, unit: int, role: str) -> int | None:
        """The nearest active employee with ``role`` in ``unit`` or up the org tree."""
        if (unit, role) in self._role_holders:
            return self._role_holders[(unit, role)]
        found = None
        for current in self.ancestry(unit):
            found = next(iter(self.with_roles([current], [role], limit=1)), None)
            if found is not None:
                break
        self._role_holders[(unit, role)] = found
        return found

    def with_roles(
        self, units: list[int], roles: list[str], limit: int | None = None, *, present: bool = False
    ) -> list[int]:
        """Employees who have not left with one of ``roles`` in ``units``, by id; ``present``
        leaves out those on leave too (whom work should not be routed to)."""
        emp = self.snapshot.entity("employee")
        t = self.snapshot.tables["employee"].main
        q = (
            sa.select(t.c.id)
            .where(
                t.c[emp.field("org_unit").column].in_(units),
                t.c[emp.field("role").column].in_(roles),
                t.c[emp.field("status").column].not_in(["left", "on_leave"] if present else ["left"]),
                t.c.deleted_at.is_(None),
            )
            .order_by(t.c.id)
        )
        return list(run(q.limit(limit) if limit else q).scalars())

    def ancestry(self, unit: int) -> list[int]:
        """``unit`` and its parents up to the root."""
        parents, out, current = self.parents(), [], unit
        while current is not None and current not in out:
            out.append(current)
            current = parents.get(current)
        return out

    def subtree(self, unit: int) -> list[int]:
        """``unit`` and every unit below it."""
        children: dict[int | None, list[int]] = {}
        for child, parent in self.parents().items():
            children.setdefault(parent, []).append(child)
        out, todo = [], [unit]
        while todo:
            current = todo.pop()
            if current not in out:
                out.append(current)
                todo += children.get(current, [])
        return sorted(out)

    def parents(self) -> dict[int, int | None]:
        if self._org_parents is None:
            org = self.snapshot.entity("org_unit")
            t = self.snapshot.tables["org_unit"].main
            column = t.c[org.field("parent").column]
            self._org_parents = {r[0]: r[1] for r in run(sa.select(t.c.id, column))}
        return self._org_parents
