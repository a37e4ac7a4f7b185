"""Every shipped rule of reference §6.1: it fires on crafted data, not on a near miss, and running
it again for the same period fires nothing new. Event-triggered rules are driven through real
writes and the event queue."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

SHIPPED = sorted(p.stem for p in (Path(__file__).parents[1] / "schemas" / "alerts").glob("*.json"))
NOW = datetime.now(UTC)
TODAY = NOW.astimezone(ZoneInfo("Asia/Shanghai")).date()
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def cn_id(n: int, born: date = date(1980, 1, 1)) -> str:
    body = f"110105{born:%Y%m%d}{n % 1000:03d}"
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, WEIGHTS, strict=True)) % 11]


def day(offset: int) -> date:
    return TODAY + timedelta(days=offset)


def moment(days: int = 0, hours: int = 0) -> datetime:
    return NOW + timedelta(days=days, hours=hours)


def earlier_today() -> datetime:
    """An hour ago, but never before today's midnight in Shanghai (a run just after midnight)."""
    now = datetime.now(UTC)
    shanghai = ZoneInfo("Asia/Shanghai")
    midnight = datetime.combine(now.astimezone(shanghai).date(), datetime.min.time(), shanghai)
    return max(now - timedelta(hours=1), midnight.astimezone(UTC))


class World:
    """Crafted records, written straight through the record service's validation."""

    def __init__(self, svc, seed):
        self.svc, self.seed, self.n = svc, seed, 0

    def add(self, entity: str, **values) -> int:
        from scrm.db import db
        from scrm.errors import ValidationFailed

        try:
            ids = self.svc.insert_many(self.svc.entity(entity), [values])
        except ValidationFailed as exc:
            raise AssertionError(f"{entity}: {[(d.path, d.message) for d in exc.details]}") from None
        db.session.commit()
        return ids[0]

    def customer(self, **values) -> int:
        self.n += 1
        born = values.pop("born", date(1980, 1, 1))
        row = {
            "customer_no": f"T{self.n:08d}",
            "name": f"测试客户{self.n}",
            "id_type": "cn_id",
            "id_number": cn_id(self.n, born),
            "birth_date": born,
            "primary_manager": self.seed["emp1"],
            "servicing_org": self.seed["branch"],
            "customer_status": "normal",
            "opened_at": day(-400),
            "total_assets": Decimal("50000"),
            "last_trade_date": day(-1),
            "asset_tier": "potential",
            **values,
        }
        return self.add("customer", **row)

    def account(self, customer: int, **values) -> int:
        self.n += 1
        return self.add(
            "account", **{"fund_account_no": f"88{self.n:010d}", "customer": customer, "opened_at": day(-400), **values}
        )

    def snapshot(self, customer: int, offset: int, **values) -> int:
        account = values.pop("account", None) or self.account(customer)
        return self.add("asset_snapshot", customer=customer, account=account, snapshot_date=day(offset), **values)

    def security(self, **values) -> int:
        self.n += 1
        return self.add(
            "security",
            symbol=f"{600000 + self.n}.SH",
            name=f"证券{self.n}",
            exchange="SSE",
            security_type="a_share",
            **values,
        )


@pytest.fixture
def world(ctx, seed):
    from scrm.data.records import RecordService
    from scrm.db import db
    from scrm.runtime import snapshot

    svc = RecordService(snapshot(), None, system=True)
    db.session.rollback()
    return World(svc, seed)


def run(name: str, **kwargs):
    from scrm.alerts.engine import run_rule

    outcome = run_rule(name, **kwargs)
    assert outcome.error is None, outcome.error
    return outcome


def fired_ids(name: str) -> set[int]:
    import sqlalchemy as sa

    from scrm.alerts.store import Firing
    from scrm.db import db

    return set(db.session.execute(sa.select(Firing.record_id).where(Firing.rule == name)).scalars())


def process_events():
    from scrm.alerts.events import process_pending

    outcomes = process_pending()
    assert all(o.error is None for o in outcomes), [o.error for o in outcomes]
    return outcomes


