"""The alert engine in the browser-facing pages: the unread badge and the inbox, "my tasks" on the
home page with overdue ones first, and the rules pages for designers (history, dry run, run now)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest


@pytest.fixture
def am_with_tasks(app, seed):
    """The account manager user is employee 1, with an overdue, a later and a closed task."""
    from scrm.data.records import RecordService
    from scrm.db import db
    from scrm.notify.inbox import Notification
    from scrm.runtime import snapshot
    from scrm.security.users import find_user

    with app.app_context():
        svc = RecordService(snapshot(), None, system=True)
        svc.update("employee", seed["emp1"], {"login": "am", "_version": 1})
        now = datetime.now(UTC)
        for title, due, status in (("稍后回访", now + timedelta(days=2), "open"), ("逾期关怀", now - timedelta(hours=3), "open"),
                                   ("已完成", now - timedelta(days=1), "done")):  # fmt: skip
            svc.create("task", {"title": title, "assignee": seed["emp1"], "customer": seed["c1"], "priority": "P2",
                                "due_at": due.isoformat(), "status": status,
                                **({"outcome_code": "contacted"} if status == "done" else {})})  # fmt: skip
        user = find_user("am")
        db.session.add(Notification(user_id=user.id, title="高净值客户资产流出：王*", body="请 60 分钟内联系",
                                    link=f"/e/customer/{seed['c1']}", severity="critical",
                                    created_at=now.replace(tzinfo=None)))  # fmt: skip
        db.session.commit()
    return seed


def test_home_lists_my_open_tasks_overdue_first(am_client, am_with_tasks):
    page = am_client.get("/").get_data(as_text=True)
    assert "我的任务" in page
    assert page.index("逾期关怀") < page.index("稍后回访") and "已完成" not in page
    assert "1 项逾期" in page


def test_the_badge_counts_unread_and_opening_marks_read(am_client, am_with_tasks):
    home = am_client.get("/").get_data(as_text=True)
    assert 'id="inbox-badge"' in home and ">1</span>" in home
    inbox = am_client.get("/inbox").get_data(as_text=True)
    assert "高净值客户资产流出：王*" in inbox
    link = inbox.split('href="/inbox/')[1].split('"')[0]
    opened = am_client.get(f"/inbox/{link}")
    assert opened.status_code == 302 and opened.headers["Location"].endswith(f"/e/customer/{am_with_tasks['c1']}")
    badge = am_client.get("/inbox/badge", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'id="inbox-badge"' in badge and "bg-danger" not in badge


def test_someone_elses_notification_is_not_found(client, am_with_tasks):
    from scrm.notify.inbox import Notification

    with client.application.app_context():
        note = Notification.query.first()
    assert client.get(f"/inbox/{note.id}").status_code == 404


@pytest.mark.parametrize("path", ["/rules", "/rules/tag_hnw"])
def test_rules_pages_are_for_designers(client, am_client, path):
    assert am_client.get(path).status_code == 403
    page = client.get(path)
    assert page.status_code == 200 and "高净值客户" in page.get_data(as_text=True)


def test_dry_run_and_run_now_from_the_rule_page(client, seed):
    import re

    page = client.get("/rules/alr_no_trade_30d").get_data(as_text=True)
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
    headers = {"HX-Request": "true", "X-CSRFToken": token}
    dry = client.post("/rules/alr_no_trade_30d/dry-run", headers=headers).get_data(as_text=True)
    assert 'id="dry-run"' in dry and "<html" not in dry
    ran = client.post("/rules/alr_no_trade_30d/run", data={"csrf_token": token})
    assert ran.status_code == 302
    history = client.get("/rules/alr_no_trade_30d").get_data(as_text=True)
    assert "manual" in history and "done" in history


def test_api_runs_and_lists_rules(api, am_api, seed):
    assert am_api.post("/api/v1/alerts/tag_hnw/run", json={"dry_run": True}).status_code == 403
    dry = api.post("/api/v1/alerts/tag_hnw/run", json={"dry_run": True}).json
    assert {"matched", "fired", "sample"} <= set(dry) and dry["dry_run"] is True
    assert api.post("/api/v1/alerts/tag_hnw/run", json={"dry_run": "yes"}).status_code == 400
    assert api.post("/api/v1/alerts/nope/run", json={}).status_code == 404
    real = api.post("/api/v1/alerts/tag_hnw/run").json
    assert real["dry_run"] is False and real["status"] == "done"
    listed = {r["name"]: r for r in api.get("/api/v1/alerts").json["items"]}
    shipped = len(list((Path(__file__).parents[1] / "schemas" / "alerts").glob("*.json")))
    assert len(listed) == shipped and listed["tag_hnw"]["last_run"]["reason"] == "manual"
    assert api.get("/api/v1/alerts/tag_hnw/runs").json["items"][0]["status"] == "done"
