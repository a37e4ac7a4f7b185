"""The shipped ticket workflows W2–W4 of the domain reference §6.3 — complaints, product sales
with the suitability check, customer transfers and sharing — driven end to end through the REST
API by the people who take each step.

Every path from creation to a terminal state is walked (each step offered to its actor, the
history on the workflow page matching the path, the fields the steps set); the steps people may
not take answer 403 (role, self-approval, maker-checker) or 404 (out of scope), failed guards 422
with the guard's message, steps that do not leave from the current state 409. The SLA clocks
and delayed transitions are driven by the sweep.

The staff (employees with logins, user accounts, tokens), products, customers and assessments
are built once per module in a copy of the shipped template database (password hashing makes
user accounts slow to create); each test gets its own copy of that, so tests stay isolated.
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from support import BACKENDS, PG_URL, local_today, make_app, seed_records
from support import pg_server as _pg_server
from support import pg_url as _pg_url

WORKFLOWS = Path(__file__).parents[1] / "workflows"
SHIPPED = ("complaint", "product_sale", "customer_assignment")
DOCS = {name: json.loads((WORKFLOWS / f"{name}.json").read_text(encoding="utf-8")) for name in SHIPPED}
PASSWORD = "Workflow-pass-2026"
NOW = datetime.now(UTC)
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
SET = object()  # an expected field value: anything but empty

# login: (employee role, user roles, supervisor's login); created in this order, so the first
# holder of an employee role in the branch is the one role recipients ({role, within}) find
STAFF = {
    "lead": ("team_leader", ["team_lead"], None),
    "lead2": ("team_leader", ["team_lead"], None),
    "agent": ("service_agent", ["service_agent"], "lead"),
    "handler": ("service_agent", ["service_agent"], "lead"),
    "handler2": ("service_agent", ["service_agent"], "lead"),
    "sup": ("service_agent", ["service_supervisor"], None),
    "bm": ("branch_manager", ["branch_manager"], None),
    "bm2": ("branch_manager", ["branch_manager"], None),
    "co": ("compliance_officer", ["compliance_officer"], None),
    "co2": ("compliance_officer", ["compliance_officer"], None),
    "dual": ("compliance_officer", ["service_agent", "compliance_officer"], None),
    "seller": ("account_manager", ["account_manager"], "lead"),
    "seller2": ("account_manager", ["account_manager"], "lead"),
    "rv": ("return_visit_agent", ["service_agent"], None),
}


def cn_id(n: int, born: date = date(1980, 1, 1)) -> str:
    body = f"110105{born:%Y%m%d}{n % 1000:03d}"
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, WEIGHTS, strict=True)) % 11]


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# -- the staffed database, built once per module -------------------------------------------
@dataclass
class Base:
    backend: str
    url: str
    ids: dict  # org units, employees (by login), customers, products, assessments
    tokens: dict  # login -> API token
    users: dict  # login -> user id


def build(app) -> tuple[dict, dict, dict]:
    from scrm.data.records import RecordService
    from scrm.db import write_intent
    from scrm.demo.content import DATA
    from scrm.runtime import snapshot
    from scrm.security.users import create_user, find_user, issue_token

    with app.app_context():
        svc = RecordService(snapshot(), None, system=True)
        ids = seed_records(svc)
        branch, today = ids["branch"], local_today()
        for n, (login, (role, _roles, boss)) in enumerate(STAFF.items()):
            row = {"employee_no": f"W{n:03d}", "name": f"员工{login}", "org_unit": branch, "role": role, "login": login}
            if role == "account_manager":
                row["qualifications"] = ["fund_sales"]
            if boss:
                row["supervisor"] = ids[boss]
            ids[login] = svc.create("employee", row)["id"]
        ids["gone"] = svc.create(
            "employee",
            {"employee_no": "W900", "name": "离职经理", "org_unit": branch, "role": "account_manager",
             "status": "left", "hire_date": "2020-01-01", "leave_date": str(today - timedelta(days=3))},
        )["id"]  # fmt: skip
        approved = {"compliance_approved_by": ids["co"], "compliance_approved_at": stamp(NOW - timedelta(days=20))}
        for key, kind, rating, extra in (
            ("R3", "public_fund_mixed", "R3", {}),
            ("R4", "public_fund_mixed", "R4", {}),
            ("R5", "public_fund_equity", "R5", {}),
            ("PF", "private_fund", "R4", {"target_investor": "qualified_investor", "min_investment": "1000000",
                                          "cooling_off_hours": 24, "requires_revisit": True}),
            ("AM", "broker_am_collective", "R3", {"requires_revisit": True}),
        ):  # fmt: skip
            ids[key] = svc.create(
                "product",
                {"product_code": f"WF{key}", "name": f"流程测试产品{key}", "product_type": kind, "risk_level": rating,
                 "investment_horizon": "medium", "investment_variety": "equity", "sale_status": "open",
                 "risk_rated_at": str(today - timedelta(days=30)), **approved, **extra},
            )["id"]  # fmt: skip
        q = json.loads((DATA / "questionnaire.json").read_text(encoding="utf-8"))
        template = svc.create(
            "questionnaire_template",
            {"code": q["code"], "template_version": q["version"], "questions": q["questions"],
             "score_bands": q["score_bands"], "status": "active", "approved_by": ids["co"], "effective_from": "2024-01-01"},
        )  # fmt: skip
        for n, (key, level, manager) in enumerate(
            (("c4", "C4", "seller"), ("c3", "C3", "seller"), ("c0", None, "seller"), ("ca", "C3", "seller"),
             ("cl", "C3", "gone")), start=1,
        ):  # fmt: skip
            row = {"customer_no": f"3200000000{n:02d}", "name": f"流程客户{n}", "id_type": "cn_id", "id_number": cn_id(n),
                   "birth_date": "1980-01-01", "primary_manager": ids[manager], "servicing_org": branch,
                   "investor_category": "ordinary", "intended_horizon": "long", "intended_varieties": ["equity", "fixed_income"]}  # fmt: skip
            if level:
                row.update(risk_level=level, risk_assessed_at=stamp(NOW - timedelta(days=30)),
                           risk_valid_until=str(today + timedelta(days=300)))  # fmt: skip
            ids[key] = svc.create("customer", row)["id"]
            if level:
                ids[f"assessment_{key}"] = svc.create(
                    "suitability_assessment",
                    {"customer": ids[key], "template": template["id"], "template_version": template["template_version"],
                     "final_level": level, "channel": "app", "assessed_at": stamp(NOW - timedelta(days=10)),
                     "valid_until": str(today + timedelta(days=300)), "status": "valid", "intended_horizon": "long",
                     "intended_varieties": ["fixed_income", "equity"]},
                )["id"]  # fmt: skip
        with write_intent():
            for login, (_role, roles, _boss) in STAFF.items():
                create_user(login, PASSWORD, roles, f"员工{login}")
            users = {login: find_user(login) for login in [*STAFF, "admin"]}
            tokens = {login: issue_token(user, "workflow tests") for login, user in users.items()}
        return ids, tokens, {login: user.id for login, user in users.items()}


@pytest.fixture(scope="module", params=BACKENDS)
def staffed(request, templates, tmp_path_factory):
    from scrm.db import db

    template = templates(request.param)
    cleanup = None
    if request.param == "sqlite":
        target = tmp_path_factory.mktemp("workflows") / "staffed.db"
        shutil.copyfile(template.url[len("sqlite:///") :], target)
        url = f"sqlite:///{target}"
    else:
        server, base = _pg_server(PG_URL)
        cleanup = f"{base}_wf_{uuid.uuid4().hex[:8]}"
        with server.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{cleanup}" TEMPLATE "{sa.engine.make_url(template.url).database}"')
        url = _pg_url(PG_URL, cleanup)
    app = make_app(url)
    ids, tokens, users = build(app)
    with app.app_context():
        if request.param == "sqlite":
            db.session.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
        db.session.remove()
        db.engine.dispose()
    yield Base(request.param, url, ids, tokens, users)
    if cleanup:
        server, _base = _pg_server(PG_URL)
        with server.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{cleanup}" WITH (FORCE)')


def copy_of(staffed: Base, folder: Path) -> tuple[str, str | None]:
    """A fresh copy of the staffed database: its URL and, on PostgreSQL, the name to drop."""
    if staffed.backend == "sqlite":
        target = folder / f"scrm_{uuid.uuid4().hex[:8]}.db"
        shutil.copyfile(staffed.url[len("sqlite:///") :], target)
        return f"sqlite:///{target}", None
    server, base = _pg_server(PG_URL)
    name = f"{base}_wt_{uuid.uuid4().hex[:10]}"
    with server.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{sa.engine.make_url(staffed.url).database}"')
    return _pg_url(PG_URL, name), name


def world_on(staffed: Base, folder: Path):
    from scrm.db import db

    url, name = copy_of(staffed, folder)
    app = make_app(url)
    try:
        yield World(app, staffed)
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        if name:
            server, _base = _pg_server(PG_URL)
            with server.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def w(staffed, tmp_path):
    """A world of its own: for tests that read inboxes, task lists or run the sweep."""
    yield from world_on(staffed, tmp_path)


@pytest.fixture(scope="module")
def shared(staffed, tmp_path_factory):
    """One world for the table-driven tests: each acts only on records it creates, and a fresh
    application per test would cost more than the test (loading the definitions)."""
    yield from world_on(staffed, tmp_path_factory.mktemp("shared"))


# -- steps of a path --------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    """``who`` takes the transition ``name`` with ``input`` ("@login" stands for that person's
    employee id) and ``comment``."""

    who: str
    name: str
    input: dict | None = None
    comment: str | None = None


@dataclass(frozen=True)
class Edit:
    """``who`` edits the record (PATCH) between steps."""

    who: str
    values: dict


@dataclass(frozen=True)
class Feed:
    """What the system writes between steps: the settlement feed (``paid``; ``paid_cooling_over``
    and ``paid_cooling_ahead`` also set the end of the cooling-off period), ``no_evidence``
    (the e-signature withdrawn) and the return-visit desk's result (``visit:<result>``)."""

    what: str


