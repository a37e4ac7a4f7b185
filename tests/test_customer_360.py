"""The customer 360° page: header, asset curve from snapshots, holdings by industry, recent trades,
one timeline, open tasks, knowledge suggestions and quick actions; through the permission engine;
and a bounded number of SQL statements however much the customer has traded."""

import json
import re
from datetime import datetime, timedelta, timezone

from support import count_statements, local_today

CST = timezone(timedelta(hours=8))


def text(response) -> str:
    return response.get_data(as_text=True)


def add_activity(app, customer: int, trades: int) -> dict:
    """An account with a year of daily snapshots, two holdings, ``trades`` trades, a call, a task
    and a knowledge article for one of the industries held."""
    from scrm.data.records import RecordService
    from scrm.runtime import snapshot

    with app.app_context():
        svc = RecordService(snapshot(), None)
        account = svc.create("account", {"fund_account_no": f"8800{customer:08d}", "customer": customer})["id"]
        known = {r["symbol"]: r["id"] for r in svc.list("security", fields=["symbol"]).items}
        securities = [
            known.get(s) or svc.create("security", {"symbol": s, "security_code": s[:6], "name": n, "exchange": "SSE",
                                                    "security_type": "a_share", "sw_industry_l1": ind})["id"]
            for s, n, ind in (("600519.SH", "贵州茅台", "食品饮料"), ("688981.SH", "中芯国际", "电子"))
        ]  # fmt: skip
        today = local_today()
        svc.bulk_create(
            "asset_snapshot",
            [
                {"account": account, "customer": customer, "snapshot_date": (today - timedelta(days=d)).isoformat(),
                 "total_assets": str(1_000_000 + d * 1000)}
                for d in range(0, 400, 1)
            ],
        )  # fmt: skip
        svc.bulk_create(
            "position",
            [
                {"account": account, "customer": customer, "as_of_date": today.isoformat(), "security": sec,
                 "quantity": "100", "market_value": mv}
                for sec, mv in zip(securities, ("600000", "300000"), strict=True)
            ],
        )  # fmt: skip
        start = datetime(2026, 1, 5, 9, 30, tzinfo=CST)
        svc.bulk_create(
            "trade",
            [
                {"trade_no": f"T{customer}-{i:06d}", "account": account, "customer": customer,
                 "security": securities[i % 2], "trade_date": (start + timedelta(minutes=i)).date().isoformat(),
                 "trade_time": (start + timedelta(minutes=i)).isoformat(), "side": "buy", "quantity": "100",
                 "price": "10.5", "amount": "1050"}
                for i in range(trades)
            ],
        )  # fmt: skip
        svc.create(
            "interaction",
            {"customer": customer, "channel": "phone_outbound", "started_at": "2026-11-01T10:00:00+08:00",
             "subject": "季度回访电话"},
        )  # fmt: skip
        svc.create("task", {"title": "跟进大额转出", "customer": customer, "type": "alert_followup", "priority": "P1",
                            "due_at": "2026-01-01T10:00:00+08:00"})  # fmt: skip
        if known:
            return {"account": account, "securities": securities}
        svc.create("knowledge_article", {"title": "半导体行业周期说明", "article_type": "faq", "body": "……",
                                         "keywords": ["电子", "芯片"], "status": "published",
                                         "approved_by": svc.list("employee", limit=1).items[0]["id"],
                                         "approved_at": "2025-12-30T10:00:00+08:00",
                                         "effective_from": "2026-01-01"})  # fmt: skip
        return {"account": account, "securities": securities}


def test_the_page_shows_every_panel(client, app, seed):
    add_activity(app, seed["c1"], 30)
    r = client.get(f"/e/customer/{seed['c1']}/360")
    assert r.status_code == 200
    html = text(r)
    assert "王芳" in html and 'id="asset-chart"' in html
    curve = json.loads(re.search(r'<script type="application/json" id="asset-data">(.*?)</script>', html, re.S)[1])
    assert len(curve["dates"]) in (365, 366) and curve["dates"] == sorted(curve["dates"])
    sectors = json.loads(re.search(r'id="sector-data">(.*?)</script>', html, re.S)[1])
    assert sectors == [{"name": "食品饮料", "value": 600000.0}, {"name": "电子", "value": 300000.0}]
    assert html.count("<tr>", html.index('id="trades-table"')) >= 20  # the latest 20 trades
    timeline = html[html.index('id="timeline"') :]
    assert "季度回访电话" in timeline and "跟进大额转出" in timeline
    assert 'data-kind="alert"' in timeline
    when = re.findall(r'data-kind="(\w+)".*?<time[^>]*>([^<]*)</time>', timeline, re.S)
    assert {kind for kind, _ in when} >= {"interaction", "alert"}
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", at) for _, at in when), when  # tasks too (created_at)
    assert "跟进大额转出" in html[html.index('id="open-tasks"') :]
    assert "半导体行业周期说明" in html[html.index('id="suggestions"') :]  # matches a held industry
    assert f"/e/service_ticket/new?customer={seed['c1']}" in html


