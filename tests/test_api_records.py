"""REST API for records: JSON in and out, tokens, ETag/If-Match, 409 with the current record."""

import json

import pytest

BODY = {
    "customer_no": "320000000001",
    "name": "接口客户",
    "id_type": "cn_id",
    "id_number": "440303198001011232",
    "asset_tier": "wealth",
    "tags": ["ETF偏好"],
}


def test_token_from_username_and_password(anon):
    r = anon.post("/api/v1/auth/token", json={"username": "admin", "password": "Secret-pass-123"})
    assert r.status_code == 201
    token = r.json["token"]
    assert anon.get("/api/v1/records/customer", headers={"Authorization": f"Bearer {token}"}).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"username": "admin", "password": "wrong"},
        {"username": "nobody", "password": "x"},
        {"username": ["admin"], "password": 1},
        {},
    ],
)
def test_wrong_credentials_are_401(anon, body):
    r = anon.post("/api/v1/auth/token", json=body)
    assert r.status_code == 401
    assert r.json["error"]["code"] == "invalid_credentials"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}])
def test_api_needs_authentication(anon, headers):
    r = anon.get("/api/v1/records/customer", headers=headers)
    assert r.status_code == 401
    assert set(r.json["error"]) == {"code", "message", "details"}


def test_create_get_patch_delete(api, seed):
    r = api.post("/api/v1/records/customer", json=BODY)
    assert r.status_code == 201, r.json
    record = r.json
    assert r.headers["Location"].endswith(f"/customer/{record['id']}")
    assert r.headers["ETag"] == '"1"'
    assert record["tags"] == ["ETF偏好"] and record["version"] == 1
    r = api.patch(f"/api/v1/records/customer/{record['id']}", json={"name": "改名"}, headers={"If-Match": '"1"'})
    assert r.status_code == 200 and r.json["name"] == "改名" and r.json["version"] == 2
    r = api.patch(f"/api/v1/records/customer/{record['id']}", json={"risk_level": "C3", "_version": 2})
    assert r.status_code == 200 and r.json["risk_level"] == "C3"
    assert api.delete(f"/api/v1/records/customer/{record['id']}").status_code == 204
    assert api.get(f"/api/v1/records/customer/{record['id']}").status_code == 404


def test_stale_patch_is_409_and_the_other_writer_wins(api, seed):
    url = f"/api/v1/records/customer/{seed['c1']}"
    assert api.patch(url, json={"name": "甲的修改"}, headers={"If-Match": "1"}).status_code == 200
    r = api.patch(url, json={"name": "乙的修改"}, headers={"If-Match": "1"})
    assert r.status_code == 409
    assert r.json["error"]["code"] == "conflict"
    assert r.json["error"]["current"]["name"] == "甲的修改"
    assert r.json["error"]["current"]["version"] == 2
    assert api.get(url).json["name"] == "甲的修改"


def test_patch_without_version_is_400(api, seed):
    r = api.patch(f"/api/v1/records/customer/{seed['c1']}", json={"name": "x"})
    assert r.status_code == 400 and r.json["error"]["code"] == "version_required"


def test_full_record_can_be_sent_back_unchanged(api, seed):
    record = api.get(f"/api/v1/records/customer/{seed['c1']}").json
    record["name"] = "整条回写"
    r = api.patch(f"/api/v1/records/customer/{seed['c1']}", json=record)
    assert r.status_code == 200, r.json
    assert r.json["name"] == "整条回写"


def test_validation_errors_are_422_with_field_paths(api, seed):
    r = api.post("/api/v1/records/customer", json={**BODY, "asset_tier": "rich", "birth_date": "yesterday"})
    assert r.status_code == 422
    paths = {d["path"] for d in r.json["error"]["details"]}
    assert paths == {"asset_tier", "birth_date"}


def test_decimals_travel_as_strings_and_numbers_are_exact(api, seed):
    acc = api.post(
        "/api/v1/records/account",
        json={"fund_account_no": "10000009", "customer": seed["c1"], "commission_rate": 0.00025},
    ).json
    assert acc["commission_rate"] == "0.000250"