class World:
    def __init__(self, app, base: Base):
        self.app, self.base, self.ids = app, base, base.ids
        self.client = app.test_client()
        self.n = 0

    # -- the API as one person ---------------------------------------------------------------
    def call(self, who: str, method: str, path: str, body=None):
        headers = {"Authorization": f"Bearer {self.base.tokens[who]}"}
        return getattr(self.client, method)(f"/api/v1{path}", json=body, headers=headers)

    def resolve(self, value):
        if isinstance(value, str) and value.startswith("@"):
            return self.ids[value[1:]]
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        return value

    def create(self, who: str, entity: str, **values) -> dict:
        r = self.call(who, "post", f"/records/{entity}", self.resolve(values))
        assert r.status_code == 201, r.get_json()
        return r.get_json()

    def record(self, entity: str, rid: int, who: str = "admin") -> dict:
        r = self.call(who, "get", f"/records/{entity}/{rid}")
        assert r.status_code == 200, r.get_json()
        return r.get_json()

    def workflow(self, entity: str, rid: int, who: str = "admin") -> dict:
        r = self.call(who, "get", f"/records/{entity}/{rid}/workflow")
        assert r.status_code == 200, r.get_json()
        return r.get_json()

    def offered(self, entity: str, rid: int, who: str) -> set[str]:
        return {t["name"] for t in self.workflow(entity, rid, who)["transitions"]}

    def take(self, step: Step, entity: str, rid: int, version: int | None = None):
        body = {"input": self.resolve(step.input or {})}
        if step.comment is not None:
            body["comment"] = step.comment
        if version is not None:
            body["_version"] = version
        return self.call(step.who, "post", f"/records/{entity}/{rid}/transitions/{step.name}", body)

    def edit(self, who: str, entity: str, rid: int, values: dict):
        version = self.record(entity, rid)["version"]
        return self.call(who, "patch", f"/records/{entity}/{rid}", {**self.resolve(values), "_version": version})

    # -- the system -------------------------------------------------------------------------
    def system(self, fn):
        from scrm.data.records import RecordService
        from scrm.runtime import snapshot

        with self.app.app_context():
            return fn(RecordService(snapshot(), None, system=True))

    def feed(self, entity: str, rid: int, what: str) -> None:
        def write(svc):
            current = svc.get(entity, rid)
            if what.startswith("visit:"):
                for visit in svc.list("return_visit", filter={"field": "sale", "op": "eq", "value": rid}).items:
                    svc.update("return_visit", visit["id"], {"result": what[6:]}, version=visit["version"])
                return
            if what == "no_evidence":
                values = {"e_signature": None}
            else:
                paid = current["disclosure_ack_at"]  # payment right after the acknowledgement
                values = {"paid_at": stamp(paid)}
                if what == "paid_cooling_over":
                    values["cooling_off_until"] = stamp(paid + timedelta(milliseconds=1))
                elif what == "paid_cooling_ahead":
                    values["cooling_off_until"] = stamp(paid + timedelta(hours=24))
            svc.update(entity, rid, values, version=current["version"])

        self.system(write)

    def list(self, entity: str, condition: dict) -> list[dict]:
        return self.system(lambda svc: svc.list(entity, filter=condition, limit=200).items)

    def inbox(self, who: str) -> list[tuple[str | None, str]]:
        from scrm.db import db
        from scrm.notify.inbox import Notification

        with self.app.app_context():
            rows = db.session.execute(
                sa.select(Notification.rule, Notification.title)
                .where(Notification.user_id == self.base.users[who])
                .order_by(Notification.id)
            ).all()
            db.session.remove()
        return [tuple(r) for r in rows]

    def sweep(self, after: timedelta):
        from scrm.workflows.sweep import sweep

        with self.app.app_context():
            return sweep(now=datetime.now(UTC) + after)

    # -- records to start from ---------------------------------------------------------------
    def make(self, entity: str, **options) -> dict:
        self.n += 1
        return getattr(self, f"new_{entity}")(**options)

    def new_complaint(self, who: str = "agent", handler: str = "@handler", **extra) -> dict:
        return self.create(
            who, "complaint", customer=self.ids["c2"], source="hotline", type="service_attitude",
            description="营业部柜台人员服务态度恶劣，拒绝解释费用扣收原因", received_at=stamp(NOW - timedelta(hours=1)),
            org_unit=self.ids["branch"], handler=handler, **extra,
        )  # fmt: skip

    def new_product_sale(
        self, who: str = "seller", customer: str = "c4", product: str = "R3", initiated: str = "customer",
        channel: str = "app", amount: str = "50000", **extra,
    ) -> dict:  # fmt: skip
        evidence = {"e_signature": "esign://contract/0001#sha256:ab12"} if channel in ("app", "web") else {
            "recording": "rec://branch/0001#sha256:cd34"}  # fmt: skip
        assessment = self.ids.get(f"assessment_{customer}")
        return self.create(
            who, "product_sale", sale_no=f"XS{self.n:06d}", customer=self.ids[customer], product=self.ids[product],
            initiated_by=initiated, channel=channel, seller=self.ids["seller"], amount=amount,
            **({"assessment": assessment} if assessment else {}), **evidence, **extra,
        )  # fmt: skip

    def new_customer_assignment(
        self, who: str = "lead", customer: str = "ca", employee: str = "seller2", valid_from: int = 0, **extra
    ) -> dict:
        return self.create(
            who, "customer_assignment", customer=self.ids[customer], employee=self.ids[employee], relation="servicer",
            is_primary=False, valid_from=str(local_today() + timedelta(days=valid_from)),
            change_reason="transfer_request", **extra,
        )  # fmt: skip

    def run(self, entity: str, rid: int, steps, *, check_offered: bool = False) -> None:
        """Take the steps; each must succeed (and be offered to its actor when asked)."""
        for step in steps:
            if isinstance(step, Feed):
                self.feed(entity, rid, step.what)
            elif isinstance(step, Edit):
                r = self.edit(step.who, entity, rid, step.values)
                assert r.status_code == 200, (step, r.get_json())
            else:
                if check_offered:
                    assert step.name in self.offered(entity, rid, step.who), step
                r = self.take(step, entity, rid)
                assert r.status_code == 200, (step, r.get_json())
                assert r.get_json()["_transition"]["name"] == step.name


