"""Imports into any entity: files read as Chinese Excel writes them, columns mapped to fields,
rows saved through the record service (all or nothing, or skipping bad rows), matched by a key
so a second run changes nothing, every problem reported at its row and column; the upload
checks; permissions; the background run with its progress, the report, the CLI."""

from __future__ import annotations

import codecs
import csv
import io
import json
import random
import re
import time
import zipfile
from datetime import date, timedelta

import openpyxl
import pytest
import sqlalchemy as sa
from flask_babel import force_locale
from support import login

from scrm.demo.people import id_number

HEADER = ["客户号", "姓名", "证件号码", "Customer type", "资产层级", "主服务客户经理", "开户日期", "标签", "营销免打扰"]


def customer(i: int, **changes) -> dict:
    """A valid customer row as a back office writes it: labels, Chinese dates, names."""
    rng = random.Random(i)
    row = {
        "客户号": f"5{i:011d}",
        "姓名": f"客户{i}",
        "证件号码": id_number(rng, "310115", date(1960, 1, 1) + timedelta(days=i), i % 2 == 0),
        "Customer type": "个人" if i % 2 else "individual",
        "资产层级": ["高净值", "wealth", "Mass", "潜力"][i % 4],
        "主服务客户经理": "张伟",
        "开户日期": "2026/11/21" if i % 2 else "2025年3月5日",
        "标签": "价值投资、长线" if i % 3 == 0 else "",
        "营销免打扰": "是" if i % 2 else "no",
    }
    row.update(changes)
    return row


