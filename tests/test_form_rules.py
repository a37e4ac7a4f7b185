"""Form rules decided by the server: regions shown and hidden on the page, swapped over htmx when
a field they depend on changes, and the same rules on every save (form and API)."""

import re

import pytest
from support import form_data
from werkzeug.datastructures import MultiDict

PROFESSIONAL = "professional_2"


def text(response) -> str:
    return response.get_data(as_text=True)


def region(html: str, key: str) -> str:
    """The opening tag of a rule region."""
    match = re.search(rf'<div[^>]*id="rule-{key}"[^>]*>', html)
    assert match, f"no region {key}"
    return match.group(0)


def field_key(html: str, name: str) -> str:
    """The region key around the input named ``name``."""
    at = html.index(f'name="{name}"')
    start = html.rindex('id="rule-', 0, at)
    return html[start + 9 : html.index('"', start + 9)]


def posted(html: str, **changes) -> MultiDict:
    """What the browser posts from the page, with ``changes`` made by the user."""
    out = MultiDict([(k, v) for k, v in form_data(html) if k not in changes])
    for k, v in changes.items():
        out.add(k, v)
    return out


def new_customer(**extra) -> dict:
    return {
        "customer_no": "310000009999",
        "name": "赵敏",
        "customer_type": "individual",
        "id_type": "cn_id",
        "id_number": "110105194912310011",
        "asset_tier": "mass",
        **extra,
    }


def test_a_region_whose_rule_does_not_hold_is_rendered_hidden_and_disabled(client):
    html = text(client.get("/e/customer/new"))
    key = field_key(html, "professional_cert_no")
    tag = region(html, key)
    assert " hidden" in tag
    after = html[html.index(tag) : html.index('name="professional_cert_no"')]
    assert "<fieldset disabled>" in after  # nothing of a hidden region is submitted
    assert f'name="_rs" value="{key}:heo"' in html


def test_changing_a_field_swaps_only_the_regions_whose_state_changed(client):
    html = text(client.get("/e/customer/new"))
    state = posted(html, investor_category=PROFESSIONAL)
    r = client.post("/e/customer/validate/investor_category", data=state, headers={"HX-Request": "true"})
    assert r.status_code == 200
    body = text(r)
    swapped = re.findall(r'id="rule-([^"]+)" hx-swap-oob="true"', body)
    cert = field_key(html, "professional_cert_no")
    until = field_key(html, "professional_valid_until")
    assert set(swapped) == {cert, until}  # not the individual/institution sections, which did not change
    cert_region = body[body.index(f'id="rule-{cert}"') :]
    assert "scrm-required" in cert_region.split("</div>")[0] + cert_region[:600]
    assert f'name="_rs" value="{cert}:ver"' in body


def test_nothing_is_swapped_when_no_state_changes(client):
    html = text(client.get("/e/customer/new"))
    r = client.post("/e/customer/validate/name", data=posted(html, name="赵敏"))
    assert "hx-swap-oob" not in text(r)


def test_inline_validation_applies_a_require_rule(client):
    html = text(client.get("/e/customer/new"))
    state = posted(html, investor_category=PROFESSIONAL, professional_cert_no="")
    r = client.post("/e/customer/validate/professional_cert_no", data=state)
    assert "invalid-feedback" in text(r)
    state = posted(html, investor_category=PROFESSIONAL, professional_cert_no="ZY1")
    r = client.post("/e/customer/validate/professional_cert_no", data=state)
    assert "invalid-feedback" not in text(r)


def test_a_required_rule_blocks_the_save_at_the_field(client):
    data = new_customer(investor_category=PROFESSIONAL, professional_valid_until="2027-06-30")
    r = client.post("/e/customer/new", data=data)
    assert r.status_code == 422
    html = text(r)
    cert = html[html.index('id="wrap-professional_cert_no"') :][:1500]
    assert "invalid-feedback" in cert
    r = client.post("/e/customer/new", data={**data, "professional_cert_no": "ZY2026000123"})
    assert r.status_code == 303


@pytest.mark.parametrize("via", ["form", "api"])
def test_values_for_hidden_fields_are_dropped_on_save(client, api, via):
    data = new_customer(professional_cert_no="ZY-SNEAKED-IN")  # an ordinary investor: the field is hidden
    if via == "form":
        r = client.post("/e/customer/new", data=data)
        assert r.status_code == 303
        record_id = int(r.headers["Location"].rsplit("/", 1)[1])
    else:
        r = api.post("/api/v1/records/customer", json=data)
        assert r.status_code == 201, r.get_json()
        record_id = r.get_json()["id"]
    saved = api.get(f"/api/v1/records/customer/{record_id}").get_json()
    assert saved.get("professional_cert_no") is None and saved["name"] == "赵敏"


def test_the_api_enforces_a_require_rule_at_its_path(api):
    r = api.post(
        "/api/v1/records/customer",
        json=new_customer(investor_category=PROFESSIONAL, professional_valid_until="2027-06-30"),
    )
    assert r.status_code == 422
    paths = [d["path"] for d in r.get_json()["error"]["details"]]
    assert "professional_cert_no" in paths


def test_an_update_keeps_a_stored_value_of_a_field_that_became_hidden(api):
    created = api.post(
        "/api/v1/records/customer",
        json=new_customer(
            investor_category=PROFESSIONAL, professional_valid_until="2027-06-30", professional_cert_no="ZY2026000001"
        ),
    ).get_json()
    r = api.patch(
        f"/api/v1/records/customer/{created['id']}",
        json={"investor_category": "ordinary", "professional_cert_no": "changed", "_version": created["version"]},
    )
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["investor_category"] == "ordinary" and body["professional_cert_no"] == "ZY2026000001"


def test_the_record_page_leaves_hidden_regions_out(client, api):
    created = api.post("/api/v1/records/customer", json=new_customer()).get_json()
    html = text(client.get(f"/e/customer/{created['id']}"))
    assert "专业投资者认定书编号" not in html and 'id="rule-' not in html
    assert "机构/产品信息" not in html  # the institution section is for institutions
