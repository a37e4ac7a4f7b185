"""The entity editor without the JSON view: a field's panel (labels, help, flags and the settings
its type declares in ``options_schema``, options deactivated rather than deleted), renames that
keep the field's id and column (old references keep working after publishing), relations,
indexes and unique keys — each edit, each refusal, and what the publish tab shows for them."""

from __future__ import annotations

import re

import pytest
from support import post

DRAFT = "/api/v1/definitions/entity/{name}?status=draft"


def draft(client, name: str = "customer") -> dict | None:
    r = client.get(DRAFT.format(name=name))
    return r.json if r.status_code == 200 else None


def field_of(body: dict, name: str) -> dict:
    return next(f for f in body["fields"] if f["name"] == name and f.get("active", True))


def panel(client, field: str, entity: str = "customer") -> str:
    page = client.get(f"/design/entity/{entity}?field={field}")
    assert page.status_code == 200
    return page.get_data(as_text=True)


def settings(client, field: str, changes: dict, entity: str = "customer"):
    """Submit the field's panel as the page fills it, with ``changes``."""
    page = panel(client, field, entity)
    form = re.search(r'<form [^>]*id="field-settings".*?</form>', page, re.S).group(0)
    data = {}
    for tag in re.finditer(r"<select\b([^>]*)>(.*?)</select>|<input\b([^>]*)>", form, re.S):
        attrs = dict(re.findall(r'([\w:-]+)="([^"]*)"', tag.group(1) or tag.group(3)))
        name = attrs.get("name")
        if not name or name in ("csrf_token", "base"):
            continue
        if tag.group(1) is not None:
            chosen = re.search(r'<option value="([^"]*)" selected', tag.group(2))
            data[name] = chosen.group(1) if chosen else ""
        elif attrs.get("type") == "checkbox":
            if re.search(r"\schecked\b", tag.group(3)):
                data[name] = attrs.get("value", "1")
        else:
            data[name] = attrs.get("value", "")
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return post(client, f"/design/entity/{entity}/fields/{field}/settings", page, data)


# -- the field panel -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "field, inputs",
    [
        ("customer_no", ['name="opt:max_length"', 'name="opt:pattern"', 'name="opt:pattern_message:zh"']),
        ("investment_experience_years", ['name="opt:min"', 'name="opt:max"', 'step="1"']),
        ("registered_capital", ['name="opt:currency"', 'name="opt:precision"', 'name="opt:scale"']),
        ("birth_date", ['name="opt:min"', 'type="date"']),
        ("primary_manager", ['name="opt:target"', 'name="opt:on_delete"', '<option value="set_null"']),
        ("customer_type", ['id="options-options"', 'name="options:0:zh"', 'name="options:new0:value"']),
        ("tags", ['id="options-options"', 'name="opt:vocabulary"', 'name="opt:max_items"']),
    ],
)
def test_the_panel_offers_the_settings_of_the_fields_type(client, field, inputs):
    html = panel(client, field)
    assert 'id="field-panel"' in html and 'name="label_zh"' in html and 'name="readonly"' in html
    for fragment in inputs:
        assert fragment in html, fragment


PLUGIN_SCHEMA = {  # a plugin's field type: its settings get inputs without any code for them
    "properties": {
        "strict": {"type": "boolean"},
        "ratio": {"type": "number", "minimum": 0, "maximum": 1},
        "digits": {"enum": [2, 4]},
        "hint": {"$ref": "common.json#/$defs/i18nText"},
        "layout": {"type": "object"},
    },
    "required": ["digits"],
}


def test_a_plugin_types_settings_get_inputs_and_are_read_back():
    from werkzeug.datastructures import MultiDict

    from scrm.designer.entity_edits import option_inputs, read_field

    inputs = option_inputs(PLUGIN_SCHEMA)
    assert [(i.key, i.kind) for i in inputs] == [
        ("strict", "checkbox"), ("ratio", "number"), ("digits", "select"), ("hint", "i18n"), ("layout", "other")]  # fmt: skip
    form = MultiDict({"opt:strict": "1", "opt:ratio": "0.25", "opt:digits": "4", "opt:hint:zh": "提示"})
    changes, errors = read_field({"layout": {"x": 1}}, inputs, form, set())
    assert errors == {} and "layout" not in changes
    assert (changes["strict"], changes["ratio"], changes["digits"]) == (True, 0.25, 4)
    assert changes["hint"] == {"zh-CN": "提示", "en": "提示"} and changes["label"] is None
    _changes, errors = read_field({}, inputs, MultiDict({"opt:ratio": "2"}), set())
    assert set(errors) == {"ratio", "digits"}  # out of range; required