def as_csv(rows: list[dict], encoding: str = "utf-8", delimiter: str = ",") -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), delimiter=delimiter, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def as_xlsx(rows: list[dict]) -> bytes:
    """A workbook with real date cells, as Excel saves one."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(rows[0]))
    for row in rows:
        cells = []
        for name, value in row.items():
            if name == "开户日期" and value == "2026/11/21":
                value = date(2026, 11, 21)
            cells.append(value)
        sheet.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


FORMATS = {
    "csv-utf8": lambda rows: as_csv(rows),
    "csv-bom": lambda rows: as_csv(rows, "utf-8-sig"),
    "csv-gbk-semicolon": lambda rows: as_csv(rows, "gbk", ";"),
    "csv-utf16-tab": lambda rows: codecs.BOM_UTF16_LE + as_csv(rows, "utf-16-le", "\t"),
    "xlsx": as_xlsx,
}


def run_import(app, tmp_path, data: bytes, name="customers.csv", entity="customer", **options):
    """The engine, synchronously (as ``scrm import`` runs it), as the administrator."""
    from scrm.data.import_run import import_file

    path = tmp_path / name
    path.write_bytes(data)
    with app.app_context(), force_locale("en"):
        job = import_file(app, entity, path, username=options.pop("username", "admin"), **options)
        return job.id


def job_of(app, job_id):
    from scrm.data.importing import ImportJob
    from scrm.db import db

    with app.app_context():
        job = db.session.get(ImportJob, job_id)
        db.session.expunge(job)
        return job


def problems_of(app, job_id) -> list[tuple[int, str, str]]:
    from scrm.data.importing import Imports

    with app.app_context():
        return [(o.row, c, m) for o in Imports.failures(job_of(app, job_id), 1000) for c, m in o.problems]


def customers(app, *numbers) -> dict[str, dict]:
    from scrm.data.records import RecordService
    from scrm.runtime import snapshot

    with app.app_context():
        svc = RecordService(snapshot())
        found = svc.list("customer", filter={"field": "customer_no", "op": "in", "value": list(numbers)}, limit=200)
        return {r["customer_no"]: svc.load("customer", r["id"]) for r in found.items}


def count_customers(app) -> int:
    from scrm.data.records import RecordService
    from scrm.runtime import snapshot

    with app.app_context():
        return RecordService(snapshot()).count("customer")


# -- reading files and values ---------------------------------------------------------------
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_files_from_excel_are_read_and_values_parsed_like_the_form(app, seed, tmp_path, fmt):
    rows = [customer(i) for i in range(1, 7)]
    job_id = run_import(app, tmp_path, FORMATS[fmt](rows), "customers.xlsx" if fmt == "xlsx" else "customers.csv")
    job = job_of(app, job_id)
    assert (job.status, job.format, job.created_rows, job.failed_rows) == (
        "done", "xlsx" if fmt == "xlsx" else "csv", 6, 0,
    ), problems_of(app, job_id)  # fmt: skip
    saved = customers(app, *(f"50000000000{i}" for i in range(1, 5)))
    one, two, three, four = (saved[f"50000000000{i}"] for i in range(1, 5))
    assert (one["customer_type"], one["asset_tier"], one["opened_at"]) == ("individual", "wealth", date(2026, 11, 21))
    assert one["primary_manager"] == seed["emp1"] and one["marketing_dnd"] is True
    assert (two["asset_tier"], two["opened_at"], two["marketing_dnd"]) == ("mass", date(2025, 3, 5), False)
    assert three["tags"] == ["价值投资", "长线"] and three["asset_tier"] == "potential" and four["asset_tier"] == "hnw"


def test_numbers_dates_and_choices_in_every_spelling(app, seed, tmp_path):
    """Grouped money, percent cells, Excel numbers in text fields, multi-choice separators, 1/0."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["客户号", "Name", "ID number", "Registered capital", "Customer type", "Investment varieties",
                  "Is employee", "Investment experience (years)", "Risk assessed at"])  # fmt: skip
    sheet.append([500000000101, "甲机构", "91310000MA1FL8XQ2K", "1,234,567.89", "机构", "equity|Fixed income", 1, 12.0,
                  "2026/3/4 9:05"])  # fmt: skip
    sheet.append(["500000000102", "乙", id_number(random.Random(5), "110105", date(1980, 5, 6), True), None,
                  "individual", "权益类; 其他", "false", "3", None])  # fmt: skip
    data = io.BytesIO()
    book.save(data)
    job_id = run_import(app, tmp_path, data.getvalue(), "x.xlsx", columns={"ID number": "id_number"})
    assert job_of(app, job_id).created_rows == 2, problems_of(app, job_id)
    saved = customers(app, "500000000101", "500000000102")
    org, person = saved["500000000101"], saved["500000000102"]
    assert str(org["registered_capital"]) == "1234567.89" and org["customer_type"] == "institution"
    assert org["intended_varieties"] == ["fixed_income", "equity"] and org["is_employee"] is True
    assert org["investment_experience_years"] == 12
    assert org["risk_assessed_at"].isoformat() == "2026-03-04T01:05:00+00:00"  # 09:05 in Shanghai
    assert person["intended_varieties"] == ["equity", "other"] and person["is_employee"] is False


def test_bad_values_are_reported_at_their_row_and_column(app, seed, tmp_path):
    rows = [
        customer(1),
        customer(2, **{"资产层级": "富豪"}),
        customer(3, **{"开户日期": "21.13.2026"}),
        customer(4, **{"证件号码": "110105194912310039"}),
        customer(5, **{"主服务客户经理": "无此人"}),
        customer(6, **{"姓名": ""}),
        customer(7, **{"营销免打扰": "也许"}),
    ]
    job_id = run_import(app, tmp_path, as_csv(rows), mode="skip")
    found = problems_of(app, job_id)
    assert [(row, column) for row, column, _m in found] == [
        (3, "资产层级"), (4, "开户日期"), (5, "证件号码"), (6, "主服务客户经理"), (7, "姓名"), (8, "营销免打扰"),
    ]  # fmt: skip
    messages = dict(((row, m) for row, _c, m in found))
    assert messages[3] == "“富豪” is not one of Mass, Potential, Wealth, HNW, UHNW."
    assert "2026-03-31" in messages[4] and "check digit" in messages[5]
    assert "无此人" in messages[6] and messages[7] == "This field is required."
    assert job_of(app, job_id).created_rows == 1


