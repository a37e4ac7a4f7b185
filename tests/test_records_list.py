"""Listing records: filters in the condition language, sorting with NULLs, keyset pages that
never skip or repeat a row, quick search — identical on SQLite and PostgreSQL."""

import random
from decimal import Decimal

import pytest

from scrm.errors import BadRequest


@pytest.fixture
def people(svc, seed):
    rng = random.Random(7)
    rows = []
    for i in range(57):
        rows.append(
            {
                "customer_no": f"3300000{i:05d}",
                "name": rng.choice(["赵", "钱", "孙", "李"]) + f"客户{i}",
                "id_type": "passport",
                "id_number": f"E{i:08d}",
                "asset_tier": rng.choice(["mass", "potential", "wealth", None]),
                "risk_level": rng.choice(["C1", "C2", "C3", None]),
                "total_assets": rng.choice([None, str(Decimal(rng.randint(0, 10**8)) / 100)]),
                "birth_date": rng.choice([None, f"19{rng.randint(50, 99)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"]),
                "tags": rng.sample(["A", "B", "C"], rng.randint(0, 2)),
            }
        )
    from scrm.data.records import RecordService
    from scrm.runtime import snapshot

    RecordService(snapshot(), None, system=True).bulk_create("customer", rows)
    return svc


def walk(svc, **kwargs) -> list[dict]:
    items, after = [], None
    for _ in range(100):
        page = svc.list("customer", after=after, limit=7, **kwargs)
        items += page.items
        after = page.next
        if not after:
            return items
    raise AssertionError("pagination did not end")


def python_order(items, spec):
    for part in reversed(spec.split(",")):
        desc = part.startswith("-")
        name = part.lstrip("-")
        # NULL sorts as the largest value
        items = sorted(items, key=lambda r: (r[name] is None, r[name] if r[name] is not None else 0), reverse=desc)
    return items


@pytest.mark.parametrize(
    "sort",
    [
        "total_assets",
        "-total_assets",
        "birth_date,-id",
        "-asset_tier,name",
        "risk_level,-total_assets",
        "name",
        "-created_at",
    ],
)
def test_keyset_pages_cover_every_row_once_in_order(people, sort):
    everything = people.list("customer", limit=200, sort=sort).items
    walked = walk(people, sort=sort)
    assert [r["id"] for r in walked] == [r["id"] for r in everything]
    assert len({r["id"] for r in walked}) == len(walked) == 60
    key = sort.split(",")[0].lstrip("-")
    values = [r[key] for r in walked]
    expected = [r[key] for r in python_order(list(walked), sort.split(",")[0])]
    assert values == expected


@pytest.mark.parametrize("tier", ["wealth", "mass"])
def test_a_sort_index_serves_the_whole_order(app, people, tier):
    """``["asset_tier", "-total_assets"]`` ends with ``id`` descending, the list's tie-break: a
    page is read straight off the index, nothing sorted (SQLite's plan says so)."""
    import sqlalchemy as sa
    from support import captured_statements

    from scrm.db import db

    with app.app_context():
        index = {ix["name"]: ix for ix in sa.inspect(db.engine).get_indexes("crm_customer")}
        assert index["ix_crm_customer_asset_tier_total_assets_id"]["column_names"] == [
            "asset_tier",
            "total_assets",
            "id",
        ]
        sqlite = db.engine.dialect.name == "sqlite"
    condition = {"field": "asset_tier", "op": "eq", "value": tier}
    pages = []
    statements = captured_statements(
        app, lambda: pages.append(people.list("customer", filter=condition, sort="-total_assets", limit=5))
    )
    assert all(r["asset_tier"] == tier for r in pages[0].items)
    if sqlite:
        sql, params = next((q, p) for q, p in statements if "FROM crm_customer" in q and "LIMIT" in q)
        with app.app_context():
            raw = db.engine.raw_connection()
            try:
                plan = " / ".join(r[3] for r in raw.cursor().execute("EXPLAIN QUERY PLAN " + sql, params).fetchall())
            finally:
                raw.close()
        assert "ix_crm_customer_asset_tier_total_assets_id (asset_tier=?)" in plan
        assert "TEMP B-TREE" not in plan