def test_the_panel_lists_who_uses_the_field_before_a_rename(client):
    lazy = panel(client, "tenure_years")
    assert 'hx-get="/design/entity/customer/fields/tenure_years/users"' in lazy
    listed = client.get("/design/entity/customer/fields/tenure_years/users").get_data(as_text=True)
    assert (
        'id="field-users"' in listed and "alert/alr_open_anniversary" in listed and "$.actions[1].when.field" in listed
    )
    inline = panel(client, "tenure_years&users=1")
    assert "alert/alr_open_anniversary" in inline
    assert client.get("/design/entity/customer/fields/no_such/users").status_code == 404


def test_labels_help_flags_and_type_settings_are_saved(client):
    r = settings(client, "employer", {"label_zh": "工作单位", "label_en": "Employer", "help_zh": "全称",
                                      "help_en": "Full name", "indexed": "1", "opt:max_length": "120",
                                      "opt:min_length": "2", "opt:pattern_message:zh": "请输入全称"})  # fmt: skip
    assert r.status_code == 200 and 'id="field-panel"' in r.get_data(as_text=True)
    f = field_of(draft(client), "employer")
    assert f["label"] == {"zh-CN": "工作单位", "en": "Employer"} and f["help"] == {"zh-CN": "全称", "en": "Full name"}
    assert f["indexed"] is True and f["max_length"] == 120 and f["min_length"] == 2
    assert f["pattern_message"] == {"zh-CN": "请输入全称", "en": "请输入全称"}


def test_empty_inputs_remove_their_keys(client):
    settings(client, "customer_no", {"opt:pattern": "", "opt:pattern_message:zh": "", "opt:pattern_message:en": "",
                                     "required": None, "unique": None})  # fmt: skip
    f = field_of(draft(client), "customer_no")
    assert {"pattern", "pattern_message", "required", "unique"}.isdisjoint(f) and f["max_length"] == 20


@pytest.mark.parametrize(
    "field, key, value, stored",
    [
        ("registered_capital", "opt:min", "1000.50", "1000.50"),
        ("registered_capital", "opt:currency", "HKD", "HKD"),
        ("investment_experience_years", "opt:max", "60", 60),
        ("birth_date", "opt:max", "2010-12-31", "2010-12-31"),
        ("primary_manager", "opt:on_delete", "set_null", "set_null"),
    ],
)
def test_each_kind_of_setting_is_stored_with_its_type(client, field, key, value, stored):
    settings(client, field, {key: value})
    assert field_of(draft(client), field)[key.removeprefix("opt:")] == stored


@pytest.mark.parametrize(
    "field, key, value",
    [
        ("employer", "max_length", "abc"),
        ("employer", "max_length", "1.5"),
        ("employer", "max_length", "0"),
        ("employer", "max_length", "20000"),
        ("investment_experience_years", "min", "ten"),
        ("registered_capital", "scale", "9"),
        ("registered_capital", "currency", "yuan"),
        ("birth_date", "min", "2026-13-01"),
        ("primary_manager", "on_delete", "cascade"),
    ],
)
def test_a_bad_setting_is_refused_at_its_input_and_nothing_is_saved(client, field, key, value):
    r = settings(client, field, {f"opt:{key}": value, "label_zh": "改了"})
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and f'id="error-{key}"' in html and "is-invalid" in html
    assert 'value="改了"' in html  # what was typed stays
    assert draft(client) is None


# -- options ----------------------------------------------------------------------------------------
def test_options_are_relabelled_deactivated_and_added(client):
    before = [o["value"] for o in field_of(client.get("/api/v1/definitions/entity/customer").json, "gender")["options"]]
    page = panel(client, "gender")
    assert 'name="options:0:remove"' not in page  # published options are never deleted here
    r = settings(client, "gender", {"options:0:en": "Man", "options:0:color": "info", "options:1:active": None,
                                    "options:new0:value": "undisclosed", "options:new0:zh": "不愿透露",
                                    "options:new0:color": "secondary", "options:new1:value": "x_other"})  # fmt: skip
    assert r.status_code == 200
    options = field_of(draft(client), "gender")["options"]
    assert [o["value"] for o in options] == [*before, "undisclosed", "x_other"]
    assert options[0]["label"]["en"] == "Man" and options[0]["color"] == "info" and "active" not in options[0]
    assert options[1]["active"] is False
    assert options[-2] == {
        "value": "undisclosed",
        "label": {"zh-CN": "不愿透露", "en": "不愿透露"},
        "color": "secondary",
    }
    assert options[-1] == {"value": "x_other"}


