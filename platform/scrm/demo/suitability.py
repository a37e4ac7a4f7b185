"""Suitability: questionnaire answers that score to the customer's level, assessment history
(some expired, some lowest-category), professional-investor records, recommendations and sales
matched in three dimensions (domain reference §1.6) and carried through the W3 states with
the disclosures, recordings, reviews and return visits each state needs."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa

from ..db import db
from .content import Shelf
from .customers import Profile
from .org import Staff
from .run import Run

LEVELS = ("C1", "C2", "C3", "C4", "C5")
RANK = {"short": 0, "medium": 1, "long": 2}
ASSESSMENT_FIELDS = ["customer", "template", "template_version", "answers", "score", "computed_level", "final_level",
                     "is_lowest_category", "lowest_reason", "intended_horizon", "intended_varieties",
                     "expected_return", "channel", "operator", "assessed_at", "valid_until", "status",
                     "customer_confirmed_at", "e_signature", "trigger"]  # fmt: skip
CLASSIFICATION_FIELDS = ["customer", "direction", "from_category", "to_category", "applied_at", "evidence",
                         "differences_explained_at", "risk_warned_at", "decision", "decision_reason", "decided_by",
                         "decided_at", "valid_until"]  # fmt: skip
RECOMMENDATION_FIELDS = ["customer", "product", "recommended_by", "initiated_by", "channel", "recommended_at", "reason",
                         "suitability_snapshot", "match_result", "risk_dim_ok", "horizon_dim_ok", "variety_dim_ok",
                         "blocked_reason", "outcome"]  # fmt: skip
SALE_FIELDS = ["sale_no", "customer", "account", "product", "recommendation", "initiated_by", "channel", "seller",
               "amount", "customer_level_at_sale", "product_level_at_sale", "assessment", "match_result",
               "mismatch_dims", "blocked_reason", "qualified_investor_checked", "disclosure_ack_at",
               "special_warning_doc", "customer_insists_at", "recording", "e_signature", "supervisor_review_by",
               "supervisor_review_at", "compliance_approved_by", "compliance_approved_at", "compliance_opinion",
               "paid_at", "cooling_off_until", "revisit", "status", "cancel_reason"]  # fmt: skip
VISIT_FIELDS = ["visit_no", "customer", "type", "account", "sale", "due_at", "assignee", "attempts", "script",
                "answers", "result", "completed_at"]  # fmt: skip
FUND_TYPES = {"public_fund_money", "public_fund_bond", "public_fund_mixed", "public_fund_equity", "public_fund_index",
              "public_fund_qdii", "public_fund_fof", "private_fund", "broker_am_collective", "broker_am_single"}  # fmt: skip


def answers_for(q: dict, level: str, lowest: bool, fixed: dict, rng: random.Random) -> tuple[dict, int]:
    """Answers whose score falls in ``level``'s band (knock-out answer for the lowest category);
    ``fixed`` pins some questions (e.g. the income band the customer declared)."""
    band = next(b for b in q["score_bands"] if b["level"] == level)
    target = rng.randint(band["min"], band["max"])
    questions = q["questions"]
    choice: dict[str, int] = {}
    for question in questions:
        options = question["options"]
        if question["id"] in fixed:
            choice[question["id"]] = fixed[question["id"]]
            continue
        knockout = [i for i, o in enumerate(options) if o.get("knockout")]
        allowed = [i for i in range(len(options)) if i not in knockout]
        if lowest and knockout and question["section"] == "risk_preference":
            choice[question["id"]] = knockout[0]
            continue
        top = max(o["score"] for o in options)
        want = target * top / 100
        choice[question["id"]] = min(allowed, key=lambda i: abs(options[i]["score"] - want) + rng.random() * 0.5)

    def score():
        return sum(next(x for x in questions if x["id"] == qid)["options"][i]["score"] for qid, i in choice.items())

    total = score()
    for _ in range(400):
        if band["min"] <= total <= band["max"]:
            break
        question = rng.choice(questions)
        if question["id"] in fixed:
            continue
        options = question["options"]
        current = choice[question["id"]]
        if options[current].get("knockout"):
            continue
        step = [i for i in range(len(options)) if not options[i].get("knockout")]
        better = [i for i in step if (options[i]["score"] - options[current]["score"]) * (target - total) > 0]
        if better:
            pick = min(better, key=lambda i: abs(total + options[i]["score"] - options[current]["score"] - target))
            choice[question["id"]] = pick
            total = score()
    answers = {}
    for question in questions:
        chosen = question["options"][choice[question["id"]]]
        if question.get("multiple"):  # scored by the highest ticked option: lower ones may be ticked too
            extra = [o["code"] for o in question["options"] if o["score"] < chosen["score"] and rng.random() < 0.6]
            answers[question["id"]] = sorted({chosen["code"], *extra})
        else:
            answers[question["id"]] = chosen["code"]
    return answers, total


def band_of(q: dict, score: int) -> str:
    return next((b["level"] for b in q["score_bands"] if b["min"] <= score <= b["max"]), "C1")


class SuitabilityGenerator:
    def __init__(self, run: Run, staff: Staff, shelf: Shelf):
        self.run, self.staff, self.shelf = run, staff, shelf
        self.q = shelf.questionnaire
        self.by_id = {x["id"]: x for x in self.q["questions"]}
        self.assessments = run.writer("suitability_assessment", ASSESSMENT_FIELDS)
        self.classifications = run.writer("investor_classification_record", CLASSIFICATION_FIELDS)
        self.recommendations = run.writer("product_recommendation", RECOMMENDATION_FIELDS)
        self.sales = run.writer("product_sale", SALE_FIELDS)
        self.visits = run.writer("return_visit", VISIT_FIELDS)
        self.pending: list[tuple] = []
        self.sheets: dict[tuple, list] = {}
        self.current: dict[int, dict] = {}  # customer -> latest assessment facts
        self.visitors = staff.by_role["return_visit_agent"]
        self.reviewers = staff.by_role["team_leader"]
        self.sale_seq = 0
        scripts = shelf.articles.get("return_visit_script", [])
        self.script = scripts[0] if scripts else None

    def _answers(self, p: Profile, row: dict) -> tuple[dict, int]:
        """Answer sheets are searched for once per profile kind and then reused (a dozen variants
        each): the search is the slowest step of generating a customer."""
        pinned = self._pinned(row)
        key = (p.risk, p.lowest, tuple(sorted(pinned.items())))
        pool = self.sheets.setdefault(key, [])
        if len(pool) < 12:
            pool.append(answers_for(self.q, p.risk, p.lowest, pinned, self.run.rng))
            return pool[-1]
        return self.run.rng.choice(pool)

    def _pinned(self, row: dict) -> dict:
        pinned = {}
        for qid, key in (("q01", "annual_income_band"), ("q02", "financial_assets_band"), ("q04", "debt_band")):
            question = self.by_id.get(qid)
            if question and question.get("maps_to") == key:
                idx = next((i for i, o in enumerate(question["options"]) if o.get("value") == row.get(key)), None)
                if idx is not None:
                    pinned[qid] = idx
        return pinned

    # -- before the customers are written ----------------------------------------------------------
    def prepare(self, rows: list[dict], profiles: list[Profile]) -> None:
        run, rng = self.run, self.run.rng
        for row, p in zip(rows, profiles, strict=True):
            if row["customer_type"] == "product" or row["customer_status"] == "closed" and rng.random() < 0.5:
                continue
            history = []
            months = rng.randint(0, 27) if (run.today - p.opened).days > 60 else 0
            assessed_day = max(p.opened, run.today - timedelta(days=months * 30 + rng.randint(0, 29)))
            if (assessed_day - p.opened).days > 800 and rng.random() < 0.5:
                history.append(assessed_day - timedelta(days=rng.randint(700, 760)))
            history.append(assessed_day)
            for n, day in enumerate(history):
                latest = n == len(history) - 1
                answers, score = self._answers(p, row)
                level = band_of(self.q, score)
                final = level
                assessed = run.moment(day, rng, 9, 18)
                valid_until = day + timedelta(days=730)
                status = "superseded" if not latest else ("valid" if valid_until >= run.today else "expired")
                mapped = self._mapped(answers)
                channel = rng.choices(("app", "web", "counter", "phone_assisted"), (70, 10, 15, 5))[0]
                aid = run.allocate("suitability_assessment", 1)
                lowest = any(
                    self.by_id[qid]["options"][[o["code"] for o in self.by_id[qid]["options"]].index(code)].get("knockout")
                    for qid, code in answers.items()
                    if isinstance(code, str)
                )  # fmt: skip
                reason = None
                if lowest:
                    reason = next(
                        o.get("lowest_reason")
                        for qid, code in answers.items()
                        if isinstance(code, str)
                        for o in self.by_id[qid]["options"]
                        if o["code"] == code and o.get("knockout")
                    )
                self.pending.append((
                    aid, p.id, self.shelf.template_id, self.q["version"], answers, score, level, final, lowest, reason,
                    mapped.get("intended_horizon"), mapped.get("intended_varieties"), mapped.get("expected_return"),
                    channel, rng.choice(self.staff.by_role["service_agent"]) if channel in ("counter", "phone_assisted") else None,
                    assessed, valid_until, status, assessed + timedelta(minutes=rng.randint(1, 30)),
                    f"esign://assessment/{aid}" if channel in ("app", "web") else None,
                    "account_opening" if day == p.opened else rng.choice(("expiry", "customer_request", "material_change")),
                ))  # fmt: skip
                if latest:
                    row.update(
                        risk_level=final, is_lowest_category=lowest, risk_assessed_at=assessed, risk_valid_until=valid_until,
                        **{k: v for k, v in mapped.items() if v is not None},
                    )  # fmt: skip
                    p.risk, p.lowest = final, lowest
                    self.current[p.id] = {"id": aid, "level": final, "lowest": lowest, "valid": status == "valid",
                                          "horizon": mapped.get("intended_horizon") or "short",
                                          "varieties": mapped.get("intended_varieties") or ["fixed_income"]}  # fmt: skip
            if not history:
                row.update(risk_level=None, is_lowest_category=False)

    def _mapped(self, answers: dict) -> dict:
        out = {}
        for qid, code in answers.items():
            question = self.by_id[qid]
            key = question.get("maps_to")
            if key not in ("intended_horizon", "intended_varieties", "expected_return"):
                continue
            codes = code if isinstance(code, list) else [code]
            values = [o["value"] for o in question["options"] if o["code"] in codes]
            out[key] = values if question.get("multiple") else values[0]
        return out

    # -- after the customers are written -----------------------------------------------------------
    def batch(self, profiles: list[Profile]) -> None:
        rng = self.run.rng
        self.assessments.write(self.pending)
        self.pending = []
        classifications, recommendations, sales, visits = [], [], [], []
        for p in profiles:
            if p.professional and rng.random() < 0.8:
                classifications.append(self._classification(p))
            facts = self.current.get(p.id)
            if facts and self.shelf.on_sale and rng.random() < 0.08:
                rec, sale, visit = self._recommend_and_sell(p, facts)
                recommendations.append(rec)
                if sale:
                    sales.append(sale)
                if visit:
                    visits.append(visit)
        self.classifications.write(classifications)
        self.recommendations.write(recommendations)
        # sales and their return visits point at each other: sales first, then visits, then the link
        links = [
            (row[0], row[SALE_FIELDS.index("revisit") + 1]) for row in sales if row[SALE_FIELDS.index("revisit") + 1]
        ]
        self.sales.write([row_tuple_without_revisit(row) for row in sales])
        self.visits.write(visits)
        if links:
            table = self.run.tables("product_sale").main
            column = table.c[self.run.column("product_sale", "revisit")]
            db.session.execute(
                sa.update(table).where(table.c.id == sa.bindparam("sale")).values({column: sa.bindparam("visit")}),
                [{"sale": sale, "visit": visit} for sale, visit in links],
            )
        self.current.clear()

    def _classification(self, p: Profile) -> tuple:
        run, rng = self.run, self.run.rng
        applied = run.moment(max(p.opened, run.today - timedelta(days=rng.randint(30, 700))), rng)
        decided = applied + timedelta(days=rng.randint(1, 5))
        to = "professional_2" if p.tier in ("hnw", "uhnw") else "professional_3"
        direction = "initial" if applied.date() <= p.opened + timedelta(days=3) else "ordinary_to_professional"
        if direction == "ordinary_to_professional":
            to = "professional_3"
        return (run.allocate("investor_classification_record", 1), p.id, direction,
                "ordinary" if direction != "initial" else None, to, applied,
                {"asset_proof": f"doc://asset-proof/{p.id}", "financial_assets": round(p.assets, 2),
                 "experience_years": max(1, (run.today - p.opened).days // 365)},
                applied + timedelta(hours=1), applied + timedelta(hours=1), "approved",
                "金融资产及投资经历满足认定条件，已告知专业投资者与普通投资者的保护差异并进行风险警示。",
                self.staff.by_role["compliance_officer"][0], decided, decided.date() + timedelta(days=730))  # fmt: skip

    def _dimensions(self, p: Profile, facts: dict, product: dict) -> list[str]:
        """The dimensions in which ``product`` does not fit the customer (domain reference §1.6)."""
        if p.professional:
            return []
        level_ok = LEVELS.index(facts["level"]) + 1 >= int(product["risk_level"][1])
        if facts["lowest"] and product["risk_level"] != "R1":
            level_ok = False
        horizon_ok = RANK.get(product.get("investment_horizon") or "short", 0) <= RANK.get(facts["horizon"], 0)
        variety_ok = (product.get("investment_variety") or "other") in facts["varieties"]
        return [d for d, ok in (("risk", level_ok), ("horizon", horizon_ok), ("variety", variety_ok)) if not ok]

    def _recommend_and_sell(self, p: Profile, facts: dict):
        run, rng = self.run, self.run.rng
        affordable = [x for x in self.shelf.on_sale if float(x.get("min_investment") or 0) <= max(p.assets, 1) * 0.6]
        fitting = [x for x in affordable if not self._dimensions(p, facts, x)]
        # managers recommend what fits (recommendation lists are pre-filtered by match); customers
        # sometimes ask for something else
        staff_first = rng.random() < 0.75
        pool = fitting if staff_first and fitting else affordable or self.shelf.on_sale
        product = rng.choice(pool)
        dims = self._dimensions(p, facts, product)
        level_ok, horizon_ok, variety_ok = ("risk" not in dims), ("horizon" not in dims), ("variety" not in dims)
        if not dims:
            match = "match"
        elif (facts["lowest"] and product["risk_level"] != "R1") or not facts["valid"]:
            match = "prohibited"
        else:
            match = "mismatch_overridable"
        if not facts["valid"] and not p.professional:
            match = "prohibited"
        initiated = "staff" if staff_first and match == "match" else "customer" if rng.random() < 0.8 else "staff"
        seller = p.manager
        when = run.moment(run.today - timedelta(days=rng.randint(1, 80)), rng)
        blocked = None
        if match != "match" and initiated == "staff":
            blocked = "risk_mismatch_staff_initiated" if match == "mismatch_overridable" else None
        if match == "prohibited":
            blocked = "lowest_category" if facts["lowest"] else "no_valid_assessment"
        rid = run.allocate("product_recommendation", 1)
        converts = blocked is None and rng.random() < 0.6
        outcome = (
            None if blocked else ("converted" if converts else rng.choice(("presented", "interested", "declined")))
        )
        rec = (rid, p.id, product["id"], seller, initiated, rng.choice(("phone_outbound", "wechat_work", "visit_branch")),
               when, f"客户风险等级{facts['level']}，产品风险等级{product['risk_level']}，依据三维匹配结果推介。" if initiated == "staff"
               else "客户主动咨询该产品。",
               {"risk_level": facts["level"], "is_lowest": facts["lowest"], "horizon": facts["horizon"],
                "varieties": facts["varieties"], "assessment": facts["id"]},
               match, level_ok, horizon_ok, variety_ok, blocked, outcome)  # fmt: skip
        if not converts and blocked is None:
            return rec, None, None
        return rec, *self._sale(p, facts, product, rid if converts else None, initiated, match, dims, blocked, when)

    def _sale(self, p, facts, product, rid, initiated, match, dims, blocked, when):
        run, rng = self.run, self.run.rng
        self.sale_seq += 1
        sid = run.allocate("product_sale", 1)
        minimum = float(product.get("min_investment") or 1000)
        amount = Decimal(str(round(max(minimum, p.assets * rng.uniform(0.02, 0.2)), -2) or minimum)).quantize(
            Decimal("0.01")
        )
        channel = rng.choices(("app", "web", "counter", "phone_assisted"), (60, 10, 25, 5))[0]
        cooling = (product.get("cooling_off_hours") or 0) > 0
        needs_visit = cooling or product.get("requires_revisit")
        high_risk = product["risk_level"] in ("R4", "R5") and not p.professional
        row = dict.fromkeys(SALE_FIELDS)
        row.update(
            id=sid, sale_no=f"XS{when:%Y%m%d}{self.sale_seq:07d}", customer=p.id, account=p.account, product=product["id"],
            recommendation=rid, initiated_by=initiated, channel=channel, seller=p.manager, amount=amount,
            customer_level_at_sale=facts["level"], product_level_at_sale=product["risk_level"], assessment=facts["id"],
            match_result=match, mismatch_dims=dims or None, qualified_investor_checked=False,
        )  # fmt: skip
        visit = None
        if blocked or match == "prohibited" or (initiated == "staff" and match != "match"):
            row.update(status="blocked", blocked_reason=blocked or "risk_mismatch_staff_initiated")
            return row_tuple(row), None
        ack = when + timedelta(minutes=rng.randint(5, 60))
        row.update(
            disclosure_ack_at=ack, qualified_investor_checked=product.get("target_investor") == "qualified_investor"
        )
        if channel in ("counter", "phone_assisted") or product.get("requires_recording"):
            row["recording"] = f"rec://double-record/{sid}"
        if channel in ("app", "web"):
            row["e_signature"] = f"esign://sale/{sid}"
        if match == "mismatch_overridable":
            row.update(
                customer_insists_at=when + timedelta(minutes=2), special_warning_doc=f"doc://special-warning/{sid}"
            )
            if (
                product["risk_level"] == "R5"
                or amount >= 1_000_000
                or (p.birth and (run.today - p.birth).days >= 65 * 365)
            ):
                row.update(supervisor_review_by=self.reviewers[p.id % len(self.reviewers)],
                           supervisor_review_at=when + timedelta(hours=2))  # fmt: skip
                if row["supervisor_review_by"] == p.manager:
                    row["supervisor_review_by"] = self.staff.by_role["branch_manager"][0]
            officers = self.staff.by_role["compliance_officer"]
            row.update(compliance_approved_by=officers[p.id % len(officers)],
                       compliance_approved_at=when + timedelta(hours=3),
                       compliance_opinion="客户主动申购，已签署特别风险警示书，同意")  # fmt: skip
        state = rng.choices(("confirmed", "paid", "order_submitted", "disclosure", "cancelled"), (70, 5, 8, 10, 7))[0]
        if state == "cancelled":
            row.update(
                status="cancelled", cancel_reason=rng.choice(("customer_cancel_cooling_off", "payment_failed", "other"))
            )
            return row_tuple(row), None
        if state == "disclosure":
            row.update(status="disclosure", disclosure_ack_at=None)
            return row_tuple(row), None
        if state == "order_submitted":
            row.update(status="order_submitted")
            return row_tuple(row), None
        paid = ack + timedelta(hours=rng.randint(1, 20))
        row.update(paid_at=paid, status="paid" if state == "paid" and not cooling else "confirmed")
        if cooling:
            row["cooling_off_until"] = paid + timedelta(hours=product["cooling_off_hours"])
        if cooling and row["cooling_off_until"] > run.now:
            row["status"] = "cooling_off"
        if row["status"] == "confirmed" and (needs_visit or high_risk):
            visit = self._visit(p, sid, "private_fund_revisit" if cooling else "high_risk_sale",
                                row["cooling_off_until"] or paid)  # fmt: skip
            row["revisit"] = visit[0]
        return row_tuple(row), visit

    def _visit(self, p: Profile, sale: int, kind: str, after) -> tuple:
        run, rng = self.run, self.run.rng
        vid = run.allocate("return_visit", 1)
        due = after + timedelta(days=2 if kind == "private_fund_revisit" else 5)
        done = min(run.now, after + timedelta(hours=rng.randint(2, 40)))
        visitor = self.visitors[vid % len(self.visitors)]
        return (vid, f"HF{vid:09d}", p.id, kind, p.account, sale, due, visitor,
                [{"at": done.isoformat(), "channel": "phone", "result": "reached"}], self.script,
                {"identity_verified": True, "understood_risks": True, "self_initiated": True, "no_promised_return": True},
                "confirmed_ok", done)  # fmt: skip

    def finish(self) -> None:
        for name, writer in (("suitability_assessment", self.assessments),
                             ("investor_classification_record", self.classifications),
                             ("product_recommendation", self.recommendations), ("product_sale", self.sales),
                             ("return_visit", self.visits)):  # fmt: skip
            self.run.add(name, writer)


def row_tuple_without_revisit(row: tuple) -> tuple:
    at = SALE_FIELDS.index("revisit") + 1
    return (*row[:at], None, *row[at + 1 :])


def row_tuple(row: dict) -> tuple:
    return (row["id"], *(row[f] for f in SALE_FIELDS))
