"""The firm-level content every customer story refers to: the product shelf, the knowledge base,
the risk questionnaire, surveys, tags, campaigns and recent market events.

Texts come from the JSON files in ``data/`` (written for this purpose, fictional issuers, no
real products); ids, dates and approvals are filled in here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from .market import Market
from .org import Staff
from .run import Run

DATA = Path(__file__).parent / "data"
APPROVED_SALE = {"presale", "raising", "open", "closed_period", "suspended", "liquidated"}


def data(name: str):
    return json.loads((DATA / name).read_text(encoding="utf-8"))


@dataclass
class Shelf:
    products: list[dict] = field(default_factory=list)  # with "id"
    on_sale: list[dict] = field(default_factory=list)
    articles: dict[str, list[int]] = field(default_factory=dict)  # article type -> ids
    script_for: dict[str, int] = field(default_factory=dict)  # return-visit type / title -> article id
    questionnaire: dict = field(default_factory=dict)
    template_id: int = 0
    surveys: dict[str, int] = field(default_factory=dict)  # survey type -> id
    tags: dict[str, int] = field(default_factory=dict)  # tag code -> id
    campaigns: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)


def build(run: Run, staff: Staff, market: Market) -> Shelf:
    shelf = Shelf()
    _knowledge(run, staff, shelf, market, before_products=True)
    _products(run, staff, shelf)
    _link_profiles(run, shelf)
    _questionnaire(run, staff, shelf)
    _surveys(run, shelf)
    _tags(run, shelf)
    _campaigns(run, staff, shelf)
    _events(run, shelf, market)
    return shelf


def _approver(staff: Staff) -> int:
    return staff.by_role["compliance_officer"][0]


def _at(day: date, hour: int = 10) -> datetime:
    from datetime import UTC

    return datetime(day.year, day.month, day.day, hour - 8 if hour >= 8 else 0, tzinfo=UTC)


def _knowledge(run: Run, staff: Staff, shelf: Shelf, market: Market, before_products: bool) -> None:
    articles = data("knowledge.json")
    symbol_ids = {v: k for k, v in market.symbol.items()}
    fields = ["article_type", "title", "body", "keywords", "categories", "products", "securities", "risk_level",
              "audience", "banned_terms", "article_version", "effective_from", "status", "approved_by",
              "approved_at"]  # fmt: skip
    entity = run.tables("knowledge_article").entity
    allowed_categories = {o["value"] for o in entity.field("categories").spec["options"]}
    rows = []
    first = run.allocate("knowledge_article", len(articles))
    for offset, a in enumerate(articles):
        aid = first + offset
        effective = date.fromisoformat(a.get("effective_from") or "2026-01-01")
        effective = min(effective, run.today)
        approved = a["status"] in ("compliance_approved", "published", "retired")
        rows.append({
            "id": aid, "article_type": a["article_type"], "title": a["title"][:200], "body": a.get("body"),
            "keywords": [k[:64] for k in a.get("keywords", [])][:30],
            "categories": [c for c in a.get("categories", []) if c in allowed_categories],
            "products": None,  # product ids are known once the shelf is loaded (see _link_profiles)
            "securities": [symbol_ids[s] for s in a.get("security_symbols", []) if s in symbol_ids] or None,
            "risk_level": a.get("risk_level"), "audience": a["audience"], "banned_terms": a.get("banned_terms"),
            "article_version": a.get("version"), "effective_from": effective, "status": a["status"],
            "approved_by": _approver(staff) if approved else None,
            "approved_at": _at(effective - timedelta(days=2)) if approved else None,
            "_product_codes": a.get("product_codes", []),
        })  # fmt: skip
        shelf.articles.setdefault(a["article_type"], []).append(aid)
        shelf.script_for[a["title"]] = aid
    shelf._article_rows = rows  # type: ignore[attr-defined]
    writer = run.writer("knowledge_article", fields)
    writer.write_dicts(rows)
    run.add("knowledge_article", writer)


def _products(run: Run, staff: Staff, shelf: Shelf) -> None:
    products = data("products.json")
    fields = ["product_code", "name", "product_type", "issuer", "manager", "risk_level", "risk_rated_at",
              "risk_rating_basis", "investment_horizon", "investment_variety", "target_investor", "min_investment",
              "principal_protected", "cooling_off_hours", "requires_revisit", "requires_recording", "fee_schedule",
              "sale_status", "raise_start", "raise_end", "maturity_date", "benchmark", "compliance_approved_by",
              "compliance_approved_at", "risk_disclosure_article"]  # fmt: skip
    disclosures = shelf.articles.get("risk_disclosure_template", [])
    first = run.allocate("product", len(products))
    rows = []
    for offset, p in enumerate(products):
        pid = first + offset
        approved = p["sale_status"] in APPROVED_SALE
        rated = run.today - timedelta(days=30 + offset * 7)
        row = {
            **{k: p.get(k) for k in fields if k in p},
            "id": pid,
            "min_investment": Decimal(p["min_investment"]) if p.get("min_investment") else None,
            "raise_start": _date(p.get("raise_start")),
            "raise_end": _date(p.get("raise_end")),
            "maturity_date": _date(p.get("maturity_date")),
            "manager": p.get("manager") or p.get("issuer"),
            "risk_rated_at": rated,
            "risk_rating_basis": "依据《证券期货投资者适当性管理办法》及公司产品风险评级方法，综合流动性、期限、杠杆、结构复杂度与投资范围评定；不低于自律组织名录等级。",
            "compliance_approved_by": _approver(staff) if approved else None,
            "compliance_approved_at": _at(rated) if approved else None,
            "risk_disclosure_article": disclosures[offset % len(disclosures)] if disclosures and p["risk_level"] >= "R3" else None,
        }  # fmt: skip
        if p["product_type"] == "private_fund":
            row["cooling_off_hours"] = max(24, p.get("cooling_off_hours") or 0)
            row["requires_revisit"] = True
        rows.append(row)
    writer = run.writer("product", fields)
    writer.write_dicts(rows)
    run.add("product", writer)
    shelf.products = rows
    shelf.on_sale = [r for r in rows if r["sale_status"] in ("presale", "raising", "open")]


def _link_profiles(run: Run, shelf: Shelf) -> None:
    """Product profiles and research name products by code: store their ids now that they exist."""
    import sqlalchemy as sa

    from ..db import db

    by_code = {p["product_code"]: p["id"] for p in shelf.products}
    table = run.tables("knowledge_article").main
    column = run.tables("knowledge_article").entity.field("products").column
    for row in shelf._article_rows:  # type: ignore[attr-defined]
        ids = [by_code[c] for c in row["_product_codes"] if c in by_code]
        if ids:
            db.session.execute(sa.update(table).where(table.c.id == row["id"]).values({column: ids}))


def _date(value):
    return date.fromisoformat(value) if value else None


def _questionnaire(run: Run, staff: Staff, shelf: Shelf) -> None:
    q = data("questionnaire.json")
    shelf.questionnaire = q
    tid = run.allocate("questionnaire_template", 1)
    shelf.template_id = tid
    writer = run.writer(
        "questionnaire_template",
        ["code", "template_version", "applies_to", "questions", "score_bands", "status", "approved_by",
         "effective_from"],
    )  # fmt: skip
    writer.write([(tid, q["code"], q["version"], q.get("applies_to", "individual"), q["questions"], q["score_bands"],
                   "active", _approver(staff), date(2024, 1, 1))])  # fmt: skip
    run.add("questionnaire_template", writer)


CAMPAIGNS = (
    ("seminar", "2026年度投资策略会", 200, "北京市朝阳区建国门外大街营业部三楼会议室"),
    ("investor_education", "理性投资 从我做起——投资者教育进社区", 120, "上海市浦东新区陆家嘴社区文化中心"),
    ("product_roadshow", "稳健增利系列产品线上路演", 500, None),
    ("online_live", "科创板投资规则与风险直播解读", 3000, None),
    ("reactivation", "休眠客户唤醒关怀季", 5000, None),
    ("onboarding", "新客陪伴计划：开户30天成长营", 2000, None),
    ("referral", "推荐好友开户有礼（合规版）", 1000, None),
    ("investor_education", "防范非法证券活动宣传月", 800, "深圳市福田区福华三路营业部"),
)


def _campaigns(run: Run, staff: Staff, shelf: Shelf) -> None:
    fields = ["code", "name", "campaign_type", "start_at", "end_at", "venue", "online_url", "capacity",
              "target_segment", "products", "compliance_approved_by", "compliance_approved_at", "budget",
              "owner_org", "status"]  # fmt: skip
    first = run.allocate("campaign", len(CAMPAIGNS))
    rows = []
    for offset, (kind, name, capacity, venue) in enumerate(CAMPAIGNS):
        start = run.today + timedelta(days=(offset - 5) * 18)
        status = (
            "finished" if start < run.today - timedelta(days=14) else "running" if start <= run.today else "approved"
        )
        if offset == len(CAMPAIGNS) - 1:
            status = "compliance_review"
        approved = status != "compliance_review"
        segment = {"all": [{"field": "marketing_dnd", "op": "eq", "value": False}]}
        if kind == "reactivation":
            segment["all"].append({"field": "lifecycle_stage", "op": "eq", "value": "dormant"})
        if kind == "onboarding":
            segment["all"].append({"field": "lifecycle_stage", "op": "eq", "value": "onboarding"})
        rows.append({
            "id": first + offset, "code": f"CP{run.today.year}{offset + 1:03d}", "name": name, "campaign_type": kind,
            "start_at": _at(start, 14), "end_at": _at(start + timedelta(days=1 if venue else 30), 17),
            "venue": venue, "online_url": None if venue else f"https://live.example-securities.cn/c/{offset + 1}",
            "capacity": capacity, "target_segment": segment,
            "products": [p["id"] for p in shelf.on_sale[offset::9]][:3] if kind == "product_roadshow" else None,
            "compliance_approved_by": _approver(staff) if approved else None,
            "compliance_approved_at": _at(start - timedelta(days=10)) if approved else None,
            "budget": Decimal(capacity * 40), "owner_org": staff.branches[offset % len(staff.branches)]
            if venue else staff.org["HQ-WM"], "status": status,
        })  # fmt: skip
    writer = run.writer("campaign", fields)
    writer.write_dicts(rows)
    run.add("campaign", writer)
    shelf.campaigns = rows


def _events(run: Run, shelf: Shelf, market: Market) -> None:
    """Announcements on the securities customers hold, over the last 30 days; a few recent
    negative ones are what the holder alert reacts to."""
    kinds = data("market_events.json")
    rng = run.rng
    equities = [s for s in market.equities if not market.symbol[s].startswith(("51", "58", "15"))]
    fields = ["security", "event_type", "sentiment", "severity", "title", "published_at", "source", "url",
              "research_article", "processed_at", "affected_customer_count"]  # fmt: skip
    research = shelf.articles.get("research_report", [])
    rows = []
    for n in range(40):
        kind = kinds[n % len(kinds)]
        sec = equities[(n * 7) % len(equities)]
        day = run.today - timedelta(days=rng.randint(0, 30))
        published = run.moment(day, rng, 8, 20)
        exchange = (
            "SSE" if market.symbol[sec].endswith(".SH") else "BSE" if market.symbol[sec].endswith(".BJ") else "SZSE"
        )
        processed = published + timedelta(minutes=rng.randint(5, 90)) if n % 5 else None
        rows.append({
            "id": run.allocate("market_event", 1), "security": sec, "event_type": kind["event_type"],
            "sentiment": kind["sentiment"], "severity": kind["severity"],
            "title": rng.choice(kind["title_templates"]).format(name=market.name[sec])[:200],
            "published_at": published, "source": rng.choice((exchange, "CNINFO")),
            "url": f"https://www.cninfo.com.cn/new/disclosure/detail?stockCode={market.symbol[sec][:6]}&id={n + 1}",
            "research_article": research[n % len(research)] if research and kind["sentiment"] == "negative" else None,
            "processed_at": processed, "affected_customer_count": None,
        })  # fmt: skip
    writer = run.writer("market_event", fields)
    writer.write_dicts(rows)
    run.add("market_event", writer)
    shelf.events = rows


SURVEYS = (
    (
        "CSAT-TICKET",
        "工单满意度调查",
        "csat_ticket",
        "ticket_resolved",
        "sms_link",
        [
            {"id": "csat", "text": "您对本次服务的满意程度如何？", "scale": [1, 5]},
            {"id": "comment", "text": "您还有什么意见或建议？", "type": "text"},
        ],
    ),
    (
        "NPS-Q",
        "季度客户推荐度调查",
        "nps_relationship",
        "quarterly",
        "app",
        [
            {"id": "nps", "text": "您有多大可能向亲友推荐我们？", "scale": [0, 10]},
            {"id": "comment", "text": "请告诉我们您打分的主要原因。", "type": "text"},
        ],
    ),
    (
        "EXIT",
        "销户/转出原因调查",
        "exit_survey",
        "account_closed",
        "sms_link",
        [{"id": "loss_reason", "text": "您选择离开的主要原因是？", "type": "choice"}],
    ),
    (
        "EVENT",
        "活动满意度调查",
        "event_feedback",
        "event_attended",
        "wechat",
        [{"id": "csat", "text": "您对本次活动的满意程度如何？", "scale": [1, 5]}],
    ),
)


def _surveys(run: Run, shelf: Shelf) -> None:
    writer = run.writer(
        "survey", ["code", "name", "type", "questions", "trigger", "channel", "cooldown_days", "enabled"]
    )
    first = run.allocate("survey", len(SURVEYS))
    rows = []
    for offset, (code, name, kind, trigger, channel, questions) in enumerate(SURVEYS):
        shelf.surveys[kind] = first + offset
        rows.append((first + offset, code, name, kind, questions, trigger, channel, 30, True))
    writer.write(rows)
    run.add("survey", writer)


def _tags(run: Run, shelf: Shelf) -> None:
    from .relations import build_tags

    build_tags(run, shelf)
