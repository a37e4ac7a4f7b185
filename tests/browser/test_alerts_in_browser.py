"""Alerts in a real browser: a rule's "what would fire now?" swaps its answer in over htmx; the
firing's task shows under "my tasks", its message under the bell; the phone layout holds."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_dry_run_then_run_shows_the_task_and_the_message(browser, live_server, new_page, screenshot, app, seed):
    from scrm.data.records import RecordService
    from scrm.runtime import snapshot

    with app.app_context():
        svc = RecordService(snapshot(), None, system=True)
        # the administrator is the branch manager, to whom the HNW rule sends the upgrade task
        svc.update("employee", seed["emp1"], {"login": "admin", "role": "branch_manager", "_version": 1})
        svc.update("customer", seed["c1"], {"total_assets": "8000000", "_version": 1})
    page = new_page(browser, live_server)
    page.goto(f"{live_server}/rules/tag_hnw")
    page.get_by_role("button", name="现在会触发什么？").click()
    expect(page.locator("#dry-run")).to_contain_text("王芳")
    expect(page.locator("#dry-run")).to_contain_text("当前命中 1 条记录")
    screenshot(page, "rule-dry-run")
    page.get_by_role("button", name="立即运行").click()
    expect(page.locator("#runs-table")).to_contain_text("manual")
    page.goto(f"{live_server}/")
    expect(page.locator("#my-tasks")).to_contain_text("升级高净值服务")
    screenshot(page, "home-my-tasks")
    assert page.scrm_errors == []


def test_inbox_on_a_phone(browser, live_server, new_page, screenshot, app, seed):
    from datetime import datetime

    from scrm.db import db
    from scrm.notify.inbox import Notification
    from scrm.security.users import find_user

    with app.app_context():
        admin = find_user("admin")
        for i, severity in enumerate(("critical", "medium", "info")):
            db.session.add(Notification(user_id=admin.id, title=f"高净值客户资产流出：王*{i}", body="请 60 分钟内联系客户",
                                        link=f"/e/customer/{seed['c1']}", severity=severity,
                                        created_at=datetime(2026, 11, 20, 10, i)))  # fmt: skip
        db.session.commit()
    page = new_page(browser, live_server, mobile=True)
    expect(page.locator("#inbox-badge .badge")).to_have_text("3")
    page.locator("a[aria-label='消息']").click()
    expect(page.locator("#inbox-list")).to_contain_text("高净值客户资产流出：王*2")
    screenshot(page, "inbox-phone")
    page.locator("#inbox-list a").first.click()
    page.wait_for_url(f"**/e/customer/{seed['c1']}")
    page.goto(f"{live_server}/inbox?unread=1")
    expect(page.locator("#inbox-list a")).to_have_count(2)
    assert page.scrm_errors == []