# -- scenarios: each builds a record that must fire and a near miss that must not --------------
def hnw(w):
    return w.customer(total_assets=Decimal("6000000")), w.customer(total_assets=Decimal("4900000"))


def wealth(w):
    return w.customer(total_assets=Decimal("2000000")), w.customer(total_assets=Decimal("990000"))


def high_freq(w):
    hit, miss = w.customer(), w.customer()
    security = w.security()
    for customer, orders in ((hit, 11), (miss, 10)):
        account = w.account(customer)
        for i in range(orders):
            for leg in range(2):  # two fills of one order count once
                w.add("trade", trade_no=f"X{customer}-{i}-{leg}", order_no=f"O{customer}-{i}", account=account,
                      customer=customer, security=security, trade_date=day(-i), trade_time=moment(-i), side="buy",
                      quantity=Decimal("100"), price=Decimal("10"), amount=Decimal("1000"))  # fmt: skip
    return hit, miss


def dormant(w):
    hit = w.customer(last_trade_date=day(-100), opened_at=day(-200), total_assets=Decimal("5000"))
    miss = w.customer(last_trade_date=day(-80), opened_at=day(-200), total_assets=Decimal("5000"))
    return hit, miss


def tech_pref(w):
    hit, miss = w.customer(), w.customer()
    w.snapshot(hit, 0, tech_weight=Decimal("0.7"), market_value=Decimal("20000"), total_assets=Decimal("30000"))
    w.snapshot(miss, 0, tech_weight=Decimal("0.6"), market_value=Decimal("20000"), total_assets=Decimal("30000"))
    return hit, miss


def onboarding(w):
    return w.customer(opened_at=day(-10)), w.customer(opened_at=day(-31))


def loyal(w):
    hit, miss = w.customer(opened_at=day(-6 * 366)), w.customer(opened_at=day(-4 * 365))
    for customer in (hit, miss):
        account = w.account(customer)
        for offset, assets in ((-10, "200000"), (-380, "100000")):
            w.snapshot(customer, offset, account=account, total_assets=Decimal(assets))
    return hit, miss


def no_trade(w):
    return (
        w.customer(last_trade_date=day(-40), total_assets=Decimal("20000")),
        w.customer(last_trade_date=day(-20), total_assets=Decimal("20000")),
    )


def birthday(w):
    born = day(3).replace(year=1970)
    return w.customer(born=born, asset_tier="wealth"), w.customer(born=day(4).replace(year=1970), asset_tier="wealth")


def anniversary(w):
    opened = day(3).replace(year=TODAY.year - 3)
    return w.customer(opened_at=opened), w.customer(opened_at=day(3).replace(year=TODAY.year - 3) + timedelta(days=1))


def assessment_expiring(w):
    return w.customer(risk_valid_until=day(30)), w.customer(risk_valid_until=day(29))


def assessment_expired(w):
    return w.customer(risk_valid_until=day(-1)), w.customer(risk_valid_until=day(0))


def unsuitable(w):
    hit, miss = w.customer(risk_level="C2"), w.customer(risk_level="C3")
    w.n += 1
    product = w.add(
        "product", product_code=f"P{w.n}", name="成长混合", product_type="public_fund_mixed", risk_level="R3"
    )
    for customer in (hit, miss):
        w.n += 1
        w.add("product_sale", sale_no=f"S{w.n}", customer=customer, product=product, initiated_by="customer",
              channel="app", amount=Decimal("10000"), status="paid")  # fmt: skip
    return hit, miss


def id_expiring(w):
    return w.customer(id_valid_until=day(30)), w.customer(id_valid_until=day(29))


def margin(w):
    hit, miss = w.customer(), w.customer()
    w.snapshot(hit, 0, maintenance_ratio=Decimal("1.40"))
    w.snapshot(miss, 0, maintenance_ratio=Decimal("1.60"))
    return hit, miss


