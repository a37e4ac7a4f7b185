"""The list page's filter builder, saved views, bulk actions and quick edit (HTTP level)."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl, urlsplit

import pytest
import sqlalchemy as sa
from support import login
from werkzeug.datastructures import MultiDict


def names(html: str) -> set[str]:
    return set(re.findall(r'<a class="fw-semibold" href="/e/customer/\d+">([^<]+)</a>', html))


def shown_condition(html: str) -> dict | None:
    found = re.search(r'<details class="mt-2 small scrm-condition">.*?<code>(.*?)</code>', html, re.S)
    if not found:
        return None
    import html as html_module

    return json.loads(html_module.unescape(found.group(1)))


# -- the filter builder ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "query, expected, leaf",
    [
        ("w0_f=name&w0_o=contains&w0_v=芳", {"王芳"}, {"field": "name", "op": "contains", "value": "芳"}),
        ("w0_f=asset_tier&w0_o=in&w0_v=hnw&w0_v=wealth", {"王芳", "陈静"},
         {"field": "asset_tier", "op": "in", "value": ["hnw", "wealth"]}),
        ("w0_f=asset_tier&w0_o=ne&w0_v=mass", {"王芳", "陈静"}, {"field": "asset_tier", "op": "ne", "value": "mass"}),
        ("w0_f=tags&w0_o=has_any&w0_v=价值投资", {"王芳"}, {"field": "tags", "op": "has_any", "value": ["价值投资"]}),
        ("w0_f=tags&w0_o=is_empty", {"刘强", "陈静"}, {"field": "tags", "op": "is_empty"}),
        ("w0_f=customer_no&w0_o=ends_with&w0_v=0002", {"刘强"},
         {"field": "customer_no", "op": "ends_with", "value": "0002"}),
        ("w0_f=created_at&w0_o=within_last&w0_v=7", {"王芳", "刘强", "陈静"},
         {"field": "created_at", "op": "within_last", "value": "7d"}),
    ],
)  # fmt: skip
def test_builder_rows_become_a_condition(client, seed, query, expected, leaf):
    html = client.get(f"/e/customer?{query}").get_data(as_text=True)
    assert names(html) == expected
    assert shown_condition(html) == {"all": [{"all": [leaf]}]}


def test_builder_match_any_and_the_filter_bar_combine(client, seed):
    query = "f_asset_tier=hnw&w_m=any&w0_f=name&w0_o=eq&w0_v=王芳&w1_f=name&w1_o=eq&w1_v=刘强"
    html = client.get(f"/e/customer?{query}").get_data(as_text=True)
    assert names(html) == {"王芳"}
    condition = shown_condition(html)
    assert condition["all"][0] == {"field": "asset_tier", "op": "eq", "value": "hnw"}
    assert list(condition["all"][1]) == ["any"]


@pytest.mark.parametrize(
    "query, message",
    [
        ("w0_f=total_assets&w0_o=gt&w0_v=lots", "总资产"),
        ("w0_f=opened_at&w0_o=within_last&w0_v=-3", "3660"),
        ("w0_f=total_assets&w0_o=between&w0_v=5", "两端"),
    ],
)
def test_bad_builder_values_are_reported_on_their_row(client, seed, query, message):
    response = client.get(f"/e/customer?{query}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert message in html
    assert 'class="invalid-feedback d-block small"' in html
    assert len(names(html)) == 3  # the bad row is left out, the list still answers


def test_builder_adds_and_removes_rows_over_htmx(client, seed):
    headers = {"HX-Request": "true", "HX-Target": "filter-builder"}
    added = client.get("/e/customer?w_add=1", headers=headers).get_data(as_text=True)
    assert added.lstrip().startswith('<div id="filter-builder"')
    assert 'name="w0_f"' in added and 'name="w1_f"' not in added
    response = client.get("/e/customer?w0_f=name&w0_o=contains&w0_v=王&w_del=0", headers=headers)
    assert 'name="w0_f"' not in response.get_data(as_text=True)
    assert response.headers["HX-Trigger"] == "scrm:filters-changed"


def test_operators_follow_the_field_type(client, seed):
    html = client.get("/e/customer?w0_f=asset_tier&w0_o=contains").get_data(as_text=True)
    row = html[html.index('name="w0_o"') : html.index("</select>", html.index('name="w0_o"'))]
    assert 'value="contains"' not in row and 'value="in" ' not in row
    assert '<option value="eq" selected>' in row  # an operator the type lacks falls back to its first


def test_fields_the_user_may_not_read_are_not_offered(am_client, seed):
    html = am_client.get("/e/customer?w0_f=id_number&w0_o=eq&w0_v=110105194912310038").get_data(as_text=True)
    assert '<option value="id_number"' not in html
    assert shown_condition(html) is None


def test_sort_links_and_more_keep_the_builder_canonical(client, seed):
    html = client.get("/e/customer?w3_f=name&w3_o=contains&w3_v=王&w_add=1").get_data(as_text=True)
    link = re.search(r'class="scrm-sort" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    params = parse_qsl(urlsplit(link).query)
    assert ("w0_f", "name") in params and ("w0_v", "王") in params
    assert not any(k in ("w_add", "w3_f") for k, _v in params)


# -- saved views ----------------------------------------------------------------------------
def save_view(client, name, query, shared=False):
    """Post the save form as htmx does: the filter form's fields included."""
    form = MultiDict(parse_qsl(query))
    form.setdefault("sort", "-total_assets")
    form.setdefault("q", "")
    form["name"] = name
    if shared:
        form["shared"] = "on"
    return client.post("/e/customer/views", data=form)