@pytest.mark.parametrize(
    "condition, check",
    [
        ({"field": "asset_tier", "op": "eq", "value": "mass"}, lambda r: r["asset_tier"] == "mass"),
        ({"field": "asset_tier", "op": "ne", "value": "mass"}, lambda r: r["asset_tier"] != "mass"),
        (
            {"field": "asset_tier", "op": "in", "value": ["mass", "wealth"]},
            lambda r: r["asset_tier"] in ("mass", "wealth"),
        ),
        ({"field": "asset_tier", "op": "not_in", "value": ["mass"]}, lambda r: r["asset_tier"] != "mass"),
        ({"field": "risk_level", "op": "is_null"}, lambda r: r["risk_level"] is None),
        (
            {"field": "total_assets", "op": "gte", "value": "500000.00"},
            lambda r: r["total_assets"] is not None and r["total_assets"] >= Decimal("500000"),
        ),
        (
            {"not": {"field": "total_assets", "op": "gte", "value": "500000.00"}},
            lambda r: r["total_assets"] is None or r["total_assets"] < Decimal("500000"),
        ),
        (
            {
                "any": [
                    {"field": "birth_date", "op": "lt", "value": "1970-01-01"},
                    {"field": "tags", "op": "has_any", "value": ["A"]},
                ]
            },
            lambda r: (r["birth_date"] is not None and str(r["birth_date"]) < "1970-01-01") or "A" in r["tags"],
        ),
        ({"field": "tags", "op": "has_all", "value": ["A", "B"]}, lambda r: {"A", "B"} <= set(r["tags"])),
        ({"field": "tags", "op": "has_none", "value": ["A"]}, lambda r: "A" not in r["tags"]),
        ({"field": "tags", "op": "is_empty"}, lambda r: not r["tags"]),
        ({"field": "name", "op": "contains", "value": "客户1"}, lambda r: "客户1" in r["name"]),
        ({"field": "name", "op": "starts_with", "value": "赵"}, lambda r: r["name"].startswith("赵")),
        (
            {
                "not": {
                    "all": [
                        {"field": "asset_tier", "op": "eq", "value": "mass"},
                        {"field": "risk_level", "op": "eq", "value": "C1"},
                    ]
                }
            },
            lambda r: not (r["asset_tier"] == "mass" and r["risk_level"] == "C1"),
        ),
        (
            {"field": "total_assets", "op": "lt", "value": "300000"},
            lambda r: r["total_assets"] is not None and r["total_assets"] < Decimal("300000"),
        ),
        (
            {"field": "total_assets", "op": "lte", "value": "300000"},
            lambda r: r["total_assets"] is not None and r["total_assets"] <= Decimal("300000"),
        ),
        (
            {"field": "total_assets", "op": "gt", "value": "300000"},
            lambda r: r["total_assets"] is not None and r["total_assets"] > Decimal("300000"),
        ),
        (
            {"field": "total_assets", "op": "between", "value": ["100000", "600000"]},
            lambda r: r["total_assets"] is not None and Decimal("100000") <= r["total_assets"] <= Decimal("600000"),
        ),
        (
            {"not": {"field": "total_assets", "op": "between", "value": ["100000", "600000"]}},
            lambda r: r["total_assets"] is None or not Decimal("100000") <= r["total_assets"] <= Decimal("600000"),
        ),
        ({"field": "birth_date", "op": "is_not_null"}, lambda r: r["birth_date"] is not None),
        ({"field": "name", "op": "ends_with", "value": "1"}, lambda r: r["name"].endswith("1")),
        ({"field": "name", "op": "not_contains", "value": "客户1"}, lambda r: "客户1" not in r["name"]),
        ({"field": "customer_no", "op": "contains", "value": "3300000000"}, lambda r: "3300000000" in r["customer_no"]),
        ({"field": "risk_level", "op": "is_null"}, lambda r: r["risk_level"] is None),
        ({"field": "tags", "op": "is_not_empty"}, lambda r: bool(r["tags"])),
        ({"field": "tags", "op": "contains", "value": "B"}, lambda r: "B" in r["tags"]),
        ({"not": {"field": "tags", "op": "has_all", "value": ["A", "B"]}}, lambda r: not {"A", "B"} <= set(r["tags"])),
        (
            {"not": {"field": "birth_date", "op": "gte", "value": "1975-01-01"}},
            lambda r: r["birth_date"] is None or str(r["birth_date"]) < "1975-01-01",
        ),
        ({"field": "id", "op": "lte", "value": 3}, lambda r: r["id"] <= 3),
    ],
)
def test_filters_agree_with_the_python_backend(people, condition, check, ctx):
    everything = people.list("customer", limit=200).items
    selected = {r["id"] for r in people.list("customer", filter=condition, limit=200).items}
    assert selected == {r["id"] for r in everything if check(r)}
    assert selected == python_selects(condition, everything)


