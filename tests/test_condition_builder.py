"""The designer's condition builder: any condition opens as rows and comes back the same, rows
are added and removed, values are checked at their row, and "matches N records now" counts
within a time limit."""

import json
import re

import pytest
import sqlalchemy as sa
from support import form_data
from werkzeug.datastructures import MultiDict

URL = "/design/condition"


def builder(client, entity: str, data) -> str:
    page = client.get("/design/")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    pairs = [("csrf_token", token), *data]
    r = client.post(f"{URL}?prefix=c&entity={entity}", data=MultiDict(pairs))
    assert r.status_code == 200, r.get_data(as_text=True)[:400]
    return r.get_data(as_text=True)


def fields_of(html: str) -> list[tuple[str, str]]:
    return [(k, v) for k, v in form_data(f'<form class="scrm-form">{html}</form>') if k.startswith("c:")]


def preview(html: str):
    raw = re.search(r'<pre class="small mb-0 scrm-cb-preview">(.*?)</pre>', html, re.S).group(1)
    return json.loads(raw.replace("&#34;", '"').replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
                      .replace("&amp;", "&"))  # fmt: skip


def opened(client, entity: str, cond) -> str:
    return builder(client, entity, [("cb_json", json.dumps(cond, ensure_ascii=False))])


ROUND_TRIPS = [
    {"all": [{"field": "asset_tier", "op": "eq", "value": "hnw"}]},
    {"any": [{"field": "asset_tier", "op": "in", "value": ["wealth", "hnw"]}, {"field": "email", "op": "is_null"}]},
    {"all": [{"field": "investment_experience_years", "op": "between", "value": [2, 10]}]},
    {"all": [{"field": "opened_at", "op": "gte", "value": {"date": "today-30d"}}]},
    {"all": [{"field": "risk_valid_until", "op": "within_next", "value": "30d"}]},
    {"not": {"all": [{"field": "customer_status", "op": "eq", "value": "closed"}, {"field": "name", "op": "contains",
                                                                                    "value": "王"}]}},  # fmt: skip
    {"all": [{"field": "asset_tier", "op": "ne", "value": "mass"},
             {"any": [{"field": "vip_level", "op": "is_not_null"}, {"use": "serviceable"}]}]},  # fmt: skip
    {"all": [{"expr": {"agg": "count", "rel": "trades", "window": {"field": "trade_time", "from": "now-30d", "to": "now"},
                       "where": {"all": [{"field": "side", "op": "eq", "value": "buy"}]}}, "op": "gte", "value": 3}]},
    {"all": [{"expr": {"agg": "exists", "rel": "complaints"}, "op": "eq", "value": True}]},
    {"all": [{"expr": {"metric": "out_5d"}, "op": "gt", "value": {"param": "threshold"}}]},
]  # fmt: skip


@pytest.mark.parametrize("cond", ROUND_TRIPS, ids=range(len(ROUND_TRIPS)))
def test_a_condition_opens_as_rows_and_comes_back_the_same(client, seed, cond):
    first = opened(client, "customer", cond)
    assert preview(first) == cond
    again = builder(client, "customer", fields_of(first))
    assert preview(again) == cond


def test_rows_are_added_and_removed(client, seed):
    html = opened(client, "customer", {"all": [{"field": "asset_tier", "op": "eq", "value": "hnw"}]})
    added = builder(client, "customer", [*fields_of(html), ("c:action", "add_group:r")])
    assert 'data-path="r.1"' in added
    nested = builder(client, "customer", [*fields_of(added), ("c:action", "add_leaf:r.1")])
    assert 'data-path="r.1.0"' in nested
    agg = builder(client, "customer", [*fields_of(nested), ("c:action", "add_agg:r")])
    assert 'id="c-r-2-rel"' in agg
    removed = builder(client, "customer", [*fields_of(agg), ("c:action", "remove:r.0")])
    assert 'value="hnw" selected' not in removed
    assert 'data-path="r.2"' not in removed


@pytest.mark.parametrize(
    "field, op, value, message",
    [
        ("investment_experience_years", "gt", "many", "many"),
        ("opened_at", "gte", "today-3x", "today"),
        ("risk_valid_until", "within_next", "0", "3660"),
    ],
)
def test_a_value_that_does_not_fit_is_reported_at_its_row(client, seed, field, op, value, message):
    rows = [("c:r:t", "group"), ("c:r:m", "all"), ("c:r.0:t", "leaf"), ("c:r.0:f", field), ("c:r.0:o", op),
            ("c:r.0:v", value)]  # fmt: skip
    html = builder(client, "customer", rows)
    error = re.search(r'scrm-cb-error">(.*?)</div>', html, re.S)
    assert error and message in error.group(1)
    assert not re.search(r"matches|当前匹配", html.split('id="cb-c-count"')[1][:300])


def test_it_counts_the_matching_records_now(client, seed):
    html = opened(client, "customer", {"all": [{"field": "asset_tier", "op": "in", "value": ["hnw", "wealth"]}]})
    assert re.search(r"(matches 2 records now|当前匹配 2 条记录)", html)


def test_an_unknown_entity_or_prefix_is_not_found(client, seed):
    page = client.get("/design/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post(f"{URL}?prefix=c&entity=nope", data={"csrf_token": token}).status_code == 404
    assert client.post(f"{URL}?prefix=C;x&entity=customer", data={"csrf_token": token}).status_code == 404
    bad = client.post(f"{URL}?prefix=c&entity=customer", data={"cb_json": "{", "csrf_token": token})
    assert bad.status_code == 400


def test_a_slow_statement_is_cancelled_at_the_time_limit(app):
    from scrm.db import TimeLimitExceeded, db, dialect_name, time_limit

    with app.app_context():
        slow = (
            "SELECT pg_sleep(3)"
            if dialect_name() == "postgresql"
            else "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 500000000) SELECT count(*) FROM c"
        )
        with pytest.raises(TimeLimitExceeded), time_limit(0.2):
            db.session.execute(sa.text(slow))
        assert db.session.execute(sa.text("SELECT 1")).scalar_one() == 1
        with time_limit(5):
            assert db.session.execute(sa.text("SELECT 2")).scalar_one() == 2
        db.session.remove()


@pytest.mark.parametrize(
    "method, path, writer",
    [
        ("POST", "/design/condition?prefix=c&entity=customer", False),  # the builder's count only reads
        ("POST", "/design/form/customer_form/preview", False),
        ("POST", "/design/form/customer_form/rules", True),
        ("GET", "/design/form/customer_form", False),
    ],
)
def test_posts_that_only_read_do_not_take_the_writer_lock(app, method, path, writer):
    from scrm.db import wants_write

    with app.test_request_context(path, method=method):
        assert wants_write() is writer
