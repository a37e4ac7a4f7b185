"""Excel exports: the same scope, masking, stamp and watermark as CSV, with typed cells."""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from test_exports import SENSITIVE, as_user, ask, raw_values
from test_security_scopes import expected_customers

from scrm.data.exporting import watermark_of


def read_book(data: bytes):
    book = load_workbook(io.BytesIO(data))
    sheet = book.worksheets[0]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    return book, sheet, rows


@pytest.mark.parametrize("username", ["am_demo", "lead_demo"])
def test_xlsx_export_is_scoped_masked_stamped_and_typed(demo, username):
    app, _ = demo
    client = as_user(app, username)
    body = ask(client, format="xlsx", fields=["customer_no", "name", "mobile", "total_assets", "opened_at"]).get_json()
    assert body["status"] == "generated" and body["format"] == "xlsx"
    f = client.get(body["file"])
    assert f.status_code == 200
    assert f.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert f.headers["Content-Disposition"].endswith('.xlsx"')
    book, sheet, rows = read_book(f.data)
    stamp, header, data = rows[0][0], rows[1], rows[2:]
    assert body["number"] in stamp and username in stamp
    assert body["number"] in book.properties.description
    assert watermark_of(header[0]) is not None and watermark_of(header[0]) in book.properties.keywords
    assert {row[0] for row in data} == expected_customers(app, username)
    assets = [row[4] for row in data if row[4] is not None]
    assert assets and all(isinstance(v, int | float | Decimal) for v in assets)
    assert all(isinstance(row[5], datetime | date) for row in data if row[5] is not None)
    text = "\n".join(str(c) for row in data for c in row if c is not None)
    for field in SENSITIVE:
        leaked = [v for v in raw_values(app, field) if v in text]
        assert not leaked, (field, leaked[:3])
    assert sheet.freeze_panes == "B3"


def test_formulas_stay_text_in_a_workbook(api, seed):
    payload = {
        "customer_no": "310000000009", "name": '=HYPERLINK("x")', "id_type": "cn_id",
        "id_number": "110105195001010063", "primary_manager": seed["emp1"], "servicing_org": seed["branch"],
    }  # fmt: skip
    assert api.post("/api/v1/records/customer", json=payload).status_code == 201
    body = api.post(
        "/api/v1/exports", json={"entity": "customer", "purpose": "formula test", "fields": ["name"], "format": "xlsx"}
    ).get_json()
    book = load_workbook(io.BytesIO(api.get(body["file"]).data))
    cells = [c for row in book.worksheets[0].iter_rows(min_row=3) for c in row if c.column == 2]
    formula = next(c for c in cells if c.value == '=HYPERLINK("x")')
    assert formula.data_type == "s"


@pytest.mark.parametrize("value", ["pdf", "", None, ["xlsx"]])
def test_unknown_formats_are_refused_at_their_path(api, seed, value):
    r = api.post("/api/v1/exports", json={"entity": "customer", "purpose": "format test", "format": value})
    assert r.status_code == 400
    assert r.get_json()["error"]["details"][0]["path"] == "format"


def test_the_export_page_offers_excel(client, seed):
    page = client.get("/e/customer/export?format=xlsx").get_data(as_text=True)
    assert 'value="xlsx" id="exp-format-xlsx" checked' in page
    r = client.post(
        "/e/customer/export", data={"fields": ["name", "asset_tier"], "purpose": "tier review", "format": "xlsx"}
    )
    assert r.status_code == 302
    shown = client.get(r.headers["Location"]).get_data(as_text=True)
    assert ".xlsx" in shown or "xlsx" in shown
