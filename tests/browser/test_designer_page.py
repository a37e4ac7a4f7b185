"""The designer in a real browser: a business admin adds 微信号 (wechat_id) to the customer, places
it on the customer form with a show-rule and publishes; an account manager in another browser
context sees it, fills it in — no restart; rolling back removes it from the form while its
value stays. And the JSON view: an invalid edit shows its error at its path, publishing stays
impossible."""

from __future__ import annotations

import json

import sqlalchemy as sa

AM_PASSWORD = "am-pass-1234"  # tests/conftest.py


def stored(app, customer_id: int):
    from scrm.db import db

    with app.app_context():
        value = db.session.execute(
            sa.text("SELECT wechat_id FROM crm_customer WHERE id = :id"), {"id": customer_id}
        ).scalar_one()
        db.session.remove()
    return value


def rebuilt(page, change) -> None:
    """Make a change in a condition builder and wait until the builder has re-rendered."""
    with page.expect_response(lambda r: "/design/condition" in r.url):
        change()
    page.wait_for_load_state("networkidle")


def test_wechat_id_added_placed_published_filled_and_rolled_back(
    app, browser, live_server, new_page, screenshot, am_owns_c1
):
    seed = am_owns_c1
    designer = new_page(browser, live_server)
    designer.on("dialog", lambda dialog: dialog.accept())
    designer.goto(f"{live_server}/design/")
    designer.click("#design-docs a:has-text('客户')  >> nth=0")
    designer.wait_for_selector("#entity-fields")
    assert "/design/entity/customer" in designer.url

    # the entity editor: the type decides which options show
    designer.select_option("#af-type", "enum")
    assert designer.is_visible("#af-options") and not designer.is_visible("#af-max")
    designer.select_option("#af-type", "string")
    designer.fill("#af-name", "wechat_id")
    designer.fill("#af-label", "微信号")
    designer.fill("#af-label-en", "WeChat ID")
    designer.fill("#af-max", "64")
    designer.click("#add-field-submit")
    designer.wait_for_selector("#field-wechat_id")
    assert designer.is_visible("#draft-badge")
    designer.click("#design-tabs a:has-text('变更对比')")
    assert "$.fields[wechat_id]" in designer.inner_text("#diff")
    designer.click("#go-publish")
    assert "wechat_id" in designer.inner_text("#migration-steps")
    designer.click("#publish")
    designer.wait_for_selector("#versions")

    # the form editor: place it in 联系方式, shown for individuals only (a rule built in the builder)
    designer.goto(f"{live_server}/design/form/customer_form")
    designer.select_option("#pf-field", "wechat_id")
    section = designer.eval_on_selector(
        "#pf-section", "s => [...s.options].find(o => o.textContent.endsWith('联系方式')).value"
    )
    designer.select_option("#pf-section", section)
    designer.click("#place-field-submit")
    designer.wait_for_selector("#node-panel")  # the placed field's panel
    designer.click("#rule0-r-add_leaf")
    designer.wait_for_selector("#rule0-r-0-f")
    rebuilt(designer, lambda: designer.select_option("#rule0-r-0-f", "customer_type"))
    rebuilt(designer, lambda: designer.select_option("#rule0-r-0-v", "individual"))
    designer.click("#save-rules")
    designer.wait_for_selector("#form-layout [data-address] >> text=wechat_id")
    # the live preview decides the draft's rule on what is typed: an institution hides it
    designer.wait_for_selector("#form-preview input[name=wechat_id]")
    with designer.expect_response(lambda r: "/preview" in r.url):
        designer.check("#form-preview input[name=customer_type][value=institution]")
    designer.wait_for_load_state("networkidle")
    assert not designer.is_visible("#form-preview input[name=wechat_id]")
    screenshot(designer, "designer-form-preview")
    designer.click("#go-publish")
    designer.click("#publish")
    designer.wait_for_selector("#versions")
    screenshot(designer, "designer-form-published")

    # the account manager, in another browser context, with no restart in between
    am = new_page(browser, live_server, user="am", password=AM_PASSWORD)
    am.goto(f"{live_server}/e/customer/{seed['c1']}/edit")
    am.wait_for_selector("input[name=wechat_id]")
    am.fill("input[name=wechat_id]", "wx_wangfang")
    am.click("form button[type=submit].btn-primary >> nth=0")
    am.wait_for_url(f"{live_server}/e/customer/{seed['c1']}")
    assert "wx_wangfang" in am.inner_text("main")
    assert stored(app, seed["c1"]) == "wx_wangfang"
    # the show-rule: an institution's form hides it
    am.goto(f"{live_server}/e/customer/new")
    am.check("input[name=customer_type][value=institution]")
    am.wait_for_timeout(300)
    assert not am.is_visible("input[name=wechat_id]")

    # roll the entity back: the field leaves the form, its value stays in the database
    designer.goto(f"{live_server}/design/entity/customer?tab=history")
    versions = designer.eval_on_selector_all("[id^=rollback-]", "bs => bs.map(b => +b.id.split('-')[1])")
    designer.click(f"#rollback-{min(versions)}")
    designer.wait_for_selector(".alert-success")
    am.goto(f"{live_server}/e/customer/{seed['c1']}/edit")
    am.wait_for_selector("input[name=name]")
    assert am.query_selector("input[name=wechat_id]") is None
    assert stored(app, seed["c1"]) == "wx_wangfang"
    assert designer.scrm_errors == [] and am.scrm_errors == []


def test_an_invalid_json_edit_shows_its_path_and_cannot_be_published(browser, live_server, new_page, client):
    doc = client.get("/api/v1/definitions/entity/security").json
    doc["fields"][0]["type"] = "no_such_type"
    page = new_page(browser, live_server)
    page.goto(f"{live_server}/design/entity/security?tab=json")
    page.fill("#json-source", json.dumps(doc, ensure_ascii=False, indent=2))
    page.dispatch_event("#json-source", "input")
    page.wait_for_selector("#live-problems :text('$.fields[0].type')")
    page.click("#save-json")
    page.wait_for_selector("#draft-problems")
    assert "$.fields[0].type" in page.inner_text("#draft-problems")
    assert page.get_attribute("#go-publish", "class").count("disabled") == 1
    page.goto(f"{live_server}/design/entity/security?tab=publish")
    assert page.query_selector("#publish") is None
    assert "$.fields[0].type" in page.inner_text("#publish-plan")