def transition(entity: str, name: str) -> dict:
    return next(t for t in DOCS[entity]["transitions"] if t["name"] == name)


def expected_history(entity: str, steps) -> list[tuple]:
    doc = DOCS[entity]
    state = doc["initial"]
    out = [("create", None, state, None)]
    for step in steps:
        if isinstance(step, Step):
            t = transition(entity, step.name)
            target = state if t["to"] == "$same" else t["to"]
            out.append((step.name, state, target, step.who))
            state = target
    return out


def guard_message(entity: str, name: str) -> str:
    return transition(entity, name)["guard_message"]["zh-CN"]


# -- the paths ---------------------------------------------------------------------------------
S = Step
ACK = S("handler", "acknowledge", {"acknowledgement_channel": "phone"})
PROPOSAL = {"investigation_summary": "调取柜台录像并约谈当事员工，确认解释不到位", "responsibility": "employee",
            "resolution": "corrected"}  # fmt: skip
TO_RESPONSE = [ACK, S("handler", "investigate"), S("bm", "approve_proposal", PROPOSAL),
               S("handler", "contact_customer", comment="电话告知处理方案及整改措施")]  # fmt: skip
REJECTED = [*TO_RESPONSE, S("handler", "customer_rejects", comment="投诉人要求赔偿，不接受方案")]
TO_REVIEW = [*TO_RESPONSE, S("handler", "customer_accepts"), S("handler", "submit_review")]
CLOSE = S("co", "close", {"compliance_reviewed_by": "@co"})
EXTENDED_DUE = stamp(NOW + timedelta(days=20))
REVIEWED_CLOSED = {"compliance_reviewed_by": "@co", "compliance_reviewed_at": SET, "closed_at": SET}

COMPLAINT_PATHS = {
    "accepted": (
        {},
        [ACK, S("handler", "record_contact", comment="电话联系投诉人了解诉求"), *TO_REVIEW[1:], CLOSE],
        {"acknowledged_at": SET, "acknowledgement_channel": "phone", "first_contact_at": SET,
         "resolution": "corrected", **REVIEWED_CLOSED},
    ),
    "mediation": (
        {},
        [*REJECTED, S("handler", "start_mediation", {"mediation_org": "sac_mediation"}, "投诉人同意调解"),
         S("handler", "submit_review"), S("co2", "close", {"compliance_reviewed_by": "@co2"})],
        {"mediation_org": "sac_mediation", "resolution": "mediation", "compliance_reviewed_by": "@co2"},
    ),
    "mediation_fails_then_litigation": (
        {},
        [*REJECTED, S("handler", "start_mediation", {"mediation_org": "isc"}, "投诉人同意调解"),
         S("handler", "start_litigation", comment="调解未成，投诉人申请仲裁"), S("handler", "submit_review"), CLOSE],
        {"resolution": "litigation_arbitration", **REVIEWED_CLOSED},
    ),
    "litigation": (
        {},
        [*REJECTED, S("co", "start_litigation", comment="投诉人已起诉"), S("handler", "submit_review"), CLOSE],
        {"resolution": "litigation_arbitration", **REVIEWED_CLOSED},
    ),
    "not_accepted_closed_with_reasons": (
        {},
        [*REJECTED, S("handler", "submit_review", {"resolution": "rejected_with_reason"}), CLOSE],
        {"resolution": "rejected_with_reason", **REVIEWED_CLOSED},
    ),
    "compensated_with_compliance_approval": (
        {},
        [ACK, S("handler", "investigate"), Edit("handler", {"compensation_amount": "20000"}),
         S("co", "approve_proposal", {**PROPOSAL, "responsibility": "firm", "resolution": "compensated"}),
         *TO_REVIEW[3:], S("co2", "close", {"compliance_reviewed_by": "@co2"})],
        {"resolution": "compensated", "compensation_amount": "20000.00", "compliance_reviewed_by": "@co2"},
    ),
    "sent_back_by_compliance": (
        {},
        [*TO_REVIEW, S("co", "send_back", comment="缺少录像调取记录，请补充"), S("bm", "approve_proposal"),
         S("handler", "contact_customer", comment="再次告知"), S("handler", "customer_accepts"),
         S("handler", "submit_review"), CLOSE],
        REVIEWED_CLOSED,
    ),
    "extension_refused_then_approved": (
        {},
        [ACK, S("handler", "request_extension", {"extension_reason": "需调取交易所数据"}),
         S("co", "refuse_extension", comment="理由不充分"),
         S("handler", "request_extension", {"extension_reason": "需调取交易所数据，涉及多笔交易"}),
         S("bm", "approve_extension", {"extended_due_at": EXTENDED_DUE, "extension_approved_by": "@bm"}),
         S("handler", "investigate"), S("handler", "withdraw", comment="投诉人书面撤回投诉")],
        {"extension_status": "extension_approved", "extension_approved_by": "@bm", "extended_due_at": EXTENDED_DUE,
         "effective_due_at": EXTENDED_DUE, "resolution": "withdrawn", "closed_at": SET},
    ),
    "reassigned_then_withdrawn": (
        {},
        [S("sup", "assign_handler", {"handler": "@handler2"}), S("handler2", "acknowledge", {"acknowledgement_channel": "sms"}),
         S("sup", "withdraw", comment="投诉人电话撤回，已录音")],
        {"handler": "@handler2", "resolution": "withdrawn"},
    ),
    "withdrawn_at_once": ({}, [S("handler", "withdraw", comment="投诉人当场撤回")], {"resolution": "withdrawn"}),
}  # fmt: skip

INSIST = S("seller", "customer_insist", {"special_warning_doc": "doc://warning/0001#sha256:ef56"})
APPROVE_MISMATCH = S(
    "co", "compliance_approve", {"compliance_approved_by": "@co", "compliance_opinion": "客户主动申请，已充分揭示"}
)
TO_DISCLOSURE = [S("seller", "submit_check"), S("seller", "pass_check")]
TO_PAID = [*TO_DISCLOSURE, S("seller", "submit_order"), Feed("paid"), S("seller", "record_payment")]
MISMATCH = [S("seller", "submit_check"), S("seller", "warn_mismatch"), INSIST]
PF = {"customer": "c4", "product": "PF", "channel": "counter", "amount": "1000000", "qualified_investor_checked": True}
TO_COOLING = [*TO_DISCLOSURE, S("seller", "submit_order"), Feed("paid_cooling_over"), S("seller", "record_payment"),
              S("seller", "start_cooling_off")]  # fmt: skip
