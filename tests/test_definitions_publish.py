"""Definitions through the API: drafts, publish with migration, rollback, and a second app
instance on the same database that sees a publish on its next request (no restart)."""

import copy
import json

import pytest


def customer_doc(api) -> dict:
    r = api.get("/api/v1/definitions/entity/customer")
    assert r.status_code == 200
    return r.json


def add_field(doc: dict, field: dict) -> dict:
    doc = copy.deepcopy(doc)
    doc["fields"].append(field)
    return doc


WECHAT = {"name": "wechat_id", "type": "string", "max_length": 64, "label": {"zh-CN": "微信号", "en": "WeChat ID"}}


def test_added_field_appears_in_column_form_api_and_second_instance(api, client, second_app, tokens, seed):
    other_api = second_app.test_client()  # a second worker on the same database, already warmed up
    headers = {"Authorization": f"Bearer {tokens['admin']}"}
    assert "wechat_id" not in other_api.get(f"/api/v1/records/customer/{seed['c1']}", headers=headers).json

    r = api.put("/api/v1/definitions/entity/customer", json=add_field(customer_doc(api), WECHAT))
    assert r.status_code == 200, r.json
    assert r.json["status"] == "draft"
    r = api.post("/api/v1/definitions/entity/customer/publish")
    assert r.status_code == 200, r.json
    assert any("wechat_id" in s for s in r.json["statements"])

    # the API field, in this worker and the other one
    for c in (api.client, other_api):
        patched = c.patch(
            f"/api/v1/records/customer/{seed['c1']}",
            json={
                "wechat_id": "wx_wangfang",
                "_version": c.get(f"/api/v1/records/customer/{seed['c1']}", headers=headers).json["version"],
            },
            headers=headers,
        )
        assert patched.status_code == 200, patched.json
        assert patched.json["wechat_id"] == "wx_wangfang"
    # the form input (auto-placed: the customer form does not list it, so the detail API and list show it)
    assert (
        "wechat_id"
        in other_api.get("/api/openapi.json", headers=headers).json["components"]["schemas"]["Customer"]["properties"]
    )
    page = client.get("/e/customer?cols=name&cols=wechat_id")
    assert "wx_wangfang" in page.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/e/customer", "/api/v1/records/customer/{c1}"])
def test_a_request_reads_the_revision_with_its_user_and_sees_another_workers_publish(
    app, client, second_app, tokens, seed, path
):
    """The definitions revision comes with the session user's statement (no statement of its
    own), and a publish by another worker is still seen on the very next request."""
    from support import ApiClient, captured_statements

    path = path.format(c1=seed["c1"])
    headers = {"Authorization": f"Bearer {tokens['admin']}"} if path.startswith("/api") else {}
    client.get(path, headers=headers)  # warm
    statements = captured_statements(app, lambda: client.get(path, headers=headers))
    reading = [q for q, _ in statements if "scrm_revision" in q]
    assert len(reading) == 1 and "scrm_user" in reading[0], reading

    other = ApiClient(second_app.test_client(), tokens["admin"])  # another worker publishes
    assert (
        other.put("/api/v1/definitions/entity/customer", json=add_field(customer_doc(other), WECHAT)).status_code == 200
    )
    assert other.post("/api/v1/definitions/entity/customer/publish").status_code == 200
    record = client.get(path, headers=headers)
    if path.startswith("/api"):
        assert "wechat_id" in record.json
    else:
        assert 'value="wechat_id"' in record.get_data(as_text=True)  # the column chooser offers it


def test_added_field_shows_up_in_the_form_when_the_form_places_it(api, client):
    doc = add_field(customer_doc(api), WECHAT)
    assert api.put("/api/v1/definitions/entity/customer", json=doc).status_code == 200
    assert api.post("/api/v1/definitions/entity/customer/publish").status_code == 200
    form = api.get("/api/v1/definitions/form/customer_form").json
    form["layout"]["items"][0]["items"][1]["items"].append({"type": "field", "field": "wechat_id"})
    assert api.put("/api/v1/definitions/form/customer_form", json=form).status_code == 200
    assert api.post("/api/v1/definitions/form/customer_form/publish").status_code == 200
    html = client.get("/e/customer/new").get_data(as_text=True)
    assert 'name="wechat_id"' in html