def python_selects(condition, records) -> set[int]:
    from scrm.data.evaluation import environment, prepared
    from scrm.runtime import snapshot

    check = prepared(snapshot(), condition, snapshot().entity("customer"))
    env = environment(snapshot())
    return {r["id"] for r in records if check.predicate(r, env)}


@pytest.mark.parametrize(
    "condition, path",
    [
        ({"field": "nope", "op": "eq", "value": 1}, "filter.field"),
        ({"field": "asset_tier", "op": "gt", "value": "mass"}, "filter.op"),
        ({"field": "total_assets", "op": "eq", "value": "abc"}, "filter.value"),
        ({"field": "asset_tier", "op": "in", "value": ["mass", None]}, "filter.value"),
        ({"all": []}, "filter"),
        ({"field": "primary_manager.nope", "op": "eq", "value": "x"}, "filter.field"),
        ({"field": "total_assets", "op": "gt", "value": {"field": "name"}}, "filter.value"),
        ({"field": "marketing_dnd", "op": "lt", "value": True}, "filter.op"),
        ({"not": {"expr": {"agg": "sum", "rel": "trades"}, "op": "gt", "value": 1}}, "filter.not.expr"),
    ],
)
def test_bad_filters_are_400_with_a_path(people, condition, path):
    with pytest.raises(BadRequest) as exc:
        people.list("customer", filter=condition)
    assert exc.value.code == "invalid_filter"
    assert exc.value.details[0].path == path


@pytest.mark.parametrize("sort", ["nope", "tags", "notes", "-"])
def test_unsortable_fields_are_refused(people, sort):
    with pytest.raises(BadRequest):
        people.list("customer", sort=sort)


def test_tampered_cursor_is_refused(people):
    page = people.list("customer", limit=5, sort="name")
    with pytest.raises(BadRequest):
        people.list("customer", limit=5, sort="-name", after=page.next)
    with pytest.raises(BadRequest):
        people.list("customer", limit=5, sort="name", after="!!not-base64")


def test_quick_search_covers_search_fields_and_id(people, seed):
    found = people.list("customer", search="310000000001").items
    assert [r["id"] for r in found] == [seed["c1"]]
    assert seed["c2"] in [r["id"] for r in people.list("customer", search=str(seed["c2"]), limit=200).items]
    assert people.list("customer", search="陈静").items[0]["id"] == seed["c3"]
    assert people.list("customer", search="100%_").items == []


@pytest.mark.parametrize("sort", ["marketing_dnd", "-marketing_dnd", "marketing_dnd,-total_assets"])
def test_keyset_over_boolean_sort_keys(people, svc, sort):
    svc.update("customer", people.list("customer", limit=1).items[0]["id"], {"marketing_dnd": True}, version=1)
    walked = walk(people, sort=sort)
    assert len({r["id"] for r in walked}) == len(walked) == 60


@pytest.mark.parametrize(
    "condition",
    [
        {"field": "name", "op": "contains", "value": "äbc"},
        {"field": "name", "op": "contains", "value": "ａｂｃ"},
        {"field": "name", "op": "starts_with", "value": "ÄB"},
        {"field": "name", "op": "not_contains", "value": "ÄBC"},
        {"field": "name", "op": "lt", "value": "b"},
        {"field": "name", "op": "gte", "value": "Banana"},
    ],
)
def test_text_matching_and_ordering_agree_beyond_ascii(svc, ctx, condition):

    for i, name in enumerate(["ÄBC公司", "ＡＢＣ集团", "Banana", "apple", "b", "Zebra", "äbc"]):
        svc.create(
            "customer",
            {"customer_no": f"34000000{i:04d}", "name": name, "id_type": "passport", "id_number": f"X{i:08d}"},
        )
    everything = svc.list("customer", limit=200).items
    selected = {r["id"] for r in svc.list("customer", filter=condition, limit=200).items}
    assert selected == python_selects(condition, everything)
