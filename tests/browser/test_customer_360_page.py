"""The customer 360° page in a real browser: the asset curve and the industry chart drawn by the
vendored ECharts, the timeline filtered over htmx, suggestions while typing a call note, and the
phone layout."""

import re

import pytest
from playwright.sync_api import expect
from test_customer_360 import add_activity

pytestmark = pytest.mark.browser


def test_the_360_page_draws_its_charts(browser, live_server, new_page, screenshot, app, seed):
    add_activity(app, seed["c1"], 40)
    page = new_page(browser, live_server)
    page.goto(f"{live_server}/e/customer/{seed['c1']}")
    page.click("text=360°")
    page.wait_for_url(re.compile(r"/360$"))
    expect(page.locator("#asset-chart svg path").first).to_be_attached()  # ECharts drew the line
    expect(page.locator("#sector-chart svg path").first).to_be_attached()
    assert page.evaluate("echarts.version").startswith("6.")
    screenshot(page, "customer-360")

    page.click("label[for=kind-interaction]")
    expect(page).to_have_url(re.compile(r"kind=interaction"))
    expect(page.locator("#timeline li[data-kind]")).to_have_count(1)

    page.fill("#call-summary", "客户问芯片板块的行情")
    expect(page.locator("#suggestions")).to_contain_text("半导体行业周期说明")
    page.fill("#call-subject", "行情咨询")
    page.click("#log-call button[type=submit]")
    page.wait_for_url(re.compile(r"/360$"))
    expect(page.locator("#timeline")).to_contain_text("行情咨询")
    assert page.scrm_errors == []


def test_the_360_page_on_a_phone(browser, live_server, new_page, screenshot, app, seed):
    add_activity(app, seed["c1"], 5)
    page = new_page(browser, live_server, mobile=True)
    page.goto(f"{live_server}/e/customer/{seed['c1']}/360")
    expect(page.locator("#asset-chart svg").first).to_be_attached()
    assert page.evaluate("document.documentElement.scrollWidth") <= 400
    screenshot(page, "customer-360-phone")
    assert page.scrm_errors == []
