"""Generated entity definitions — the shipped ``tag`` entity mutated at random: fields added with
odd types, lengths, defaults and flags, fields dropped or retyped, junk at any key — saved and
published through the designer API over a populated table. Never a 500; every refusal in the
error shape; a publish either happens whole (new version, new revision, a column per stored
field, no row lost) or leaves the published definition, the revision and the table exactly as
they were. Damaged documents of the other kinds likewise. Marked ``fuzz`` (``make fuzz``)."""

from __future__ import annotations

import copy
import os

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.fuzz
EXAMPLES = int(os.environ.get("SCRM_FUZZ_EXAMPLES", "10")) * 3

TYPES = ["string", "text", "integer", "decimal", "money", "date", "datetime", "boolean", "enum", "multi_enum",
         "tags", "email", "mobile", "ref", "percent", "nonsense"]  # fmt: skip
junk = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)
options = st.lists(
    st.fixed_dictionaries({"value": st.sampled_from(["a", "b", "c", "", "A B"]), "label": st.text(max_size=4)}),
    max_size=3,
)
new_field = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["fuzz_a", "fuzz_b", "code", "Bad Name", "x" * 70, "名字"]),
        "type": st.sampled_from(TYPES),
        "label": st.just({"zh-CN": "字段", "en": "Field"}),
    },
    optional={
        "max_length": st.integers(-5, 10**6),
        "required": st.booleans(),
        "unique": st.booleans(),
        "default": junk,
        "options": options,
        "target": st.sampled_from(["customer", "tag", "nowhere"]),
        "precision": st.integers(-1, 40),
        "scale": st.integers(-1, 20),
    },
)
LABEL = {"zh-CN": "字段", "en": "Field"}
CHOICES = [{"value": v, "label": {"zh-CN": v, "en": v}} for v in ("a", "b", "c")]
valid_field = st.one_of(
    st.builds(
        lambda n, m, r, d: {"name": n, "type": "string", "max_length": m, "required": r, "label": LABEL, **d},
        st.sampled_from(["fuzz_a", "fuzz_b"]),
        st.integers(1, 300),
        st.booleans(),
        st.sampled_from([{"default": "x"}, {}]),
    ),
    st.builds(
        lambda n, u: {"name": n, "type": "integer", "unique": u, "label": LABEL},
        st.sampled_from(["fuzz_c", "fuzz_d"]),
        st.booleans(),
    ),
    st.builds(lambda n: {"name": n, "type": "decimal", "label": LABEL}, st.sampled_from(["fuzz_e", "fuzz_a"])),
    st.builds(lambda n: {"name": n, "type": "date", "label": LABEL}, st.sampled_from(["fuzz_f", "fuzz_c"])),
    st.builds(
        lambda n, t: {"name": n, "type": t, "options": CHOICES, "label": LABEL},
        st.sampled_from(["fuzz_g", "fuzz_b"]),
        st.sampled_from(["enum", "multi_enum"]),
    ),
)
mutation = st.one_of(
    st.tuples(st.just("add"), valid_field),
    st.tuples(st.just("add"), valid_field),
    st.tuples(st.just("drop_added"), st.integers(0, 20)),
    st.tuples(st.just("add"), new_field),
    st.tuples(st.just("drop"), st.integers(0, 20)),
    st.tuples(st.just("retype"), st.tuples(st.integers(0, 20), st.sampled_from(TYPES))),
    st.tuples(st.just("junk"), st.tuples(st.sampled_from(["label", "fields", "title_field", "indexes", "x"]), junk)),
    st.tuples(st.just("field_junk"), st.tuples(st.integers(0, 20), st.sampled_from(["max_length", "options", "name",
                                                                                    "required", "type"]), junk)),
)  # fmt: skip


def mutate(doc: dict, changes) -> dict:
    doc = copy.deepcopy(doc)
    fields = doc["fields"]
    for kind, arg in changes:
        if kind == "add":
            fields[:] = [f for f in fields if f.get("name") != arg["name"]] + [dict(arg)]
        elif kind == "drop" and fields:
            fields.pop(arg % len(fields))
        elif kind == "drop_added":
            added = [i for i, f in enumerate(fields) if str(f.get("name", "")).startswith("fuzz_")]
            if added:
                fields.pop(added[arg % len(added)])
        elif kind == "retype" and fields:
            fields[arg[0] % len(fields)]["type"] = arg[1]
        elif kind == "junk":
            doc[arg[0]] = arg[1]
        elif kind == "field_junk" and fields and isinstance(fields, list):
            fields[arg[0] % len(fields)][arg[1]] = arg[2]
    return doc