def view_id_of(response) -> str:
    return dict(parse_qsl(urlsplit(response.headers["Location"]).query))["view"]


def test_save_and_reopen_a_personal_view(client, seed):
    response = save_view(client, "我的高净值", "f_asset_tier=hnw&cols=name&cols=asset_tier&sort=name")
    assert response.status_code == 302
    target = response.headers["Location"]
    assert "view=" in target
    html = client.get(target).get_data(as_text=True)
    assert names(html) == {"王芳"}
    assert "我的高净值" in html and "View “我的高净值” saved." not in html  # flashed in Chinese
    view_id = int(view_id_of(response))
    reopened = client.get(f"/e/customer/views/{view_id}")
    assert reopened.status_code == 302
    html = client.get(reopened.headers["Location"]).get_data(as_text=True)
    assert names(html) == {"王芳"}
    assert re.findall(r'<th scope="col" class="text-nowrap[^"]*"', html).__len__() == 2  # the saved columns


def test_saving_under_the_same_name_replaces_the_view(client, app, seed):
    save_view(client, "A", "f_asset_tier=hnw")
    save_view(client, "A", "f_asset_tier=mass")
    with app.app_context():
        from scrm.data.saved_views import SavedView
        from scrm.db import db

        views = db.session.execute(sa.select(SavedView)).scalars().all()
        assert [(v.name, json.loads(v.filter)) for v in views] == [
            ("A", {"all": [{"field": "asset_tier", "op": "eq", "value": "mass"}]})
        ]


def test_builder_state_is_saved_with_the_view(client, seed):
    response = save_view(client, "含王", "w0_f=name&w0_o=contains&w0_v=王")
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert names(html) == {"王芳"}
    assert 'name="w0_v" value="王"' in html


@pytest.mark.parametrize("name, message", [("", "请给视图起个名称"), ("x" * 61, "60")])
def test_view_names_are_checked(client, seed, name, message):
    response = save_view(client, name, "f_asset_tier=hnw")
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert message in html