def test_long_numbers_excel_turned_into_numbers_are_refused_with_the_reason(app, seed, tmp_path):
    book = openpyxl.Workbook()
    book.active.append(["客户号", "姓名", "证件号码"])
    book.active.append(["500000000001", "甲", 110105194912310038])  # what Excel keeps: 110105194912310000
    data = io.BytesIO()
    book.save(data)
    from_xlsx = run_import(app, tmp_path, data.getvalue(), "x.xlsx")
    from_csv = run_import(app, tmp_path, "客户号,姓名,证件号码\r\n500000000002,乙,1.10105E+17\r\n".encode("gbk"))
    for job_id, shown in ((from_xlsx, "110105194912310000"), (from_csv, "1.10105E+17")):
        ((row, column, message),) = problems_of(app, job_id)
        assert (row, column) == (2, "证件号码") and message.startswith(f"Excel took “{shown}” for a number")


# -- modes, keys ----------------------------------------------------------------------------
def test_all_or_nothing_saves_nothing_when_a_row_fails_and_lists_every_error(app, seed, tmp_path):
    before = count_customers(app)
    rows = [customer(i) for i in range(1, 9)]
    rows[2]["资产层级"], rows[6]["证件号码"] = "???", "123"
    job_id = run_import(app, tmp_path, as_csv(rows), mode="all")
    job = job_of(app, job_id)
    assert (job.status, job.failed_rows, job.created_rows, job.processed_rows) == ("rolled_back", 2, 0, 8)
    assert [(r, c) for r, c, _m in problems_of(app, job_id)] == [(4, "资产层级"), (8, "证件号码")]
    assert count_customers(app) == before and job.content is None


def test_skip_mode_saves_the_good_rows(app, seed, tmp_path):
    before = count_customers(app)
    rows = [customer(i) for i in range(1, 9)]
    rows[2]["资产层级"] = "???"
    job = job_of(app, run_import(app, tmp_path, as_csv(rows), mode="skip"))
    assert (job.status, job.created_rows, job.failed_rows) == ("done", 7, 1)
    assert count_customers(app) == before + 7


def test_a_key_updates_the_mapped_columns_and_a_second_run_changes_nothing(app, seed, tmp_path):
    rows = [customer(i) for i in range(1, 5)]
    first = job_of(app, run_import(app, tmp_path, as_csv(rows)))
    assert (first.key_field, first.created_rows) == ("customer_no", 4)
    again = job_of(app, run_import(app, tmp_path, as_csv(rows)))
    assert (again.created_rows, again.updated_rows, again.unchanged_rows, again.failed_rows) == (0, 0, 4, 0)
    before = customers(app, "500000000002")["500000000002"]
    changed = [{"客户号": r["客户号"], "资产层级": "潜力" if r is rows[1] else r["资产层级"]} for r in rows]
    third = job_of(app, run_import(app, tmp_path, as_csv(changed)))
    assert (third.created_rows, third.updated_rows, third.unchanged_rows) == (0, 1, 3)
    after = customers(app, "500000000002")["500000000002"]
    assert after["asset_tier"] == "potential" and after["version"] == before["version"] + 1
    assert {k: v for k, v in after.items() if k not in ("asset_tier", "version", "updated_at", "_titles")} == {
        k: v for k, v in before.items() if k not in ("asset_tier", "version", "updated_at", "_titles")
    }


def test_the_same_key_twice_in_a_file_fails_the_later_row_naming_the_first(app, seed, tmp_path):
    rows = [customer(1), customer(2), customer(3, **{"客户号": "500000000001"})]
    job_id = run_import(app, tmp_path, as_csv(rows), mode="skip")
    assert problems_of(app, job_id) == [(4, "客户号", "The key 500000000001 already appeared in row 2.")]
    assert job_of(app, job_id).created_rows == 2


def test_without_a_key_every_row_creates(app, seed, tmp_path):
    rows = [customer(1)]
    run_import(app, tmp_path, as_csv(rows))
    job_id = run_import(app, tmp_path, as_csv(rows), key="-", mode="skip")
    assert problems_of(app, job_id) == [
        (2, "客户号", f"Already used by record #{_id_of(app, '500000000001')}."),
        (2, "证件号码", "This identity document belongs to another customer"),
    ]


def _id_of(app, number: str) -> str:
    return str(customers(app, number)[number]["id"])


