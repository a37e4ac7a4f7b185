"""The shipped ``trading_import`` plugin: the counter's export files recognised by their header,
imported on their natural keys (again: nothing duplicated), customers' asset figures rolled up,
and the HNW asset-drop rule firing once — task and SMS through the local gateway simulator."""

from __future__ import annotations

import io
import json
import re
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

TODAY = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()
DAY1, DAY2 = TODAY - timedelta(days=1), TODAY
SNAPSHOT_HEADER = "资金账号,日期,总资产,证券市值,资金余额,银证转出\n"


@pytest.fixture
def gateway():
    from scrm.notify.simulator import make_server

    server = make_server()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def accounts(app, seed):
    """c1 (HNW) and c3 (made HNW) with a fund account each; emp1, their manager, has a mobile."""
    from scrm.data.records import RecordService
    from scrm.runtime import snapshot

    with app.app_context():
        svc = RecordService(snapshot(), None, system=True)
        svc.update("employee", seed["emp1"], {"mobile": "13812345678", "_version": 1})
        svc.update("customer", seed["c3"], {"asset_tier": "hnw", "_version": 1})
        for key, number in (("a1", "880000000001"), ("a3", "880000000003")):
            customer = seed["c1" if key == "a1" else "c3"]
            seed[key] = svc.create("account", {"fund_account_no": number, "customer": customer, "account_type": "normal",
                                               "currency": "CNY", "status": "normal"})["id"]  # fmt: skip
    return seed


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def import_path(app, entity: str, path, **kwargs):
    from scrm.data.import_run import import_file
    from scrm.db import write_intent

    with app.app_context(), write_intent():
        job = import_file(app, entity, path, **kwargs)
        return {k: getattr(job, k) for k in ("status", "importer", "key_field", "mode", "created_rows", "updated_rows",
                                              "unchanged_rows", "failed_rows", "message")}  # fmt: skip


def customer(app, customer_id: int) -> dict:
    from scrm.data.records import RecordService
    from scrm.runtime import snapshot

    with app.app_context():
        return RecordService(snapshot(), None, system=True).load("customer", customer_id)


def process_events(app) -> None:
    from scrm.alerts.events import process_pending

    with app.app_context():
        assert all(o.error is None for o in process_pending())


def rule_tasks(app, rule: str) -> list[dict]:
    from scrm.data.records import RecordService
    from scrm.runtime import snapshot

    with app.app_context():
        flt = {"field": "source_rule", "op": "eq", "value": rule}
        return RecordService(snapshot(), None, system=True).list("task", filter=flt, limit=10).items


def sms_count(app) -> int:
    from scrm.notify.outbox import OutboxMessage

    with app.app_context():
        return OutboxMessage.query.filter_by(channel="sms").count()


def test_hnw_asset_drop_from_an_imported_snapshot_tasks_and_texts_exactly_once(app, accounts, tmp_path, gateway):
    from scrm.notify.outbox import deliver_due

    app.config.update(SCRM_SMS_GATEWAY_URL=f"http://127.0.0.1:{gateway.server_port}/send", SCRM_SMS_TOKEN="t")
    day1 = write(tmp_path, "asset_snapshot_1.csv", SNAPSHOT_HEADER + f"880000000001,{DAY1},10000000,8000000,2000000,0\n"
                                                                 f"880000000003,{DAY1},10000000,9000000,1000000,0\n")  # fmt: skip
    first = import_path(app, "asset_snapshot", day1)
    assert first["status"] == "done" and first["importer"] == "trading_asset_snapshot", first
    assert (first["key_field"], first["created_rows"], first["mode"]) == ("account+snapshot_date", 2, "skip")
    c1 = customer(app, accounts["c1"])
    assert (c1["total_assets"], c1["assets_as_of"], c1["previous_total_assets"]) == (Decimal("10000000"), DAY1, None)
    process_events(app)
    assert rule_tasks(app, "alr_hnw_asset_drop") == []  # no previous day: nothing to compare with

    day2 = write(tmp_path, "asset_snapshot_2.csv", SNAPSHOT_HEADER + f"880000000001,{DAY2},6500000,6000000,500000,3000000\n"
                                                                 f"880000000003,{DAY2},8000000,7000000,1000000,0\n")  # fmt: skip
    assert import_path(app, "asset_snapshot", day2)["created_rows"] == 2
    c1 = customer(app, accounts["c1"])
    assert (c1["total_assets"], c1["previous_total_assets"], c1["assets_as_of"]) == (Decimal("6500000"),
                                                                                      Decimal("10000000"), DAY2)  # fmt: skip
    process_events(app)
    [task] = rule_tasks(app, "alr_hnw_asset_drop")
    assert task["priority"] == "P1" and task["customer"] == accounts["c1"] and "-35.0%" in task["title"], task
    assert "王芳" not in task["title"]  # masked
    assert sms_count(app) == 1
    with app.app_context():
        assert deliver_due()["sent"] == 1
    [sent] = _messages(gateway)
    assert sent["to"] == "13812345678" and "王芳" not in json.dumps(sent, ensure_ascii=False)

    again = import_path(app, "asset_snapshot", day2)
    assert (again["created_rows"], again["updated_rows"], again["unchanged_rows"]) == (0, 0, 2)
    process_events(app)
    assert len(rule_tasks(app, "alr_hnw_asset_drop")) == 1 and sms_count(app) == 1


