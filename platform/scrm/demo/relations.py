"""Who serves each customer (assignments with transfer history), the tags the shipped rules
would have applied (with their evidence), consents and campaign invitations."""

from __future__ import annotations

from datetime import timedelta

from .content import Shelf
from .customers import Profile
from .org import Staff
from .run import Run

# code, name, category, type, rule id, exclusive group, colour
TAGS = (
    ("HNW", "高净值客户", "asset", "rule", "TAG_HNW", "asset_value", "danger"),
    ("WEALTH", "财富客户", "asset", "rule", "TAG_WEALTH", "asset_value", "warning"),
    ("HIGH_FREQ", "高频交易客户", "behavior", "rule", "TAG_HIGH_FREQ", None, "primary"),
    ("DORMANT", "休眠客户", "lifecycle", "rule", "TAG_DORMANT", None, "secondary"),
    ("DORMANT_WARNING", "休眠预警", "lifecycle", "rule", "ALR_NO_TRADE_30D", None, "warning"),
    ("TECH_PREF", "科技股偏好", "preference", "rule", "TAG_TECH_PREF", None, "info"),
    ("ONBOARDING", "新开户客户", "lifecycle", "rule", "TAG_ONBOARDING", None, "success"),
    ("LOYAL", "忠诚客户", "lifecycle", "rule", "TAG_LOYAL", None, "success"),
    ("CHURN_RISK", "流失预警", "risk", "rule", "ALR_CHURN_RISK", None, "danger"),
    ("ASSESSMENT_EXPIRED", "风险测评已过期", "compliance", "rule", "ALR_ASSESSMENT_EXPIRED", None, "dark"),
    ("VALUE_INVESTOR", "价值投资", "preference", "manual", None, None, "primary"),
    ("ETF_PREF", "ETF偏好", "preference", "manual", None, None, "info"),
    ("BIRTHDAY_CARE", "生日关怀", "service", "manual", None, None, "success"),
    ("VIP_EVENT", "重要活动嘉宾", "service", "manual", None, None, "warning"),
)
TAG_FIELDS = ["code", "name", "category", "tag_type", "rule", "exclusive_group", "color", "active", "explanation"]
ASSIGNMENT_FIELDS = ["display_name", "customer", "employee", "relation", "share_ratio", "is_primary", "valid_from", "valid_to",
                     "change_reason", "request_type", "status", "approved_by", "approved_at"]  # fmt: skip
CUSTOMER_TAG_FIELDS = [
    "display_name",
    "customer",
    "tag",
    "source",
    "applied_by",
    "applied_at",
    "valid_until",
    "evidence",
]
CONSENT_FIELDS = ["display_name", "customer", "purpose", "channel_scope", "recipient_category", "policy_version", "granted_at",
                  "withdrawn_at", "capture_channel", "evidence_ref"]  # fmt: skip
MEMBER_FIELDS = ["campaign", "customer", "invited_at", "invitation_channel", "registered_at", "attended",
                 "checked_in_at", "opt_out"]  # fmt: skip


def build_tags(run: Run, shelf: Shelf) -> None:
    first = run.allocate("tag", len(TAGS))
    rows = []
    for offset, (code, name, category, kind, rule, group, color) in enumerate(TAGS):
        shelf.tags[code] = first + offset
        explanation = (
            f"由规则 {rule} 在日终批处理中自动维护；客户可依个人信息保护法申请说明。" if rule else "客户经理手工标注。"
        )
        rows.append((first + offset, code, name, category, kind, rule, group, color, True, explanation))
    writer = run.writer("tag", TAG_FIELDS)
    writer.write(rows)
    run.add("tag", writer)