def test_an_option_never_published_can_be_removed(client):
    settings(client, "gender", {"options:new0:value": "typo_value"})
    position = len(field_of(draft(client), "gender")["options"]) - 1
    assert f'name="options:{position}:remove"' in panel(client, "gender")
    settings(client, "gender", {f"options:{position}:remove": "1"})
    assert "typo_value" not in [o["value"] for o in field_of(draft(client), "gender")["options"]]


@pytest.mark.parametrize("value", ["Not Valid", "male", "1abc"])
def test_a_bad_or_repeated_option_value_is_refused(client, value):
    existing = field_of(client.get("/api/v1/definitions/entity/customer").json, "gender")["options"][0]["value"]
    r = settings(client, "gender", {"options:new0:value": existing if value == "male" else value})
    assert r.status_code == 422 and 'id="error-options"' in r.get_data(as_text=True)
    assert draft(client) is None


def test_a_deactivated_option_is_not_offered_for_new_records_and_a_new_one_is(client):
    settings(client, "gender", {"options:1:active": None, "options:new0:value": "undisclosed",
                                "options:new0:zh": "不愿透露"})  # fmt: skip
    plan = client.get("/design/entity/customer?tab=publish").get_data(as_text=True)
    assert 'id="publish"' in plan
    post(client, "/design/entity/customer/publish", plan, {}, base=False)
    published = field_of(client.get("/api/v1/definitions/entity/customer").json, "gender")["options"]
    second = published[1]["value"]
    new = client.get("/e/customer/new").get_data(as_text=True)
    offered = re.findall(r'type="radio" name="gender" id="[^"]*" value="([^"]*)"', new)
    assert "undisclosed" in offered and second not in offered and published[0]["value"] in offered


# -- renames ----------------------------------------------------------------------------------------
def rename(client, field: str, new: str, entity: str = "customer"):
    page = panel(client, field, entity)
    return post(client, f"/design/entity/{entity}/fields/{field}/rename", page, {"new_name": new})


def test_a_rename_keeps_the_id_and_column_and_old_references_work_after_publishing(client, seed):
    published = field_of(client.get("/api/v1/definitions/entity/customer").json, "occupation")
    r = rename(client, "occupation", "job")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'id="field-panel"' in html and "form/customer_form" in html  # the flash
    f = field_of(draft(client), "job")
    assert f["id"] == published["id"] and f["column"] == published["column"] and f["previous_names"] == ["occupation"]
    assert 'id="field-job"' in html and "← occupation" in html
    plan = client.get("/design/entity/customer?tab=publish").get_data(as_text=True)
    assert 'id="publish"' in plan and "occupation" not in re.search(r'id="publish-plan".*', plan, re.S).group(0)[:200]
    post(client, "/design/entity/customer/publish", plan, {}, base=False)
    assert field_of(client.get("/api/v1/definitions/entity/customer").json, "job")["column"] == published["column"]
    form = client.get("/api/v1/definitions/form/customer_form").json  # unchanged: names the old name
    assert "occupation" in str(form)
    edit = client.get(f"/e/customer/{seed['c1']}/edit").get_data(as_text=True)
    assert 'name="job"' in edit  # the form still shows it, under its new name


def test_a_field_never_published_gets_a_new_id_when_renamed(client):
    page = client.get("/design/entity/customer").get_data(as_text=True)
    post(client, "/design/entity/customer/fields", page, {"name": "wechat", "label": "微信", "type": "string"})
    assert 'id="field-users"' not in panel(client, "wechat")  # nothing can use it yet
    rename(client, "wechat", "wechat_id")
    f = field_of(draft(client), "wechat_id")
    assert f["id"] == "wechat_id" and f["column"] == "wechat_id" and "previous_names" not in f


@pytest.mark.parametrize("new", ["Bad-Name", "1st", "created_at", "name", "accounts", "customer_type"])
def test_a_bad_or_taken_name_is_refused(client, new):
    r = rename(client, "occupation", new)
    assert r.status_code == 200 and "alert-danger" in r.get_data(as_text=True)
    assert draft(client) is None