# -- references -----------------------------------------------------------------------------
def test_references_by_title_number_or_id_are_resolved_in_batches(app, seed, tmp_path):
    from scrm.db import db

    managers = ["张伟", "E002", f"#{seed['emp1']}", str(seed["emp2"])] * 10
    rows = [customer(i, **{"主服务客户经理": managers[i - 1]}) for i in range(1, 41)]
    statements: list[str] = []

    def listen(_conn, _cursor, statement, *_args):
        if "crm_employee" in statement and " IN " in statement.upper():
            statements.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", listen)
    try:
        job_id = run_import(app, tmp_path, as_csv(rows))
    finally:
        sa.event.remove(engine, "before_cursor_execute", listen)
    assert job_of(app, job_id).created_rows == 40, problems_of(app, job_id)
    saved = customers(app, "500000000001", "500000000002", "500000000003", "500000000004")
    assert [saved[f"50000000000{i}"]["primary_manager"] for i in range(1, 5)] == [
        seed["emp1"], seed["emp2"], seed["emp1"], seed["emp2"],
    ]  # fmt: skip
    assert len(statements) == 1  # one lookup for the chunk's names and numbers, not one per row


def test_a_name_two_records_share_must_be_given_by_id(app, seed, tmp_path):
    from scrm.data.records import RecordService
    from scrm.runtime import snapshot

    with app.app_context():
        RecordService(snapshot()).create(
            "employee", {"employee_no": "E009", "name": "张伟", "org_unit": seed["branch"], "role": "account_manager"}
        )
    job_id = run_import(app, tmp_path, as_csv([customer(1)]), mode="skip")
    assert problems_of(app, job_id) == [
        (2, "主服务客户经理", "2 Employee records match “张伟”; give the record id (#123).")
    ]


# -- permissions ----------------------------------------------------------------------------
CLERK_ROLE = {
    "kind": "role", "name": "import_clerk", "label": {"zh-CN": "导入员", "en": "Import clerk"},
    "permissions": {
        "customer": {"actions": ["create", "read", "update", "import"], "scope": "own", "fields": {"risk_level": "read"}},
        "employee": {"actions": ["read"], "scope": "all"},
        "org_unit": {"actions": ["read"], "scope": "all"},
    },
}  # fmt: skip


@pytest.fixture
def clerk(app, seed):
    """A user whose role imports customers into their own book, without writing risk levels."""
    from scrm.data.records import RecordService
    from scrm.db import write_intent
    from scrm.runtime import runtime, snapshot
    from scrm.security.users import create_user

    with app.app_context(), write_intent():
        runtime().definitions.save_draft("role", "import_clerk", CLERK_ROLE)
        runtime().definitions.publish("role", "import_clerk")
        create_user("clerk", "import-pass-123", ["import_clerk"], "导入员")
        RecordService(snapshot()).create(
            "employee", {"employee_no": "E003", "login": "clerk", "name": "王五", "org_unit": seed["branch"],
                         "role": "account_manager"},
        )  # fmt: skip
    client = app.test_client()
    login(client, "clerk")
    return client


def test_users_without_the_import_permission_get_403(am_client, seed):
    for path in ("/e/customer/import", "/e/customer/import/template.csv"):
        r = am_client.get(path)
        assert r.status_code == 403 and "导入" in r.data.decode()
    upload = am_client.post("/e/customer/import", data={"file": (io.BytesIO(as_csv([customer(1)])), "c.csv")})
    assert upload.status_code == 403


def test_an_import_stays_within_the_users_scope_and_field_access(app, clerk, seed, tmp_path):
    rows = [customer(1, **{"主服务客户经理": ""}), customer(2), customer(3, **{"客户号": "310000000001"})]
    job_id = run_import(app, tmp_path, as_csv(rows), username="clerk", mode="skip")
    found = problems_of(app, job_id)
    assert [(r, c) for r, c, _m in found] == [(3, ""), (4, "客户号")]
    assert "outside the records you may work on" in found[0][2] and "Already used by record" in found[1][2]
    mine = customers(app, "500000000001")["500000000001"]
    assert mine["primary_manager"] is not None and mine["primary_manager"] != seed["emp1"]
    header = clerk.get("/e/customer/import/template.csv").data.decode("utf-8-sig").strip().split(",")
    assert "风险承受能力" not in header and "客户号" in header and "风险承受能力最低类别" in header


