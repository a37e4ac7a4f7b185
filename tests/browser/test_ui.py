"""The generated pages in a real browser: htmx list refresh and "more", inline validation,
forms with JavaScript off, the language switch and the phone layout."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_login_and_navigate(browser, live_server, new_page):
    page = new_page(browser, live_server)
    page.click('a.scrm-nav-link[href="/e/customer"]')
    page.wait_for_url(re.compile(r"/e/customer$"))
    assert page.locator("table.scrm-table tbody tr").count() == 3
    assert page.evaluate("htmx.version").startswith("2.0.")
    assert page.scrm_errors == []


def test_search_refreshes_the_list_without_reloading(browser, live_server, new_page):
    page = new_page(browser, live_server)
    page.goto(f"{live_server}/e/customer")
    page.evaluate("window.__marker = 1")
    page.fill("#list-q", "王芳")
    expect(page.locator("#list-rows tr")).to_have_count(1)
    assert "王芳" in page.inner_text("#list-rows")
    assert page.evaluate("window.__marker") == 1  # same page: htmx swapped the results only
    assert "q=" in page.url  # and the URL can be shared or bookmarked
    page.select_option("#flt-asset_tier", "mass")
    expect(page.locator("#list-rows")).to_contain_text(re.compile("Nothing found|未找到"))
    assert page.scrm_errors == []


def test_sorting_by_a_column_header(browser, live_server, new_page):
    page = new_page(browser, live_server)
    page.goto(f"{live_server}/e/customer?cols=name&cols=customer_no")
    page.click("th >> text=客户号")
    expect(page).to_have_url(re.compile(r"sort=customer_no"))
    numbers = page.locator("#list-rows tr td:nth-child(3)").all_inner_texts()  # after the row checkbox
    assert numbers == sorted(numbers)


def test_inline_validation_on_blur(browser, live_server, new_page):
    page = new_page(browser, live_server)
    page.goto(f"{live_server}/e/customer/new")
    page.fill("#f-mobile", "12345")
    page.press("#f-mobile", "Tab")
    page.wait_for_selector("#wrap-mobile .invalid-feedback")
    assert "手机" in page.inner_text("#wrap-mobile .invalid-feedback") or "mobile" in page.inner_text("#wrap-mobile")
    page.fill("#f-mobile", "13800138000")
    page.press("#f-mobile", "Tab")
    page.wait_for_selector("#wrap-mobile .invalid-feedback", state="detached")
    assert page.scrm_errors == []


def test_create_edit_and_conflict(browser, live_server, new_page):
    page = new_page(browser, live_server)
    page.goto(f"{live_server}/e/customer/new")
    page.fill("#f-customer_no", "330000000123")
    page.fill("#f-name", "浏览器客户")
    page.select_option("#f-id_type", "passport")
    page.fill("#f-id_number", "E88888888")
    page.click("form.scrm-form button[type=submit]")
    page.wait_for_url(re.compile(r"/e/customer/\d+$"))
    assert "浏览器客户" in page.inner_text("h1")
    detail_url = page.url
    page.click("text=编辑")
    page.fill("#f-name", "浏览器客户乙")
    other = new_page(browser, live_server)
    other.goto(detail_url + "/edit")
    other.fill("#f-name", "另一个人的修改")
    other.click("form.scrm-form button[type=submit]")
    other.wait_for_url(detail_url)
    page.click("form.scrm-form button[type=submit]")
    page.wait_for_selector("#form-errors")
    assert "另一个人的修改" in page.inner_text("#form-errors")
    page.click("form.scrm-form button[type=submit]")  # apply mine on top of theirs

    page.wait_for_url(detail_url)
    assert "浏览器客户乙" in page.inner_text("h1")


def test_forms_and_links_work_without_javascript(browser, live_server, new_page):
    page = new_page(browser, live_server, javascript=False)
    page.goto(f"{live_server}/e/org_unit/new")
    page.fill("#f-code", "SH09")
    page.fill("#f-name", "无脚本营业部")
    page.select_option("#f-unit_type", "branch")
    page.fill("#f-parent", "总部")  # the type-ahead without JavaScript: the one unit of that name
    page.click("form.scrm-form button[type=submit]")
    page.wait_for_url(re.compile(r"/e/org_unit/\d+$"))
    assert "无脚本营业部" in page.content()
    page.goto(f"{live_server}/e/customer?q=王")
    assert page.locator("#list-rows tr").count() == 1
    page.goto(f"{live_server}/e/customer/new")
    assert page.locator("#form-basic").is_visible() and page.locator("#form-service").is_visible()


def test_english_switch(browser, live_server, new_page):
    page = new_page(browser, live_server)
    page.goto(f"{live_server}/lang/en?next=/e/customer")
    assert page.inner_text("h1").strip().endswith("Customers")
    assert page.get_attribute("html", "lang") == "en"


def test_phone_layout(browser, live_server, new_page):
    page = new_page(browser, live_server, mobile=True)
    page.goto(f"{live_server}/e/customer")
    assert not page.locator("#sidebar").is_visible()
    page.click("button[aria-controls=sidebar]")
    page.wait_for_selector("#sidebar.show")
    assert page.locator('#sidebar a[href="/e/employee"]').is_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400  # no horizontal scrolling of the page itself (tables scroll inside their card)


def test_export_what_the_filtered_list_shows(browser, live_server, new_page):
    page = new_page(browser, live_server)
    page.goto(f"{live_server}/e/customer")
    page.select_option("#flt-asset_tier", "hnw")
    expect(page.locator("#list-rows tr")).to_have_count(1)
    export = page.locator("a[href^='/e/customer/export']")
    expect(export).to_have_attribute("href", re.compile("f_asset_tier=hnw"))  # the swapped results carry the filter
    export.click()
    page.wait_for_url(re.compile(r"/e/customer/export\?"))
    assert "1" in page.inner_text("#export-form p")
    page.fill("#exp-purpose", "高净值客户年末关怀")
    page.click("#export-form button[type=submit]")
    page.wait_for_url(re.compile(r"/exports/\d+$"))
    with page.expect_download() as download:
        page.click("#export-download")
    content = open(download.value.path(), encoding="utf-8-sig").read()
    assert "王芳" in content and "刘强" not in content and content.startswith("# ")
    assert page.scrm_errors == []