def test_bad_draft_is_refused_with_json_paths_and_nothing_changes(api):
    doc = customer_doc(api)
    broken = add_field(doc, {"name": "Bad Name", "type": "strng"})
    r = api.put("/api/v1/definitions/entity/customer", json=broken)
    assert r.status_code == 422
    index = len(doc["fields"])
    assert {d["path"] for d in r.json["error"]["details"]} == {f"$.fields[{index}].name", f"$.fields[{index}].type"}
    assert api.get("/api/v1/definitions/entity/customer?status=draft").status_code == 404
    assert api.get("/api/v1/definitions/entity/customer").json == doc


def test_publish_without_draft_is_404(api):
    r = api.post("/api/v1/definitions/entity/customer/publish")
    assert r.status_code == 404 and r.json["error"]["code"] == "no_draft"


def test_required_field_without_default_on_populated_table_is_refused(api, seed):
    doc = add_field(customer_doc(api), {"name": "must_have", "type": "string", "required": True})
    assert api.put("/api/v1/definitions/entity/customer", json=doc).status_code == 200
    r = api.post("/api/v1/definitions/entity/customer/publish")
    assert r.status_code == 422
    assert r.json["error"]["code"] == "migration_refused"
    assert r.json["error"]["details"][0]["path"] == "fields.must_have"
    assert "must_have" not in api.get(f"/api/v1/records/customer/{seed['c1']}").json


def test_required_field_with_default_is_backfilled(api, seed):
    doc = add_field(
        customer_doc(api),
        {"name": "segment", "type": "enum", "required": True, "default": "retail", "options": ["retail", "private"]},
    )
    api.put("/api/v1/definitions/entity/customer", json=doc)
    assert api.post("/api/v1/definitions/entity/customer/publish").status_code == 200
    assert api.get(f"/api/v1/records/customer/{seed['c1']}").json["segment"] == "retail"


def test_dry_run_publish_changes_nothing(api, seed):
    api.put("/api/v1/definitions/entity/customer", json=add_field(customer_doc(api), WECHAT))
    r = api.post("/api/v1/definitions/entity/customer/publish", json={"dry_run": True})
    assert r.status_code == 200 and r.json["dry_run"] is True
    assert any("wechat_id" in s for s in r.json["statements"])
    assert "wechat_id" not in customer_doc(api)["fields"][-1]["name"]
    assert api.get("/api/v1/definitions/entity/customer?status=draft").status_code == 200


def test_versions_and_rollback(api, seed):
    original = customer_doc(api)
    api.put("/api/v1/definitions/entity/customer", json=add_field(original, WECHAT))
    api.post("/api/v1/definitions/entity/customer/publish")
    versions = api.get("/api/v1/definitions/entity/customer/versions").json["items"]
    assert [v["status"] for v in versions] == ["published", "archived"]
    r = api.post("/api/v1/definitions/entity/customer/rollback", json={"version": versions[-1]["version"]})
    assert r.status_code == 200, r.json
    now = customer_doc(api)
    assert [f["name"] for f in now["fields"] if f.get("active", True)] == [f["name"] for f in original["fields"]]
    # the rolled-back field is deactivated, its column and data kept
    assert next(f for f in now["fields"] if f["name"] == "wechat_id")["active"] is False


@pytest.mark.parametrize(
    "kind, name, body, code",
    [
        ("entity", "customer", {"kind": "form", "name": "customer"}, "invalid_definition"),
        ("nope", "x", {}, "not_found"),
        (
            "form",
            "customer_form",
            {
                "kind": "form",
                "name": "customer_form",
                "entity": "nope",
                "layout": {"type": "section", "items": [{"type": "field", "field": "x"}]},
            },
            "invalid_definition",
        ),
    ],
)
def test_bad_definition_requests(api, kind, name, body, code):
    r = api.put(f"/api/v1/definitions/{kind}/{name}", json=body)
    assert r.json["error"]["code"] == code


def test_only_designers_change_definitions(am_api):
    r = am_api.put("/api/v1/definitions/entity/customer", json={"kind": "entity"})
    assert r.status_code == 403
    assert am_api.get("/api/v1/definitions/entity/customer").status_code == 200