def drawdown(w):
    hit, miss = w.customer(), w.customer()
    w.snapshot(hit, 0, daily_return=Decimal("-0.12"))
    w.snapshot(miss, 0, daily_return=Decimal("-0.09"))
    return hit, miss


def hnw_asset_drop(w):
    hit, miss = (
        w.customer(asset_tier="hnw", total_assets=Decimal(total), previous_total_assets=Decimal("10000000"),
                   assets_as_of=day(0))
        for total in ("6500000", "7100000")
    )  # fmt: skip
    return hit, miss


def elderly(w):
    hit, miss = w.customer(born=day(-76 * 366)), w.customer(born=day(-66 * 366))
    w.n += 1
    product = w.add("product", product_code=f"P{w.n}", name="私募股权", product_type="private_fund", risk_level="R5")
    for customer in (hit, miss):
        w.n += 1
        w.add("product_sale", sale_no=f"S{w.n}", customer=customer, product=product, initiated_by="customer",
              channel="counter", amount=Decimal("1000000"), product_level_at_sale="R5")  # fmt: skip
    return hit, miss


def idle_cash(w):
    hit, miss = w.customer(), w.customer()
    for customer, days in ((hit, 10), (miss, 9)):
        account = w.account(customer)
        for offset in range(days):
            w.snapshot(
                customer, -offset, account=account, available_cash=Decimal("600000"), total_assets=Decimal("1000000")
            )
    return hit, miss


def tier_upgrade(w):
    hit, miss = w.customer(), w.customer()
    for customer, before in ((hit, "900000"), (miss, "1100000")):
        account = w.account(customer)
        w.snapshot(customer, -5, account=account, total_assets=Decimal("1200000"))
        w.snapshot(customer, -40, account=account, total_assets=Decimal(before))
    return hit, miss


def churn(w):
    hit, miss = w.customer(), w.customer()
    for customer, kind in ((hit, "custody_out"), (miss, "bank_to_sec")):
        w.n += 1
        w.add("fund_transfer", transfer_no=f"T{w.n}", account=w.account(customer), customer=customer,
              transfer_type=kind, amount=Decimal("1000"), occurred_at=moment(0, -1))  # fmt: skip
    return hit, miss


def service_risk(w):
    hit, miss = w.customer(), w.customer()
    for customer, tickets in ((hit, 2), (miss, 1)):
        for _ in range(tickets):
            w.n += 1
            w.add("service_ticket", ticket_no=f"SR20261120{w.n}", subject="无法登录", customer=customer)
    return hit, miss


def new_account(w):
    customer = w.customer()
    return w.account(customer, opened_at=day(-1)), w.account(customer, opened_at=day(-2))


SCENARIOS = {
    "tag_hnw": hnw,
    "tag_wealth": wealth,
    "tag_high_freq": high_freq,
    "tag_dormant": dormant,
    "tag_tech_pref": tech_pref,
    "tag_onboarding": onboarding,
    "tag_loyal": loyal,
    "alr_no_trade_30d": no_trade,
    "alr_birthday": birthday,
    "alr_open_anniversary": anniversary,
    "alr_assessment_expiring": assessment_expiring,
    "alr_assessment_expired": assessment_expired,
    "alr_holding_unsuitable": unsuitable,
    "alr_id_expiring": id_expiring,
    "alr_margin_ratio": margin,
    "alr_drawdown_care": drawdown,
    "alr_hnw_asset_drop": hnw_asset_drop,
    "alr_elderly_high_risk": elderly,
    "alr_idle_cash": idle_cash,
    "alr_tier_upgrade": tier_upgrade,
    "alr_churn_risk": churn,
    "alr_service_risk": service_risk,
    "alr_new_account_revisit": new_account,
}
EVENT_DRIVEN = {"alr_hnw_outflow", "alr_neg_news_holders", "alr_manager_leaving"}


