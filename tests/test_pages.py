"""Generated pages: login, navigation, list (search, filters, sort, more, columns), detail,
create and edit forms with per-field errors, optimistic-lock conflicts, delete, htmx fragments."""

import re

import pytest


def text(response) -> str:
    return response.get_data(as_text=True)


def test_login_flow(anon):
    page = anon.get("/login")
    assert page.status_code == 200 and 'name="password"' in text(page)
    bad = anon.post("/login", data={"username": "admin", "password": "nope"})
    assert bad.status_code == 401 and "alert-danger" in text(bad)
    ok = anon.post("/login", data={"username": "admin", "password": "Secret-pass-123", "next": "/e/customer"})
    assert ok.status_code == 302 and ok.headers["Location"] == "/e/customer"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)"])
def test_login_never_redirects_elsewhere(anon, target):
    r = anon.post("/login", data={"username": "admin", "password": "Secret-pass-123", "next": target})
    assert r.headers["Location"] == "/"


def test_pages_need_login(anon):
    r = anon.get("/e/customer")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=")
    r = anon.get("/e/customer", headers={"HX-Request": "true"})
    assert r.headers["HX-Redirect"].startswith("/login")


def test_account_is_locked_after_repeated_failures(anon):
    for _ in range(5):
        anon.post("/login", data={"username": "am", "password": "wrong"})
    r = anon.post("/login", data={"username": "am", "password": "am-pass-1234"})
    assert r.status_code == 401


def test_home_and_navigation_come_from_definitions(client):
    html = text(client.get("/"))
    for entity in ("customer", "employee", "org_unit", "account", "trade", "security"):
        assert f'href="/e/{entity}"' in html
    assert "客户" in html  # Chinese by default


def test_english_switch(client):
    client.get("/lang/en")
    html = text(client.get("/e/customer"))
    assert "Customers" in html and "Search" in html
    client.get("/lang/zh_CN")
    assert "搜索" in text(client.get("/e/customer"))


def test_list_page_shows_columns_and_rows(client, seed):
    html = text(client.get("/e/customer"))
    assert "王芳" in html and "刘强" in html
    assert 'aria-sort="descending"' in html  # default sort -total_assets
    assert f'href="/e/customer/{seed["c1"]}"' in html


def test_list_search_filter_and_sort(client, seed):
    html = text(client.get("/e/customer?q=王芳"))
    assert "王芳" in html and "刘强" not in html
    html = text(client.get("/e/customer?f_asset_tier=mass"))
    assert "刘强" in html and "王芳" not in html
    html = text(client.get("/e/customer?sort=name"))
    assert html.index("刘强") < html.index("王芳") < html.index("陈静") or "aria-sort" in html


@pytest.mark.parametrize(
    "query",
    [
        "f_total_assets__from=lots",
        "f_birth_date__from=2026-13-45",
        "f_asset_tier=nope",
        "f_primary_manager=99999999999999999999",
        "f_last_contact_at__to=9999-12-31",
        "sort=tags",
        "after=xyz",
        "cols=nope",
    ],
)
def test_bad_filter_value_is_a_message_not_an_error(client, seed, query):
    r = client.get(f"/e/customer?{query}")
    assert r.status_code == 200


def test_nul_characters_are_refused_everywhere(client, api, seed):
    assert client.get("/e/customer?q=%00").status_code == 400
    assert client.post("/e/customer/new", data={"name": "a\x00b"}).status_code == 400
    r = api.post("/api/v1/records/customer", json={"name": "a\x00b"})
    assert r.status_code == 400 and r.json["error"]["details"][0]["path"] == "$.name"
    assert api.get("/api/v1/definitions/entity/x%00").status_code == 400


def test_htmx_gets_only_the_results_fragment(client, seed):
    r = client.get("/e/customer?q=王", headers={"HX-Request": "true", "HX-Target": "list-results"})
    body = text(r)
    assert "<html" not in body and "<table" in body and "王芳" in body