ORDERED = {"disclosure_ack_at": SET, "paid_at": SET}

SALE_PATHS = {
    "matched": ({}, [*TO_PAID, S("seller", "confirm")], {"match_result": "match", **ORDERED}),
    "blocked_staff_mismatch": (
        {"customer": "c3", "product": "R4", "initiated": "staff"},
        [S("seller", "submit_check"), S("seller", "block")],
        {"blocked_reason": "risk_mismatch_staff_initiated"},
    ),
    "blocked_without_assessment": (
        {"customer": "c0"},
        [S("seller", "submit_check"), S("lead", "block")],
        {"match_result": "prohibited", "blocked_reason": "no_valid_assessment"},
    ),
    "mismatch_with_compliance_approval": (
        {"customer": "c3", "product": "R4"},
        [*MISMATCH, S("seller", "proceed"), APPROVE_MISMATCH, S("seller", "submit_order"), Feed("paid"),
         S("seller", "record_payment"), S("seller", "confirm")],
        {"match_result": "mismatch_overridable", "customer_insists_at": SET, "compliance_approved_by": "@co",
         "compliance_approved_at": SET, "supervisor_review_by": None, **ORDERED},
    ),
    "mismatch_r5_supervisor_review": (
        {"customer": "c3", "product": "R5"},
        [*MISMATCH, APPROVE_MISMATCH, S("seller", "request_review"),
         S("lead", "approve_review", {"supervisor_review_by": "@lead"}), S("seller", "submit_order"), Feed("paid"),
         S("seller", "record_payment"), S("bm", "confirm")],
        {"supervisor_review_by": "@lead", "supervisor_review_at": SET, "compliance_approved_by": "@co", **ORDERED},
    ),
    "supervisor_rejects": (
        {"customer": "c3", "product": "R5"},
        [*MISMATCH, S("seller", "request_review"), S("bm", "reject_review", comment="客户年龄与投资经验不适合 R5 产品")],
        {"cancel_reason": "suitability_block"},
    ),
    "cooling_off_then_return_visit": (
        PF,
        [*TO_COOLING, S("rv", "end_cooling_off"), Feed("visit:confirmed_ok"), S("rv", "revisit_ok")],
        {"cooling_off_until": SET, "revisit": SET, **ORDERED},
    ),
    "return_visit_fails": (
        {"product": "AM"},
        [*TO_PAID, S("seller", "request_revisit"), Feed("visit:unreachable"),
         S("sup", "revisit_failed", comment="三次联系未接通，已超回访期限")],
        {"cancel_reason": "revisit_failed", "revisit": SET},
    ),
    "cancelled_draft": ({}, [S("seller", "cancel", {"cancel_reason": "other"})], {"cancel_reason": "other"}),
    "customer_does_not_insist": (
        {"customer": "c3", "product": "R4"},
        [S("seller", "submit_check"), S("seller", "warn_mismatch"), S("seller", "cancel", {"cancel_reason": "other"}, "客户放弃")],
        {"cancel_reason": "other", "customer_insists_at": None},
    ),
    "payment_failed": (
        {},
        [*TO_DISCLOSURE, S("seller", "submit_order"), S("bm", "cancel", {"cancel_reason": "payment_failed"})],
        {"cancel_reason": "payment_failed", "paid_at": None},
    ),
    "cancelled_in_cooling_off": (
        PF,
        [*TO_COOLING, S("seller", "cancel", {"cancel_reason": "customer_cancel_cooling_off"}, "客户冷静期内撤销")],
        {"cancel_reason": "customer_cancel_cooling_off"},
    ),
    "cancelled_at_return_visit": (
        {"product": "AM"},
        [*TO_PAID, S("seller", "request_revisit"), S("lead", "cancel", {"cancel_reason": "other"}, "客户要求撤销")],
        {"cancel_reason": "other"},
    ),
}  # fmt: skip

TRANSFER = {"request_type": "transfer"}
APPROVED = {"approved_by": "@bm", "approved_at": SET}
ASSIGNMENT_PATHS = {
    "owner_agrees": (
        {},
        [S("lead", "ask_owner", TRANSFER), S("seller", "owner_agree"), S("bm", "approve", {"approved_by": "@bm"}),
         S("agent", "notify_customer")],
        {"request_type": "transfer", **APPROVED},
    ),
    "owner_objects": (
        {},
        [S("lead", "ask_owner", TRANSFER), S("seller", "owner_object", comment="客户近期有大额交易，不同意移交"),
         S("lead2", "approve", {"approved_by": "@lead2"}, "经核实客户本人申请"), S("sup", "notify_customer")],
        {"approved_by": "@lead2"},
    ),
    "customer_request_rejected": (
        {},
        [S("lead", "skip_owner", {"request_type": "customer_request"}), S("bm", "reject", comment="客户未提交书面申请")],
        {"approved_by": None},
    ),
    "owner_left": (
        {"customer": "cl"},
        [S("lead", "skip_owner", {"request_type": "bulk_transfer"}), S("bm", "approve", {"approved_by": "@bm"}),
         S("lead2", "notify_customer")],
        {"request_type": "bulk_transfer", **APPROVED},
    ),
    "withdrawn_when_requested": ({}, [S("lead", "withdraw")], {}),
    "withdrawn_at_owner_confirm": ({}, [S("lead", "ask_owner", TRANSFER), S("lead", "withdraw", comment="重复申请")], {}),
    "withdrawn_in_approval": (
        {"who": "seller"},
        [S("seller", "skip_owner", {"request_type": "customer_request"}), S("seller", "withdraw")],
        {},
    ),
}  # fmt: skip

PATHS = {"complaint": COMPLAINT_PATHS, "product_sale": SALE_PATHS, "customer_assignment": ASSIGNMENT_PATHS}


def cases(table: dict) -> list:
    return [
        pytest.param(entity, *spec, id=f"{entity}-{key}")
        for entity, rows in table.items()
        for key, spec in rows.items()
    ]


@pytest.mark.parametrize(("entity", "options", "steps", "expect"), cases(PATHS))
def test_every_path_to_a_terminal_state(shared, entity, options, steps, expect):
    w = shared
    record = w.make(entity, **options)
    assert record["status"] == DOCS[entity]["initial"]
    w.run(entity, record["id"], steps, check_offered=True)
    view = w.workflow(entity, record["id"])
    history = [(h["transition"], h["from"], h["to"], h["actor"] if h["user_id"] else None) for h in view["history"]]
    assert history == expected_history(entity, steps)
    final = history[-1][2]
    assert view["state"] == final and DOCS[entity]["states"][final].get("final") is True
    assert view["category"] == "done" and view["transitions"] == []
    done = w.record(entity, record["id"])
    assert done["status"] == final
    for name, value in expect.items():
        if value is SET:
            assert done[name] not in (None, "", []), name
        else:
            assert done[name] == w.resolve(value), name
    for step in steps:  # what the people gave is in the history
        if isinstance(step, Step) and step.input:
            row = next(h for h in view["history"] if h["transition"] == step.name)
            assert set(row["inputs"]) == set(step.input)


