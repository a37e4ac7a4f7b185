"""The form editor: tabs and sections made in the browser, each item's settings and place, rules
written in the condition builder, and the live preview of the draft with a sample record."""

import re

import pytest
from support import post

FORM = "/design/form/customer_form"
DRAFT = "/api/v1/definitions/form/customer_form?status=draft"


def builder(prefix: str, field: str | None = None, op: str = "eq", value: str = "") -> list[tuple[str, str]]:
    rows = [(f"{prefix}:r:t", "group"), (f"{prefix}:r:m", "all")]
    if field:
        rows += [
            (f"{prefix}:r.0:t", "leaf"),
            (f"{prefix}:r.0:f", field),
            (f"{prefix}:r.0:o", op),
            (f"{prefix}:r.0:v", value),
        ]
    return rows


def last_child(layout: dict, address: str) -> dict:
    node = layout
    for part in filter(None, address.split(".")):
        node = node["items"][int(part)]
    return node["items"][-1]


def draft_node(client, address: str) -> dict:
    node = client.get(DRAFT).json["layout"]
    for part in address.split("."):
        node = node["items"][int(part)]
    return node


def unplace(client, field: str) -> None:
    """Take ``field`` off the customer form (so that it can start a new tab or section)."""
    page = client.get(FORM).get_data(as_text=True)
    address = re.search(rf'data-address="([0-9.]+)">\s*<div[^>]*>\s*<i[^>]*></i>\s*<a[^>]*>[^<]*</a>\s*'
                        rf'<span class="small text-muted font-monospace[^"]*">{field}\b', page).group(1)  # fmt: skip
    assert post(client, f"{FORM}/remove", page, {"address": address}).status_code == 200


@pytest.mark.parametrize(
    "data, where",
    [
        ({"type": "section", "parent": "1", "label": "微信", "label_en": "WeChat", "columns": "3"}, "1"),
        ({"type": "tab", "label": "社交", "label_en": "Social", "id": "social"}, ""),
    ],
)
def test_a_new_tab_or_section_starts_with_its_first_field(client, data, where):
    unplace(client, "email")
    page = client.get(FORM).get_data(as_text=True)
    r = post(client, f"{FORM}/add", page, {**data, "first_field": "email"})
    assert r.status_code == 200
    node = last_child(client.get(DRAFT).json["layout"], where)
    assert node["type"] == data["type"] and node["label"] == {"zh-CN": data["label"], "en": data["label_en"]}
    section = node if data["type"] == "section" else node["items"][0]
    assert section["items"] == [{"type": "field", "field": "email"}]
    assert section["columns"] == int(data.get("columns", 2))
    assert 'id="draft-problems"' not in r.get_data(as_text=True)  # complete from the start


@pytest.mark.parametrize(
    "data",
    [
        {"type": "section", "parent": "1", "first_field": "mobile"},  # already on the form
        {"type": "section", "parent": "1", "first_field": "email", "id": "identity"},  # id taken
        {"type": "section", "parent": "1", "first_field": "email", "id": "Bad id"},
        {"type": "section", "parent": "0.0.1", "first_field": "email"},  # into a field
    ],
)
def test_a_container_that_does_not_fit_is_refused(client, data):
    unplace(client, "email")
    before = client.get(DRAFT).json
    page = client.get(FORM).get_data(as_text=True)
    r = post(client, f"{FORM}/add", page, data)
    assert "alert-danger" in r.get_data(as_text=True)
    assert client.get(DRAFT).json == before


@pytest.mark.parametrize(
    "address, data, expected",
    [
        ("0.1", {"type": "section", "label": "联系", "label_en": "Contact", "columns": "3", "collapsed": "1"},
         {"label": {"zh-CN": "联系", "en": "Contact"}, "columns": 3, "collapsed": True}),
        ("0.1.2", {"type": "field", "widget": "text", "colspan": "2", "readonly": "1", "mode_edit": "1", "mode_view": "1",
                   "help": "工作邮箱", "help_en": "Work e-mail"},
         {"widget": "text", "colspan": 2, "readonly": True, "modes": ["edit", "view"],
          "help": {"zh-CN": "工作邮箱", "en": "Work e-mail"}}),
        ("0.1.2", {"type": "field", "mode_create": "1", "mode_edit": "1", "mode_view": "1", "colspan": "1"},
         {"field": "email", "type": "field"}),
    ],
)  # fmt: skip
def test_item_settings(client, address, data, expected):
    page = client.get(f"{FORM}?node={address}").get_data(as_text=True)
    assert 'id="node-settings"' in page
    r = post(client, f"{FORM}/node", page, {"address": address, **data})
    assert r.status_code == 200 and 'id="node-panel"' in r.get_data(as_text=True)
    node = draft_node(client, address)
    assert {k: node.get(k) for k in expected} == expected
    if data["type"] == "field" and "widget" not in data:
        assert set(node) == {"type", "field"}  # defaults leave the document


def test_a_field_shown_nowhere_is_refused(client):
    page = client.get(f"{FORM}?node=0.1.2").get_data(as_text=True)
    r = post(client, f"{FORM}/node", page, {"address": "0.1.2", "type": "field"})
    assert "alert-danger" in r.get_data(as_text=True)
    assert client.get(DRAFT).status_code == 404


