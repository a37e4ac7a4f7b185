"""Web security: script in data and in admin-defined labels renders escaped, state-changing
requests need the CSRF token, and SQL in filters, sorts and searches is inert."""

from __future__ import annotations

import json

import pytest
from support import login

PAYLOADS = ['<script>alert("x")</script>', '"><img src=x onerror=alert(1)>', "<svg/onload=alert(1)>"]


def body(r) -> str:
    return r.get_data(as_text=True)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_script_in_every_text_field_renders_escaped(client, api, seed, payload):
    cid = seed["c1"]
    version = api.get(f"/api/v1/records/customer/{cid}").json["version"]
    values = {"name": payload, "notes": payload, "address": payload, "employer": payload, "_version": version}
    r = api.patch(f"/api/v1/records/customer/{cid}", json=values)
    assert r.status_code == 200, r.json
    pages = [
        client.get("/e/customer", query_string={"cols": "name,address,employer"}),
        client.get(f"/e/customer/{cid}"),
        client.get(f"/e/customer/{cid}/edit"),
        client.post("/e/interaction/choices/customer", data={"_label_customer": payload[:5]}),
        client.get(f"/e/employee/{seed['emp1']}"),  # the customer in a related list
        client.get("/e/customer", query_string={"q": payload}),  # the search box repeats it
    ]
    for page in pages:
        assert page.status_code == 200
        assert payload not in body(page), page.request.path
    assert "&lt;" in body(pages[1])


def test_admin_defined_labels_render_escaped(client, api):
    label = '<img src=x onerror=alert("label")>'
    doc = {
        "kind": "entity", "name": "probe_xss", "label": {"zh-CN": label, "en": label},
        "nav": {"group": {"zh-CN": label, "en": label}},
        "fields": [{"name": "title", "type": "string", "label": {"zh-CN": label, "en": label},
                    "help": {"zh-CN": label, "en": label}},
                   {"name": "kind", "type": "enum", "options": [{"value": "a", "label": {"zh-CN": label, "en": label}}]}],
    }  # fmt: skip
    assert api.put("/api/v1/definitions/entity/probe_xss", json=doc).status_code == 200
    assert api.post("/api/v1/definitions/entity/probe_xss/publish").status_code == 200
    record = api.post("/api/v1/records/probe_xss", json={"title": "t", "kind": "a"}).json
    for path in (
        "/",
        "/e/probe_xss",
        "/e/probe_xss/new",
        f"/e/probe_xss/{record['id']}",
        f"/e/probe_xss/{record['id']}/edit",
    ):
        r = client.get(path)
        assert r.status_code == 200, path
        assert label not in body(r), path


@pytest.fixture
def guarded(app):
    app.config["WTF_CSRF_ENABLED"] = True
    c = app.test_client()
    login(c, "admin")
    yield c
    app.config["WTF_CSRF_ENABLED"] = False


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("post", "/e/customer/new", {"customer_no": "310000000077", "name": "无令牌"}),
        ("post", "/e/customer/{c1}/edit", {"name": "无令牌", "_version": "1"}),
        ("post", "/e/customer/{c1}/delete", {"_version": "1"}),
        ("post", "/e/customer/{c1}/reveal", {"reason": "核实身份信息"}),
        ("post", "/logout", {}),
        ("post", "/e/customer/export", {"purpose": "无令牌导出", "fields": "name"}),
        ("post", "/exports/1/approve", {"note": "无令牌"}),
        ("post", "/exports/1/download", {}),
        ("post", "/api/v1/exports", None),
        ("post", "/api/v1/records/customer", None),
        ("patch", "/api/v1/records/customer/{c1}", None),
        ("delete", "/api/v1/records/customer/{c1}", None),
        ("put", "/api/v1/definitions/entity/probe", None),
    ],
)
def test_state_changing_requests_need_the_csrf_token(guarded, seed, method, path, data):
    url = path.format(c1=seed["c1"])
    if data is None:
        r = getattr(guarded, method)(url, json={"name": "无令牌", "_version": 1})
    else:
        r = getattr(guarded, method)(url, data=data)
    assert r.status_code == 400
    assert "csrf" in body(r).lower() or "expired" in body(r) or "过期" in body(r)


INJECTIONS = ["' OR '1'='1", "1; DROP TABLE crm_customer; --", "%' OR 1=1 --", '") OR ("a"="a', "\\'; SELECT 1; --"]


@pytest.mark.parametrize("payload", INJECTIONS)
def test_sql_in_filters_sorts_and_searches_is_inert(api, client, seed, payload):
    before = len(api.get("/api/v1/records/customer", query_string={"limit": 200}).json["items"])
    for condition in (
        {"field": "name", "op": "eq", "value": payload},
        {"field": "name", "op": "contains", "value": payload},
        {"field": "customer_no", "op": "in", "value": [payload, "310000000001"]},
    ):
        r = api.get("/api/v1/records/customer", query_string={"filter": json.dumps(condition)})
        assert r.status_code == 200
        assert all(item["customer_no"] == "310000000001" for item in r.json["items"])
    assert api.get("/api/v1/records/customer", query_string={"q": payload}).json["items"] == []
    assert api.get("/api/v1/records/customer", query_string={"sort": payload}).status_code == 400
    assert (
        api.get(
            "/api/v1/records/customer", query_string={"filter": json.dumps({"field": payload, "op": "eq", "value": 1})}
        ).status_code
        == 400
    )
    assert client.get("/e/customer", query_string={"q": payload, "sort": payload}).status_code == 200
    assert client.post("/e/interaction/choices/customer", data={"_label_customer": payload}).status_code == 200
    assert len(api.get("/api/v1/records/customer", query_string={"limit": 200}).json["items"]) == before


def test_api_tokens_expire_and_can_be_revoked(app, anon):
    import sqlalchemy as sa

    from scrm.db import db
    from scrm.security.users import ApiToken, find_user, issue_token

    with app.app_context():
        user = find_user("admin")
        token, short = issue_token(user, "revocable"), issue_token(user, "expiring", days=1)
        db.session.execute(sa.update(ApiToken).where(ApiToken.label == "expiring").values(expires_at=sa.func.now()))
        db.session.commit()

    def call(t, method="get", path="/api/v1/records/customer"):
        return getattr(anon, method)(path, headers={"Authorization": f"Bearer {t}"})

    assert call(token).status_code == 200
    assert call(short).status_code == 401  # expired
    assert call(token, "delete", "/api/v1/auth/token").status_code == 204
    assert call(token).status_code == 401  # revoked


@pytest.mark.parametrize(
    ("password", "message"),
    [("short1", "at least"), ("onlyletters", "letters and digits"), ("1234567890", "letters and digits"),
     ("zhangwei2026", "user name")],
)  # fmt: skip
def test_password_policy(ctx, password, message):
    from scrm.errors import BadRequest
    from scrm.security.users import create_user

    with pytest.raises(BadRequest, match=message):
        create_user("zhangwei", password, ["account_manager"])
