"""The customer list in a real browser: build a filter, save it as a view and open it again;
bulk-tag the chosen rows; change a cell in place; the list on a phone."""

import re

import pytest
from playwright.sync_api import expect
from support import after_swap

pytestmark = pytest.mark.browser


def rows(page):
    return page.locator("#list-rows tr[data-id]")


def test_filter_a_list_and_save_the_view(browser, live_server, new_page, screenshot):
    page = new_page(browser, live_server)
    page.goto(f"{live_server}/e/customer?cols=")
    expect(rows(page)).to_have_count(3)

    page.click("#builder-add")
    field = page.locator("select[name=w0_f]")
    expect(field).to_be_visible()
    after_swap(page, "#filter-builder", lambda: field.select_option("asset_tier"))  # re-rendered for the field
    # and again: a multi-select of tiers
    after_swap(page, "#filter-builder", lambda: page.locator("select[name=w0_o]").select_option("in"))
    values = page.locator("select[name=w0_v][multiple]")
    expect(values).to_be_visible()
    values.select_option(["hnw", "wealth"])
    expect(rows(page)).to_have_count(2)  # the results follow over htmx
    expect(page).to_have_url(re.compile(r"w0_f=asset_tier&w0_o=in&w0_v=\w+&w0_v=\w+"))
    condition = page.locator(".scrm-condition code")
    expect(condition).to_contain_text('"op": "in"')

    page.click("#views-menu")
    page.fill("#view-name", "我的高净值和财富客户")
    screenshot(page, "customer-list-save-view")
    page.click("#save-view-form button[type=submit]")
    expect(page.locator(".alert-success")).to_contain_text("已保存")
    expect(page.locator("#views-menu")).to_contain_text("我的高净值和财富客户")

    page.goto(f"{live_server}/e/customer?cols=")  # a fresh, unfiltered list
    expect(rows(page)).to_have_count(3)
    page.click("#views-menu")
    page.click(".scrm-views-menu a:has-text('我的高净值和财富客户')")
    expect(rows(page)).to_have_count(2)
    expect(page.locator("select[name=w0_v][multiple] option:checked")).to_have_count(2)
    screenshot(page, "customer-list-saved-view")
    assert not page.scrm_errors, page.scrm_errors


def test_bulk_tag_and_quick_edit(browser, live_server, new_page, screenshot):
    page = new_page(browser, live_server)
    page.goto(f"{live_server}/e/customer?cols=")
    expect(page.locator("#bulk-apply")).to_be_disabled()
    page.check("#select-all")
    expect(page.locator("#bulk-count")).to_contain_text("3")
    page.select_option("#bulk-action", "tag_add")
    expect(page.locator("#bulk-primary_manager")).to_be_hidden()
    page.fill("#bulk-form input[name=tag]", "年末关怀")
    page.click("#bulk-apply")
    expect(page.locator(".alert-success")).to_contain_text("3 个已修改")
    expect(page.locator("#list-rows")).to_contain_text("年末关怀")

    cell = rows(page).first.locator("td[data-f=lifecycle_stage]")
    cell.dblclick()
    editor = page.locator("td.scrm-qe-editing select[name=value]")
    expect(editor).to_be_focused()
    editor.select_option("dormant")
    page.click("td.scrm-qe-editing button[type=submit]")
    saved = rows(page).first.locator("td[data-f=lifecycle_stage]")
    expect(saved).to_have_class(re.compile("scrm-saved"))
    expect(saved).to_contain_text("休眠")
    screenshot(page, "customer-list-bulk-and-quick-edit")
    assert not page.scrm_errors, page.scrm_errors


def test_list_on_a_phone(browser, live_server, new_page, screenshot):
    page = new_page(browser, live_server, mobile=True)
    page.goto(f"{live_server}/e/customer?cols=&w0_f=asset_tier&w0_o=eq&w0_v=hnw")
    expect(rows(page)).to_have_count(1)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width  # the table scrolls inside its card, not the page
    screenshot(page, "customer-list-phone")