def test_a_name_another_field_had_before_is_taken(client):
    rename(client, "employer", "workplace")
    r = rename(client, "occupation", "employer")
    assert "alert-danger" in r.get_data(as_text=True)
    assert "employer" not in [f["name"] for f in draft(client)["fields"] if f.get("active", True)]
    assert field_of(draft(client), "occupation")


# -- relations --------------------------------------------------------------------------------------
def test_relations_are_listed_with_their_kind_target_and_via(client):
    html = client.get("/design/entity/customer").get_data(as_text=True)
    row = re.search(r'<tr id="relation-accounts">.*?</tr>', html, re.S).group(0)
    assert "资金账户" in row and ">account<" in row and "customer" in row and "-opened_at" in row


def test_a_has_many_relation_offers_only_references_pointing_back(client):
    html = client.get("/design/entity/security").get_data(as_text=True)
    offered = re.findall(r'<option value="(\w+):(\w+)"', re.search(r'id="hm-target".*?</select>', html, re.S).group(0))
    assert ("position", "security") in offered and ("trade", "security") in offered
    assert all(target != "security" or via != "customer" for target, via in offered)
    assert ("position", "account") not in offered  # a reference to another entity


def test_a_has_many_relation_is_added(client):
    page = client.get("/design/entity/security").get_data(as_text=True)
    r = post(client, "/design/entity/security/relations", page, {"kind": "has_many", "target_via": "position:security",
             "relation": "holdings", "label": "持有记录", "label_en": "Holdings"})  # fmt: skip
    assert r.status_code == 200 and 'id="relation-holdings"' in r.get_data(as_text=True)
    added = draft(client, "security")["relations"][-1]
    assert added == {"name": "holdings", "kind": "has_many", "target": "position", "via": "security",
                     "label": {"zh-CN": "持有记录", "en": "Holdings"}}  # fmt: skip


def test_a_many_to_many_relation_is_added(client):
    page = client.get("/design/entity/customer").get_data(as_text=True)
    post(client, "/design/entity/customer/relations", page, {"kind": "many_to_many", "target": "tag",
         "through": "customer_tag", "relation": "tag_list"})  # fmt: skip
    assert draft(client)["relations"][-1] == {"name": "tag_list", "kind": "many_to_many", "target": "tag",
                                              "through": "customer_tag"}  # fmt: skip


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "has_many", "target_via": "position:account", "relation": "x_positions"},  # not pointing here
        {"kind": "has_many", "target_via": "position:security", "relation": "Bad Name"},
        {"kind": "has_many", "target_via": "position:security", "relation": "positions"},  # a relation's name
        {"kind": "has_many", "target_via": "position:security", "relation": "exchange"},  # a field's name
        {"kind": "many_to_many", "target": "no_such", "through": "position", "relation": "x_many"},
    ],
)
def test_a_bad_relation_is_refused(client, data):
    page = client.get("/design/entity/security").get_data(as_text=True)
    r = post(client, "/design/entity/security/relations", page, data)
    assert "alert-danger" in r.get_data(as_text=True) and draft(client, "security") is None


def test_a_relation_a_form_shows_is_not_removed(client):
    page = client.get("/design/entity/customer").get_data(as_text=True)
    r = post(client, "/design/entity/customer/relations/remove", page, {"relation": "accounts"})
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and 'id="impact"' in html and "form/customer_form" in html and ".relation" in html
    assert draft(client) is None


def test_a_published_relation_nothing_uses_is_removed(client):
    relations = client.get("/api/v1/definitions/entity/service_ticket").json["relations"]
    assert "source_visits" in [r["name"] for r in relations]
    page = client.get("/design/entity/service_ticket").get_data(as_text=True)
    r = post(client, "/design/entity/service_ticket/relations/remove", page, {"relation": "source_visits"})
    assert r.status_code == 200 and 'id="relation-source_visits"' not in r.get_data(as_text=True)
    assert [x["name"] for x in draft(client, "service_ticket")["relations"]] == [
        x["name"] for x in relations if x["name"] != "source_visits"
    ]