def test_personal_views_are_private_and_shared_ones_need_the_right(client, am_client, app, seed):
    with app.app_context():
        from scrm.db import db, write_intent
        from scrm.security.users import create_user

        with write_intent():
            create_user("bm", "bm-pass-12345", ["branch_manager"], "营业部经理")
            db.session.commit()
    view = save_view(client, "管理员的私有视图", "f_asset_tier=hnw")
    private_id = view_id_of(view)
    assert am_client.get(f"/e/customer/views/{private_id}").status_code == 404
    refused = save_view(am_client, "想共享", "f_asset_tier=hnw", shared=True)
    assert "不能" in am_client.get(refused.headers["Location"]).get_data(as_text=True) or "may not" in (
        am_client.get(refused.headers["Location"]).get_data(as_text=True)
    )
    login(client, "bm")
    shared = save_view(client, "全行高净值", "f_asset_tier=hnw", shared=True)
    shared_id = view_id_of(shared)
    menu = am_client.get("/e/customer").get_data(as_text=True)
    assert "全行高净值" in menu and "营业部经理" in menu and "管理员的私有视图" not in menu
    assert am_client.get(f"/e/customer/views/{shared_id}").status_code == 302
    assert am_client.post(f"/e/customer/views/{shared_id}/delete").status_code == 302
    assert "全行高净值" in am_client.get("/e/customer").get_data(as_text=True)  # not the owner: not deleted


def test_owner_deletes_a_view(client, seed):
    response = save_view(client, "临时", "f_asset_tier=hnw")
    client.get(response.headers["Location"])  # the "saved" message is shown once
    view_id = view_id_of(response)
    deleted = client.post(f"/e/customer/views/{view_id}/delete")
    assert "“临时”已删除" in client.get(deleted.headers["Location"]).get_data(as_text=True)
    assert "临时" not in client.get("/e/customer").get_data(as_text=True)
    assert client.get(f"/e/customer/views/{view_id}").status_code == 404


# -- bulk actions ---------------------------------------------------------------------------
def bulk(client, action, ids, **values):
    return client.post("/e/customer/bulk", data={"action": action, "ids": [str(i) for i in ids], **values})


def test_bulk_assign_to_a_manager(client, api, seed):
    response = bulk(client, "assign", [seed["c1"], seed["c2"]], primary_manager=str(seed["emp2"]))
    assert response.status_code == 302
    for key in ("c1", "c2"):
        assert api.get(f"/api/v1/records/customer/{seed[key]}").get_json()["primary_manager"] == seed["emp2"]
    assert api.get(f"/api/v1/records/customer/{seed['c3']}").get_json()["primary_manager"] == seed["emp1"]
    assert "2 个已修改" in client.get(response.headers["Location"]).get_data(as_text=True)


@pytest.mark.parametrize(
    "action, before, after", [("tag_add", ["价值投资"], ["价值投资", "高频"]), ("tag_remove", ["价值投资"], [])]
)
def test_bulk_tags(client, api, seed, action, before, after):
    tag = "高频" if action == "tag_add" else "价值投资"
    bulk(client, action, [seed["c1"], seed["c2"]], tag=tag)
    assert api.get(f"/api/v1/records/customer/{seed['c1']}").get_json()["tags"] == after
    expected_c2 = ["高频"] if action == "tag_add" else []
    assert api.get(f"/api/v1/records/customer/{seed['c2']}").get_json()["tags"] == expected_c2


def test_bulk_reports_records_outside_the_scope(am_client, api, seed):
    other = api.post(
        "/api/v1/records/customer",
        json={"customer_no": "310000000009", "name": "赵敏", "id_type": "cn_id", "id_number": "110105195001010063",
              "asset_tier": "mass", "primary_manager": seed["emp2"], "servicing_org": seed["branch"]},
    ).get_json()["id"]  # fmt: skip
    response = bulk(am_client, "tag_add", [other], tag="重点")
    html = am_client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"#{other}" in html and "1 个未修改" in html
    assert api.get(f"/api/v1/records/customer/{other}").get_json()["tags"] == []


def test_bulk_export_selected_goes_to_the_export_page(client, seed):
    response = bulk(client, "export", [seed["c1"], seed["c3"]])
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "2" in page
    assert f"&#34;value&#34;: [{seed['c1']}, {seed['c3']}]" in page or f'"value": [{seed["c1"]}, {seed["c3"]}]' in page


