"""Importing a customer list in a real browser: 1,000 rows from an Excel workbook as a Chinese
back office keeps it, 3 of them bad. Upload, check the mapping, skip the bad rows, watch the
progress bar fill, read the result (997 imported, the 3 failed rows with their row numbers),
download the report; the result page on a phone too."""

from __future__ import annotations

import csv
import random
import re
import time
from datetime import date, timedelta

import openpyxl
import pytest
from playwright.sync_api import expect

from scrm.demo.people import CITIES, id_number, mobile, person_name

pytestmark = pytest.mark.browser

ROWS = 1000
HEADER = ["客户号", "姓名", "证件类型", "证件号码", "性别", "出生日期", "手机号", "资产层级", "风险承受能力",
          "主服务客户经理", "服务营业部", "开户日期", "标签", "营销免打扰", "备注"]  # fmt: skip
MAPPED = ["customer_no", "name", "id_type", "id_number", "gender", "birth_date", "mobile", "asset_tier", "risk_level",
          "primary_manager", "servicing_org", "opened_at", "tags", "marketing_dnd", "notes"]  # fmt: skip
BAD = {101: ("资产层级", "土豪"), 502: ("证件号码", "110105194912310039"), 1000: ("开户日期", "2026/13/45")}


def customer_workbook(path) -> dict[int, str]:
    """The workbook, with the 3 bad rows; returns {row number in the file: column}."""
    rng = random.Random(20261121)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "客户名单"
    sheet.append(HEADER)
    for n in range(1, ROWS + 1):
        male = rng.random() < 0.5
        birth = date(1950, 1, 1) + timedelta(days=rng.randint(0, 17_000))
        row = {
            "客户号": f"6{n:011d}", "姓名": person_name(rng), "证件类型": "居民身份证",
            "证件号码": id_number(rng, rng.choice(CITIES)[0], birth, male), "性别": "男" if male else "女",
            "出生日期": birth, "手机号": mobile(rng), "资产层级": rng.choice(["大众", "潜力", "财富", "高净值"]),
            "风险承受能力": rng.choice(["C2", "C3", "C4"]), "主服务客户经理": rng.choice(["张伟", "李娜"]),
            "服务营业部": "北京营业部", "开户日期": date(2026, 11, 20) - timedelta(days=rng.randint(0, 3000)),
            "标签": rng.choice(["", "价值投资", "价值投资、长线"]), "营销免打扰": rng.choice(["是", "否"]),
            "备注": rng.choice(["", "老客户转介绍", "=重要客户"]),
        }  # fmt: skip
        if n in BAD:
            column, value = BAD[n]
            row[column] = value
        sheet.append([row[h] for h in HEADER])
    book.save(path)
    return {n + 1: column for n, (column, _v) in BAD.items()}


def test_import_1000_rows_with_3_bad_ones_and_get_the_report(browser, live_server, new_page, screenshot, tmp_path):
    path = tmp_path / "客户名单.xlsx"
    bad = customer_workbook(path)
    page = new_page(browser, live_server)
    page.goto(f"{live_server}/e/customer/import")
    page.set_input_files("#import-file", str(path))
    page.click("#import-form button[type=submit]")
    page.wait_for_url(re.compile(r"/imports/\d+/mapping$"))

    for index, name in enumerate(MAPPED):  # every column found its field by its Chinese name
        expect(page.locator(f"#col-{index}")).to_have_value(name)
    expect(page.locator("#import-key")).to_have_value("customer_no")
    expect(page.locator("#import-preview tbody tr")).to_have_count(5)
    page.select_option("#col-1", "customer_no")  # two columns to one field: said before anything starts
    expect(page.locator("#mapping-problems .alert-danger")).to_contain_text("A, B")
    page.select_option("#col-1", "name")
    expect(page.locator("#mapping-ok")).to_be_visible()
    page.check("#mode-skip")
    screenshot(page, "import-mapping")

    started = time.monotonic()
    page.click("#import-start")
    page.wait_for_url(re.compile(r"/imports/\d+$"))
    seen = []
    progress = page.locator("#import-progress")
    while not page.locator("#import-result").count():
        seen.append(int(progress.get_attribute("aria-valuenow")))
        assert time.monotonic() - started < 180, seen
        page.wait_for_timeout(250)
    elapsed = time.monotonic() - started
    print(f"\n1,000-row import: {elapsed:.1f} s from start to result; progress seen: {sorted(set(seen))}")
    assert seen == sorted(seen) and any(0 < p < 100 for p in seen)  # the bar filled while we watched
    expect(progress).to_have_attribute("aria-valuenow", "100")
    expect(page.locator("#count-created")).to_have_text("997")
    expect(page.locator("#count-failed")).to_have_text("3")
    failures = page.locator("#import-failures tbody tr")
    expect(failures).to_have_count(3)
    shown = [(int(failures.nth(i).locator("th").inner_text()), failures.nth(i).locator("td").nth(1).inner_text())
             for i in range(3)]  # fmt: skip
    assert shown == sorted(bad.items())
    screenshot(page, "import-result")

    with page.expect_download() as info:
        page.click("#import-report")
    report = info.value
    assert report.suggested_filename.endswith("-report.csv")
    with open(report.path(), encoding="utf-8-sig", newline="") as f:
        lines = list(csv.reader(f))
    failed = {(int(r[0]), r[3]) for r in lines[1:] if r[4]}  # a row with a message is a failed one
    assert len(lines) == 1 + ROWS and failed == set(bad.items())
    assert {r[1] for r in lines[1:] if int(r[0]) in bad} == {f"6{n - 1:011d}" for n in bad}

    phone = new_page(browser, live_server, mobile=True)
    phone.goto(page.url)
    expect(phone.locator("#import-result")).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(phone, "import-result-phone")
    assert page.scrm_errors == [] and phone.scrm_errors == []


def test_the_import_pages_fit_a_phone(browser, live_server, new_page, screenshot, tmp_path):
    path = tmp_path / "short.xlsx"
    book = openpyxl.Workbook()
    book.active.append(HEADER)
    book.active.append(["600000009999", "王小明", "居民身份证", "11010519491231002X", "男", date(1949, 12, 31)])
    book.save(path)
    phone = new_page(browser, live_server, mobile=True)
    phone.goto(f"{live_server}/e/customer/import")
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    phone.set_input_files("#import-file", str(path))
    phone.click("#import-form button[type=submit]")
    phone.wait_for_url(re.compile(r"/imports/\d+/mapping$"))
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(phone, "import-mapping-phone")
    assert phone.scrm_errors == []