def test_the_paths_take_every_transition():
    """Each manual transition of the three workflows is taken on some path above."""
    for entity, table in PATHS.items():
        taken = {s.name for _o, steps, _e in table.values() for s in steps if isinstance(s, Step)}
        declared = {t["name"] for t in DOCS[entity]["transitions"]}
        assert declared - taken == set(), entity


# -- who may not -----------------------------------------------------------------------------
DUAL_TO_REVIEW = [S("dual", "acknowledge", {"acknowledgement_channel": "phone"}), S("dual", "investigate"),
                  S("bm", "approve_proposal", PROPOSAL), S("dual", "contact_customer", comment="已告知"),
                  S("dual", "customer_accepts"), S("dual", "submit_review")]  # fmt: skip
BM_EXTENSION = [S("bm", "acknowledge", {"acknowledgement_channel": "phone"}),
                S("bm", "request_extension", {"extension_reason": "案情复杂"})]  # fmt: skip
REVIEW = [S("lead", "submit_check"), S("lead", "warn_mismatch"), INSIST, S("seller", "request_review")]
AT_REVISIT = [*TO_PAID, S("seller", "request_revisit"), Feed("visit:confirmed_ok")]

FORBIDDEN = {
    "complaint": {
        "acknowledge_by_someone_else": ({}, [], S("handler2", "acknowledge", {"acknowledgement_channel": "phone"}), 403, "role"),
        "withdraw_by_the_creator": ({}, [ACK], S("agent", "withdraw", comment="撤回"), 403, "role"),
        "proposal_by_the_handler": ({}, [ACK, S("handler", "investigate")], S("handler", "approve_proposal", PROPOSAL), 403, "role"),
        "close_by_the_branch_manager": ({}, TO_REVIEW, S("bm", "close", {"compliance_reviewed_by": "@bm"}), 403, "role"),
        "close_own_complaint": ({"who": "dual", "handler": "@dual"}, DUAL_TO_REVIEW,
                                S("dual", "close", {"compliance_reviewed_by": "@dual"}), 403, "self"),
        "approve_own_extension": ({"handler": "@bm"}, BM_EXTENSION,
                                  S("bm", "approve_extension", {"extended_due_at": EXTENDED_DUE, "extension_approved_by": "@bm"}),
                                  403, "maker"),
        "refuse_own_extension": ({"handler": "@bm"}, BM_EXTENSION, S("bm", "refuse_extension", comment="不批"), 403, "maker"),
    },
    "product_sale": {
        "review_by_the_seller": ({"customer": "c3", "product": "R5"}, [*MISMATCH, S("seller", "request_review")],
                                 S("seller", "approve_review", {"supervisor_review_by": "@seller"}), 403, "role"),
        "review_own_sale": ({"who": "lead", "customer": "c3", "product": "R5"}, REVIEW,
                            S("lead", "approve_review", {"supervisor_review_by": "@lead"}), 403, "self"),
        "reject_own_sale": ({"who": "lead", "customer": "c3", "product": "R5"}, REVIEW,
                            S("lead", "reject_review", comment="不同意"), 403, "self"),
        "compliance_approval_by_a_manager": ({"customer": "c3", "product": "R4"}, MISMATCH,
                                             S("bm", "compliance_approve", {"compliance_approved_by": "@bm",
                                                                            "compliance_opinion": "同意"}), 403, "role"),
        "return_visit_confirmed_by_the_seller": ({"product": "AM"}, AT_REVISIT, S("seller", "revisit_ok"), 403, "role"),
        "sale_of_another_seller": ({}, [], S("seller2", "submit_check"), 404, "scope"),
    },
    "customer_assignment": {
        "approve_own_request": ({}, [S("lead", "skip_owner", {"request_type": "customer_request"})],
                                S("lead", "approve", {"approved_by": "@lead"}), 403, "self"),
        "reject_own_request": ({}, [S("lead", "skip_owner", {"request_type": "customer_request"})],
                               S("lead", "reject", comment="不同意"), 403, "self"),
        "approve_by_an_account_manager": ({}, [S("lead", "skip_owner", {"request_type": "customer_request"})],
                                          S("seller", "approve", {"approved_by": "@seller"}), 403, "role"),
        "withdraw_someone_elses_request": ({}, [], S("lead2", "withdraw"), 403, "role"),
        "customer_notified_by_an_account_manager": (
            {}, [S("lead", "skip_owner", {"request_type": "customer_request"}), S("bm", "approve", {"approved_by": "@bm"})],
            S("seller", "notify_customer"), 403, "role"),
    },
}  # fmt: skip


@pytest.mark.parametrize(("entity", "options", "prefix", "step", "status", "why"), cases(FORBIDDEN))
def test_steps_people_may_not_take(shared, entity, options, prefix, step, status, why):
    w = shared
    record = w.make(entity, **options)
    w.run(entity, record["id"], prefix)
    before = w.record(entity, record["id"])
    if why in ("role", "maker", "self"):  # not offered either
        assert step.name not in w.offered(entity, record["id"], step.who)
    r = w.take(step, entity, record["id"])
    assert r.status_code == status, r.get_json()
    assert r.get_json()["error"]["code"] == ("forbidden" if status == 403 else "not_found")
    after = w.record(entity, record["id"])
    assert (after["status"], after["version"]) == (before["status"], before["version"])
    taken = [s.name for s in prefix if isinstance(s, Step)]
    assert w.workflow(entity, record["id"])["history"][-1]["transition"] == (taken[-1] if taken else "create")


def test_someone_else_takes_the_step_refused_to_its_maker(shared):
    """Self-approval and maker-checker refuse a person, not the step: a colleague takes it."""
    w = shared
    complaint = w.make("complaint", handler="@bm")["id"]
    w.run("complaint", complaint, BM_EXTENSION)
    step = S("bm", "approve_extension", {"extended_due_at": EXTENDED_DUE, "extension_approved_by": "@bm"})
    assert w.take(step, "complaint", complaint).status_code == 403
    w.run("complaint", complaint, [S("co", "approve_extension", {"extended_due_at": EXTENDED_DUE,
                                                                 "extension_approved_by": "@co"})])  # fmt: skip
    assert w.record("complaint", complaint)["extension_approved_by"] == w.ids["co"]
    sale = w.make("product_sale", who="lead", customer="c3", product="R5")["id"]
    w.run("product_sale", sale, REVIEW)
    assert (
        w.take(S("lead", "approve_review", {"supervisor_review_by": "@lead"}), "product_sale", sale).status_code == 403
    )
    w.run("product_sale", sale, [S("bm", "approve_review", {"supervisor_review_by": "@bm"})])
    assert w.record("product_sale", sale)["status"] == "disclosure"