@pytest.mark.parametrize(
    "form, message",
    [
        ({"action": "assign", "primary_manager": "999999"}, 400),
        ({"action": "explode"}, 400),
        ({"action": "tag_add"}, 400),
    ],
)
def test_bad_bulk_requests_are_refused_before_any_change(client, api, seed, form, message):
    response = client.post("/e/customer/bulk", data={**form, "ids": [str(seed["c1"])]})
    assert response.status_code == message
    assert api.get(f"/api/v1/records/customer/{seed['c1']}").get_json()["tags"] == ["价值投资"]


# -- quick edit -----------------------------------------------------------------------------
def test_quick_edit_a_cell(client, api, seed):
    url = f"/e/customer/{seed['c2']}/cell/asset_tier"
    editor = client.get(url).get_data(as_text=True)
    assert editor.startswith('<td class="scrm-qe-editing"') or "scrm-qe-editing" in editor
    version = re.search(r'name="_version" value="(\d+)"', editor).group(1)
    saved = client.post(url, data={"value": "wealth", "_version": version}).get_data(as_text=True)
    assert "scrm-saved" in saved and "财富" in saved
    assert api.get(f"/api/v1/records/customer/{seed['c2']}").get_json()["asset_tier"] == "wealth"


def test_quick_edit_conflict_shows_the_other_value(client, api, seed):
    url = f"/e/customer/{seed['c2']}/cell/name"
    version = re.search(r'name="_version" value="(\d+)"', client.get(url).get_data(as_text=True)).group(1)
    api.patch(f"/api/v1/records/customer/{seed['c2']}", json={"name": "刘强强", "_version": int(version)})
    answer = client.post(url, data={"value": "刘小强", "_version": version}).get_data(as_text=True)
    assert "刘强强" in answer and 'value="刘小强"' in answer
    fresh = re.search(r'name="_version" value="(\d+)"', answer).group(1)
    assert fresh != version
    client.post(url, data={"value": "刘小强", "_version": fresh})
    assert api.get(f"/api/v1/records/customer/{seed['c2']}").get_json()["name"] == "刘小强"


def test_quick_edit_validation_message_stays_in_the_cell(client, api, seed):
    url = f"/e/customer/{seed['c2']}/cell/investment_experience_years"
    version = re.search(r'name="_version" value="(\d+)"', client.get(url).get_data(as_text=True)).group(1)
    answer = client.post(url, data={"value": "很多", "_version": version}).get_data(as_text=True)
    assert "is-invalid" in answer and 'role="alert"' in answer
    assert 'value="很多"' in answer


@pytest.mark.parametrize("field", ["id_number", "tags", "primary_manager", "total_assets", "age", "nonexistent"])
def test_quick_edit_only_for_simple_writable_fields(client, seed, field):
    assert client.get(f"/e/customer/{seed['c1']}/cell/{field}").status_code == 404


def test_list_marks_quick_editable_cells_and_row_checkboxes(client, seed):
    html = client.get("/e/customer").get_data(as_text=True)
    assert 'class="scrm-qe" data-f="name"' in html or 'data-f="name"' in html
    assert 'data-f="tags"' not in html
    assert html.count('name="ids"') == 3
    assert 'id="bulk-form"' in html


def test_bulk_assign_by_typed_name_without_javascript(client, api, seed):
    response = bulk(client, "assign", [seed["c3"]], **{"_label_primary_manager": "李娜"})
    assert response.status_code == 302
    assert api.get(f"/api/v1/records/customer/{seed['c3']}").get_json()["primary_manager"] == seed["emp2"]


def test_bulk_assign_type_ahead_offers_the_forms_choices(client, seed):
    html = client.post("/e/customer/choices/primary_manager", data={"_label_primary_manager": "李", "action": "assign"})
    assert "李娜" in html.get_data(as_text=True) and "张伟" not in html.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/e/customer/bulk", "/e/customer/views"])
def test_a_page_get_on_a_post_only_address_is_a_friendly_405(client, path):
    response = client.get(path)
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    assert "<!doctype html>" in response.get_data(as_text=True).lower()