def test_every_shipped_rule_has_a_scenario():
    assert set(SCENARIOS) | EVENT_DRIVEN == set(SHIPPED)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_rule_fires_on_a_hit_not_on_a_near_miss_and_only_once(world, name):
    hit, miss = SCENARIOS[name](world)
    dry = run(name, dry_run=True)
    assert hit in {item["id"] for item in dry.sample} and miss not in {item["id"] for item in dry.sample}
    assert fired_ids(name) == set()  # a dry run writes nothing
    first = run(name)
    assert hit in fired_ids(name) and miss not in fired_ids(name)
    assert first.fired >= 1
    again = run(name)
    assert again.fired == 0


def _tasks(rule: str) -> list[dict]:
    from scrm.data.records import RecordService
    from scrm.runtime import snapshot

    page = RecordService(snapshot(), None).list(
        "task", filter={"field": "source_rule", "op": "eq", "value": rule}, limit=100
    )
    return page.items


def test_hnw_outflow_from_a_real_transfer_tasks_the_manager_and_texts_masked(world, app):
    from scrm.notify.outbox import OutboxMessage

    world.svc.update("employee", world.seed["emp1"], {"mobile": "13812345678", "_version": 1})
    hit = world.customer(name="王小明", asset_tier="hnw", total_assets=Decimal("10000000"))
    miss = world.customer(name="李四", asset_tier="hnw", total_assets=Decimal("10000000"))
    for customer, amount in ((hit, "3500000"), (miss, "2500000")):
        world.n += 1
        world.svc.create("fund_transfer", {"transfer_no": f"OUT{world.n}", "account": world.account(customer),
                                           "customer": customer, "transfer_type": "sec_to_bank", "amount": amount,
                                           "occurred_at": earlier_today().isoformat()})  # fmt: skip
    process_events()
    assert fired_ids("alr_hnw_outflow") == {hit}
    tasks = _tasks("alr_hnw_outflow")
    assert [t["priority"] for t in tasks] == ["P1"] and "王*明" in tasks[0]["title"] and "35.0%" in tasks[0]["title"]
    sms = [m for m in OutboxMessage.query.all() if m.channel == "sms"]
    assert len(sms) == 1 and json.loads(sms[0].params)["cust"] == "王*明" and "王小明" not in sms[0].body
    process_events()  # nothing queued any more
    assert run("alr_hnw_outflow").fired == 0  # the day's firing already exists


def test_negative_announcement_tasks_every_heavy_holder_once(world):
    security = world.security()
    heavy, light = world.customer(), world.customer()
    for customer, weight, value in ((heavy, "0.25", "300000"), (light, "0.10", "500000")):
        world.add("position", account=world.account(customer), customer=customer, as_of_date=day(0),
                  security=security, quantity=Decimal("1000"), market_value=Decimal(value),
                  weight_in_portfolio=Decimal(weight))  # fmt: skip
    for sentiment, kind in (("negative", "inquiry_letter"), ("positive", "buyback")):
        world.svc.create("market_event", {"security": security, "event_type": kind, "sentiment": sentiment,
                                          "severity": 3, "title": f"{sentiment} 问询函",
                                          "published_at": moment().isoformat()})  # fmt: skip
    process_events()
    assert fired_ids("alr_neg_news_holders") == {heavy}
    assert "negative 问询函" in _tasks("alr_neg_news_holders")[0]["title"]
    world.svc.create("market_event", {"security": security, "event_type": "regulatory_penalty", "sentiment": "negative",
                                      "severity": 2, "title": "第二份公告", "published_at": moment().isoformat()})  # fmt: skip
    process_events()
    assert len(_tasks("alr_neg_news_holders")) == 2  # once per (announcement, customer)


