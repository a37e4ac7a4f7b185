"""The designer's pages through a browser-like client: index, every tab of a document, the
entity and form editors, the JSON view with live validation, publish and roll back, bundles —
and that only designers get in."""

import io
import json
import re

import pytest
from support import csrf, post

SHOW_IF_PERSON = [("rule0:r:t", "group"), ("rule0:r:m", "all"), ("rule0:r.0:t", "leaf"), ("rule0:r.0:f", "customer_type"),
                  ("rule0:r.0:o", "eq"), ("rule0:r.0:v", "individual"), ("rule1:r:t", "group"), ("rule1:r:m", "all")]  # fmt: skip
WECHAT_FORM = {"name": "wechat_id", "label": "微信号", "label_en": "WeChat ID", "type": "string", "max_length": "64"}


@pytest.mark.parametrize("kind", ["entity", "form", "workflow", "alert", "dashboard", "role"])
def test_the_index_lists_each_kind(client, kind):
    page = client.get(f"/design/?kind={kind}")
    assert page.status_code == 200
    assert 'id="design-docs"' in page.get_data(as_text=True)


@pytest.mark.parametrize("tab", ["edit", "json", "diff", "history", "publish"])
@pytest.mark.parametrize("kind, name", [("entity", "customer"), ("form", "customer_form"), ("alert", "alr_birthday")])
def test_every_tab_renders(client, kind, name, tab):
    page = client.get(f"/design/{kind}/{name}?tab={tab}")
    assert page.status_code == 200, page.get_data(as_text=True)[:500]


def test_an_account_manager_is_kept_out(am_client):
    assert am_client.get("/design/").status_code == 403
    assert am_client.get("/design/entity/customer").status_code == 403


def test_add_place_publish_and_roll_back_through_the_pages(app, client, am_client, am_owns_c1):
    seed = am_owns_c1
    page = client.get("/design/entity/customer").get_data(as_text=True)
    r = post(client, "/design/entity/customer/fields", page, WECHAT_FORM)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'id="field-wechat_id"' in html and 'id="draft-badge"' in html
    diff = client.get("/design/entity/customer?tab=diff").get_data(as_text=True)
    assert "$.fields[wechat_id]" in diff
    plan = client.get("/design/entity/customer?tab=publish").get_data(as_text=True)
    assert 'id="migration-steps"' in plan and "wechat_id" in plan
    published = post(client, "/design/entity/customer/publish", plan, {}, base=False)
    assert published.status_code == 200 and "wechat_id" in client.get("/api/v1/definitions/entity/customer").get_data(
        as_text=True
    )

    form_page = client.get("/design/form/customer_form").get_data(as_text=True)
    section = re.search(r'<option value="([0-9.]+)">[^<]*联系方式', form_page)
    r = post(client, "/design/form/customer_form/place", form_page, {"field": "wechat_id", "section": section.group(1)})
    panel = r.get_data(as_text=True)
    assert r.status_code == 200 and 'id="node-panel"' in panel  # the placed field's panel opens
    address = re.search(r'id="node-rules">.*?name="address" value="([0-9.]+)"', panel, re.S).group(1)
    r = post(
        client, "/design/form/customer_form/rules", panel, [("address", address), ("effect0", "show"), *SHOW_IF_PERSON]
    )
    assert r.status_code == 200
    draft = client.get("/api/v1/definitions/form/customer_form?status=draft").json
    placed = [i for tab in draft["layout"]["items"] for s in tab["items"] for i in s.get("items", [])
              if i.get("field") == "wechat_id"]  # fmt: skip
    assert placed == [{"type": "field", "field": "wechat_id", "rules": [
        {"effect": "show", "when": {"all": [{"field": "customer_type", "op": "eq", "value": "individual"}]}}]}]  # fmt: skip
    plan = client.get("/design/form/customer_form?tab=publish").get_data(as_text=True)
    post(client, "/design/form/customer_form/publish", plan, {}, base=False)
    # the account manager's form has the input now: no restart
    edit = am_client.get(f"/e/customer/{seed['c1']}/edit").get_data(as_text=True)
    assert 'name="wechat_id"' in edit

    customer = am_client.get(f"/api/v1/records/customer/{seed['c1']}").json  # session: the AM's own view
    saved = am_client.patch(f"/api/v1/records/customer/{seed['c1']}", json={"wechat_id": "wx_wangfang"},
                            headers={"If-Match": str(customer["version"]), "X-CSRFToken": csrf(edit)})  # fmt: skip
    assert saved.status_code == 200, saved.json

    # rolling the entity back deactivates the field: off the form, its values kept
    history = client.get("/design/entity/customer?tab=history").get_data(as_text=True)
    earlier = min(int(v) for v in re.findall(r'id="rollback-(\d+)"', history))
    r = post(client, "/design/entity/customer/rollback", history, {"version": str(earlier)}, base=False)
    assert r.status_code == 200
    assert 'name="wechat_id"' not in am_client.get(f"/e/customer/{seed['c1']}/edit").get_data(as_text=True)
    assert stored_wechat_id(app, seed["c1"]) == "wx_wangfang"


