"""Truth tables: every operator on a fixed set of rows, NULLs included, on both back-ends.

Each case lists the customers it must select; its negation must select exactly the others (the
language is two-valued: a comparison with an empty value is false, so ``not`` of it is true).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from condition_world import PG_URL, world

NOW = datetime(2024, 2, 28, 16, 0, tzinfo=UTC)  # midnight of 29 February 2024 in Shanghai
COMMON_YEAR = datetime(2025, 2, 28, 4, 0, tzinfo=UTC)  # noon of 28 February 2025 in Shanghai
ALL = {1, 2, 3, 4}

ROWS = {
    "mgr": [{"id": 1, "name": "Ann", "level": 3, "region": "north"}, {"id": 2, "name": "Bo", "level": 5}],
    "cust": [
        {
            "id": 1,
            "name": "Alpha",
            "tier": "hnw",
            "assets": Decimal("100.00"),
            "prev_assets": Decimal("200.00"),
            "visits": 3,
            "birth": date(1988, 2, 29),
            "opened": datetime(2024, 2, 20, tzinfo=UTC),
            "vip": True,
            "tags": frozenset({"A", "B"}),
            "manager": 1,
        },
        {
            "id": 2,
            "name": "beta%",
            "tier": "mass",
            "assets": Decimal("0.00"),
            "prev_assets": Decimal("0.00"),
            "visits": 0,
            "birth": date(2000, 2, 28),
            "opened": datetime(2024, 1, 1, tzinfo=UTC),
            "vip": False,
            "tags": frozenset({"B"}),
            "manager": 2,
        },
        {"id": 3, "tags": frozenset()},
        {
            "id": 4,
            "name": "",
            "tier": "uhnw",
            "assets": Decimal("-5.50"),
            "prev_assets": Decimal("-5.00"),
            "visits": 10,
            "birth": date(2023, 2, 28),
            "opened": datetime(2024, 2, 28, 15, tzinfo=UTC),
            "tags": frozenset({"C"}),
        },
    ],
    "trade": [
        {"id": 1, "cust": 1, "amount": Decimal("10.00"), "side": "sell", "traded_at": NOW - timedelta(days=1)},
        {"id": 2, "cust": 1, "amount": Decimal("20.00"), "side": "buy", "traded_at": NOW - timedelta(days=40)},
        {"id": 3, "cust": 2, "amount": Decimal("5.00"), "side": "sell", "traded_at": NOW - timedelta(days=2)},
        {"id": 4, "cust": 4, "side": "sell", "traded_at": NOW - timedelta(days=3)},
    ],
}
DELETED = {"mgr": {2}, "trade": {3}}

COUNT_30D = {"agg": "count", "rel": "trades", "window": {"field": "traded_at", "from": "now-30d", "to": "now"}}
CASES = [
    # comparisons
    ({"field": "assets", "op": "eq", "value": "100"}, {1}),
    ({"field": "assets", "op": "ne", "value": "100"}, {2, 3, 4}),
    ({"field": "assets", "op": "lt", "value": "0"}, {4}),
    ({"field": "assets", "op": "lte", "value": "0"}, {2, 4}),
    ({"field": "assets", "op": "gt", "value": "0"}, {1}),
    ({"field": "assets", "op": "gte", "value": "0"}, {1, 2}),
    ({"field": "assets", "op": "between", "value": ["-10", "0"]}, {2, 4}),
    ({"field": "assets", "op": "in", "value": ["0", "100"]}, {1, 2}),
    ({"field": "assets", "op": "not_in", "value": ["0", "100"]}, {3, 4}),
    ({"field": "assets", "op": "lt", "value": {"field": "prev_assets"}}, {1, 4}),
    ({"field": "assets", "op": "is_null"}, {3}),
    ({"field": "assets", "op": "is_not_null"}, {1, 2, 4}),
    ({"field": "tier", "op": "in", "value": ["hnw", "uhnw"]}, {1, 4}),
    ({"field": "vip", "op": "eq", "value": True}, {1}),
    ({"field": "vip", "op": "ne", "value": True}, {2, 3, 4}),
    ({"field": "vip", "op": "is_null"}, {3, 4}),
    # texts
    ({"field": "name", "op": "is_empty"}, {3, 4}),
    ({"field": "name", "op": "is_not_empty"}, {1, 2}),
    ({"field": "name", "op": "contains", "value": "A"}, {1, 2}),
    ({"field": "name", "op": "contains", "value": "A", "ci": False}, {1}),
    ({"field": "name", "op": "contains", "value": "%"}, {2}),
    ({"field": "name", "op": "not_contains", "value": "a"}, {3, 4}),
    ({"field": "name", "op": "starts_with", "value": "al"}, {1}),
    ({"field": "name", "op": "ends_with", "value": "%"}, {2}),
    ({"field": "name", "op": "lt", "value": "b"}, {1, 4}),
    ({"field": "name", "op": "gte", "value": "b"}, {2}),
    # sets
    ({"field": "tags", "op": "has_any", "value": ["A", "C"]}, {1, 4}),
    ({"field": "tags", "op": "has_all", "value": ["A", "B"]}, {1}),
    ({"field": "tags", "op": "has_none", "value": ["B"]}, {3, 4}),
    ({"field": "tags", "op": "contains", "value": "B"}, {1, 2}),
    ({"field": "tags", "op": "is_empty"}, {3}),
    ({"field": "tags", "op": "is_not_empty"}, {1, 2, 4}),
    # time (today is 29 February 2024 in Shanghai)
    ({"field": "birth", "op": "anniversary_is", "value": {"date": "today"}}, {1}),
    ({"field": "birth", "op": "anniversary_is", "value": {"date": "today-1d"}}, {2, 4}),
    ({"field": "birth", "op": "within_last", "value": "1y"}, {4}),
    ({"field": "birth", "op": "lt", "value": {"date": "today-30y"}}, {1}),
    ({"field": "opened", "op": "within_last", "value": "7d"}, {4}),
    ({"field": "opened", "op": "in_period", "value": {"from": "today-30d", "to": "today"}}, {1, 4}),
    ({"field": "opened", "op": "in_period", "value": {"from": "now/M"}}, {1, 4}),
    ({"field": "opened", "op": "gte", "value": {"time": "now-1M/M"}}, {1, 2, 4}),  # 1 Jan, local midnight
    # paths (manager 2 is deleted: its fields read as empty)
    ({"field": "manager.level", "op": "gte", "value": 1}, {1}),
    ({"field": "manager.region", "op": "is_null"}, {2, 3, 4}),
    # aggregates (trade 3 is deleted; trade 4 has no amount)
    ({"expr": COUNT_30D, "op": "gte", "value": 1}, {1, 4}),
    ({"expr": {"agg": "count", "rel": "trades"}, "op": "eq", "value": 0}, {2, 3}),
    ({"expr": {"agg": "count", "rel": "trades", "of": "amount"}, "op": "eq", "value": 0}, {2, 3, 4}),
    ({"expr": {"agg": "sum", "rel": "trades", "of": "amount"}, "op": "eq", "value": "0"}, {2, 3, 4}),
    ({"expr": {"agg": "avg", "rel": "trades", "of": "amount"}, "op": "eq", "value": "15"}, {1}),
    ({"expr": {"agg": "avg", "rel": "trades", "of": "amount"}, "op": "is_null"}, {2, 3, 4}),
    ({"expr": {"agg": "max", "rel": "trades", "of": "amount"}, "op": "lt", "value": "100"}, {1}),
    (
        {"expr": {"agg": "last", "rel": "trades", "of": "side", "order_by": "traded_at"}, "op": "eq", "value": "sell"},
        {1, 4},
    ),
    (
        {"expr": {"agg": "first", "rel": "trades", "of": "amount", "order_by": "traded_at"}, "op": "eq", "value": "20"},
        {1},
    ),
    (
        {
            "expr": {"agg": "exists", "rel": "trades", "where": {"field": "side", "op": "eq", "value": "buy"}},
            "op": "eq",
            "value": True,
        },
        {1},
    ),
    (
        {
            "expr": {
                "agg": "sum",
                "rel": "trades",
                "of": "amount",
                "where": {"field": "amount", "op": "lt", "value": {"record": "assets"}},
            },
            "op": "gt",
            "value": 0,
        },
        {1},
    ),
    # functions
    (
        {
            "expr": {"calc": "pct_change", "args": [{"field": "prev_assets"}, {"field": "assets"}]},
            "op": "lte",
            "value": "-0.5",
        },
        {1},
    ),
    ({"expr": {"calc": "div", "args": [{"field": "assets"}, {"field": "visits"}]}, "op": "gt", "value": 10}, {1}),
    (
        {
            "expr": {"calc": "round", "args": [{"calc": "div", "args": [{"field": "assets"}, 3]}, 1]},
            "op": "eq",
            "value": "33.3",
        },
        {1},
    ),
    ({"expr": {"calc": "round", "args": [{"field": "assets"}]}, "op": "eq", "value": -6}, {4}),
    ({"expr": {"calc": "coalesce", "args": [{"field": "assets"}, 7]}, "op": "eq", "value": 7}, {3}),
    (
        {"expr": {"calc": "years_between", "args": [{"field": "birth"}, {"date": "today"}]}, "op": "eq", "value": 36},
        {1},
    ),
    (
        {"expr": {"calc": "days_between", "args": [{"field": "opened"}, {"time": "now"}]}, "op": "lte", "value": 9},
        {1, 4},
    ),
    ({"expr": {"calc": "date_part", "args": ["dow", {"field": "birth"}]}, "op": "eq", "value": 1}, {1, 2}),  # Mondays
    ({"expr": {"calc": "lower", "args": [{"field": "name"}]}, "op": "eq", "value": "alpha"}, {1}),
    (
        {"expr": {"calc": "concat", "args": [{"field": "tier"}, ":", {"field": "name"}]}, "op": "eq", "value": "uhnw:"},
        {4},
    ),
    # computed fields: net = assets - prev_assets, age = years to today, share = prev / assets (3 places)
    ({"field": "net", "op": "lt", "value": "0"}, {1, 4}),
    ({"field": "age", "op": "gte", "value": 24}, {1, 2}),
    ({"field": "share", "op": "eq", "value": "0.909"}, {4}),
    ({"field": "share", "op": "is_null"}, {2, 3}),
]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def rows(request, tmp_path_factory):
    if request.param == "postgresql" and not PG_URL:
        pytest.skip("SCRM_TEST_DATABASE_URL is not set")
    with world(request.param, tmp_path_factory.mktemp("truth")) as w:
        w.load(ROWS, DELETED)
        yield w


def selections(w, condition, now=NOW) -> dict[str, set[int]]:
    node = w.prepare(condition)
    env = w.env(now)
    return {
        "python": w.python_ids(node, env),
        "sql (grouped)": w.sql_ids(node, env, batch=True),
        "sql (correlated)": w.sql_ids(node, env, batch=False),
    }


@pytest.mark.parametrize("condition, expected", CASES, ids=[f"{i:02d}" for i in range(len(CASES))])
def test_operator_truth_table(rows, condition, expected):
    assert selections(rows, condition) == dict.fromkeys(("python", "sql (grouped)", "sql (correlated)"), expected)
    negated = selections(rows, {"not": condition})
    assert negated == dict.fromkeys(("python", "sql (grouped)", "sql (correlated)"), ALL - expected)


@pytest.mark.parametrize(
    "condition, expected",
    [
        ({"field": "birth", "op": "anniversary_is", "value": {"date": "today"}}, {1, 2, 4}),  # 29 Feb on 28 Feb
        (
            {
                "expr": {"calc": "years_between", "args": [{"field": "birth"}, {"date": "today"}]},
                "op": "eq",
                "value": 36,
            },
            {1},
        ),  # born 29 Feb 1988: still 36 on 28 Feb 2025
        ({"field": "birth", "op": "in_period", "value": {"from": "today-2y/y", "to": "today/y"}}, {4}),
    ],
)
def test_leap_day_rules_in_a_common_year(rows, condition, expected):
    assert set(map(frozenset, selections(rows, condition, COMMON_YEAR).values())) == {frozenset(expected)}


def test_parameters_without_a_value_leave_their_leaf_out(rows):
    node = rows.prepare(
        {
            "all": [
                {"field": "assets", "op": "gte", "value": {"param": "floor"}},
                {"field": "tier", "op": "in", "value": {"param": "tiers"}},
            ]
        }
    )
    for params, expected in (
        ({}, ALL),
        ({"floor": "50"}, {1}),
        ({"tiers": ["mass"], "floor": ""}, {2}),
        ({"tiers": [], "floor": None}, ALL),
    ):
        env = rows.env(NOW, params)
        assert rows.python_ids(node, env) == rows.sql_ids(node, env) == expected


@pytest.mark.parametrize("params, joined", [({}, False), ({"tiers": []}, False), ({"tiers": ["Zhang"]}, True)])
def test_a_path_whose_parameter_has_no_value_joins_nothing(rows, params, joined):
    """A dashboard filter `manager.name in {param}` with nothing chosen costs no join."""
    node = rows.prepare({"field": "manager.name", "op": "in", "value": {"param": "tiers"}})
    sql = rows.sql_text(node, rows.env(NOW, params))
    assert ("JOIN" in sql) == joined, sql


@pytest.mark.parametrize(
    "condition, old, expected",
    [
        ({"field": "tier", "op": "changed"}, {"tier": "hnw"}, {2, 3, 4}),  # 3: was hnw, now empty
        ({"field": "tier", "op": "changed"}, {}, {1, 2, 4}),  # empty before: changed unless still empty
        ({"field": "tier", "op": "changed_to", "value": "hnw"}, {"tier": "mass"}, {1}),
        ({"field": "tier", "op": "changed_to", "value": "hnw"}, {"tier": "hnw"}, set()),
        ({"field": "tier", "op": "changed_from", "value": "hnw"}, {"tier": "hnw"}, {2, 3, 4}),
        ({"field": "assets", "op": "gt", "value": {"old": "assets"}}, {"assets": Decimal("50")}, {1}),
        ({"not": {"field": "assets", "op": "gt", "value": {"old": "assets"}}}, {"assets": Decimal("50")}, {2, 3, 4}),
    ],
)
def test_change_operators_compare_with_the_old_values(rows, condition, old, expected):
    from scrm.conditions import Preparer

    node = Preparer(rows.types, rows.entities.get, "check").condition(condition, rows.entities["cust"])
    env = rows.env(NOW, old=old)
    assert rows.python_ids(node, env) == rows.sql_ids(node, env) == expected


def test_lookup_filters_read_the_outer_record(rows):
    """A lookup on trades filtered by the customer being edited (``record`` at the top level)."""
    from scrm.conditions import ConditionError, Preparer

    cust, trade = rows.entities["cust"], rows.entities["trade"]
    condition = {
        "all": [
            {"field": "cust", "op": "eq", "value": {"record": "id"}},
            {"field": "amount", "op": "lt", "value": {"record": "assets"}},
        ]
    }
    node = Preparer(rows.types, rows.entities.get, "lookup", outer=cust).condition(condition, trade)
    env = rows.env(NOW, record=ROWS["cust"][0])
    assert rows.python_ids(node, env, entity="trade") == rows.sql_ids(node, env, entity="trade") == {1, 2}
    with pytest.raises(ConditionError) as refused:  # a list filter has no outer record
        Preparer(rows.types, rows.entities.get, "filter").condition(condition, trade)
    assert (refused.value.code, refused.value.path) == ("E-COND-004", "$.all[0].value.record")
