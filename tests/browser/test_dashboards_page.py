"""Dashboards in a real browser: D1–D3 render their KPI cards, charts (ECharts, SVG) and tables
from lazily loaded fragments without a console error; a click on a bar and on a ranking row
drills down to the record list with the widget's numbers, and the org ranking drills down the
tree."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from test_dashboards import PERIOD, book  # noqa: F401  (the crafted book of two branches)

pytestmark = pytest.mark.browser
QUERY = f"from={PERIOD['from']}&to={PERIOD['to']}"


@pytest.mark.parametrize(
    "name, kpis, charts, tables",
    [
        ("service_quality", ["csat", "nps", "fcr", "open_complaints"], ["csat_trend", "fcr_by_category"], ["agents"]),
        ("customers_aum", ["customers", "aum", "suitability"], ["tiers", "lifecycle"], []),
        ("performance", ["volume", "commission", "book"], ["volume_trend"], ["org_ranking", "managers", "top_customers"]),
    ],
)  # fmt: skip
def test_dashboards_render(browser, live_server, new_page, book, screenshot, name, kpis, charts, tables):  # noqa: F811
    page = new_page(browser, live_server)
    page.goto(f"{live_server}/d/{name}?{QUERY}")
    for wid in kpis:
        card = page.locator(f"#w-{wid}")
        card.scroll_into_view_if_needed()
        expect(card.locator(".scrm-kpi-value")).to_be_visible()
    for wid in charts:
        card = page.locator(f"#w-{wid}")
        card.scroll_into_view_if_needed()
        expect(card.locator("[data-dash-chart] svg")).to_have_count(1)
    for wid in tables:
        card = page.locator(f"#w-{wid}")
        card.scroll_into_view_if_needed()
        expect(card.locator("table tbody tr").first).to_be_visible()
    screenshot(page, f"dashboard-{name}")
    assert page.scrm_errors == []


def test_drill_down_from_a_bar_and_down_the_org_tree(browser, live_server, new_page, book):  # noqa: F811
    page = new_page(browser, live_server)
    page.goto(f"{live_server}/d/customers_aum?{QUERY}")
    chart = page.locator("#w-tiers [data-dash-chart]")
    chart.scroll_into_view_if_needed()
    expect(chart.locator("svg")).to_have_count(1)
    # the pixel of the "mass" bar (two customers) from the chart itself, then a real click on it
    point = page.evaluate(
        """() => {
          const el = document.querySelector('#w-tiers [data-dash-chart]');
          const chart = echarts.getInstanceByDom(el);
          const option = chart.getOption();
          const index = option.xAxis[0].data.findIndex((label) => label === '大众' || label === 'Mass');
          const [x, y] = chart.convertToPixel({seriesIndex: 0}, [index, 1]);
          const box = el.getBoundingClientRect();
          return {x: box.left + x, y: box.top + y, index};
        }"""
    )
    assert point["index"] >= 0
    page.mouse.click(point["x"], point["y"])
    page.wait_for_url(re.compile(r"/e/customer\?cond="))
    expect(page.locator("#drill-chip")).to_contain_text("客户分层")
    expect(page.locator("#list-rows tr[data-id]")).to_have_count(2)
    page.locator("#drill-chip a[href^='/d/']").click()
    page.wait_for_url(re.compile(r"/d/customers_aum"))

    page.goto(f"{live_server}/d/performance?{QUERY}")
    ranking = page.locator("#w-org_ranking")
    ranking.scroll_into_view_if_needed()
    ranking.locator("a", has_text="北京营业部").click()
    page.wait_for_url(re.compile(rf"/d/performance\?.*org={book['branch']}"))
    managers = page.locator("#w-managers")
    managers.scroll_into_view_if_needed()
    expect(managers.locator("tbody tr")).to_have_count(1)  # Beijing's trading customers all belong to 张伟
    managers.locator("a", has_text="张伟").click()
    page.wait_for_url(re.compile(r"/e/trade\?cond="))
    expect(page.locator("#list-rows tr[data-id]")).to_have_count(3)
    assert page.scrm_errors == []
