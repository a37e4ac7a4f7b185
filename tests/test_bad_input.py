"""Bad input in every field type, through the API on the demo brokerage: over-long text, wrong
JSON types, impossible dates, Unicode that cannot be stored, huge numbers, negative money where
it is forbidden. Each is refused with 422 and a message at the field's name, and the record is
unchanged; Unicode that can be stored (emoji sequences, combining marks, right-to-left text)
comes back exactly as sent. Never a 500."""

from __future__ import annotations

import pytest

FIELDS = {  # per field type: a shipped entity and field of that type
    "string": ("campaign", "name"),
    "text": ("complaint", "description"),
    "integer": ("employee", "max_customers"),
    "decimal": ("trade", "price"),
    "money": ("campaign", "budget"),
    "percent": ("position", "weight_in_portfolio"),
    "bool": ("employee", "accepts_new_customers"),
    "date": ("customer_assignment", "valid_from"),
    "datetime": ("campaign", "start_at"),
    "enum": ("customer_assignment", "relation"),
    "multi_enum": ("employee", "qualifications"),
    "tags": ("customer", "tags"),
    "ref": ("customer_assignment", "employee"),
    "email": ("customer", "email"),
    "url": ("market_event", "url"),
    "phone": ("customer", "mobile"),
    "id_number": ("customer", "id_number"),
    "json": ("campaign", "target_segment"),
}
LONE_SURROGATE = "\udcff"  # valid JSON (\udcff), no valid UTF-8: no database can store it
EVERYWHERE = [{"nested": {"deep": [1, 2]}}, [[["x"]]], LONE_SURROGATE, "a\x00b"]
BAD = {
    "string": ["字" * 201, 12.5e300, True, "\u202e" + "x" * 300],
    "text": ["长" * 20_001],
    "integer": ["9" * 40, 1e308, -1, 1_000_001, "4.5", True, "四"],
    "decimal": ["1e400", "-0.5", "NaN", "Infinity", "1.23456", "9" * 60],
    "money": ["-100", "1e400", "¥100", "12.345", "9" * 60],
    "percent": ["1.5", "-0.1", "abc"],
    "bool": ["maybe", 2, "是否"],
    "date": ["2026-02-30", "0000-00-00", "9999-99-99", "2026-13-01", "yesterday", 20260101.5],
    "datetime": ["2026-02-30T10:00:00Z", "2026-03-01T25:00:00Z", "99999-01-01T00:00:00Z", "0001-01-01T00:00:00-23:59"],
    "enum": ["not-an-option", 3, ["a"]],
    "multi_enum": ["not-an-option", [["nested"]], [1, 2]],
    "tags": [["x" * 200], [{"a": 1}], "𝐀" * 5000],
    "ref": [-1, 10**30, "abc", 999_999_999],
    "email": ["not-an-email", "a@" + "b" * 300 + ".com", "a b@example.com"],
    "url": ["javascript:alert(1)", "http://", "ftp://" + "x" * 3000],
    "phone": ["12345", "+86 abc", "1" * 40],
    "id_number": ["110105194912310039", "123", "X" * 41, "护照号码"],
    "json": [],
}
STORABLE = ["👨‍👩‍👧‍👦 家庭", "é" + "\u0301" * 3, "שלום مرحبا", "𠀀𠀁𪚥", "\u200b零宽"]


def cases():
    for type_, (entity, name) in FIELDS.items():
        for value in BAD[type_] + EVERYWHERE:
            if type_ == "json" and value in EVERYWHERE[:2]:
                continue  # JSON fields take nested values
            yield pytest.param(entity, name, value, id=f"{type_}-{str(value)[:20]!r}")


@pytest.fixture(scope="module")
def records(demo):
    """An API client on the demo and one record of each entity used: path -> record."""
    from support import ApiClient

    from scrm.db import db
    from scrm.security.users import find_user, issue_token

    app, _summary = demo
    with app.app_context():
        token = issue_token(find_user("admin"), "bad-input")
        db.session.commit()
    api = ApiClient(app.test_client(), token)
    found = {}
    for entity in {e for e, _n in FIELDS.values()}:
        items = api.get(f"/api/v1/records/{entity}?limit=1&sort=id").json["items"]
        assert items, entity
        found[entity] = f"/api/v1/records/{entity}/{items[0]['id']}"
    return api, found


@pytest.mark.parametrize(("entity", "name", "value"), list(cases()))
def test_bad_values_are_refused_at_their_field(records, entity, name, value):
    api, paths = records
    before = api.get(paths[entity]).json
    response = api.patch(paths[entity], json={name: value, "_version": before["version"]})
    error = response.json["error"]
    if response.status_code == 400:  # a character never valid anywhere is refused before the fields are read
        assert error["code"] == "invalid_character", error
        assert error["details"][0]["path"].startswith(f"$.{name}")
    else:
        assert response.status_code == 422, (response.status_code, response.get_data(as_text=True)[:300])
        assert [d["path"] for d in error["details"]] == [name] and error["details"][0]["message"]
    assert api.get(paths[entity]).json == before  # nothing half-applied


@pytest.mark.parametrize("value", STORABLE)
@pytest.mark.parametrize(("entity", "name"), [FIELDS["string"], FIELDS["text"]])
def test_unicode_that_can_be_stored_comes_back_exactly(records, entity, name, value):
    api, paths = records
    version = api.get(paths[entity]).json["version"]
    response = api.patch(paths[entity], json={name: value, "_version": version})
    assert response.status_code == 200, response.json
    assert api.get(paths[entity]).json[name] == value