def test_keyset_more_rows(client, app, seed):
    from scrm.data.records import RecordService
    from scrm.runtime import snapshot

    with app.app_context():
        RecordService(snapshot(), None).bulk_create(
            "org_unit", [{"code": f"T{i:03d}", "name": f"团队{i:03d}", "unit_type": "team"} for i in range(60)]
        )
    first = text(client.get("/e/org_unit"))
    more = re.search(r'id="list-more-row">.*?href="([^"]+)"', first, re.S).group(1).replace("&amp;", "&")
    fragment = text(client.get(more, headers={"HX-Request": "true", "HX-Target": "list-more-row"}))
    assert "<table" not in fragment and "<tr" in fragment
    shown_first = set(re.findall(r"团队\d{3}", first))
    shown_more = set(re.findall(r"团队\d{3}", fragment))
    assert shown_first and shown_more and not shown_first & shown_more
    assert len(shown_first | shown_more) == 60


def test_column_chooser_is_remembered(client, seed):
    html = text(client.get("/e/customer?cols=name&cols=mobile"))
    assert re.findall(r'<th scope="col"', html).__len__() == 2
    html = text(client.get("/e/customer"))
    assert re.findall(r'<th scope="col"', html).__len__() == 2


def test_detail_page(client, seed):
    html = text(client.get(f"/e/customer/{seed['c1']}"))
    assert "王芳" in html and "张伟" in html and "11010519491231002X" in html
    assert "资金账户" in html  # related list from the form
    assert "history" in html.lower() or "历史" in html


def test_create_with_errors_shows_them_beside_fields(client, seed):
    r = client.post(
        "/e/customer/new",
        data={"customer_no": "12", "name": "", "id_type": "cn_id", "id_number": "110105194912310039", "email": "x"},
    )
    assert r.status_code == 422
    html = text(r)
    assert html.count("invalid-feedback") >= 4
    assert 'value="12"' in html  # what the user typed is kept
    assert "form-errors" in html


def test_create_then_redirect_to_detail(client, seed):
    r = client.post(
        "/e/customer/new",
        data={
            "customer_no": "320000000077",
            "name": "新开户",
            "id_type": "passport",
            "id_number": "E77777777",
            "customer_type": "individual",
            "investor_category": "ordinary",
            "total_assets": "1",
            "marketing_dnd": ["false", "true"],
            "tags": "新开户, 港股通",
            "primary_manager": str(seed["emp1"]),
        },
    )
    assert r.status_code == 303, text(r)
    detail = text(client.get(r.headers["Location"]))
    assert "新开户" in detail and "港股通" in detail and "张伟" in detail


def test_edit_conflict_shows_what_the_other_person_changed(client, api, seed):
    form = text(client.get(f"/e/customer/{seed['c2']}/edit"))
    assert 'name="_version" value="1"' in form
    api.patch(f"/api/v1/records/customer/{seed['c2']}", json={"name": "刘强强"}, headers={"If-Match": "1"})
    r = client.post(
        f"/e/customer/{seed['c2']}/edit",
        data={
            "_version": "1",
            "name": "我改的",
            "customer_no": "310000000002",
            "id_type": "cn_id",
            "id_number": "110105194912310038",
        },
    )
    assert r.status_code == 409
    html = text(r)
    assert "刘强强" in html and 'value="我改的"' in html and 'name="_version" value="2"' in html
    again = client.post(
        f"/e/customer/{seed['c2']}/edit",
        data={
            "_version": "2",
            "name": "我改的",
            "customer_no": "310000000002",
            "id_type": "cn_id",
            "id_number": "110105194912310038",
        },
    )
    assert again.status_code == 303