# -- guards ------------------------------------------------------------------------------------
GUARDS = {
    "complaint": {
        "compensation_needs_compliance": (
            {}, [ACK, S("handler", "investigate"), Edit("handler", {"compensation_amount": "20000"})],
            S("bm", "approve_proposal", {**PROPOSAL, "resolution": "compensated"})),
        "first_contact_recorded_once": ({}, [S("handler", "record_contact", comment="已联系")],
                                        S("handler", "record_contact", comment="再次联系")),
        "one_extension_request": ({}, [ACK, S("handler", "request_extension", {"extension_reason": "复杂"})],
                                  S("handler", "request_extension", {"extension_reason": "再次申请"})),
        "approve_without_request": ({}, [ACK], S("bm", "approve_extension", {"extended_due_at": EXTENDED_DUE,
                                                                              "extension_approved_by": "@bm"})),
        "approve_signed_by_someone_else": (
            {}, [ACK, S("handler", "request_extension", {"extension_reason": "复杂"})],
            S("bm", "approve_extension", {"extended_due_at": EXTENDED_DUE, "extension_approved_by": "@co"})),
        "refuse_without_request": ({}, [ACK], S("co", "refuse_extension", comment="不批")),
        "compensated_without_amount": ({}, [*TO_RESPONSE, S("handler", "customer_accepts")],
                                       S("handler", "submit_review", {"resolution": "compensated"})),
        "review_signed_by_someone_else": ({}, TO_REVIEW, S("co", "close", {"compliance_reviewed_by": "@co2"})),
    },
    "product_sale": {
        "pass_a_mismatch": ({"customer": "c3", "product": "R4"}, [S("seller", "submit_check")], S("seller", "pass_check")),
        "pass_a_prohibited_sale": ({"customer": "c0"}, [S("seller", "submit_check")], S("seller", "pass_check")),
        "warn_a_match": ({}, [S("seller", "submit_check")], S("seller", "warn_mismatch")),
        "warn_a_staff_mismatch": ({"customer": "c3", "product": "R4", "initiated": "staff"}, [S("seller", "submit_check")],
                                  S("seller", "warn_mismatch")),
        "block_a_match": ({}, [S("seller", "submit_check")], S("seller", "block")),
        "r5_needs_review": ({"customer": "c3", "product": "R5"}, MISMATCH, S("seller", "proceed")),
        "a_million_needs_review": ({"customer": "c3", "product": "R4", "amount": "1000000"}, MISMATCH, S("seller", "proceed")),
        "review_signed_by_someone_else": ({"customer": "c3", "product": "R5"}, [*MISMATCH, S("seller", "request_review")],
                                          S("lead", "approve_review", {"supervisor_review_by": "@bm"})),
        "compliance_approval_of_a_match": ({}, TO_DISCLOSURE, APPROVE_MISMATCH),
        "compliance_approval_twice": ({"customer": "c3", "product": "R4"}, [*MISMATCH, APPROVE_MISMATCH],
                                      S("co2", "compliance_approve", {"compliance_approved_by": "@co2",
                                                                      "compliance_opinion": "同意"})),
        "compliance_signed_by_someone_else": ({"customer": "c3", "product": "R4"}, MISMATCH,
                                              S("co", "compliance_approve", {"compliance_approved_by": "@co2",
                                                                             "compliance_opinion": "同意"})),
        "order_without_e_signature": ({}, [*TO_DISCLOSURE, Feed("no_evidence")], S("seller", "submit_order")),
        "payment_not_arrived": ({}, [*TO_DISCLOSURE, S("seller", "submit_order")], S("seller", "record_payment")),
        "no_cooling_off_period": ({}, TO_PAID, S("seller", "start_cooling_off")),
        "cooling_off_not_over": (
            PF, [*TO_DISCLOSURE, S("seller", "submit_order"), Feed("paid_cooling_ahead"), S("seller", "record_payment"),
                 S("seller", "start_cooling_off")], S("rv", "end_cooling_off")),
        "confirm_before_cooling_off": (PF, [*TO_DISCLOSURE, S("seller", "submit_order"), Feed("paid_cooling_ahead"),
                                            S("seller", "record_payment")], S("seller", "confirm")),
        "confirm_before_return_visit": ({"product": "AM"}, TO_PAID, S("seller", "confirm")),
        "return_visit_skips_cooling_off": (PF, [*TO_DISCLOSURE, S("seller", "submit_order"), Feed("paid_cooling_ahead"),
                                                S("seller", "record_payment")], S("seller", "request_revisit")),
        "return_visit_not_needed": ({}, TO_PAID, S("seller", "request_revisit")),
        "confirmed_without_a_visit": ({"product": "AM"}, [*TO_PAID, S("seller", "request_revisit")], S("rv", "revisit_ok")),
        "visit_not_confirmed_yet": ({"product": "AM"}, [*TO_PAID, S("seller", "request_revisit"), Feed("visit:unreachable")],
                                    S("rv", "revisit_ok")),
        "failed_without_a_failed_visit": ({"product": "AM"}, AT_REVISIT, S("rv", "revisit_failed", comment="未接通")),
    },
    "customer_assignment": {
        "owner_asked_on_a_customer_request": ({}, [], S("lead", "ask_owner", {"request_type": "customer_request"})),
        "owner_asked_after_leaving": ({"customer": "cl"}, [], S("lead", "ask_owner", TRANSFER)),
        "owner_skipped": ({}, [], S("lead", "skip_owner", TRANSFER)),
        "confirmed_by_the_receiver": ({}, [S("lead", "ask_owner", TRANSFER)], S("seller2", "owner_agree")),
        "objection_by_the_receiver": ({}, [S("lead", "ask_owner", TRANSFER)], S("seller2", "owner_object", comment="x")),
        "approval_signed_by_someone_else": ({}, [S("lead", "skip_owner", {"request_type": "customer_request"})],
                                            S("bm", "approve", {"approved_by": "@lead"})),
        "retroactive_approval": ({"valid_from": -1}, [S("lead", "skip_owner", {"request_type": "customer_request"})],
                                 S("bm", "approve", {"approved_by": "@bm"})),
    },
}  # fmt: skip


@pytest.mark.parametrize(("entity", "options", "prefix", "step"), cases(GUARDS))
def test_failed_guards_answer_422_with_their_message(shared, entity, options, prefix, step):
    w = shared
    record = w.make(entity, **options)
    w.run(entity, record["id"], prefix)
    before = w.record(entity, record["id"])
    assert step.name in w.offered(entity, record["id"], step.who)  # offered: the guard decides
    r = w.take(step, entity, record["id"])
    assert r.status_code == 422, r.get_json()
    error = r.get_json()["error"]
    assert error["code"] == "guard_failed"
    assert error["message"] == guard_message(entity, step.name)
    after = w.record(entity, record["id"])
    assert (after["status"], after["version"]) == (before["status"], before["version"])


def test_the_entitys_own_checks_still_apply(shared):
    """A guard is not the only gate: a mismatched sale without the compliance approval fails the
    entity's check constraint when the order is placed (422 at the field)."""
    w = shared
    sale = w.make("product_sale", customer="c3", product="R4")["id"]
    w.run("product_sale", sale, [*MISMATCH, S("seller", "proceed")])
    r = w.take(S("seller", "submit_order"), "product_sale", sale)
    assert r.status_code == 422, r.get_json()
    assert [d["path"] for d in r.get_json()["error"]["details"]] == ["compliance_approved_by"]
    w.run("product_sale", sale, [APPROVE_MISMATCH, S("seller", "submit_order")])


MISMATCH_R4 = {"customer": "c3", "product": "R4"}


