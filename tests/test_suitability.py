"""Investor suitability (domain reference §1.6): the shipped plugin derives the three-dimension
match on every recommendation and sale, and the shipped check constraints block what the
regulation forbids. Every C × R pair, the lowest category, professional investors, an expired
or missing assessment, horizon and variety."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from support import local_today

from scrm.errors import ValidationFailed

LEVELS = ["C1", "C2", "C3", "C4", "C5"]
RATINGS = ["R1", "R2", "R3", "R4", "R5"]
WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def id_number(n: int) -> str:
    body = f"110105198001{n:05d}"[:17]
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, WEIGHTS, strict=True)) % 11]


@pytest.fixture
def shelf(svc):
    """One product per risk rating (medium horizon, equity), one staff member."""
    today = local_today()
    org = svc.create("org_unit", {"code": "HQ", "name": "总部", "unit_type": "hq"})["id"]
    officer = svc.create(
        "employee", {"employee_no": "E900", "name": "合规专员", "org_unit": org, "role": "compliance_officer"}
    )["id"]
    products = {}
    for rating in RATINGS:
        products[rating] = svc.create(
            "product",
            {"product_code": f"P{rating}", "name": f"产品{rating}", "product_type": "public_fund_mixed",
             "risk_level": rating, "investment_horizon": "medium", "investment_variety": "equity",
             "risk_rated_at": str(today - timedelta(days=30)), "sale_status": "open",
             "compliance_approved_by": officer, "compliance_approved_at": "2026-11-01T02:00:00Z"},
        )["id"]  # fmt: skip
    products["officer"] = officer
    return products


def assess(svc, customer: int, officer: int, level: str, valid_days: int = 300) -> int:
    """A valid assessment from the shipped questionnaire (as the demo loads it)."""
    import json

    from scrm.demo.content import DATA

    q = json.loads((DATA / "questionnaire.json").read_text(encoding="utf-8"))
    existing = svc.list("questionnaire_template", limit=1).items
    template = existing[0]["id"] if existing else svc.create(
        "questionnaire_template",
        {"code": q["code"], "template_version": q["version"], "questions": q["questions"],
         "score_bands": q["score_bands"], "status": "active", "approved_by": officer, "effective_from": "2024-01-01"},
    )["id"]  # fmt: skip
    version = svc.get("questionnaire_template", template)["template_version"]
    today = local_today()
    return svc.create(
        "suitability_assessment",
        {"customer": customer, "template": template, "template_version": version, "final_level": level,
         "channel": "app", "assessed_at": f"{today - timedelta(days=10)}T02:00:00Z",
         "valid_until": str(today + timedelta(days=valid_days)), "status": "valid", "intended_horizon": "long",
         "intended_varieties": ["fixed_income", "equity"]},
    )["id"]  # fmt: skip


class Customers:
    def __init__(self, svc):
        self.svc = svc
        self.n = 0

    def make(self, level=None, *, lowest=False, category="ordinary", valid_days=300, horizon="long",
             varieties=("fixed_income", "equity")) -> int:  # fmt: skip
        self.n += 1
        today = local_today()
        data = {
            "customer_no": f"31000001{self.n:04d}", "name": f"适当性客户{self.n}", "id_type": "cn_id",
            "id_number": id_number(self.n), "investor_category": category, "intended_horizon": horizon,
            "intended_varieties": list(varieties),
        }  # fmt: skip
        if category != "ordinary":
            data["professional_valid_until"] = str(today + timedelta(days=700))
        if level is not None:
            data.update(
                risk_level=level, is_lowest_category=lowest, risk_assessed_at=f"{today - timedelta(days=30)}T02:00:00Z",
                risk_valid_until=str(today + timedelta(days=valid_days)),
            )  # fmt: skip
        return self.svc.create("customer", data)["id"]


@pytest.fixture
def customers(svc):
    return Customers(svc)


def recommend(svc, customer: int, product: int, initiated="customer", **extra) -> dict:
    return svc.create(
        "product_recommendation",
        {"customer": customer, "product": product, "initiated_by": initiated, "recommended_at": "2026-11-20T02:00:00Z",
         **extra},
    )  # fmt: skip


@pytest.mark.parametrize(("level", "rating"), list(itertools.product(LEVELS, RATINGS)))
def test_every_level_against_every_rating(svc, shelf, customers, level, rating):
    record = recommend(svc, customers.make(level), shelf[rating])
    fits = int(level[1]) >= int(rating[1])
    assert record["match_result"] == ("match" if fits else "mismatch_overridable")
    assert record["risk_dim_ok"] is fits and record["horizon_dim_ok"] and record["variety_dim_ok"]
    assert record["blocked_reason"] is None


@pytest.mark.parametrize("rating", RATINGS)
def test_the_lowest_category_may_only_have_r1(svc, shelf, customers, rating):
    record = recommend(svc, customers.make("C1", lowest=True), shelf[rating], outcome="declined")
    if rating == "R1":
        assert record["match_result"] == "match"
    else:
        assert (record["match_result"], record["blocked_reason"]) == ("prohibited", "lowest_category")


@pytest.mark.parametrize("rating", RATINGS)
def test_professional_investors_match_every_rating(svc, shelf, customers, rating):
    customer = customers.make(None, category="professional_2", horizon="short", varieties=())
    assert recommend(svc, customer, shelf[rating])["match_result"] == "match"


@pytest.mark.parametrize(("case", "kwargs"), [("expired", {"valid_days": -1}), ("missing", {})])
@pytest.mark.parametrize("rating", ["R1", "R3"])
def test_no_valid_assessment_prohibits(svc, shelf, customers, case, kwargs, rating):
    customer = customers.make("C5", **kwargs) if case == "expired" else customers.make(None)
    record = recommend(svc, customer, shelf[rating], outcome="declined")
    assert (record["match_result"], record["blocked_reason"]) == ("prohibited", "no_valid_assessment")


@pytest.mark.parametrize(
    ("customer_kwargs", "dims"),
    [
        ({"horizon": "short"}, {"horizon"}),
        ({"varieties": ("fixed_income",)}, {"variety"}),
        ({"horizon": "short", "varieties": ("fixed_income",)}, {"horizon", "variety"}),
    ],
)
def test_horizon_and_variety_are_matched_too(svc, shelf, customers, customer_kwargs, dims):
    record = recommend(svc, customers.make("C5", **customer_kwargs), shelf["R2"])
    assert record["match_result"] == "mismatch_overridable"
    assert {d for d in ("horizon", "variety") if not record[f"{d}_dim_ok"]} == dims


def test_staff_may_not_present_a_mismatch(svc, shelf, customers):
    customer = customers.make("C2")
    with pytest.raises(ValidationFailed) as exc:
        recommend(svc, customer, shelf["R4"], initiated="staff", outcome="presented",
                  recommended_by=None)  # fmt: skip
    assert "match_result" in exc.value.by_path() or "recommended_by" in exc.value.by_path()
    blocked = recommend(svc, customer, shelf["R4"], initiated="customer", outcome="declined")
    assert blocked["match_result"] == "mismatch_overridable"


def sale(svc, customer: int, product: int, n: int, **extra) -> dict:
    return svc.create(
        "product_sale",
        {"sale_no": f"XS2026112000000{n:02d}", "customer": customer, "product": product, "initiated_by": "customer",
         "channel": "app", "amount": "10000.00", **extra},
    )  # fmt: skip


def step(svc, record: dict, name: str, **inputs) -> dict:
    """Take the W3 step ``name`` (the sale's status changes only through steps)."""
    from scrm.workflows.engine import apply

    return apply(svc, "product_sale", record["id"], name, inputs, version=record["version"]).record


def test_a_mismatched_sale_needs_the_customer_to_insist_in_writing(svc, shelf, customers):
    customer = customers.make("C2")
    draft = sale(svc, customer, shelf["R4"], 1, assessment=assess(svc, customer, shelf["officer"], "C2"))
    assert (draft["match_result"], draft["mismatch_dims"], draft["customer_level_at_sale"]) == (
        "mismatch_overridable", ["risk"], "C2",
    )  # fmt: skip
    with pytest.raises(ValidationFailed) as exc:
        svc.update("product_sale", draft["id"], {"status": "customer_insists"}, draft["version"])
    assert "status" in exc.value.by_path()  # only through the workflow's steps
    checking = step(svc, draft, "submit_check")
    with pytest.raises(ValidationFailed) as exc:
        step(svc, checking, "pass_check")
    assert exc.value.code == "guard_failed"
    warned = step(svc, checking, "warn_mismatch")
    with pytest.raises(ValidationFailed) as exc:
        step(svc, warned, "customer_insist")
    assert "special_warning_doc" in exc.value.by_path()
    done = step(svc, warned, "customer_insist", special_warning_doc="warning-2026-0001.pdf")
    assert done["status"] == "customer_insists" and done["match_result"] == "mismatch_overridable"
    assert done["customer_insists_at"] is not None  # the step stamps it; the constraint requires it


def test_a_prohibited_sale_goes_nowhere_and_the_result_cannot_be_forged(svc, shelf, customers):
    customer = customers.make("C1", lowest=True)
    with pytest.raises(ValidationFailed) as exc:
        sale(svc, customer, shelf["R3"], 2, match_result="match")
    assert "match_result" in exc.value.by_path()  # derived, never sent
    draft = sale(svc, customer, shelf["R3"], 2)
    assert (draft["match_result"], draft["blocked_reason"]) == ("prohibited", "lowest_category")
    checking = step(svc, draft, "submit_check")
    for name in ("pass_check", "warn_mismatch"):
        with pytest.raises(ValidationFailed) as exc:
            step(svc, checking, name)
        assert exc.value.code == "guard_failed"
    assert step(svc, checking, "block")["status"] == "blocked"


def test_the_match_is_fixed_once_the_sale_moved_on(svc, shelf, customers):
    customer = customers.make("C4")
    draft = sale(svc, customer, shelf["R3"], 3, e_signature="esign-1",
                 assessment=assess(svc, customer, shelf["officer"], "C4"))  # fmt: skip
    moved = step(svc, step(svc, draft, "submit_check"), "pass_check")
    assert (moved["status"], moved["match_result"]) == ("disclosure", "match")
    current = svc.get("customer", customer)
    svc.update("customer", customer, {"risk_level": "C1"}, current["version"])
    later = svc.update("product_sale", draft["id"], {"amount": "12000.00"}, moved["version"])
    assert (later["match_result"], later["customer_level_at_sale"]) == ("match", "C4")


def test_scrm_derive_record_runs_before_the_rules_everywhere(svc, shelf, customers):
    """The hook derives on create, on update and when a form asks for problems, so the entity's
    constraints always judge the derived values."""
    customer = customers.make("C1")
    data = {"customer": customer, "product": shelf["R5"], "initiated_by": "staff", "outcome": "presented",
            "recommended_at": "2026-11-20T02:00:00Z"}  # fmt: skip
    problems = svc.problems("product_recommendation", data)
    assert "match_result" in problems  # staff may not present a mismatch: judged on the derived result
    record = recommend(svc, customer, shelf["R1"], initiated="customer")
    assert record["match_result"] == "match"


def test_a_mismatched_order_needs_a_compliance_officers_approval(svc, shelf, customers):
    from scrm.data.records import RecordService
    from scrm.runtime import snapshot
    from scrm.security.users import create_user

    customer = customers.make("C2")
    org = svc.list("org_unit", limit=1).items[0]["id"]
    seller = svc.create(
        "employee", {"employee_no": "E901", "name": "客户经理", "org_unit": org, "role": "account_manager"}
    )
    officer = svc.get("employee", shelf["officer"])
    svc.update("employee", officer["id"], {"login": "officer"}, officer["version"])
    as_officer = RecordService.for_user(
        snapshot(), create_user("officer", "Suitable-2026-pass", ["compliance_officer"])
    )
    draft = sale(svc, customer, shelf["R4"], 3, e_signature="esign://sale/3",
                 assessment=assess(svc, customer, shelf["officer"], "C2"))  # fmt: skip
    checking = step(svc, draft, "submit_check")
    insisted = step(svc, step(svc, checking, "warn_mismatch"), "customer_insist", special_warning_doc="w-0002.pdf")
    shown = step(svc, insisted, "proceed")
    with pytest.raises(ValidationFailed) as exc:
        step(svc, shown, "submit_order")
    assert "compliance_approved_by" in exc.value.by_path()  # the entity's constraint, on the step's write
    with pytest.raises(ValidationFailed) as exc:  # the officer signs as someone else
        step(as_officer, shown, "compliance_approve", compliance_approved_by=seller["id"], compliance_opinion="同意")
    assert exc.value.code == "guard_failed"
    approved = step(
        as_officer, shown, "compliance_approve",
        compliance_approved_by=shelf["officer"], compliance_opinion="客户主动申购，已签署特别风险警示书",
    )  # fmt: skip
    assert (approved["status"], approved["compliance_approved_at"] is not None) == ("disclosure", True)
    done = step(svc, approved, "submit_order")
    assert done["status"] == "order_submitted" and done["compliance_approved_by"] == shelf["officer"]


@pytest.mark.parametrize("role", ["account_manager", "team_lead", "branch_manager"])
def test_only_the_compliance_role_records_the_compliance_approval(svc, shelf, role):
    from scrm.security.permissions import Permissions

    permissions = Permissions(svc.snapshot, (role,))
    entity = svc.entity("product_sale")
    for name in ("compliance_approved_by", "compliance_approved_at", "compliance_opinion"):
        access = permissions.field(entity, entity.field(name))
        assert access.view == "plain" and not access.write
    officer = Permissions(svc.snapshot, ("compliance_officer",))
    assert officer.field(entity, entity.field("compliance_approved_by")).write