def _messages(server) -> list[dict]:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/messages") as answer:
        return json.loads(answer.read())


def test_positions_match_on_account_date_and_security(app, accounts, tmp_path):
    from scrm.data.records import RecordService
    from scrm.runtime import snapshot

    with app.app_context():
        svc = RecordService(snapshot(), None, system=True)
        for symbol, name in (("600519.SH", "贵州茅台"), ("000001.SZ", "平安银行")):
            svc.create("security", {"symbol": symbol, "name": name, "security_type": "a_share", "status": "listed",
                                    "exchange": "SSE" if symbol.endswith("SH") else "SZSE"})  # fmt: skip
    header = "资金账号,日期,证券代码,持仓数量,最新价,市值,持仓占比\n"
    rows = f"880000000001,{DAY2},600519.SH,100,1500,150000,0.6\n880000000001,{DAY2},平安银行,1000,10,10000,0.04\n"
    path = write(tmp_path, "position_1.csv", header + rows)
    first = import_path(app, "position", path)
    assert (first["importer"], first["key_field"], first["created_rows"]) == (
        "trading_position", "account+as_of_date+security", 2)  # fmt: skip
    changed = write(tmp_path, "position_2.csv", header + rows.replace(",100,1500,150000", ",200,1500,300000"))
    second = import_path(app, "position", changed)
    assert (second["created_rows"], second["updated_rows"], second["unchanged_rows"]) == (0, 1, 1), second


def test_trades_import_reject_bad_rows_with_a_report_and_move_the_last_trade_date(app, accounts, tmp_path):
    from scrm.data.records import RecordService
    from scrm.runtime import snapshot

    with app.app_context():
        RecordService(snapshot(), None, system=True).create(
            "security", {"symbol": "600519.SH", "name": "贵州茅台", "security_type": "a_share", "status": "listed",
                         "exchange": "SSE"})  # fmt: skip
    header = "成交编号,资金账号,证券代码,成交日期,成交时间,买卖方向,成交数量,成交价格,成交金额,佣金\n"
    rows = (
        f"T0001,880000000001,600519.SH,{DAY2},{DAY2} 10:31:05,买入,100,1500,150000,45\n"
        f"T0002,889999999999,600519.SH,{DAY2},{DAY2} 10:32:00,卖出,100,1500,150000,45\n"
    )
    path = write(tmp_path, "trade_1.csv", header + rows)
    job = import_path(app, "trade", path)
    assert (job["importer"], job["created_rows"], job["failed_rows"], job["status"]) == ("trading_trade", 1, 1, "done")
    assert customer(app, accounts["c1"])["last_trade_date"] == DAY2
    again = import_path(app, "trade", path)
    assert (again["created_rows"], again["unchanged_rows"], again["failed_rows"]) == (0, 1, 1)


def test_the_drop_folder_is_imported_and_filed_away(app, accounts, tmp_path):
    from scrm.jobs.scheduler import Scheduler

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    app.config["SCRM_TRADING_IMPORT_DIR"] = str(inbox)
    write(inbox, f"asset_snapshot_{DAY2:%Y%m%d}.csv", SNAPSHOT_HEADER + f"880000000001,{DAY2},100,0,100,0\n")
    write(inbox, "asset_snapshot_bad.csv", SNAPSHOT_HEADER + f"880000000404,{DAY2},100,0,100,0\n")
    write(inbox, "notes.txt", "not for us")
    Scheduler(app).pull("trading_asset_snapshot")
    assert sorted(p.name for p in (inbox / "done").iterdir()) == [f"asset_snapshot_{DAY2:%Y%m%d}.csv"]
    assert sorted(p.name for p in (inbox / "failed").iterdir()) == ["asset_snapshot_bad.csv"]
    assert [p.name for p in inbox.iterdir() if p.is_file()] == ["notes.txt"]
    assert customer(app, accounts["c1"])["total_assets"] == Decimal("100")