@pytest.mark.parametrize(
    ("entity", "options", "prefix", "step", "path"),
    [
        pytest.param("complaint", {}, [], S("handler", "acknowledge"), "acknowledgement_channel", id="complaint-input"),
        pytest.param("complaint", {}, [], S("handler", "withdraw"), "comment", id="complaint-comment"),
        pytest.param("complaint", {}, [], S("handler", "acknowledge", {"acknowledgement_channel": "fax"}),
                     "acknowledgement_channel", id="complaint-invalid-input"),
        pytest.param("complaint", {}, [], S("handler", "acknowledge", {"acknowledgement_channel": "sms", "closed_at": "x"}),
                     "input.closed_at", id="complaint-not-an-input"),
        pytest.param("product_sale", MISMATCH_R4, MISMATCH[:2], S("seller", "customer_insist"), "special_warning_doc",
                     id="sale-input"),
        pytest.param("product_sale", {}, [], S("seller", "cancel"), "cancel_reason", id="sale-cancel-reason"),
        pytest.param("product_sale", MISMATCH_R4, [*MISMATCH, S("seller", "request_review")], S("bm", "reject_review"),
                     "comment", id="sale-comment"),
        pytest.param("customer_assignment", {}, [], S("lead", "ask_owner"), "request_type", id="assignment-input"),
        pytest.param("customer_assignment", {}, [S("lead", "ask_owner", TRANSFER)], S("seller", "owner_object"), "comment",
                     id="assignment-comment"),
    ],
)  # fmt: skip
def test_missing_inputs_and_comments_answer_422_at_the_field(shared, entity, options, prefix, step, path):
    w = shared
    record = w.make(entity, **options)
    w.run(entity, record["id"], prefix)
    before = w.record(entity, record["id"])
    r = w.take(step, entity, record["id"])
    assert r.status_code == 422, r.get_json()
    assert path in [d["path"] for d in r.get_json()["error"]["details"]]
    after = w.record(entity, record["id"])
    assert (after["status"], after["version"]) == (before["status"], before["version"])


# -- the state moved on ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("entity", "prefix", "step"),
    [
        pytest.param("complaint", [], CLOSE, id="complaint-close-when-received"),
        pytest.param("complaint", [ACK], ACK, id="complaint-acknowledged-twice"),
        pytest.param("complaint", [S("handler", "withdraw", comment="撤回")], S("sup", "assign_handler", {"handler": "@handler2"}),
                     id="complaint-withdrawn"),
        pytest.param("product_sale", [], S("seller", "submit_order"), id="sale-order-from-draft"),
        pytest.param("product_sale", [*TO_PAID, S("seller", "confirm")], S("seller", "cancel", {"cancel_reason": "other"}),
                     id="sale-cancel-confirmed"),
        pytest.param("customer_assignment", [], S("bm", "approve", {"approved_by": "@bm"}), id="assignment-approve-requested"),
        pytest.param("customer_assignment", [S("lead", "withdraw")], S("lead", "withdraw"), id="assignment-withdrawn-twice"),
    ],
)  # fmt: skip
def test_a_step_not_leaving_the_current_state_answers_409(shared, entity, prefix, step):
    w = shared
    record = w.make(entity)
    w.run(entity, record["id"], prefix)
    r = w.take(step, entity, record["id"])
    assert r.status_code == 409, r.get_json()
    assert r.get_json()["error"]["code"] == "conflict"


def test_a_stale_version_answers_409_and_unknown_steps_404(shared):
    w = shared
    complaint = w.make("complaint")
    version = complaint["version"]
    w.run("complaint", complaint["id"], [S("handler", "record_contact", comment="已联系")])  # stays, version moves
    r = w.take(ACK, "complaint", complaint["id"], version=version)
    assert r.status_code == 409, r.get_json()
    assert w.take(ACK, "complaint", complaint["id"], version=version + 1).status_code == 200
    assert w.take(S("handler", "resolve"), "complaint", complaint["id"]).status_code == 404
    assert (
        w.call("handler", "post", f"/records/complaint/{complaint['id'] + 999}/transitions/close", {}).status_code
        == 404
    )


@pytest.mark.parametrize(
    ("entity", "options", "steps", "locked", "editable"),
    [
        pytest.param("complaint", {}, [*TO_REVIEW, CLOSE], {"description": "改写"}, {"customer_satisfied": True},
                     id="complaint-closed"),
        pytest.param("complaint", {}, [S("handler", "withdraw", comment="撤回")], {"type": "other"}, None,
                     id="complaint-withdrawn"),
        pytest.param("product_sale", {}, [*TO_PAID, S("seller", "confirm")], {"amount": "1"}, None, id="sale-confirmed"),
        pytest.param("product_sale", {"customer": "c0"}, [S("seller", "submit_check"), S("seller", "block")],
                     {"amount": "1"}, None, id="sale-blocked"),
        pytest.param("customer_assignment", {}, ASSIGNMENT_PATHS["owner_agrees"][1], {"change_reason": "merger"},
                     {"valid_to": str(local_today() + timedelta(days=90))}, id="assignment-notified"),
    ],
)  # fmt: skip
def test_a_final_state_locks_the_record_except_its_editable_fields(shared, entity, options, steps, locked, editable):
    w = shared
    record = w.make(entity, **options)
    w.run(entity, record["id"], steps)
    r = w.edit("admin", entity, record["id"], locked)
    assert r.status_code == 422, r.get_json()
    assert w.edit("admin", entity, record["id"], {"status": DOCS[entity]["initial"]}).status_code == 422
    if editable:
        r = w.edit("admin", entity, record["id"], editable)
        assert r.status_code == 200, r.get_json()


# -- what the steps do besides the state -----------------------------------------------------
def test_complaints_are_numbered_per_day(w):
    first, second = w.make("complaint"), w.make("complaint")
    today = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y%m%d")
    assert re.fullmatch(rf"TS{today}\d{{4}}", first["complaint_no"])
    assert int(second["complaint_no"][-4:]) == int(first["complaint_no"][-4:]) + 1
    r = w.edit("admin", "complaint", first["id"], {"complaint_no": "TS202601010001"})
    assert r.status_code == 422  # the number is the workflow's


def test_closing_a_complaint_asks_the_team_leader_for_a_follow_up_visit(w):
    complaint = w.make("complaint", involved_employees=[w.ids["seller"]])
    w.run("complaint", complaint["id"], [*TO_REVIEW, CLOSE])
    assert (
        "transition:investigate",
        f"您被投诉人在投诉 {complaint['complaint_no']} 中提及，请配合调查并提交书面说明",
    ) in w.inbox("seller")
    assert any(rule == "transition:submit_review" for rule, _ in w.inbox("co"))
    [task] = w.list("task", {"field": "type", "op": "eq", "value": "complaint_followup"})
    assert (task["assignee"], task["customer"], task["status"]) == (w.ids["lead"], w.ids["c2"], "open")
    assert complaint["complaint_no"] in task["title"]
    closed = instant(w.record("complaint", complaint["id"])["closed_at"])
    assert timedelta(days=4, hours=23) < task["due_at"] - closed < timedelta(days=5, hours=1)


def test_sales_spawn_return_visits_for_people_other_than_the_seller(w):
    cooling = w.make("product_sale", **PF)["id"]
    w.run("product_sale", cooling, TO_COOLING + [S("rv", "end_cooling_off")])
    high_risk = w.make("product_sale", customer="c3", product="R5")["id"]
    w.run("product_sale", high_risk, SALE_PATHS["mismatch_r5_supervisor_review"][1])
    visits = {v["sale"]: v for v in w.list("return_visit", {"field": "sale", "op": "is_not_null"})}
    assert (visits[cooling]["type"], visits[cooling]["assignee"]) == ("private_fund_revisit", w.ids["rv"])
    assert (visits[high_risk]["type"], visits[high_risk]["assignee"]) == ("high_risk_sale", w.ids["rv"])
    assert visits[cooling]["customer"] == w.ids["c4"] and visits[cooling]["due_at"] > datetime.now(UTC)
    matched = w.make("product_sale")["id"]
    w.run("product_sale", matched, [*TO_PAID, S("seller", "confirm")])
    assert matched not in {v["sale"] for v in w.list("return_visit", {"field": "sale", "op": "is_not_null"})}


