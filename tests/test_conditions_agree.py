"""Property test: the SQL back-end and the Python back-end select the same records.

Hypothesis draws a small world (customers with NULLs, managers, trades, some soft-deleted), a
moment near a leap day, parameter values (some empty), and nested conditions over every operand
kind: fields and paths, computed fields, calc functions, aggregates with windows and ``where``,
relative dates, parameters, named conditions and metrics. For each condition the set of ids the
Python predicate accepts must equal the set each SQL strategy (grouped derived tables, correlated
subqueries) selects — on SQLite and on PostgreSQL.

A second test proves the property has teeth: a compiler that maps ``not`` straight to SQL NOT
(no negation normal form, no NULL guards) is caught.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from condition_world import PG_URL, world
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from scrm.conditions import ir
from scrm.conditions.implied import guarded, implied
from scrm.conditions.sql import Compiled, Scope, SqlCompiler, compile_sql

CONDITIONS_PER_EXAMPLE = 20
EXAMPLES = 100  # 100 worlds x 20 conditions = 2,000 conditions per database

# -- values ------------------------------------------------------------------------------------
RELTIMES = [
    "now",
    "now-1d",
    "now-7d",
    "now-30d",
    "now-12h",
    "now+1d",
    "now/d",
    "now/w",
    "now/M",
    "now-1M/M",
    "now+1M/M",
    "now-1Q/Q",
    "now/y",
    "now+1y/y",
    "today",
    "today-1d",
    "today+1d",
    "today-1y",
    "today+1M",
    "today-3M/M",
    "today/w",
]
MOMENTS = [
    datetime(2024, 2, 28, 15, 59, tzinfo=UTC),  # 23:59 on 28 Feb in Shanghai (a leap year)
    datetime(2024, 2, 28, 16, 0, tzinfo=UTC),  # midnight of 29 Feb in Shanghai
    datetime(2024, 2, 29, 12, 0, tzinfo=UTC),
    datetime(2024, 3, 1, 1, 0, tzinfo=UTC),
    datetime(2023, 2, 28, 16, 30, tzinfo=UTC),  # 1 Mar 2023 locally: a common year
    datetime(2025, 2, 28, 3, 0, tzinfo=UTC),
    datetime(2028, 2, 29, 10, 0, tzinfo=UTC),
    datetime(2024, 12, 31, 16, 0, tzinfo=UTC),  # new year in Shanghai
]
MONEY = ["0.00", "-5.00", "10.50", "100.00", "333.33", "500.00", "1000.00", "1500.00", "-0.01", "250.25"]
DATES = [
    date(1988, 2, 29),
    date(2000, 2, 28),
    date(2023, 2, 28),
    date(2024, 2, 29),
    date(2024, 3, 1),
    date(1990, 12, 31),
    date(1975, 1, 1),
    date(2024, 2, 28),
    date(2025, 3, 1),
]
ALPHABET = "abAB Ää中文%_z1"
TEXTS = ["", "a", "ab", "Äb", "äB", "中文", "a%", "_", "b", "z1", "AB 中"]


def money_values():
    return st.one_of(
        st.none(),
        st.sampled_from(MONEY).map(Decimal),
        st.decimals(min_value=-2000, max_value=2000, places=2, allow_nan=False),
    )


def dates():
    return st.one_of(st.none(), st.sampled_from(DATES), st.dates(date(1950, 1, 1), date(2030, 12, 31)))


def texts():
    return st.one_of(st.none(), st.sampled_from(TEXTS), st.text(ALPHABET, max_size=4))


@st.composite
def worlds(draw):
    now = draw(st.sampled_from(MOMENTS)) + timedelta(minutes=draw(st.sampled_from([0, 0, 1, -1, 600])))

    def near():
        return st.one_of(st.none(), st.integers(-120 * 24, 40 * 24).map(lambda h: now + timedelta(hours=h)))

    managers = [
        {
            "id": i,
            "name": draw(texts()),
            "level": draw(st.one_of(st.none(), st.integers(0, 5))),
            "region": draw(st.sampled_from([None, "north", "south", "east"])),
        }
        for i in range(1, draw(st.integers(0, 4)) + 1)
    ]
    ids = [m["id"] for m in managers]
    customers = []
    for i in range(1, draw(st.integers(1, 10)) + 1):
        customers.append(
            {
                "id": i,
                "name": draw(texts()),
                "tier": draw(st.sampled_from([None, "mass", "hnw", "uhnw"])),
                "assets": draw(money_values()),
                "prev_assets": draw(money_values()),
                "ratio": draw(st.one_of(st.none(), st.decimals(min_value=-1, max_value=1, places=4, allow_nan=False))),
                "visits": draw(st.one_of(st.none(), st.integers(-3, 40))),
                "birth": draw(dates()),
                "opened": draw(near()),
                "vip": draw(st.sampled_from([None, True, False])),
                "tags": frozenset(draw(st.sets(st.sampled_from(["A", "B", "C"])))),
                "manager": draw(st.sampled_from([None, *ids])) if ids else None,
            }
        )
    trades = []
    for i in range(1, draw(st.integers(0, 25)) + 1):
        moment = draw(near())
        trades.append(
            {
                "id": i,
                "cust": draw(st.sampled_from([None, *[c["id"] for c in customers]])),
                "amount": draw(money_values()),
                "qty": draw(st.one_of(st.none(), st.integers(0, 9))),
                "side": draw(st.sampled_from([None, "buy", "sell"])),
                "traded_at": moment,
                "trade_date": moment.date() if moment is not None and draw(st.booleans()) else draw(dates()),
                "note": draw(texts()),
            }
        )
    deleted = {
        "mgr": set(draw(st.sets(st.sampled_from(ids)))) if ids else set(),
        "trade": set(draw(st.sets(st.sampled_from([t["id"] for t in trades])))) if trades else set(),
        "cust": set(draw(st.sets(st.sampled_from([c["id"] for c in customers]), max_size=1))),
    }
    params = {
        "floor": draw(st.sampled_from([None, "", "100.00", "-1", "500"])),
        "tiers": draw(st.sampled_from([None, [], ["hnw"], ["mass", "uhnw"]])),
        "since": draw(st.sampled_from([None, "1990-01-01", "2024-02-29"])),
    }
    return now, {"mgr": managers, "cust": customers, "trade": trades}, deleted, params


# -- conditions --------------------------------------------------------------------------------
COMPARE = ["eq", "ne", "lt", "lte", "gt", "gte"]
NUMBER_OPS = [*COMPARE, "between", "in", "not_in", "is_null", "is_not_null"]
reltime = st.sampled_from(RELTIMES)


def decimal_literal(places: int = 2):
    pool = st.sampled_from(MONEY + ["0", "-1", "2", "-0.30", "0.5"])
    return st.one_of(pool, st.decimals(min_value=-2000, max_value=2000, places=places, allow_nan=False).map(str))


def date_value():
    return st.one_of(st.sampled_from(DATES).map(date.isoformat), reltime.map(lambda r: {"date": r}))


def number_leaf(left: dict, values, literals=None):
    """A leaf on a number: ``values`` for single comparisons (literals or operands), ``literals``
    for lists (in / between)."""
    literals = values if literals is None else literals

    def build(op):
        if op in ("is_null", "is_not_null"):
            return st.just({**left, "op": op})
        if op == "between":
            return st.tuples(literals, literals).map(lambda v: {**left, "op": op, "value": list(v)})
        if op in ("in", "not_in"):
            return st.lists(literals, min_size=1, max_size=3).map(lambda v: {**left, "op": op, "value": v})
        return values.map(lambda v: {**left, "op": op, "value": v})

    return st.sampled_from(NUMBER_OPS).flatmap(build)


def money_field():
    fields = [{"field": "assets"}, {"field": "prev_assets"}, {"field": "net"}]
    values = st.one_of(decimal_literal(), st.sampled_from(fields))
    return st.sampled_from(fields).flatmap(lambda lf: number_leaf(lf, values, decimal_literal()))


def text_leaf(left: dict):
    op = st.sampled_from(
        [
            "eq",
            "ne",
            "lt",
            "gte",
            "contains",
            "not_contains",
            "starts_with",
            "ends_with",
            "is_empty",
            "is_not_empty",
            "in",
        ]
    )

    def build(o):
        if o in ("is_empty", "is_not_empty"):
            return st.just({**left, "op": o})
        if o == "in":
            return st.lists(st.sampled_from(TEXTS), min_size=1, max_size=3).map(lambda v: {**left, "op": o, "value": v})
        value = st.sampled_from(
            [t for t in TEXTS if t] if o in ("contains", "not_contains", "starts_with", "ends_with") else TEXTS
        )
        return st.tuples(value, st.booleans()).map(lambda t: {**left, "op": o, "value": t[0], "ci": t[1]})

    return op.flatmap(build)


def date_leaf(left: dict, kind: str):
    literal = (
        date_value()
        if kind == "date"
        else st.one_of(
            reltime.map(lambda r: {"time": r}), st.sampled_from(["2024-02-28T16:00:00Z", "2024-01-01T00:00:00+08:00"])
        )
    )
    ops = ["eq", "ne", "lt", "lte", "gt", "gte", "in_period", "within_last", "within_next", "is_null"]
    if kind == "date":
        ops.append("anniversary_is")

    def build(o):
        if o == "is_null":
            return st.just({**left, "op": o})
        if o == "in_period":
            return (
                st.fixed_dictionaries({}, optional={"from": reltime, "to": reltime})
                .filter(bool)
                .map(lambda p: {**left, "op": o, "value": p})
            )
        if o in ("within_last", "within_next"):
            units = "dwMy" if kind == "date" else "hdwM"
            return st.tuples(st.integers(0, 40), st.sampled_from(units)).map(
                lambda t: {**left, "op": o, "value": f"{t[0]}{t[1]}"}
            )
        if o == "anniversary_is":
            return reltime.map(lambda r: {**left, "op": o, "value": {"date": r}})
        return literal.map(lambda v: {**left, "op": o, "value": v})

    return st.sampled_from(ops).flatmap(build)


def calc_leaf():
    pct = {"calc": "pct_change", "args": [{"field": "prev_assets"}, {"field": "assets"}]}
    decimals = st.sampled_from(
        [
            pct,
            {"calc": "sub", "args": [{"field": "assets"}, {"field": "prev_assets"}]},
            {"calc": "add", "args": [{"field": "assets"}, {"field": "visits"}]},
            {"calc": "mul", "args": [{"field": "ratio"}, {"field": "assets"}]},
            {"calc": "div", "args": [{"field": "assets"}, {"field": "visits"}]},
            {"calc": "div", "args": [{"field": "prev_assets"}, "-3"]},
            {"calc": "round", "args": [{"calc": "div", "args": [{"field": "assets"}, 3]}, 1]},
            {"calc": "round", "args": [{"field": "ratio"}, 2]},
            {"calc": "abs", "args": [{"field": "prev_assets"}]},
            {"calc": "coalesce", "args": [{"field": "assets"}, {"field": "prev_assets"}, "0"]},
            {"calc": "coalesce", "args": [pct, {"field": "ratio"}]},
        ]
    )
    integers = st.sampled_from(
        [
            {"calc": "round", "args": [{"calc": "mul", "args": [{"field": "assets"}, "0.015"]}]},
            {"calc": "neg", "args": [{"field": "visits"}]},
            {"calc": "days_between", "args": [{"field": "birth"}, {"date": "today"}]},
            {"calc": "days_between", "args": [{"field": "opened"}, {"time": "now"}]},
            {"calc": "years_between", "args": [{"field": "birth"}, {"date": "today"}]},
            {"calc": "date_part", "args": ["month", {"field": "birth"}]},
            {"calc": "date_part", "args": ["dow", {"field": "opened"}]},
            {"calc": "date_part", "args": ["hour", {"field": "opened"}]},
            {"calc": "date_part", "args": ["quarter", {"field": "birth"}]},
            {"calc": "date_part", "args": ["doy", {"field": "birth"}]},
        ]
    )
    fields = st.sampled_from([{"field": "assets"}, {"field": "ratio"}, {"field": "visits"}])
    whole = st.integers(-3, 400)
    decimal_leaf = decimals.flatmap(
        lambda e: number_leaf({"expr": e}, st.one_of(decimal_literal(4), fields), decimal_literal(4))
    )
    integer_leaf = integers.flatmap(lambda e: number_leaf({"expr": e}, st.one_of(whole, fields), whole))
    texty = st.sampled_from(
        [
            {"calc": "lower", "args": [{"field": "name"}]},
            {"calc": "concat", "args": [{"field": "name"}, {"field": "tier"}]},
            {"calc": "lower", "args": [{"field": "manager.name"}]},
        ]
    ).flatmap(lambda e: text_leaf({"expr": e}))
    return st.one_of(decimal_leaf, integer_leaf, texty)


def where_clause():
    return st.one_of(
        st.sampled_from(["buy", "sell"]).map(lambda s: {"field": "side", "op": "eq", "value": s}),
        decimal_literal().map(lambda v: {"field": "amount", "op": "gt", "value": v}),
        st.just({"field": "amount", "op": "gt", "value": {"record": "assets"}}),
        st.just({"not": {"field": "note", "op": "contains", "value": "a"}}),
        st.just({"field": "cust.tier", "op": "in", "value": ["hnw", "uhnw"]}),
        st.just({"any": [{"field": "qty", "op": "gte", "value": 5}, {"field": "side", "op": "is_null"}]}),
    )


@st.composite
def agg_leaf(draw):
    fn = draw(st.sampled_from(["count", "count_distinct", "sum", "avg", "min", "max", "first", "last", "exists"]))
    agg = {"agg": fn, "rel": "trades"}
    of = {
        "count": [None, "amount"],
        "count_distinct": ["side", "amount", "trade_date"],
        "sum": ["amount", "qty"],
        "avg": ["amount", "qty"],
        "min": ["amount", "traded_at", "note", "trade_date"],
        "max": ["amount", "traded_at", "trade_date"],
        "first": ["amount", "side", "qty"],
        "last": ["amount", "side", "traded_at"],
        "exists": [None],
    }[fn]
    chosen = draw(st.sampled_from(of))
    if chosen:
        agg["of"] = chosen
    if draw(st.booleans()):
        agg["where"] = draw(where_clause())
    if draw(st.booleans()) or fn in ("first", "last"):
        window_field = draw(st.sampled_from(["traded_at", "trade_date"]))
        window = {"field": window_field}
        for end in ("from", "to"):
            if draw(st.booleans()):
                window[end] = draw(reltime)
        agg["window"] = window
    if fn in ("first", "last") and draw(st.booleans()):
        agg["order_by"] = draw(st.sampled_from(["amount", "trade_date", "traded_at"]))
    left = {"expr": agg}
    if fn == "exists":
        return {**left, "op": draw(st.sampled_from(["eq", "ne"])), "value": draw(st.booleans())}
    kind = {"side": "string", "note": "string", "traded_at": "datetime", "trade_date": "date"}.get(chosen, "number")
    if fn in ("count", "count_distinct"):
        kind = "number"
    if kind == "string":
        return draw(text_leaf(left))
    if kind in ("date", "datetime"):
        return draw(date_leaf(left, kind))
    if fn in ("sum", "min", "max") and draw(st.booleans()):
        return {**left, "op": draw(st.sampled_from(COMPARE)), "value": {"field": "assets"}}
    if fn in ("count", "count_distinct") or (chosen == "qty" and fn != "avg"):
        return draw(number_leaf(left, st.integers(0, 8)))
    return draw(number_leaf(left, decimal_literal(3)))


def leaves():
    return st.one_of(
        money_field(),
        number_leaf({"field": "visits"}, st.integers(-3, 40)),
        number_leaf({"field": "age"}, st.integers(0, 80)),
        number_leaf({"field": "share"}, decimal_literal(4)),
        number_leaf({"field": "ratio"}, st.one_of(decimal_literal(4), st.just({"field": "share"})), decimal_literal(4)),
        number_leaf({"field": "manager.level"}, st.integers(0, 5)),
        st.sampled_from(["eq", "ne", "in", "not_in", "is_null", "is_not_null"]).flatmap(
            lambda o: (
                st.just({"field": "tier", "op": o})
                if o.startswith("is_")
                else st.just({"field": "tier", "op": o, "value": ["hnw", "mass"] if "in" in o else "hnw"})
            )
        ),
        st.sampled_from(["eq", "ne", "in", "is_null"]).map(
            lambda o: (
                {"field": "manager.region", "op": o}
                if o == "is_null"
                else {"field": "manager.region", "op": o, "value": ["north"] if o == "in" else "south"}
            )
        ),
        text_leaf({"field": "name"}),
        text_leaf({"field": "manager.name"}),
        date_leaf({"field": "birth"}, "date"),
        date_leaf({"field": "opened"}, "datetime"),
        st.sampled_from(
            [
                {"field": "vip", "op": "eq", "value": True},
                {"field": "vip", "op": "ne", "value": False},
                {"field": "vip", "op": "is_null"},
            ]
        ),
        st.tuples(
            st.sampled_from(["has_any", "has_all", "has_none", "contains"]),
            st.lists(st.sampled_from(["A", "B", "C"]), min_size=1, max_size=2),
        ).map(lambda t: {"field": "tags", "op": t[0], "value": t[1][0] if t[0] == "contains" else t[1]}),
        st.sampled_from([{"field": "tags", "op": "is_empty"}, {"field": "tags", "op": "is_not_empty"}]),
        st.sampled_from([{"use": "rich"}, {"use": "falling"}]),
        st.sampled_from(
            [
                {"field": "assets", "op": "gte", "value": {"param": "floor"}},
                {"field": "tier", "op": "in", "value": {"param": "tiers"}},
                {"field": "birth", "op": "gte", "value": {"param": "since"}},
                {"expr": {"metric": "outflow"}, "op": "gt", "value": "100"},
                {"field": "assets", "op": "gt", "value": {"field": "prev_assets"}},
            ]
        ),
        calc_leaf(),
        agg_leaf(),
    )


conditions = st.recursive(
    leaves(),
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda xs: {"all": xs}),
        st.lists(children, min_size=1, max_size=3).map(lambda xs: {"any": xs}),
        children.map(lambda c: {"not": c}),
    ),
    max_leaves=5,
)


# -- the property ------------------------------------------------------------------------------
@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared_world(request, tmp_path_factory):
    if request.param == "postgresql" and not PG_URL:
        pytest.skip("SCRM_TEST_DATABASE_URL is not set")
    with world(request.param, tmp_path_factory.mktemp("world")) as w:
        yield w


def disagreements(w, example, conds, compiler=None) -> list[tuple]:
    now, rows, deleted, params = example
    w.load(rows, deleted)
    env = w.env(now, params)
    found = []
    for cond in conds:
        node = w.prepare(cond)
        expected = w.python_ids(node, env)
        strategies = [("batch", dict(batch=True)), ("correlated", dict(batch=False))]
        strategies += [(f"night run, {name}", dict(compiler=night_run(batch))) for name, batch in SET_WIDE]
        if compiler is not None:
            strategies = [("naive", dict(compiler=compiler))]
        for name, how in strategies:
            got = w.sql_ids(node, env, **how)
            if got != expected:
                found.append((name, cond, sorted(expected), sorted(got)))
    return found


SET_WIDE = [("batch", True), ("correlated", False)]


def night_run(batch: bool):
    """A rule's night run: semi-joins, inner joins to the derived tables the condition needs, and
    the bound every alternative of a top ``any`` implies tested ahead of it (``guarded``)."""
    return lambda node, entity, tables, env, dialect: compile_sql(
        guarded(node), entity, tables, env, dialect, batch=batch, set_wide=True
    )


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # no shrinking: the report names the conditions
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(example=worlds(), conds=st.lists(conditions, min_size=CONDITIONS_PER_EXAMPLE, max_size=CONDITIONS_PER_EXAMPLE))
def test_sql_and_python_select_the_same_records(shared_world, example, conds):
    assert disagreements(shared_world, example, conds) == []
    COUNTED[shared_world.dialect] = COUNTED.get(shared_world.dialect, 0) + len(conds)


COUNTED: dict[str, int] = {}


BOUNDED = ["avg", "sum", "count", "max"]


@st.composite
def alternatives_with_a_common_bound(draw):
    """``any`` of branches that each bound one aggregate the same way (and test something else):
    the shape ``guarded`` adds a test ahead of, e.g. ``alr_tier_upgrade``."""
    fn = draw(st.sampled_from(BOUNDED))
    agg = {"agg": fn, "rel": "trades"} | ({"of": "amount"} if fn != "count" else {})
    if draw(st.booleans()):
        agg["window"] = {"field": "trade_date", "from": draw(st.sampled_from(RELTIMES))}
    ops = draw(st.sampled_from([("gte", "gt"), ("lte", "lt")]))
    value = st.integers(0, 4) if fn == "count" else decimal_literal(3)
    branches = []
    for _ in range(draw(st.integers(2, 3))):
        bound = {"expr": agg, "op": draw(st.sampled_from(ops)), "value": draw(value)}
        branches.append({"all": [bound, draw(leaves())]} if draw(st.booleans()) else bound)
    shape = {"any": branches}
    return {"all": [draw(leaves()), shape]} if draw(st.booleans()) else shape


@settings(
    max_examples=25,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(example=worlds(), conds=st.lists(alternatives_with_a_common_bound(), min_size=8, max_size=8))
def test_the_bound_alternatives_imply_changes_no_answer(shared_world, example, conds):
    """Every condition drawn has the implied bound, and with it both SQL strategies select what
    the Python back-end does."""
    for cond in conds:
        node = shared_world.prepare(cond)
        assert guarded(node) is not node, cond
    assert disagreements(shared_world, example, conds) == []


@pytest.mark.parametrize(
    ("ops_and_values", "expected"),
    [
        ([("gte", 1000000), ("gte", 5000000)], ("gte", 1000000)),
        ([("gt", 5), ("gte", 5)], ("gte", 5)),
        ([("gt", 5), ("gt", 7)], ("gt", 5)),
        ([("lt", 3), ("lte", 9), ("lt", 9)], ("lte", 9)),
        ([("gte", 5), ("lte", 9)], None),
    ],
)
def test_the_loosest_bound_is_implied(shared_world, ops_and_values, expected):
    avg = {"agg": "avg", "rel": "trades", "of": "amount"}
    cond = {"any": [{"all": [{"expr": avg, "op": op, "value": v}, {"field": "vip", "op": "eq", "value": True}]}
                    for op, v in ops_and_values]}  # fmt: skip
    found = implied(shared_world.prepare(cond))
    assert (None if found is None else (found.op, found.args[0].value)) == expected


def test_no_bound_when_a_branch_does_not_need_one(shared_world):
    avg = {"agg": "avg", "rel": "trades", "of": "amount"}
    cond = {"any": [{"expr": avg, "op": "gte", "value": 5}, {"field": "vip", "op": "eq", "value": True}]}
    assert implied(shared_world.prepare(cond)) is None
    negated = shared_world.prepare({"not": {"any": [{"expr": avg, "op": "gte", "value": 5}] * 2}})
    assert guarded(negated) is negated  # never under a not


def test_the_property_ran_two_thousand_conditions(shared_world):
    """Runs after the property (file order): at least 2,000 conditions on each database."""
    if shared_world.dialect not in COUNTED:
        pytest.skip("the property test was not selected")
    assert COUNTED[shared_world.dialect] >= 2000


class NaiveNotCompiler(SqlCompiler):
    """What a naive compiler does: ``not`` becomes SQL NOT, with no NULL guards."""

    def condition(self, n, scope, neg=False):
        if isinstance(n, ir.Not):
            inner = super().condition(n.item, scope, False)
            return None if inner is None else sa.not_(inner)
        return super().condition(n, scope, neg)


def naive(node, entity, tables, env, dialect) -> Compiled:
    scope = Scope(entity, tables[entity.name].main, [])
    where = NaiveNotCompiler(tables, env, dialect).condition(node, scope)
    return Compiled(where if where is not None else sa.true(), scope.joins)


def test_the_property_catches_a_naive_not_compiler(shared_world):
    found = find(
        st.tuples(worlds(), st.lists(conditions, min_size=5, max_size=5)),
        lambda ex: bool(disagreements(shared_world, ex[0], ex[1], compiler=naive)),
        settings=settings(
            max_examples=300,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.generate],  # the first example found will do: shrinking took minutes
            suppress_health_check=list(HealthCheck),
        ),  # fmt: skip
    )
    assert disagreements(shared_world, found[0], found[1], compiler=naive)