def test_list_with_filter_sort_and_cursor(api, seed):
    flt = json.dumps({"field": "asset_tier", "op": "in", "value": ["hnw", "wealth"]})
    r = api.get("/api/v1/records/customer", query_string={"filter": flt, "sort": "name", "limit": 1})
    assert r.status_code == 200
    first = r.json
    assert len(first["items"]) == 1 and first["next"]
    second = api.get(
        "/api/v1/records/customer", query_string={"filter": flt, "sort": "name", "limit": 1, "after": first["next"]}
    ).json
    assert second["next"] is None
    assert {first["items"][0]["id"], second["items"][0]["id"]} == {seed["c1"], seed["c3"]}


@pytest.mark.parametrize(
    "query, code",
    [
        ({"filter": "{not json"}, "invalid_filter"),
        ({"filter": "[1]"}, "invalid_filter"),
        ({"limit": "ten"}, "invalid_limit"),
        ({"limit": "0"}, "invalid_limit"),
        ({"limit": "100000"}, "invalid_limit"),
        ({"sort": "nope"}, "invalid_sort"),
        ({"after": "garbage"}, "invalid_cursor"),
        ({"filter": json.dumps({"field": "x", "op": "eq", "value": 1})}, "invalid_filter"),
    ],
)
def test_bad_list_parameters_are_400(api, seed, query, code):
    r = api.get("/api/v1/records/customer", query_string=query)
    assert r.status_code == 400
    assert r.json["error"]["code"] == code


@pytest.mark.parametrize(
    "method, path, kwargs, status",
    [
        ("post", "/api/v1/records/customer", {"data": "{bad json", "content_type": "application/json"}, 400),
        ("post", "/api/v1/records/customer", {"data": "[]", "content_type": "application/json"}, 400),
        ("post", "/api/v1/records/customer", {"data": "", "content_type": "application/json"}, 400),
        ("post", "/api/v1/records/customer", {"data": "\xff\xfe", "content_type": "application/json"}, 400),
        ("get", "/api/v1/records/nope", {}, 404),
        ("get", "/api/v1/records/customer/99999999999999999999", {}, 404),
        ("get", "/api/v1/records/customer/0", {}, 404),
        ("put", "/api/v1/records/customer/1", {"json": {}}, 405),
        ("patch", "/api/v1/records/customer/1", {"json": {"name": "x"}, "headers": {"If-Match": "abc"}}, 400),
        ("delete", "/api/v1/records/customer/1", {"headers": {"If-Match": "7"}}, 409),
    ],
)
def test_bad_requests_never_500(api, seed, method, path, kwargs, status):
    r = getattr(api, method)(path, **kwargs)
    assert r.status_code == status, r.data
    assert set(r.json["error"]) >= {"code", "message", "details"}
    assert "Traceback" not in r.get_data(as_text=True)


def test_history_endpoint(api, seed):
    api.patch(f"/api/v1/records/customer/{seed['c1']}", json={"name": "新名"}, headers={"If-Match": "1"})
    items = api.get(f"/api/v1/records/customer/{seed['c1']}/history").json["items"]
    assert items[0]["field"] == "name" and items[0]["old"] == "王芳" and items[0]["new"] == "新名"


@pytest.mark.parametrize(
    "query, status",
    [
        ({"filter": json.dumps({"field": "name", "op": ["eq"], "value": "a"})}, 400),
        ({"filter": json.dumps({"field": "name", "op": "contains", "value": "x" * 5000})}, 400),
        ({"q": "²"}, 200),
        ({"q": "x" * 5000}, 200),
        ({"sort": "marketing_dnd"}, 200),
    ],
)
def test_odd_list_parameters(api, seed, query, status):
    assert api.get("/api/v1/records/customer", query_string=query).status_code == status


@pytest.mark.parametrize("value", ["9998-12-31T23:00:00-12:00", "1900-01-01T00:00+14:00", "0001-01-01T00:00Z"])
def test_datetimes_outside_the_supported_years_are_refused(api, seed, value):
    r = api.patch(f"/api/v1/records/customer/{seed['c1']}", json={"last_contact_at": value, "_version": 1})
    assert r.status_code == 422 and r.json["error"]["details"][0]["path"] == "last_contact_at"