def stored_wechat_id(app, customer_id: int):
    import sqlalchemy as sa

    from scrm.db import db

    with app.app_context():
        value = db.session.execute(
            sa.text("SELECT wechat_id FROM crm_customer WHERE id = :id"), {"id": customer_id}
        ).scalar_one()
        db.session.remove()
    return value


def test_a_field_an_alert_uses_cannot_be_deactivated_here(client):
    page = client.get("/design/entity/customer").get_data(as_text=True)
    r = post(client, "/design/entity/customer/fields/tenure_years/deactivate", page, {})
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and 'id="impact"' in html and "alert/alr_open_anniversary" in html
    assert client.get("/api/v1/definitions/entity/customer?status=draft").status_code == 404


def test_the_json_view_keeps_an_invalid_draft_and_refuses_to_publish(client):
    page = client.get("/design/entity/security?tab=json").get_data(as_text=True)
    doc = client.get("/api/v1/definitions/entity/security").json
    doc["fields"][0]["type"] = "no_such_type"
    live = client.post("/design/entity/security/check", data={"source": json.dumps(doc)},
                       headers={"HX-Request": "true", "X-CSRFToken": csrf(page)})  # fmt: skip
    assert live.status_code == 200 and "$.fields[0].type" in live.get_data(as_text=True)
    r = post(client, "/design/entity/security/json", page, {"source": json.dumps(doc)})
    html = r.get_data(as_text=True)
    assert 'id="draft-problems"' in html and "$.fields[0].type" in html
    plan = client.get("/design/entity/security?tab=publish").get_data(as_text=True)
    assert 'id="publish"' not in plan and "$.fields[0].type" in plan
    broken = post(client, "/design/entity/security/json", page, {"source": '{"kind": "entity",'})
    assert broken.status_code == 422 and "{&#34;kind&#34;: &#34;entity&#34;," in broken.get_data(as_text=True)


def test_a_second_designers_save_is_detected(client):
    page = client.get("/design/entity/security").get_data(as_text=True)  # both open the same version
    first = post(client, "/design/entity/security/fields", page, {"name": "isin", "label": "ISIN", "type": "string"})
    assert 'id="field-isin"' in first.get_data(as_text=True)
    second = post(client, "/design/entity/security/fields", page, {"name": "cusip", "label": "CUSIP", "type": "string"})
    html = second.get_data(as_text=True)
    assert "changed since you opened it" in html or "打开后" in html or "已被" in html
    assert 'id="field-cusip"' not in html and 'id="field-isin"' in html


def test_new_documents_and_bundle_import(client):
    index = client.get("/design/?kind=entity").get_data(as_text=True)
    r = post(client, "/design/new", index, {"kind": "entity", "name": "visit_log", "label": "拜访记录"}, base=False)
    assert r.status_code == 200 and 'id="entity-fields"' in r.get_data(as_text=True)
    bundle = client.get("/api/v1/definitions/bundle?item=entity/security").json
    bundle["items"][0]["body"]["label"] = {"zh-CN": "证券", "en": "Listed security"}
    page = client.get("/design/bundle").get_data(as_text=True)
    for mode in ("preview", "apply"):
        r = client.post("/design/bundle", data={"csrf_token": csrf(page), "mode": mode,
                        "bundle": (io.BytesIO(json.dumps(bundle).encode()), "b.json")},
                        content_type="multipart/form-data")  # fmt: skip
        assert r.status_code == 200 and "entity/security" in r.get_data(as_text=True)
    assert client.get("/api/v1/definitions/entity/security").json["label"]["en"] == "Listed security"
    bad = client.post("/design/bundle", data={"csrf_token": csrf(page), "mode": "preview",
                      "bundle": (io.BytesIO(b"not json"), "b.json")}, content_type="multipart/form-data")  # fmt: skip
    assert bad.status_code == 422 and 'id="bundle-report"' in bad.get_data(as_text=True)