def test_the_import_page_recognises_the_trading_format(app, client, accounts):
    data = (SNAPSHOT_HEADER + f"880000000001,{DAY2},100,0,100,0\n").encode()
    r = client.post("/e/asset_snapshot/import?lang=en", data={"file": (io.BytesIO(data), "assets.csv")})
    assert r.status_code == 303, r.data.decode()[:500]
    page = client.get(r.headers["Location"] + "?lang=en").data.decode()
    key = re.search(r'<select[^>]*name="key"[^>]*>(.*?)</select>', page, re.S).group(1)
    assert re.search(r'<option value="account\+snapshot_date" selected', key), key
    assert "Back-office daily assets" in page


def test_scrm_importers_a_plugin_format_replaces_one_of_the_same_name(app):
    from scrm.data.importers import Importer, importers
    from scrm.plugins import hookimpl
    from scrm.runtime import runtime

    class Replacement:
        @hookimpl
        def scrm_importers(self, config):
            return [Importer("trading_trade", "trade", "Our trades", {"trade_no": ("单号",)}, key=("trade_no",)),
                    "not an importer"]  # fmt: skip

    with app.app_context():
        runtime().plugins.pm.register(Replacement(), name="replacement")
        runtime().plugins._sources["replacement"] = "folder"
        app.extensions.pop("scrm.importers", None)
        found = importers()
        assert found.get("trading_trade").label == "Our trades"
        assert found.recognise("trade", ["单号", "资金账号"]).name == "trading_trade"
        assert found.get("trading_position").entity == "position"  # the shipped ones stay


# -- market events --------------------------------------------------------------------------
ANNOUNCEMENTS = "公告编号,证券代码,公告标题,发布时间,链接\n"


@pytest.mark.parametrize(
    ("title", "event_type", "sentiment", "severity"),
    [
        ("关于公司收到中国证监会立案告知书的公告", "regulatory_investigation", "negative", 3),
        ("关于股票被实施其他风险警示的公告", "st_designation", "negative", 3),
        ("2026年度业绩预亏公告", "earnings_loss_warning", "negative", 2),
        ("关于收到上海证券交易所问询函的公告", "inquiry_letter", "negative", 1),
        ("关于控股股东增持公司股份的公告", "insider_increase", "positive", 1),
        ("2026年半年度权益分派实施公告", "dividend", "neutral", 1),
    ],
)
def test_market_events_classifies_what_the_feed_leaves_out(title, event_type, sentiment, severity):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "market_events_under_test", Path(__file__).parents[1] / "plugins" / "market_events.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.classify(title) == event_type
    record = {"title": title}

    class Entity:
        name = "market_event"

    module.scrm_derive_record(Entity, record, None)
    assert (record["event_type"], record["sentiment"], record["severity"]) == (event_type, sentiment, severity)


def test_an_imported_negative_announcement_tasks_the_heavy_holders_manager_once(app, accounts, tmp_path):
    from scrm.data.records import RecordService
    from scrm.runtime import snapshot

    with app.app_context():
        svc = RecordService(snapshot(), None, system=True)
        security = svc.create("security", {"symbol": "600519.SH", "name": "贵州茅台", "security_type": "a_share",
                                           "status": "listed", "exchange": "SSE"})["id"]  # fmt: skip
        svc.create("position", {"account": accounts["a1"], "as_of_date": DAY2, "security": security,
                                "quantity": "1000", "market_value": "1500000", "weight_in_portfolio": "0.4"})  # fmt: skip
    feed = write(tmp_path, "announcements_1.csv", ANNOUNCEMENTS + (
        f"SSE-2026-0001,600519.SH,关于公司收到中国证监会立案告知书的公告,{DAY2} 18:00,https://www.sse.com.cn/a/1.pdf\n"
        f"SSE-2026-0002,600519.SH,2026年半年度权益分派实施公告,{DAY2} 18:05,https://www.sse.com.cn/a/2.pdf\n"))  # fmt: skip
    job = import_path(app, "market_event", feed)
    assert (job["importer"], job["key_field"], job["created_rows"]) == ("market_announcements", "announcement_id", 2)
    process_events(app)
    tasks = rule_tasks(app, "alr_neg_news_holders")
    assert len(tasks) == 1 and tasks[0]["customer"] == accounts["c1"] and "立案" in tasks[0]["title"], tasks
    again = import_path(app, "market_event", feed)
    assert (again["created_rows"], again["unchanged_rows"]) == (0, 2)
    process_events(app)
    assert len(rule_tasks(app, "alr_neg_news_holders")) == 1