def test_saving_the_edit_form_reads_the_record_once(app, client, seed):
    """The save parses against the record it read and hands it to the update: one read of the
    row, one statement for all its multi-value fields (tags, preferences…)."""
    from support import captured_statements, form_data
    from werkzeug.datastructures import MultiDict

    url = f"/e/customer/{seed['c1']}/edit"
    pairs = [(k, "other" if k == "occupation" else v) for k, v in form_data(text(client.get(url)))]
    statements = [q for q, _ in captured_statements(app, lambda: client.post(url, data=MultiDict(pairs)))]
    assert [q for q in statements if q.startswith("UPDATE crm_customer ")], statements  # it saved
    rows = [q for q in statements if q.startswith("SELECT crm_customer.id, crm_customer.version")]
    links = [q for q in statements if "crm_customer__" in q and q.startswith("SELECT")]
    assert len(rows) == 1 and len(links) == 1, statements
    assert "UNION ALL" in links[0] and "crm_customer__tags" in links[0]


def test_inline_validation_fragment(client, seed):
    r = client.post("/e/customer/validate/mobile", data={"mobile": "12345"}, headers={"HX-Request": "true"})
    html = text(r)
    assert r.status_code == 200 and "<html" not in html and "invalid-feedback" in html and 'id="wrap-mobile"' in html
    r = client.post("/e/customer/validate/customer_no", data={"customer_no": "310000000001"})
    assert f"#{seed['c1']}" in text(r)
    r = client.post("/e/customer/validate/customer_no", data={"customer_no": "310000000001", "_id": str(seed["c1"])})
    assert "invalid-feedback" not in text(r)


def test_delete_with_confirmation(client, seed):
    page = text(client.get(f"/e/customer/{seed['c3']}/delete"))
    assert "陈静" in page and 'method="post"' in page
    r = client.post(f"/e/customer/{seed['c3']}/delete", data={"_version": "1"})
    assert r.status_code == 303
    assert client.get(f"/e/customer/{seed['c3']}").status_code == 404


def test_delete_refused_while_referenced(client, seed):
    r = client.post(f"/e/employee/{seed['emp1']}/delete", data={"_version": "1"})
    assert r.status_code == 409 and "alert-warning" in text(r)


@pytest.mark.parametrize(
    "url",
    ["/e/nope", "/e/customer/999999", "/e/customer/99999999999999999999", "/e/customer/abc", "/e/customer/1/nope"],
)
def test_missing_pages_are_friendly_404s(client, url):
    r = client.get(url)
    assert r.status_code == 404
    assert "<html" in text(r) and "Traceback" not in text(r)


def test_security_headers(client):
    r = client.get("/e/customer")
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Frame-Options"] == "DENY"
    assert "<script>" not in text(r)  # no inline script anywhere


def test_csrf_is_enforced_for_session_posts(app, seed):
    from support import login

    app.config["WTF_CSRF_ENABLED"] = True
    c = app.test_client()
    login(c, "admin")
    r = c.post(f"/e/customer/{seed['c3']}/delete", data={"_version": "1"})
    assert r.status_code == 400
    form = text(c.get(f"/e/customer/{seed['c3']}/delete"))
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    assert c.post(f"/e/customer/{seed['c3']}/delete", data={"_version": "1", "csrf_token": token}).status_code == 303
    api = c.patch(f"/api/v1/records/customer/{seed['c1']}", json={"name": "x"}, headers={"If-Match": "1"})
    assert api.status_code == 400 and api.json["error"]["code"] == "csrf_failed"


def test_saving_an_untouched_form_changes_nothing(client, api, seed):
    from support import form_data
    from werkzeug.datastructures import MultiDict

    url = f"/api/v1/records/customer/{seed['c1']}"
    api.patch(url, json={"last_contact_at": "2026-09-04T09:15:42.250Z", "tags": ["高频交易", "VIP"], "_version": 1})
    before = api.get(url).json
    html = client.get(f"/e/customer/{seed['c1']}/edit").get_data(as_text=True)
    r = client.post(f"/e/customer/{seed['c1']}/edit", data=MultiDict(form_data(html)))
    assert r.status_code == 303, r.get_data(as_text=True)[:2000]
    after = api.get(url).json
    assert after == before  # same version, same values, no history entry