def state(app) -> dict:
    from scrm.db import db
    from scrm.meta import store

    with app.app_context():
        db.engine.dispose()  # a fresh look at the schema
        out = {
            "revision": store.current_revision(),
            "version": store.get("entity", "tag", store.PUBLISHED).version,
            "columns": sorted(c["name"] for c in sa.inspect(db.engine).get_columns("crm_tag")),
            "rows": db.session.execute(sa.text("SELECT count(*) FROM crm_tag")).scalar(),
            "body": store.get("entity", "tag", store.PUBLISHED).body,
        }
        db.session.remove()
        return out


def assert_error_shape(response) -> None:
    body = response.get_json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str) and error["message"]
    for detail in error.get("details", []):
        assert isinstance(detail["path"], str) and isinstance(detail["message"], str)


@pytest.fixture
def populated(api):
    for i in range(5):
        r = api.post(
            "/api/v1/records/tag",
            json={"code": f"FUZZ{i}", "name": f"标签{i}", "category": "service", "tag_type": "manual"},
        )
        assert r.status_code == 201, r.json
    return api


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(changes=st.lists(mutation, min_size=1, max_size=4))
def test_generated_definitions_never_break_the_installation(app, populated, changes):
    api = populated
    before = state(app)
    doc = mutate(before["body"], changes)
    saved = api.put("/api/v1/definitions/entity/tag", json=doc)
    event(f"draft {saved.status_code}")
    assert saved.status_code in (200, 400, 409, 422), (saved.status_code, saved.get_data(as_text=True)[:500])
    if saved.status_code != 200:
        assert_error_shape(saved)
        assert state(app) == before
        return
    published = api.post("/api/v1/definitions/entity/tag/publish")
    event(f"publish {published.status_code}")
    assert published.status_code in (200, 409, 422), (published.status_code, published.get_data(as_text=True)[:500])
    after = state(app)
    assert after["rows"] == before["rows"]  # no publish loses a row
    if published.status_code != 200:
        assert_error_shape(published)
        assert after == before  # not half-applied
        return
    assert after["revision"] == before["revision"] + 1 and after["version"] > before["version"]
    from scrm.runtime import snapshot

    with app.app_context():
        expected = {c.name for t in snapshot().tables["tag"].all_tables() if t.name == "crm_tag" for c in t.columns}
    assert expected <= set(after["columns"])  # a column for every stored field
    listed = api.get("/api/v1/records/tag?limit=5")
    assert listed.status_code == 200 and len(listed.json["items"]) == 5


SHIPPED = {"form": "customer_form", "role": "account_manager", "workflow": "service_ticket", "alert": "tag_hnw",
           "dashboard": "service_quality"}  # fmt: skip
top_level = st.sampled_from(["label", "title", "fields", "layout", "tabs", "states", "transitions", "when", "actions",
                             "widgets", "datasets", "permissions", "entity", "schedule", "x"])  # fmt: skip
damage = st.one_of(
    st.tuples(st.just("set"), top_level, junk),
    st.tuples(st.just("drop"), top_level, st.none()),
    st.tuples(st.just("same"), st.none(), st.none()),
)


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(kind=st.sampled_from(sorted(SHIPPED)), changes=st.lists(damage, min_size=1, max_size=3))
def test_other_kinds_damaged_never_break_the_installation(app, api, kind, changes):
    from scrm.meta import store

    name = SHIPPED[kind]
    url = f"/api/v1/definitions/{kind}/{name}"
    shipped = api.get(url)
    assert shipped.status_code == 200, (url, shipped.json)
    doc = copy.deepcopy(shipped.json)
    for how, key, value in changes:
        if how == "set":
            doc[key] = value
        elif how == "drop":
            doc.pop(key, None)
    with app.app_context():
        before = (store.current_revision(), store.get(kind, name, store.PUBLISHED).version)
    saved = api.put(url, json=doc)
    event(f"{kind} draft {saved.status_code}")
    assert saved.status_code in (200, 400, 409, 422), (saved.status_code, saved.get_data(as_text=True)[:500])
    if saved.status_code != 200:
        assert_error_shape(saved)
        return
    published = api.post(f"{url}/publish")
    event(f"{kind} publish {published.status_code}")
    assert published.status_code in (200, 409, 422), (published.status_code, published.get_data(as_text=True)[:500])
    with app.app_context():
        after = (store.current_revision(), store.get(kind, name, store.PUBLISHED).version)
    if published.status_code == 200:
        assert after[0] == before[0] + 1
    else:
        assert_error_shape(published)
        assert after == before
    assert api.get("/api/v1/records/customer?limit=1").status_code == 200  # the installation still serves
