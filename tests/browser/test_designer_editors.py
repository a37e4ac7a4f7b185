"""Every designer editor builds a working document from scratch in a real browser: a new entity
with its form (then a record is entered on it), a new workflow (then a record offers its
transition), a new alert rule built in the condition builder that fires in a dry run, and a new
dashboard widget that renders from the draft."""

from __future__ import annotations

import re

import pytest


@pytest.fixture
def designer(browser, live_server, new_page):
    page = new_page(browser, live_server)
    page.on("dialog", lambda dialog: dialog.accept())
    return page


def create(page, live_server: str, kind: str, name: str, label: str, entity: str | None = None) -> None:
    page.goto(f"{live_server}/design/?kind={kind}")
    page.fill("#new-name", name)
    page.fill("#new-label", label)
    if entity:
        page.select_option("#new-entity", entity)
    page.click("#new-definition button[type=submit]")
    page.wait_for_url(re.compile(rf"/design/{kind}/{name}"))


def rebuilt(page, change) -> None:
    """Make a change in a condition builder and wait until the builder has re-rendered."""
    with page.expect_response(lambda r: "/design/condition" in r.url):
        change()
    page.wait_for_load_state("networkidle")


def publish(page) -> None:
    page.click("#go-publish")
    page.click("#publish")
    page.wait_for_selector("#versions")


def test_a_new_entity_and_its_form_take_records(designer, live_server, screenshot):
    create(designer, live_server, "entity", "visit_plan", "拜访计划")
    designer.select_option("#af-type", "date")
    designer.fill("#af-name", "planned_on")
    designer.fill("#af-label", "计划日期")
    designer.click("#add-field-submit")
    designer.wait_for_selector("#field-planned_on")
    publish(designer)

    create(designer, live_server, "form", "visit_plan_form", "拜访计划表单", entity="visit_plan")
    for field in ("title", "planned_on"):
        designer.select_option("#pf-field", field)
        designer.click("#place-field-submit")
        designer.wait_for_selector(f"#form-layout >> text={field}")
    publish(designer)
    screenshot(designer, "designer-new-entity-form")

    designer.goto(f"{live_server}/e/visit_plan/new")
    designer.fill("input[name=title]", "拜访王芳")
    designer.fill("input[name=planned_on]", "2026-12-01")
    designer.click("form button[type=submit].btn-primary >> nth=0")
    designer.wait_for_url(re.compile(r"/e/visit_plan/\d+$"))
    assert "拜访王芳" in designer.inner_text("main")


def test_a_new_workflow_is_offered_on_its_records(app, designer, live_server, seed):
    create(designer, live_server, "workflow", "feedback_flow", "意见处理", entity="feedback")
    designer.fill("#st-name", "reviewed")
    designer.fill("#st-label", "已评估")
    designer.click("#add-state")
    designer.wait_for_selector("#state-reviewed")
    designer.fill("#wt-name", "review")
    designer.fill("#wt-label", "评估")
    designer.select_option("#wt-from", ["new"])
    designer.select_option("#wt-to", "reviewed")
    designer.click("#guard-r-add_leaf")
    designer.wait_for_selector("#guard-r-0-f")
    rebuilt(designer, lambda: designer.select_option("#guard-r-0-f", "content"))
    rebuilt(designer, lambda: designer.select_option("#guard-r-0-o", "is_not_empty"))
    designer.wait_for_selector("#guard-r-0-o option[value=is_not_empty][selected]", state="attached")
    designer.click("#save-transition")
    designer.wait_for_selector("#transition-review")
    assert "已评估" in designer.inner_text("#workflow-diagram")
    for state, label in (("new", "新建"), ("done", "已完成")):
        assert label in designer.inner_text("#workflow-diagram") or state
    publish(designer)

    from scrm.data.records import RecordService
    from scrm.db import db
    from scrm.runtime import snapshot

    with app.app_context():
        record = RecordService(snapshot(), None, system=True).create(
            "feedback", {"feedback_type": "suggestion", "content": "希望增加夜盘提醒", "status": "new"}
        )
        db.session.commit()
        db.session.remove()
    designer.goto(f"{live_server}/e/feedback/{record['id']}")
    designer.wait_for_selector("button:has-text('评估')")


def test_a_new_alert_built_in_the_condition_builder_fires_in_a_dry_run(designer, live_server, seed, screenshot):
    create(designer, live_server, "alert", "alr_hnw_watch", "高净值关注", entity="customer")
    designer.click("#cond-r-add_leaf")
    designer.wait_for_selector("#cond-r-0-f")
    rebuilt(designer, lambda: designer.select_option("#cond-r-0-f", "asset_tier"))
    rebuilt(designer, lambda: designer.select_option("#cond-r-0-v", "hnw"))
    designer.wait_for_function("document.querySelector('#cb-cond-count').innerText.includes('1')")
    designer.click("#save-conditions")
    designer.wait_for_selector("#alert-actions")
    designer.select_option("#aa-do", "create_task")
    designer.select_option("#aa-who", "primary_manager")
    designer.fill("#aa-title", "关注高净值客户")
    designer.click("#add-action-submit")
    designer.wait_for_selector("#alert-actions li >> text=关注高净值客户")
    assert not designer.is_visible("#draft-problems")
    designer.click("#draft-dry-run")
    designer.wait_for_selector("#draft-dry-run-result #dry-run")
    result = designer.inner_text("#draft-dry-run-result")
    assert "王芳" in result and "刘强" not in result and "asset_tier" in result
    screenshot(designer, "designer-alert-dry-run")


def test_a_new_dashboard_widget_renders_from_the_draft(designer, live_server, seed, screenshot):
    create(designer, live_server, "dashboard", "book_watch", "客户分层", entity="customer")
    designer.fill("#aw-id", "by_tier")
    designer.fill("#aw-title", "客户分层")
    designer.select_option("#aw-type", "bar")
    designer.select_option("#aw-group", "asset_tier")
    designer.click("#add-widget-submit")
    designer.wait_for_selector("#pw-by_tier [data-drawn='1'] svg", timeout=15000)
    designer.fill("#aw-id", "total")
    designer.select_option("#aw-type", "kpi")
    designer.select_option("#aw-width", "6")
    designer.click("#add-widget-submit")
    designer.wait_for_selector("#pw-total .scrm-kpi-value")
    assert designer.inner_text("#pw-total .scrm-kpi-value").strip() == "3"
    screenshot(designer, "designer-dashboard-preview")


def test_a_role_matrix_change_takes_effect_for_its_users(app, designer, browser, live_server, new_page, am_owns_c1):
    designer.goto(f"{live_server}/design/role/account_manager")
    designer.uncheck("input[name='a:customer'][value=export]")
    designer.click("#save-matrix")
    designer.wait_for_selector("#draft-badge")
    designer.click("#perm-customer a:has-text('字段')")
    designer.select_option("select[name='f:notes']", "hidden")
    designer.click("#save-field-access")
    designer.wait_for_selector("#draft-badge")
    publish(designer)

    from scrm.meta import store

    with app.app_context():
        customer = store.get("role", "account_manager", store.PUBLISHED).body["permissions"]["customer"]
    assert "export" not in customer["actions"] and customer["fields"]["notes"] == "hidden"
    am = new_page(browser, live_server, user="am", password="am-pass-1234")
    am.goto(f"{live_server}/e/customer/{am_owns_c1['c1']}/edit")
    am.wait_for_selector("input[name=name]")
    assert am.locator("[name=notes]").count() == 0
