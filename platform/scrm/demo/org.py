"""The demo brokerage's organisation: HQ with its departments, four regional companies, eight
branches with two wealth teams each, and about sixty employees in every role."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import sqlalchemy as sa

from ..db import db
from .people import mobile, person_name
from .run import Run

HQ_DEPARTMENTS = (
    ("HQ-CS", "客户服务中心"),
    ("HQ-CO", "合规部"),
    ("HQ-WM", "财富管理部"),
    ("HQ-OP", "运营管理部"),
)
REGIONS = (
    ("BJ", "北京分公司", "110105", (("BJ01", "北京建国门外大街证券营业部"), ("BJ02", "北京中关村大街证券营业部"))),
    ("SH", "上海分公司", "310115", (("SH01", "上海陆家嘴环路证券营业部"), ("SH02", "上海淮海中路证券营业部"))),
    ("GD", "广东分公司", "440304", (("GD01", "深圳福田中心区证券营业部"), ("GD02", "深圳南山科技园证券营业部"))),
    ("ZJ", "浙江分公司", "330106", (("ZJ01", "杭州文三路证券营业部"), ("ZJ02", "宁波江东北路证券营业部"))),
)
TEAMS = ("财富一组", "财富二组")


@dataclass
class Staff:
    org: dict[str, int] = field(default_factory=dict)  # org code -> id
    by_role: dict[str, list[int]] = field(default_factory=dict)
    branch_of: dict[int, int] = field(default_factory=dict)  # employee -> branch org id
    supervisor_of: dict[int, int] = field(default_factory=dict)
    name_of: dict[int, str] = field(default_factory=dict)
    number_of: dict[int, str] = field(default_factory=dict)
    servicers: list[tuple[int, int]] = field(default_factory=list)  # (employee, branch) serving customers
    hnw_servicers: list[tuple[int, int]] = field(default_factory=list)
    branches: list[int] = field(default_factory=list)

    def first(self, role: str) -> int:
        return self.by_role[role][0]


ORG_FIELDS = ["code", "name", "unit_type", "parent", "path", "level", "region_code", "address", "business_license_no",
              "service_calendar", "status", "opened_on"]  # fmt: skip
EMPLOYEE_FIELDS = ["employee_no", "name", "org_unit", "role", "supervisor", "sac_registration_no", "qualifications",
                   "qualification_valid_until", "mobile", "work_wechat_id", "email", "hire_date", "status",
                   "max_customers", "accepts_new_customers", "performance_group"]  # fmt: skip


def build(run: Run) -> Staff:
    staff = Staff()
    _org_units(run, staff)
    _employees(run, staff)
    return staff


def _org_units(run: Run, staff: Staff) -> None:
    rows = []

    def add(code, name, kind, parent, level, path, area="110105", licence=None):
        oid = run.allocate("org_unit", 1)
        staff.org[code] = oid
        rows.append((oid, code, name, kind, staff.org.get(parent), path, level, area,
                     _org_address(run, code, name), licence, "trading_day_0830_1730" if kind != "dept" else "workday",
                     "active", date(2008, 6, 18) + timedelta(days=run.rng.randint(0, 3000))))  # fmt: skip

    add("HQ", "总部", "hq", None, 0, "/HQ")
    for code, name in HQ_DEPARTMENTS:
        add(code, name, "dept", "HQ", 1, f"/HQ/{code}")
    for rcode, rname, area, branches in REGIONS:
        add(rcode, rname, "region", "HQ", 1, f"/HQ/{rcode}", area)
        for bcode, bname in branches:
            add(
                bcode,
                bname,
                "branch",
                rcode,
                2,
                f"/HQ/{rcode}/{bcode}",
                area,
                f"ZQ{run.rng.randint(10**9, 10**10 - 1)}",
            )
            staff.branches.append(staff.org[bcode])
            for t, tname in enumerate(TEAMS, start=1):
                add(f"{bcode}-T{t}", tname, "team", bcode, 3, f"/HQ/{rcode}/{bcode}/{bcode}-T{t}", area)
    writer = run.writer("org_unit", ORG_FIELDS)
    writer.write(rows)
    run.add("org_unit", writer)


def _org_address(run: Run, code: str, name: str) -> str:
    city = {"BJ": "北京市朝阳区建国门外大街", "SH": "上海市浦东新区陆家嘴环路", "GD": "深圳市福田区福华三路",
            "ZJ": "杭州市西湖区文三路", "HQ": "北京市西城区金融大街"}  # fmt: skip
    return f"{city.get(code[:2], city['HQ'])}{run.rng.randint(1, 200)}号"


def _employees(run: Run, staff: Staff) -> None:
    rng = run.rng
    rows = []
    managers_of_org: dict[int, int] = {}

    def add(org_code, role, supervisor=None, quals=("general_securities",), limit=1500):
        eid = run.allocate("employee", 1)
        n = eid
        name = person_name(rng)
        org = staff.org[org_code]
        rows.append((eid, f"E{n:05d}", name, org, role, supervisor,
                     f"S{rng.randint(10**9, 10**10 - 1)}" if "general_securities" in quals else None,
                     list(quals), run.today + timedelta(days=rng.randint(60, 900)), mobile(rng), f"wx_e{n:05d}",
                     f"e{n:05d}@example-securities.cn", date(2010, 1, 1) + timedelta(days=rng.randint(0, 5000)),
                     "active", limit, role in ("account_manager", "wealth_advisor", "investment_advisor"),
                     {"account_manager": "AM", "wealth_advisor": "WA", "investment_advisor": "IA"}.get(role)))  # fmt: skip
        staff.by_role.setdefault(role, []).append(eid)
        staff.name_of[eid] = name
        staff.number_of[eid] = f"E{n:05d}"
        if supervisor:
            staff.supervisor_of[eid] = supervisor
        return eid

    head = add("HQ-WM", "hq_operations", quals=("general_securities", "fund_sales"))
    service_head = add("HQ-CS", "team_leader", head, quals=("general_securities",))
    staff.by_role["service_supervisor"] = [service_head]
    for _ in range(5):
        add("HQ-CS", "service_agent", service_head, quals=("general_securities",))
    for _ in range(2):
        add("HQ-CS", "return_visit_agent", service_head, quals=("general_securities",))
    compliance_head = add("HQ-CO", "compliance_officer", head)
    add("HQ-CO", "compliance_officer", compliance_head)
    add("HQ-OP", "hq_operations", head)
    add("HQ-WM", "analyst", head, quals=("general_securities", "analyst"))
    add("HQ-OP", "it_admin", head, quals=())
    for _rcode, _rname, _area, branches in REGIONS:
        for bcode, _bname in branches:
            branch = staff.org[bcode]
            boss = add(bcode, "branch_manager", head, quals=("general_securities", "fund_sales"))
            managers_of_org[branch] = boss
            staff.branch_of[boss] = branch
            for t in (1, 2):
                team = f"{bcode}-T{t}"
                lead = add(team, "team_leader", boss, quals=("general_securities", "fund_sales"))
                managers_of_org[staff.org[team]] = lead
                staff.branch_of[lead] = branch
                roles = ("account_manager", "account_manager") if t == 1 else ("wealth_advisor", "investment_advisor")
                for role in roles:
                    quals = ["general_securities", "fund_sales"]
                    if role == "investment_advisor" or rng.random() < 0.3:
                        quals.append("investment_advisor")
                    eid = add(team, role, lead, quals=quals, limit=200 if role == "wealth_advisor" else 1500)
                    staff.branch_of[eid] = branch
                    staff.servicers.append((eid, branch))
                    if role in ("wealth_advisor", "investment_advisor"):
                        staff.hnw_servicers.append((eid, branch))
    writer = run.writer("employee", EMPLOYEE_FIELDS)
    writer.write(rows)
    run.add("employee", writer)
    org = run.tables("org_unit").main
    manager_col, officer_col = run.column("org_unit", "manager"), run.column("org_unit", "compliance_officer")
    compliance = staff.by_role["compliance_officer"]
    managers_of_org[staff.org["HQ"]] = head
    for org_id, manager in managers_of_org.items():
        db.session.execute(
            sa.update(org)
            .where(org.c.id == org_id)
            .values({manager_col: manager, officer_col: compliance[org_id % len(compliance)]})
        )