@pytest.mark.parametrize(
    "address, container",
    [("0.1.2", "1.0"), ("0.3", "2")],
)
def test_move_into_another_container(client, address, container):
    moved = draft_or_published(client, address)
    page = client.get(f"{FORM}?node={address}").get_data(as_text=True)
    assert post(client, f"{FORM}/move-into", page, {"address": address, "container": container}).status_code == 200
    assert last_child(client.get(DRAFT).json["layout"], container) == moved


def draft_or_published(client, address: str) -> dict:
    node = client.get("/api/v1/definitions/form/customer_form").json["layout"]
    for part in address.split("."):
        node = node["items"][int(part)]
    return node


@pytest.mark.parametrize("container", ["0.1", "0.1.2", "0.0.1"])
def test_moving_into_itself_or_a_field_is_refused(client, container):
    page = client.get(f"{FORM}?node=0.1").get_data(as_text=True)
    r = post(client, f"{FORM}/move-into", page, {"address": "0.1" if container != "0.0.1" else "0.1.2",
                                                 "container": container})  # fmt: skip
    assert "alert-danger" in r.get_data(as_text=True)
    assert client.get(DRAFT).status_code == 404


def test_rules_from_the_builder_replace_and_drop(client):
    page = client.get(f"{FORM}?node=0.2").get_data(as_text=True)
    assert 'id="rule-1"' in page  # the published rule, and a blank one to add
    data = [("address", "0.2"), ("effect0", "hide"), *builder("rule0", "customer_type", "eq", "institution"),
            ("effect1", "require"), *builder("rule1")]  # fmt: skip
    assert post(client, f"{FORM}/rules", page, data).status_code == 200
    assert draft_node(client, "0.2")["rules"] == [
        {"effect": "hide", "when": {"all": [{"field": "customer_type", "op": "eq", "value": "institution"}]}}
    ]
    page = client.get(f"{FORM}?node=0.2").get_data(as_text=True)
    assert post(client, f"{FORM}/rules", page, [("address", "0.2"), *builder("rule0"), *builder("rule1")])
    assert "rules" not in draft_node(client, "0.2")


def test_a_rule_row_with_a_problem_comes_back_as_typed(client):
    page = client.get(f"{FORM}?node=0.2").get_data(as_text=True)
    data = [("address", "0.2"), *builder("rule0", "investment_experience_years", "gt", "lots"), *builder("rule1")]
    r = post(client, f"{FORM}/rules", page, data)
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and 'value="lots"' in html and 'id="node-panel"' in html
    assert client.get(DRAFT).status_code == 404


def preview(client, seed, **form):
    page = client.get(FORM).get_data(as_text=True)
    data = {"_pv_mode": "edit", "_pv_record": str(seed["c1"]), "_pv_shown": f"edit:{seed['c1']}", **form}
    return post(client, f"{FORM}/preview", page, data, base=False).get_data(as_text=True)


def hidden_region(html: str, key: str) -> bool:
    return re.search(rf'id="rule-{key}"[^>]*\bhidden\b', html) is not None


@pytest.mark.parametrize("mode", ["create", "edit", "view"])
def test_the_preview_shows_the_draft_with_a_sample_record(client, seed, mode):
    html = client.get(f"{FORM}/preview?_pv_mode={mode}&_pv_record={seed['c3']}").get_data(as_text=True)
    assert 'id="form-preview"' in html and 'id="pv-mode"' in html
    assert ("陈静" in html) == (mode != "create")
    assert ('name="customer_type"' in html) == (mode != "view")
    assert "/validate/" not in html  # the preview re-renders itself; no live field checks


def test_the_preview_decides_the_drafts_rules_on_what_is_typed(client, seed):
    assert hidden_region(preview(client, seed, customer_type="individual"), "institution")
    assert not hidden_region(preview(client, seed, customer_type="institution"), "institution")
    # a draft rule shows in the preview; the published form keeps its own
    page = client.get(f"{FORM}?node=0.2").get_data(as_text=True)
    data = [("address", "0.2"), ("effect0", "show"), *builder("rule0", "customer_type", "eq", "institution"),
            *builder("rule1")]  # fmt: skip
    post(client, f"{FORM}/rules", page, data)
    assert hidden_region(preview(client, seed, customer_type="individual"), "profile")
    live = client.get(f"/e/customer/{seed['c1']}/edit").get_data(as_text=True)
    assert not hidden_region(live, "profile")


def test_the_preview_waits_for_a_draft_without_problems(client, seed):
    unplace(client, "occupation"), unplace(client, "employer"), unplace(client, "education")  # an empty section
    html = client.get(f"{FORM}/preview").get_data(as_text=True)
    assert 'id="form-preview"' in html and 'name="customer_type"' not in html


def test_a_record_out_of_reach_falls_back_to_a_recent_one(client, seed):
    html = client.get(f"{FORM}/preview?_pv_mode=view&_pv_record=999999").get_data(as_text=True)
    assert "alert-warning" in html and "#999999" not in html