class RelationGenerator:
    def __init__(self, run: Run, staff: Staff, shelf: Shelf):
        self.run, self.staff, self.shelf = run, staff, shelf
        self.assignments = run.writer("customer_assignment", ASSIGNMENT_FIELDS)
        self.customer_tags = run.writer("customer_tag", CUSTOMER_TAG_FIELDS)
        self.consents = run.writer("consent_record", CONSENT_FIELDS)
        self.members = run.writer("campaign_member", MEMBER_FIELDS)
        self.open_campaigns = [c for c in shelf.campaigns if c["status"] in ("approved", "running", "finished")]
        self.tag_names = {t[0]: t[1] for t in TAGS}

    # -- before the customers are written: the tags shown on the customer ------------------------
    def prepare(self, rows: list[dict], profiles: list[Profile]) -> None:
        for row, p in zip(rows, profiles, strict=True):
            p.tag_codes = self._rule_tags(row, p)
            row["tags"] = [self.tag_names[c] for c in p.tag_codes]

    def _rule_tags(self, row: dict, p: Profile) -> list[str]:
        run, today = self.run, self.run.today
        last_day = run.trading[-1]
        codes = []
        if row["customer_status"] == "closed":
            return codes
        if p.assets > 5_000_000:
            codes.append("HNW")
        elif p.assets >= 1_000_000:
            codes.append("WEALTH")
        if p.trades_30d > 10:
            codes.append("HIGH_FREQ")
        stale = p.last_trade is None or (last_day - p.last_trade).days > 90
        if stale and (today - p.opened).days > 90 and p.assets > 0:
            codes.append("DORMANT")
        elif p.last_trade and (last_day - p.last_trade).days > 30 and p.assets >= 10_000:
            codes.append("DORMANT_WARNING")
        if p.tech_weight > 0.6 and p.assets >= 10_000:
            codes.append("TECH_PREF")
        if (today - p.opened).days <= 30:
            codes.append("ONBOARDING")
        if (today - p.opened).days >= 5 * 365 and p.id % 3 == 0:
            codes.append("LOYAL")
        if p.outflow_alert:
            codes.append("CHURN_RISK")
        if row.get("risk_valid_until") and row["risk_valid_until"] < today:
            codes.append("ASSESSMENT_EXPIRED")
        if p.id % 17 == 0:
            codes.append("VALUE_INVESTOR")
        if p.id % 23 == 0:
            codes.append("ETF_PREF")
        return codes

    # -- after: the rows that refer to the customers -----------------------------------------------
    def batch(self, profiles: list[Profile]) -> None:
        run, rng = self.run, self.run.rng
        assignments, tags, consents, members = [], [], [], []
        for p in profiles:
            assignments += self._assignments(p)
            for code in p.tag_codes:
                manual = code in ("VALUE_INVESTOR", "ETF_PREF")
                applied = run.moment(max(p.opened, run.today - timedelta(days=rng.randint(1, 120))), rng, 18, 21)
                tags.append((run.allocate("customer_tag", 1), f"{p.number} · {code}", p.id, self.shelf.tags[code], "manual" if manual else "rule",
                             p.manager if manual else None, applied,
                             run.today + timedelta(days=31) if code == "ONBOARDING" else None,
                             None if manual else {"assets": round(p.assets, 2), "trades_30d": p.trades_30d,
                                                  "tech_weight": round(p.tech_weight, 4)}))  # fmt: skip
            consents += self._consents(p)
            if self.open_campaigns and not p.dnd and rng.random() < 0.04:
                members.append(self._member(p))
        self.assignments.write(assignments)
        self.customer_tags.write(tags)
        self.consents.write(consents)
        self.members.write(members)

    def _assignments(self, p: Profile) -> list[tuple]:
        run, rng = self.run, self.run.rng
        out = []
        start = p.opened
        lead = self.staff.supervisor_of.get(p.manager)
        if (run.today - p.opened).days > 400 and rng.random() < 0.08:
            # an earlier servicer handed the customer over
            before, _branch = rng.choice(self.staff.servicers)
            if before != p.manager:
                moved = p.opened + timedelta(days=rng.randint(100, (run.today - p.opened).days - 30))
                out.append((run.allocate("customer_assignment", 1), self._name(p, before), p.id, before, "servicer", None, True, p.opened,
                            moved - timedelta(days=1), "account_opening", None, "effective", None, None))  # fmt: skip
                out.append((run.allocate("customer_assignment", 1), self._name(p, p.manager), p.id, p.manager, "servicer", None, True, moved,
                            None, rng.choice(("manager_left", "rebalancing", "transfer_request", "tier_upgrade")),
                            "transfer", "customer_notified", lead, run.moment(moved - timedelta(days=3), rng)))  # fmt: skip
                start = moved
        if not out:
            out.append((run.allocate("customer_assignment", 1), self._name(p, p.manager), p.id, p.manager, "servicer", None, True, p.opened, None,
                        "account_opening", None, "effective", None, None))  # fmt: skip
        shared = p.tier in ("hnw", "uhnw") and rng.random() < 0.3
        co = None
        if shared:
            co = next((e for e, _b in self.staff.hnw_servicers if e != p.manager), None)
        ratio = 0.7 if co else 1.0
        out.append((run.allocate("customer_assignment", 1), self._name(p, p.manager), p.id, p.manager, "developer", ratio, False, start, None,
                    "account_opening" if start == p.opened else "transfer_request", None, "effective", None, None))  # fmt: skip
        if co:
            when = start + timedelta(days=rng.randint(0, max(0, (run.today - start).days)))
            out.append((run.allocate("customer_assignment", 1), self._name(p, co), p.id, co, "co_servicer", 0.3, False, when, None,
                        "tier_upgrade", "share", "effective", lead, run.moment(when, rng)))  # fmt: skip
        return out

    def _name(self, p: Profile, employee: int) -> str:
        return f"{p.number} · {self.staff.number_of[employee]}"

    def _consents(self, p: Profile) -> list[tuple]:
        run, rng = self.run, self.run.rng
        out = []
        opened = run.moment(p.opened, rng)

        def add(purpose, channels=None, recipient=None, withdrawn=None):
            out.append((run.allocate("consent_record", 1), f"{p.number} · {purpose}", p.id, purpose, channels, recipient, "PP-2025.2", opened,
                        withdrawn, rng.choice(("app", "app", "web", "counter")), f"esign://consent/{p.id}/{purpose}"))  # fmt: skip

        if rng.random() < 0.6 or p.dnd:
            withdrawn = None
            if p.dnd:
                withdrawn = opened + timedelta(days=rng.randint(1, max(2, (run.today - p.opened).days)))
                withdrawn = min(withdrawn, run.now)
            add(
                "marketing_sms_call",
                rng.sample(["sms", "phone", "wechat", "app_push"], rng.randint(1, 3)),
                None,
                withdrawn,
            )
        if rng.random() < 0.45:
            add("personalised_recommendation", ["app_push"])
        if rng.random() < 0.15:
            add("third_party_sharing", None, "fund_company")
        if rng.random() < 0.3:
            add("survey_feedback", ["sms"])
        return out

    def _member(self, p: Profile) -> tuple:
        run, rng = self.run, self.run.rng
        campaign = rng.choice(self.open_campaigns)
        start = campaign["start_at"]
        invited = start - timedelta(days=rng.randint(3, 20))
        registered = invited + timedelta(hours=rng.randint(1, 48)) if rng.random() < 0.45 else None
        attended = bool(registered) and campaign["status"] == "finished" and rng.random() < 0.65
        return (run.allocate("campaign_member", 1), campaign["id"], p.id, invited,
                rng.choice(("sms", "wechat_work", "app_message", "phone_outbound")), registered, attended,
                start + timedelta(minutes=rng.randint(-20, 30)) if attended else None, False)  # fmt: skip

    def finish(self) -> None:
        for name, writer in (("customer_assignment", self.assignments), ("customer_tag", self.customer_tags),
                             ("consent_record", self.consents), ("campaign_member", self.members)):  # fmt: skip
            self.run.add(name, writer)