def test_the_timeline_filters_by_kind_over_htmx(client, app, seed):
    add_activity(app, seed["c1"], 3)
    r = client.get(
        f"/e/customer/{seed['c1']}/360?kind=interaction", headers={"HX-Request": "true", "HX-Target": "timeline"}
    )
    body = text(r)
    assert "季度回访电话" in body and "跟进大额转出" not in body and "<html" not in body


def test_knowledge_suggestions_follow_the_note_being_typed(client, app, seed):
    add_activity(app, seed["c1"], 1)
    r = client.post(f"/e/customer/{seed['c1']}/360/suggest", data={"summary": "客户问芯片板块的行情"})
    assert "半导体行业周期说明" in text(r) and "芯片" in text(r)


def test_logging_a_call_from_the_page(client, api, seed):
    r = client.post(f"/e/customer/{seed['c1']}/360/call", data={"subject": "生日问候", "outcome": "reached"})
    assert r.status_code == 303
    html = text(client.get(f"/e/customer/{seed['c1']}/360"))
    assert "生日问候" in html[html.index('id="timeline"') :]


def test_a_user_outside_the_scope_gets_404(am_client, seed, app):

    r = am_client.get(f"/e/customer/{seed['c1']}/360")
    assert r.status_code in (200, 404)  # the demo AM serves c1 or not; never a 500
    assert am_client.get("/e/customer/99999999/360").status_code == 404


def test_the_page_costs_the_same_for_5000_trades_as_for_5(client, app, seed):
    add_activity(app, seed["c2"], 5)
    add_activity(app, seed["c3"], 5000)
    client.get(f"/e/customer/{seed['c2']}/360")  # warm the per-revision caches
    few = count_statements(app, lambda: client.get(f"/e/customer/{seed['c2']}/360"))
    many = count_statements(app, lambda: client.get(f"/e/customer/{seed['c3']}/360"))
    print(f"360 page statements: {few} (5 trades), {many} (5,000 trades)")
    assert many == few, (few, many)
    assert many <= 40, many


class PanelsPlugin:
    """A plugin's panels: one read through the viewer's service, one malformed, one bad link."""

    @staticmethod
    @__import__("scrm.plugins", fromlist=["hookimpl"]).hookimpl
    def scrm_customer_360_panels(svc, record):
        customers = svc.list("customer", limit=50).items
        return [
            {
                "label": "客户数 (plugin)",
                "columns": ["可见客户", "用户"],
                "rows": [[len(customers), svc.user_id]],
                "more_url": "javascript:x",
            },
            {"columns": ["no label"]},
        ]


class BrokenPanels:
    @staticmethod
    @__import__("scrm.plugins", fromlist=["hookimpl"]).hookimpl
    def scrm_customer_360_panels():
        raise RuntimeError("panel broke")


def test_scrm_customer_360_panels_adds_panels_seen_through_the_viewers_scope(app, client, am_client, am_owns_c1):
    from scrm.runtime import runtime

    seed = am_owns_c1
    with app.app_context():
        plugins = runtime().plugins
        for plugin, name in ((PanelsPlugin, "panels"), (BrokenPanels, "broken_panels")):
            plugins.pm.register(plugin, name=name)
            plugins._sources[name] = "folder"
    admin = text(client.get(f"/e/customer/{seed['c1']}/360"))
    manager = am_client.get(f"/e/customer/{seed['c1']}/360")
    assert manager.status_code == 200  # the broken plugin's panel is left out, the page stands
    seen = re.compile(r'id="plugin-panel-1-title">客户数 \(plugin\)</span>.*?<td>(\d+)</td><td>(\d+)</td>', re.S)
    as_manager, as_admin = seen.search(text(manager)), seen.search(admin)
    assert as_manager and as_admin, admin[admin.index("plugin-panel-1-title") :][:600]
    assert int(as_manager[1]) == len(am_client.get("/api/v1/records/customer?limit=50").json["items"])
    assert as_manager[2] != as_admin[2]  # each viewer's own service
    assert "plugin-panel-2" not in admin and "javascript:x" not in admin
    assert plugins.errors[-1].plugin == "broken_panels"


def test_the_page_reads_and_logs_only_the_fields_it_shows(client, app, seed):
    """The administrator sees personal data unmasked: the audit log names what the page showed
    (the mobile number in the header), not the ID number, e-mail or address it does not show."""
    import sqlalchemy as sa

    from scrm.db import db
    from scrm.security.audit import AuditEntry

    with app.app_context():
        from scrm.data.records import RecordService
        from scrm.runtime import snapshot

        RecordService(snapshot(), None).update("customer", seed["c1"], {"mobile": "13912345678", "_version": 1})
    assert client.get(f"/e/customer/{seed['c1']}/360").status_code == 200
    with app.app_context():
        table = AuditEntry.__table__
        query = sa.select(table.c.fields).where(table.c.action == "view_sensitive", table.c.record_id == seed["c1"])
        logged = [set(f.split(",")) for f in db.session.scalars(query)]
        db.session.remove()
    assert logged == [{"mobile"}], logged
