"""One demo login per shipped role, each named after a real employee of the demo brokerage."""

from __future__ import annotations

import sqlalchemy as sa

from ..db import db
from ..runtime import snapshot
from ..security.users import ADMIN_ROLE, create_user, find_user, set_password

DEMO_PASSWORD = "demo12345"

# username, role, what they do (for the printed list), the employee role they stand for
DEMO_USERS = (
    ("demo", ADMIN_ROLE, "系统管理员 administrator", "it_admin"),
    ("designer_demo", "designer", "业务配置员 designer", "hq_operations"),
    ("hq_demo", "hq_manager", "总部管理 HQ manager", "hq_operations"),
    ("branch_demo", "branch_manager", "营业部负责人 branch manager", "branch_manager"),
    ("lead_demo", "team_lead", "团队长 team lead", "team_leader"),
    ("am_demo", "account_manager", "客户经理 account manager", "account_manager"),
    ("agent_demo", "service_agent", "客服坐席 service agent", "service_agent"),
    ("supervisor_demo", "service_supervisor", "客服主管 service supervisor", "service_supervisor"),
    ("compliance_demo", "compliance_officer", "合规专员 compliance officer", "compliance_officer"),
)


def demo_logins() -> list[str]:
    lines = [f"demo logins (password {DEMO_PASSWORD} for all):"]
    lines += [f"  {username:<16} {what}" for username, _role, what, _emp in DEMO_USERS]
    return lines


def busiest_manager(staff) -> int | None:
    """The account manager with the most customers (the demo's account-manager login)."""
    people = staff.by_role.get("account_manager") or []
    snap = snapshot()
    entity = snap.entity("customer")
    if not people or entity is None or entity.field("primary_manager") is None:
        return people[0] if people else None
    table = snap.tables["customer"].main
    column = table.c[entity.field("primary_manager").column]
    row = db.session.execute(
        sa.select(column).where(column.in_(people)).group_by(column).order_by(sa.func.count().desc(), column).limit(1)
    ).first()
    return row[0] if row else people[0]


def demo_employee(staff, employee_role: str, am: int | None) -> int | None:
    """The employee a demo login stands for: the busiest account manager, their team lead and
    their branch manager (so the three logins show one book at three scopes), else the first
    employee in the role."""
    people = staff.by_role.get(employee_role) or []
    if employee_role == "account_manager" and am in people:
        return am
    if am is not None and employee_role == "team_leader" and staff.supervisor_of.get(am) in people:
        return staff.supervisor_of[am]
    if am is not None and employee_role == "branch_manager":
        same = [e for e in people if staff.branch_of.get(e) == staff.branch_of.get(am)]
        if same:
            return same[0]
    return people[0] if people else None


def link_login(employee: int, username: str) -> None:
    """The employee record names the login (``login``): that places the user on the org tree."""
    snap = snapshot()
    entity = snap.entity("employee")
    if entity is None or entity.field("login") is None:
        return
    table = snap.tables["employee"].main
    column = table.c[entity.field("login").column]
    db.session.execute(sa.update(table).where(column == username).values({column: None}))
    db.session.execute(sa.update(table).where(table.c.id == employee).values({column: username}))


def ensure_demo_users(staff) -> None:
    """Create the demo logins (or reset their password). With ``staff``, each login is linked to
    the employee it stands for and takes their name."""
    am = busiest_manager(staff) if staff is not None else None
    for username, role, what, employee_role in DEMO_USERS:
        name = what.split(" ")[0]
        employee = demo_employee(staff, employee_role, am) if staff is not None else None
        if employee is not None:
            name = f"{staff.name_of[employee]}（{name}）"
            link_login(employee, username)
        user = find_user(username)
        if user is None:
            create_user(username, DEMO_PASSWORD, [role], display_name=name)
        else:
            set_password(user, DEMO_PASSWORD)