def test_a_job_is_seen_by_its_owner_and_administrators_only(app, clerk, client, seed, tmp_path):
    job_id = run_import(app, tmp_path, as_csv([customer(1, **{"主服务客户经理": ""})]), username="clerk")
    assert clerk.get(f"/imports/{job_id}").status_code == 200
    assert client.get(f"/imports/{job_id}/report.csv").status_code == 200
    other = app.test_client()
    login(other, "am")
    assert other.get(f"/imports/{job_id}").status_code == 404
    assert other.get(f"/imports/{job_id}/report.csv").status_code == 404
    mapping = upload(clerk, as_csv([customer(2)]))
    assert client.get(mapping).status_code == 404  # the mapping is the uploader's to decide
    assert clerk.get(mapping).status_code == 200


# -- upload checks --------------------------------------------------------------------------
def _zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return out.getvalue()


def _broken_sheet() -> bytes:
    """A workbook whose sheet is cut in half (it is parsed only as it is read)."""
    book = openpyxl.Workbook()
    book.active.append(["客户号", "姓名"])
    book.active.append([1, 2])
    whole = io.BytesIO()
    book.save(whole)
    source = zipfile.ZipFile(whole)
    return _zip({
        name: data[: len(data) // 2] if name.endswith("sheet1.xml") else data
        for name, data in ((n, source.read(n)) for n in source.namelist())
    })  # fmt: skip


UPLOAD_CHECKS = {
    "empty": ("c.csv", b"", "The file is empty."),
    "blank": ("c.csv", b"  \r\n\r\n", "The file is empty."),
    "no header": ("c.csv", b",,\r\n1,2,3\r\n", "Row 1 is empty"),
    "header only": ("c.csv", "客户号,姓名\r\n".encode(), "no rows to import"),
    "blank header": ("c.csv", "客户号,,姓名\r\n1,x,y\r\n".encode(), "Column B has values (row 2) but no name"),
    "values past the header": ("c.csv", "客户号,姓名\r\n1,x,y\r\n".encode(), "Column C has values"),
    "duplicate header": ("c.csv", "客户号,姓名, 客户号 \r\n1,2,3\r\n".encode(), "Columns A and C have the same name"),
    "too many rows": ("c.csv", ("客户号\r\n" + "1\r\n" * 6).encode(), "more than 5 rows"),
    "fake xlsx": ("c.xlsx", "客户号\r\n1\r\n".encode(), "not a real Excel workbook"),
    "zip, not a workbook": ("c.xlsx", _zip({"readme.txt": b"hello"}), "not an Excel workbook"),
    "zip bomb": (
        "c.xlsx",
        _zip({"xl/workbook.xml": b"<x/>", "xl/big.xml": b"0" * (21 * 1024 * 1024)}),
        "unpacks to more",
    ),
    "damaged workbook": ("c.xlsx", _zip({"xl/workbook.xml": b"<not xml"}), "damaged"),
    "damaged sheet": ("c.xlsx", _broken_sheet(), "damaged"),
    "old xls": ("c.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "old Excel .xls"),
    "web page as xls": ("c.xls", b"<html><table><tr><td>1</td></tr></table></html>", "web page"),
    "png": ("c.csv", b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "neither a CSV file nor an Excel"),
    "binary": ("c.csv", bytes(range(256)) * 4, "neither"),
    "bad encoding": ("c.csv", b"a,b\r\n\x80\x80,1\r\n", "neither UTF-8 nor GBK"),
    "unclosed quote": ("c.csv", b'a,b\r\n"x,1\r\n', "quote is not closed"),
}


@pytest.mark.parametrize("check", list(UPLOAD_CHECKS))
def test_each_upload_check_answers_with_a_clear_message(app, client, seed, check):
    from scrm.data.importing import ImportJob
    from scrm.db import db

    app.config.update(SCRM_IMPORT_MAX_ROWS=5, SCRM_IMPORT_MAX_MB=1)
    name, data, expected = UPLOAD_CHECKS[check]
    r = client.post("/e/customer/import?lang=en", data={"file": (io.BytesIO(data), name)})
    body = r.data.decode()
    assert r.status_code == 400 and expected in body, re.findall(r"invalid-feedback[^>]*>([^<]*)", body)
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(ImportJob)).scalar_one() == 0


def test_a_file_over_the_size_limit_gets_the_upload_page_with_the_limit(app, client, seed):
    app.config["SCRM_IMPORT_MAX_MB"] = 1
    near = client.post("/e/customer/import?lang=en", data={"file": (io.BytesIO(b"a\r\n" + b"1" * 1_100_000), "c.csv")})
    assert near.status_code == 400 and "larger than 1 MB" in near.data.decode()
    far = client.post("/e/customer/import?lang=en", data={"file": (io.BytesIO(b"1" * 3_000_000), "c.csv")})
    assert far.status_code == 413 and "larger than 1 MB" in far.data.decode() and 'type="file"' in far.data.decode()
    assert client.post("/e/customer/import?lang=en", data={}).status_code == 400


# -- the web flow ---------------------------------------------------------------------------
def english(client):
    with client.session_transaction() as session:
        session["lang"] = "en"
    return client


def upload(client, data: bytes, name="customers.csv"):
    english(client)
    r = client.post("/e/customer/import?lang=en", data={"file": (io.BytesIO(data), name)})
    assert r.status_code == 303, re.findall(r"invalid-feedback[^>]*>([^<]*)", r.data.decode())
    return r.headers["Location"]


def selected(html: str) -> dict[str, str]:
    out = {}
    for name, options in re.findall(r'<select[^>]*name="(col_\d+|key)"[^>]*>(.*?)</select>', html, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', options)
        out[name] = chosen.group(1) if chosen else ""
    return out


def wait_until_finished(client, url: str, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        r = client.get(url, headers={"HX-Request": "true"})
        if r.status_code == 286:
            return r
        assert r.status_code == 200 and 'hx-trigger="every 1s"' in r.data.decode()
        time.sleep(0.05)
    raise AssertionError("the import did not finish")


def test_the_mapping_page_matches_columns_and_shows_problems_before_the_start(client, seed):
    rows = [{**customer(1), "Notes": "x", "无关列": "y"}]
    url = upload(client, as_csv(rows))
    page = client.get(url).data.decode()
    chosen = selected(page)
    assert [chosen[f"col_{i}"] for i in range(11)] == [
        "customer_no", "name", "id_number", "customer_type", "asset_tier", "primary_manager", "opened_at", "tags",
        "marketing_dnd", "notes", "",
    ]  # fmt: skip
    assert chosen["key"] == "customer_no" and "客户1" in page and "The mapping is ready." in page
    form = {**{f"col_{i}": v for i, v in enumerate(chosen[f"col_{i}"] for i in range(11))}, "key": "", "mode": "all"}
    form.update(col_1="", col_3="name")
    problems = client.post(url, data=form, headers={"HX-Request": "true"})
    text = problems.data.decode()
    assert problems.status_code == 200 and text.lstrip().startswith('<div id="mapping-problems"')
    assert "Columns B, D all go to" not in text and "Columns D, J" not in text
    form.update(col_9="name")
    text = client.post(url, data=form, headers={"HX-Request": "true"}).data.decode()
    assert "Columns D, J all go to Name; choose one." in text
    form.update(col_0="", col_9="")
    text = client.post(url, data={**form, "action": "start"}).data.decode()
    assert "Customer no. is required; choose the column that holds it." in text
    form.update(col_0="customer_no", key="customer_no")
    start = client.post(url, data={**form, "action": "start"})
    assert start.status_code == 303
    wait_until_finished(client, start.headers["Location"])


def test_the_web_run_polls_until_done_then_offers_the_report(app, client, seed):
    rows = [customer(i) for i in range(1, 31)]
    rows[4]["客户号"] = "=500000000005"  # not a customer number, and a formula to a spreadsheet
    url = upload(client, as_csv(rows, "gbk"))
    form = {k: v for k, v in selected(client.get(url).data.decode()).items() if k.startswith("col_")}
    start = client.post(url, data={**form, "key": "customer_no", "mode": "skip", "action": "start"})
    assert start.status_code == 303, re.findall(r"<li>([^<]*)</li>", start.data.decode())
    job_url = start.headers["Location"]
    done = wait_until_finished(client, job_url).data.decode()
    assert 'hx-trigger="every 1s"' not in done and "Imported 29 rows; 1 rows with errors were skipped." in done
    assert '<th scope="row">6</th>' in done and 'aria-valuenow="100"' in done
    page = client.get(job_url).data.decode()
    report_url = re.search(r'href="(/imports/\d+/report.csv)"', page).group(1)
    report = client.get(report_url)
    assert report.headers["Content-Disposition"].startswith("attachment;") and report.data.startswith(codecs.BOM_UTF8)
    lines = list(csv.reader(io.StringIO(report.data.decode("utf-8-sig"))))
    assert lines[0] == ["Row", "Key", "Status", "Column", "Message"] and len(lines) == 31
    failed = [line for line in lines if line[2] == "failed"]
    assert failed == [["6", "'=500000000005", "failed", "客户号", "6 to 20 digits or capital letters"]]
    listing = client.get("/imports").data.decode()
    assert job_url in listing and "customers.csv" in listing


# -- the run --------------------------------------------------------------------------------
def test_an_interrupted_job_runs_again_and_goes_on_after_its_saved_chunks(app, client, seed, tmp_path, monkeypatch):
    from scrm.data import import_run
    from scrm.data.importing import ImportJob
    from scrm.db import db

    monkeypatch.setattr(import_run, "CHUNK", 3)
    calls = {"n": 0}
    real = import_run.Runner._chunk

    def dies_in_the_third_chunk(self, *args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("the server went away")
        return real(self, *args)

    monkeypatch.setattr(import_run.Runner, "_chunk", dies_in_the_third_chunk)
    rows = [customer(i) for i in range(1, 11)]
    rows[1]["资产层级"] = "bad"
    job_id = run_import(app, tmp_path, as_csv(rows), mode="skip")
    job = job_of(app, job_id)
    assert (job.status, job.processed_rows, job.created_rows, job.failed_rows) == ("failed", 6, 5, 1)
    assert "unexpected error" in job.message and job.content is not None
    with app.app_context():  # as if the process had died while running
        table = ImportJob.__table__
        db.session.execute(sa.update(table).values(status="running", heartbeat_at="2000-01-01T00:00:00.000000Z"))
        db.session.commit()
    page = english(client).get(f"/imports/{job_id}").data.decode()
    assert "interrupted" in page and "Run it again" in page and 'hx-trigger="every 1s"' not in page
    again = client.post(f"/imports/{job_id}/rerun")
    assert again.status_code == 303
    wait_until_finished(client, f"/imports/{job_id}")
    job = job_of(app, job_id)
    assert (job.status, job.processed_rows, job.created_rows, job.failed_rows, job.content) == ("done", 10, 9, 1, None)
    assert [r for r, _c, _m in problems_of(app, job_id)] == [3]
    assert len(customers(app, *[r["客户号"] for r in rows])) == 9
    assert client.post(f"/imports/{job_id}/rerun").status_code == 303  # refused: it finished
    assert job_of(app, job_id).status == "done"


def test_a_long_all_or_nothing_run_and_missing_rights_are_said_before_the_start(app, seed):
    from scrm.data.importing import plan_mapping
    from scrm.data.records import RecordService
    from scrm.runtime import snapshot

    with app.app_context(), force_locale("en"):
        svc = RecordService(snapshot())
        entity = svc.entity("customer")
        header, targets = ["客户号", "姓名", "证件号码"], ["customer_no", "name", "id_number"]
        assert plan_mapping(svc, entity, header, targets, "customer_no", "all", 5_000).warnings == []
        long = plan_mapping(svc, entity, header, targets, "customer_no", "all", 50_000)
        assert "50,000 rows in one transaction" in long.warnings[0] and not long.errors
        assert plan_mapping(svc, entity, header, targets, "customer_no", "skip", 50_000).warnings == []


def test_all_or_nothing_progress_is_committed_apart_on_postgresql_and_kept_in_memory_on_sqlite(
    app, seed, tmp_path, monkeypatch, backend
):
    from scrm.data import import_run
    from scrm.data.importing import LIVE, ImportJob
    from scrm.db import db

    monkeypatch.setattr(import_run, "CHUNK", 2)
    monkeypatch.setattr(import_run, "PROGRESS_EVERY", 0)
    seen = []
    real = import_run.Runner._chunk
    with app.app_context():
        other = sa.create_engine(db.engine.url, poolclass=sa.pool.NullPool)  # another worker, reading

    def watch(self, *args):
        real(self, *args)
        with other.connect() as conn:
            table = ImportJob.__table__
            seen.append((conn.execute(sa.select(table.c.processed_rows)).scalar_one(), LIVE[self.job_id].processed))

    monkeypatch.setattr(import_run.Runner, "_chunk", watch)
    run_import(app, tmp_path, as_csv([customer(i) for i in range(1, 7)]), mode="all")
    other.dispose()
    saved = [s for s, _live in seen]
    assert [live for _s, live in seen] == [2, 4, 6]
    assert saved == ([2, 4, 6] if backend == "postgresql" else [0, 0, 0])


def test_the_audit_chain_records_the_upload_start_rows_and_end(app, seed, tmp_path):
    from scrm.db import db
    from scrm.security.audit import AuditEntry, verify

    job_id = run_import(app, tmp_path, as_csv([customer(1), customer(2), customer(3, **{"姓名": ""})]), mode="skip")
    with app.app_context():
        entries = db.session.execute(
            sa.select(AuditEntry.action, AuditEntry.row_count, AuditEntry.result, AuditEntry.detail)
            .where(AuditEntry.action.like("import_%"))
            .order_by(AuditEntry.id)
        ).all()
        per_record = db.session.execute(
            sa.select(AuditEntry.record_id).where(AuditEntry.action == "create", AuditEntry.entity == "customer")
        ).scalars()
        per_record = set(per_record)
        assert verify().ok
    number = job_of(app, job_id).number
    assert [tuple(e[:3]) for e in entries] == [
        ("import_upload", 3, "ok"),
        ("import_start", 3, "ok"),
        ("import_rows", 2, "ok"),  # one entry per chunk for the rows it wrote; the failed row has none
        ("import_finish", 3, "ok"),
    ]
    rows = json.loads(entries[2].detail)
    assert rows["job"] == number and len(rows["create"]) == 2 and "name" in rows["fields"]
    assert not per_record & set(rows["create"])  # not one entry per record as well
    assert number.startswith("IMP-")


def test_the_cli_imports_and_fails_when_all_or_nothing_rolls_back(app, seed, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from scrm.cli import State, cli

    monkeypatch.setattr(State, "app", property(lambda self: app))
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_bytes(as_csv([{**customer(1), "Tier": "wealth"}]))
    bad.write_bytes(as_csv([customer(2), customer(3, **{"姓名": ""})], "gbk"))
    runner = CliRunner()
    ok = runner.invoke(cli, ["import", "customer", str(good), "--map", "资产层级=", "--map", "Tier=asset_tier"])
    assert ok.exit_code == 0, ok.output
    assert "1 created, 0 updated, 0 unchanged, 0 failed" in ok.output
    assert customers(app, "500000000001")["500000000001"]["asset_tier"] == "wealth"
    failed = runner.invoke(cli, ["import", "customer", str(bad), "--mode", "all", "--user", "admin"])
    assert failed.exit_code == 1 and "row 3 [姓名]" in failed.output and "nothing was saved" in failed.output
    wrong = runner.invoke(cli, ["import", "customer", str(good), "--map", "Nope=name"])
    assert wrong.exit_code == 1 and "Nope" in wrong.output and "Traceback" not in wrong.output