def test_an_effective_assignment_is_announced_and_followed_up(w):
    record = w.make("customer_assignment")
    w.run("customer_assignment", record["id"], ASSIGNMENT_PATHS["owner_agrees"][1])
    assert any(rule == "transition:ask_owner" for rule, _ in w.inbox("seller"))
    assert any(rule == "transition:approve" for rule, _ in w.inbox("seller2"))
    assert any(rule == "transition:approve" for rule, _ in w.inbox("seller"))
    [visit] = w.list("return_visit", {"field": "type", "op": "eq", "value": "manager_change"})
    assert (visit["customer"], visit["assignee"]) == (w.ids["ca"], w.ids["rv"])


# -- clocks and timers -------------------------------------------------------------------------
def clocks(w, entity: str, rid: int) -> dict[str, dict]:
    return {c["name"]: c for c in w.workflow(entity, rid)["slas"]}


def test_complaint_clocks_escalate_on_day_10_and_13(w):
    late = w.make("complaint")
    on_time = w.make("complaint")
    w.run("complaint", on_time["id"], [ACK, S("handler", "investigate"), S("bm", "approve_proposal", PROPOSAL)])
    running = clocks(w, "complaint", late["id"])
    assert {name: c["status"] for name, c in running.items()} == {
        "acknowledge": "running", "first_contact": "running", "proposal": "running"}  # fmt: skip
    assert running["proposal"]["target_minutes"] == 15 * 1440
    assert instant(running["proposal"]["due_at"]) == instant(late["due_at"])  # recorded on the complaint
    assert timedelta(days=15) - timedelta(minutes=1) < instant(late["due_at"]) - instant(late["created_at"]) < timedelta(
        days=15, minutes=1)  # fmt: skip
    assert running["acknowledge"]["target_minutes"] == 9 * 60  # one working day of 08:30–17:30
    done = clocks(w, "complaint", on_time["id"])
    assert {name: c["status"] for name, c in done.items()} == {
        "acknowledge": "stopped", "first_contact": "running", "proposal": "stopped"}  # fmt: skip

    def rules(who):
        return [rule for rule, _ in w.inbox(who) if rule and rule.startswith("sla:")]

    w.sweep(timedelta(days=9, hours=23))
    assert "sla:proposal@P10D" not in rules("bm")
    w.sweep(timedelta(days=10, minutes=5))
    assert rules("bm").count("sla:proposal@P10D") == 1  # only the late one
    assert "sla:proposal@P13D" not in rules("co")
    assert "sla:acknowledge@100%" in rules("handler") and "sla:acknowledge@100%" in rules("lead")
    w.sweep(timedelta(days=13, minutes=5))
    assert rules("co").count("sla:proposal@P13D") == 1
    w.sweep(timedelta(days=15, minutes=5))
    assert rules("co").count("sla:proposal@P13D") == 1 and rules("co").count("sla:proposal@100%") == 1
    assert clocks(w, "complaint", late["id"])["proposal"]["breached"] is True
    assert rules("bm").count("sla:proposal@P10D") == 1  # each step once


def test_an_approved_extension_moves_the_proposal_deadline(w):
    """The proposal clock runs until the approved extension's date: no breach on day 15, the
    breach once that date passed; the complaint keeps its original 15-day due date."""
    late = w.make("complaint")
    extended = NOW + timedelta(days=20)
    w.run("complaint", late["id"], [
        ACK, S("handler", "request_extension", {"extension_reason": "需调取交易所数据"}),
        S("bm", "approve_extension", {"extended_due_at": stamp(extended), "extension_approved_by": "@bm"}),
    ])  # fmt: skip
    proposal = clocks(w, "complaint", late["id"])["proposal"]
    assert abs(instant(proposal["due_at"]) - extended) < timedelta(minutes=1)
    [record] = w.list("complaint", {"field": "id", "op": "eq", "value": late["id"]})
    assert record["due_at"] == instant(late["due_at"])  # the 15-day date stays on record

    def overdue(who):
        return [rule for rule, _ in w.inbox(who) if rule == "sla:proposal@100%"]

    w.sweep(timedelta(days=15, minutes=5))
    assert overdue("handler") == [] and clocks(w, "complaint", late["id"])["proposal"]["breached"] is False
    w.sweep(timedelta(days=20, minutes=5))
    assert overdue("handler") == ["sla:proposal@100%"]
    assert clocks(w, "complaint", late["id"])["proposal"]["breached"] is True


def test_the_approval_clock_escalates_to_the_branch_manager(w):
    waiting = w.make("customer_assignment")
    quick = w.make("customer_assignment")
    assert clocks(w, "customer_assignment", waiting["id"]) == {}  # starts in approval
    for record in (waiting, quick):
        w.run("customer_assignment", record["id"], [S("lead", "skip_owner", {"request_type": "customer_request"})])
    clock = clocks(w, "customer_assignment", waiting["id"])["approval"]
    assert (clock["status"], clock["target_minutes"]) == ("running", 3 * 9 * 60)
    w.run("customer_assignment", quick["id"], [S("bm", "approve", {"approved_by": "@bm"})])
    assert clocks(w, "customer_assignment", quick["id"])["approval"]["status"] == "stopped"
    before = [rule for rule, _ in w.inbox("bm")]
    w.sweep(timedelta(days=21))  # past three working days whatever the holidays
    escalated = [rule for rule, _ in w.inbox("bm")][len(before) :]
    assert escalated == ["sla:approval@100%"]


def test_the_supervisor_review_clock_escalates_to_the_branch_manager(w):
    sale = w.make("product_sale", customer="c3", product="R5")["id"]
    w.run("product_sale", sale, [*MISMATCH, S("seller", "request_review")])
    assert "transition:request_review" in [rule for rule, _ in w.inbox("lead")]  # the seller's supervisor
    clock = clocks(w, "product_sale", sale)["supervisor_review"]
    assert (clock["status"], clock["target_minutes"]) == ("running", 4 * 60)
    w.sweep(timedelta(days=14))
    assert [rule for rule, _ in w.inbox("bm") if rule.startswith("sla:")] == ["sla:supervisor_review@100%"]


def test_the_cooling_off_period_ends_by_itself(w):
    sale = w.make("product_sale", **PF)["id"]
    w.run("product_sale", sale, TO_COOLING)
    w.sweep(timedelta(hours=23))
    assert w.record("product_sale", sale)["status"] == "cooling_off"
    assert w.sweep(timedelta(hours=24, minutes=5)).transitions == 1
    assert w.record("product_sale", sale)["status"] == "revisit"
    last = w.workflow("product_sale", sale)["history"][-1]
    assert (last["transition"], last["actor"], last["user_id"]) == ("end_cooling_off", "timer", None)
    [visit] = w.list("return_visit", {"field": "sale", "op": "eq", "value": sale})
    assert visit["type"] == "private_fund_revisit"


# -- the documents -------------------------------------------------------------------------------
def test_the_shipped_workflows_are_published_and_check_clean(w):
    from scrm.runtime import runtime, snapshot
    from scrm.workflows.model import workflows_of

    with w.app.app_context():
        published = {wf.name: wf for wf in workflows_of(snapshot()).values()}
        _docs, problems = runtime().definitions.checker.check_files(Path(w.app.config["SCRM_HOME"]))
    assert set(SHIPPED) <= set(published)
    for name in SHIPPED:
        assert published[name].body == DOCS[name]
        assert published[name].entity == name
    assert [p.line() for p in problems if "workflows" in p.line()] == []