def test_manager_leaving_fires_on_the_change_only(world):
    boss = world.add("employee", employee_no="B1", name="主管", org_unit=world.seed["branch"], role="team_leader")
    leaving = world.add("employee", employee_no="L1", name="离职者", org_unit=world.seed["branch"],
                        role="account_manager", supervisor=boss)  # fmt: skip
    staying = world.add("employee", employee_no="L2", name="休假者", org_unit=world.seed["branch"],
                        role="account_manager", supervisor=boss)  # fmt: skip
    world.customer(primary_manager=leaving)
    world.svc.update("employee", leaving, {"status": "resigning", "_version": 1})
    world.svc.update("employee", staying, {"status": "on_leave", "_version": 1})
    world.svc.update("employee", leaving, {"max_customers": 10, "_version": 2})  # still resigning: no new firing
    process_events()
    assert fired_ids("alr_manager_leaving") == {leaving}
    [task] = _tasks("alr_manager_leaving")
    assert task["assignee"] == boss and "1 位客户" in task["title"]


def test_a_tag_is_held_while_the_condition_holds_and_released_with_hysteresis(world):
    from scrm.data.records import RecordService
    from scrm.runtime import snapshot

    customer = world.customer(total_assets=Decimal("6000000"))
    account = world.account(customer)
    snap = world.snapshot(customer, 0, account=account, total_assets=Decimal("4600000"))
    assert run("tag_hnw").fired == 1
    reader = RecordService(snapshot(), None)
    held = reader.list("customer_tag", filter={"field": "customer", "op": "eq", "value": customer}).items
    assert [(t["_titles"]["tag"], t["removed_at"]) for t in held] == [("HNW", None)]
    assert "HNW" in reader.get("customer", customer)["tags"]
    version = reader.get("customer", customer)["version"]
    world.svc.update("customer", customer, {"total_assets": "4800000", "_version": version})
    assert run("tag_hnw").untagged == 0  # average 4.6M: above the 4.5M release line
    world.svc.update("asset_snapshot", snap, {"total_assets": "4400000", "_version": 1})
    assert run("tag_hnw").untagged == 1
    assert reader.list("customer_tag", filter={"field": "customer", "op": "eq", "value": customer}).items[0][
        "removed_at"
    ]
    assert "HNW" not in reader.get("customer", customer)["tags"]


def test_a_failing_rule_is_recorded_with_its_error(world, monkeypatch):
    from scrm.alerts import engine
    from scrm.alerts.engine import run_rule
    from scrm.alerts.store import Run
    from scrm.db import db

    world.customer(total_assets=Decimal("6000000"))

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(engine.actions.ActionRunner, "apply", broken)
    outcome = run_rule("tag_hnw")
    assert outcome.status == "failed" and "database went away" in outcome.error
    last = db.session.execute(db.select(Run).order_by(Run.id.desc())).scalars().first()
    assert (last.status, last.fired) == ("failed", 0)
    assert fired_ids("tag_hnw") == set()  # the firing rolled back with its actions


@pytest.mark.parametrize(
    ("name", "scans"),
    [("alr_tier_upgrade", 2), ("tag_tech_pref", 1), ("tag_loyal", 2), ("alr_churn_risk", 3)],
)
def test_the_batch_statement_reads_each_child_window_once(ctx, name, scans):
    """On PostgreSQL aggregates become derived tables: a metric the condition uses twice is one
    derived table, and values picked from the same latest row share one ranking."""
    import re
    from datetime import UTC, datetime

    from sqlalchemy.dialects import postgresql

    from scrm.alerts.compile import matches, prepare
    from scrm.alerts.model import rules_of
    from scrm.data.evaluation import environment
    from scrm.runtime import snapshot

    snap = snapshot()
    rule = rules_of(snap)[name]
    env = environment(snap, now=datetime(2026, 11, 20, 10, 30, tzinfo=UTC), params=rule.params)
    sql = str(matches(prepare(snap, rule), snap, env, "postgresql").compile(dialect=postgresql.dialect()))
    found = re.findall(r"(EXISTS \(SELECT 1\s+)?FROM crm_(?:asset_snapshot|fund_transfer|trade) AS c\d+", sql)
    assert sum(1 for guard in found if not guard) == scans, sql  # a window's existence guard reads one row