# -- indexes ----------------------------------------------------------------------------------------
def test_an_index_is_added_in_order_and_removed(client):
    page = client.get("/design/entity/customer").get_data(as_text=True)
    r = post(client, "/design/entity/customer/indexes", page, {"ix_field_0": "occupation", "ix_field_1": "opened_at",
             "ix_desc_1": "1", "index_name": "ix_customer_job_opened"})  # fmt: skip
    assert r.status_code == 200
    indexes = draft(client)["indexes"]
    assert indexes[-1] == {"fields": ["occupation", "-opened_at"], "name": "ix_customer_job_opened"}
    plan = client.get("/design/entity/customer?tab=publish").get_data(as_text=True)
    assert "ix_customer_job_opened" in re.search(r'id="migration-steps".*?</ol>', plan, re.S).group(0)
    page = client.get("/design/entity/customer").get_data(as_text=True)
    post(client, "/design/entity/customer/indexes/remove", page, {"position": str(len(indexes) - 1)})
    assert len(draft(client)["indexes"]) == len(indexes) - 1


# -- unique keys ------------------------------------------------------------------------------------
def test_a_unique_key_is_added_shown_in_the_migration_plan_and_removed(client):
    page = client.get("/design/entity/customer").get_data(as_text=True)
    r = post(client, "/design/entity/customer/keys", page, [("key", "uq_customer_app_user"), ("fields", "app_user_id"),
             ("message", "该 App 账号已绑定其他客户"), ("message_en", "")])  # fmt: skip
    assert 'id="key-uq_customer_app_user"' in r.get_data(as_text=True)
    key = draft(client)["constraints"][-1]
    assert key == {"name": "uq_customer_app_user", "type": "unique", "fields": ["app_user_id"],
                   "message": {"zh-CN": "该 App 账号已绑定其他客户", "en": "该 App 账号已绑定其他客户"}}  # fmt: skip
    plan = client.get("/design/entity/customer?tab=publish").get_data(as_text=True)
    assert "uq_crm_customer_app_user_id" in re.search(r'id="migration-steps".*?</ol>', plan, re.S).group(0)
    page = client.get("/design/entity/customer").get_data(as_text=True)
    post(client, "/design/entity/customer/keys/remove", page, {"key": "uq_customer_app_user"})
    assert "uq_customer_app_user" not in str(draft(client)["constraints"])


def test_a_unique_key_over_duplicated_values_is_refused_at_publishing(client, seed):
    page = client.get("/design/entity/customer").get_data(as_text=True)
    post(client, "/design/entity/customer/keys", page, [("key", "uq_customer_manager"), ("fields", "primary_manager"),
         ("fields", "customer_type")])  # fmt: skip
    plan = client.get("/design/entity/customer?tab=publish").get_data(as_text=True)
    assert 'id="publish"' not in plan and "primary_manager_id, customer_type" in plan
    refused = post(client, "/design/entity/customer/publish", plan, {}, base=False)
    assert "alert-danger" in refused.get_data(as_text=True)
    assert "uq_customer_manager" not in str(client.get("/api/v1/definitions/entity/customer").json)


@pytest.mark.parametrize(
    "part, data",
    [
        ("indexes", {}),
        ("indexes", {"ix_field_0": "occupation", "ix_field_1": "occupation"}),
        ("indexes", {"ix_field_0": "intended_varieties"}),  # multi-valued: no column
        ("indexes", {"ix_field_0": "no_such_field"}),
        ("indexes", {"ix_field_0": "occupation", "index_name": "Bad Name"}),
        ("indexes", {"ix_field_0": "servicing_org", "ix_field_1": "asset_tier"}),  # exists already
        ("indexes/remove", {"position": "99"}),
        ("keys", [("key", "uq_customer_id_document"), ("fields", "app_user_id")]),  # the name is taken
        ("keys", [("key", "Bad Name"), ("fields", "app_user_id")]),
        ("keys", [("key", "uq_x")]),  # no field
        ("keys", [("key", "uq_x"), ("fields", "preferred_product_types")]),  # multi-valued
        ("keys/remove", {"key": "ck_professional_valid_until"}),  # a check rule: only in the JSON view
    ],
)
def test_a_bad_index_or_unique_key_is_refused(client, part, data):
    page = client.get("/design/entity/customer").get_data(as_text=True)
    r = post(client, f"/design/entity/customer/{part}", page, data)
    assert "alert-danger" in r.get_data(as_text=True) and draft(client) is None


def test_check_rules_are_listed_read_only_with_the_way_to_the_json_view(client):
    html = client.get("/design/entity/customer").get_data(as_text=True)
    checks = re.search(r'id="check-rules".*?</ul>', html, re.S).group(0)
    assert "ck_professional_valid_until" in checks and "<form" not in checks
    assert 'id="checks-json"' in html and "tab=json" in html
