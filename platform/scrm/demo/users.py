"""One demo login per shipped role, each named after a real employee of the demo brokerage."""

from __future__ import annotations

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


def ensure_demo_users(staff) -> None:
    """Create the demo logins (or reset their password). With ``staff``, the display name is the
    name of the employee the login stands for."""
    for username, role, what, employee_role in DEMO_USERS:
        name = what.split(" ")[0]
        if staff is not None and staff.by_role.get(employee_role):
            name = f"{staff.name_of[staff.by_role[employee_role][0]]}（{name}）"
        user = find_user(username)
        if user is None:
            create_user(username, DEMO_PASSWORD, [role], display_name=name)
        else:
            set_password(user, DEMO_PASSWORD)