def test_list_definitions(api):
    names = {d["name"] for d in api.get("/api/v1/definitions/entity").json["items"]}
    assert {"customer", "employee", "org_unit", "account", "trade", "security"} <= names


def test_stale_definition_save_is_409(api):
    r = api.get("/api/v1/definitions/entity/security")
    version = r.headers["X-Definition-Version"]
    doc = r.json
    assert api.put("/api/v1/definitions/entity/security", json=doc, headers={"If-Match": version}).status_code == 200
    stale = api.put("/api/v1/definitions/entity/security", json=doc, headers={"If-Match": version})
    assert stale.status_code == 409 and stale.json["error"]["current"]["status"] == "draft"


def test_fractional_numbers_in_definitions(api):
    doc = api.get("/api/v1/definitions/entity/account").json
    for f in doc["fields"]:
        if f["name"] == "commission_rate":
            f["max"] = 0.05
    assert api.put("/api/v1/definitions/entity/account", json=doc).status_code == 200
    assert api.post("/api/v1/definitions/entity/account/publish").status_code == 200
    raw = json.dumps(doc).replace("0.05", "1e400")
    r = api.put("/api/v1/definitions/entity/account", data=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json["error"]["code"] == "invalid_json"


def test_renamed_fields_keep_showing_in_lists(api, client, seed):
    doc = customer_doc(api)
    for f in doc["fields"]:
        if f["name"] == "name":
            f["name"] = "full_name"
    assert api.put("/api/v1/definitions/entity/customer", json=doc).status_code == 200
    assert api.post("/api/v1/definitions/entity/customer/publish").status_code == 200
    html = client.get("/e/customer").get_data(as_text=True)
    assert "王芳" in html  # list.columns still says "name": it resolves to the renamed field
    assert api.get(f"/api/v1/records/customer/{seed['c1']}").json["full_name"] == "王芳"


def test_computed_fields_filter_and_sort_and_their_mistakes_are_caught(api, client):
    doc = api.get("/api/v1/definitions/entity/org_unit").json
    doc["fields"].append({"name": "lvl2", "type": "integer", "computed": {"field": "nope"}})
    r = api.put("/api/v1/definitions/entity/org_unit", json=doc)
    assert (
        r.status_code == 422
        and r.json["error"]["details"][0]["path"] == f"$.fields[{len(doc['fields']) - 1}].computed.field"
    )
    doc["fields"][-1]["computed"] = {"field": "name"}
    r = api.put("/api/v1/definitions/entity/org_unit", json=doc)
    assert r.json["error"]["details"][0]["code"] == "E-COND-009"
    doc["fields"][-1]["computed"] = {"calc": "mul", "args": [{"field": "level"}, 2]}
    doc["list"]["sort"] = "-lvl2"
    doc["relations"][0]["sort"] = "nonexistent"
    r = api.put("/api/v1/definitions/entity/org_unit", json=doc)
    assert r.status_code == 422 and r.json["error"]["details"][0]["path"] == "$.relations[0].sort"
    doc["relations"][0].pop("sort")
    assert api.put("/api/v1/definitions/entity/org_unit", json=doc).status_code == 200
    assert api.post("/api/v1/definitions/entity/org_unit/publish").status_code == 200
    everything = api.get("/api/v1/records/org_unit", query_string={"limit": 200}).json["items"]
    assert all(r["lvl2"] == (r["level"] * 2 if r["level"] is not None else None) for r in everything)
    flt = json.dumps({"field": "lvl2", "op": "gte", "value": 4})
    found = api.get("/api/v1/records/org_unit", query_string={"filter": flt, "limit": 200}).json["items"]
    assert {r["id"] for r in found} == {r["id"] for r in everything if r["level"] is not None and r["level"] >= 2}
    levels = [r["lvl2"] for r in api.get("/api/v1/records/org_unit", query_string={"sort": "-lvl2"}).json["items"]]
    assert [v for v in levels if v is not None] == sorted((v for v in levels if v is not None), reverse=True)
    assert client.get("/e/org_unit?f_lvl2__from=1").status_code == 200
