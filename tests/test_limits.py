"""Limits, each with a clear error: the statement time limits of rules and dashboard widgets,
the request body size, the page size and the size of a condition."""

from __future__ import annotations

import json
import time

import pytest
import sqlalchemy as sa

SLOW = {  # a statement that runs far longer than any limit below
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 500000000) SELECT count(*) FROM c",
    "postgresql": "SELECT pg_sleep(60)",
}


def slow_statement(app):
    with app.app_context():
        from scrm.db import dialect_name

        return sa.text(SLOW[dialect_name()])


def test_a_rule_past_its_time_limit_stops_and_applies_nothing(app, ctx, seed, monkeypatch):
    from scrm.alerts import engine
    from scrm.alerts.store import Firing, Run
    from scrm.db import db

    app.config["SCRM_RULE_TIMEOUT"] = 1
    slow = slow_statement(app)
    monkeypatch.setattr(engine, "matches", lambda *args, **kwargs: slow)
    started = time.monotonic()
    outcome = engine.run_rule("tag_hnw")
    assert time.monotonic() - started < 20  # cancelled, not run to the end
    assert outcome.status == "failed"
    assert "ran longer than 1 s" in outcome.error and "SCRM_RULE_TIMEOUT" in outcome.error
    last = db.session.execute(db.select(Run).order_by(Run.id.desc())).scalars().first()
    assert (last.status, last.fired) == ("failed", 0) and "SCRM_RULE_TIMEOUT" in last.error
    assert db.session.execute(sa.select(sa.func.count()).select_from(Firing)).scalar() == 0


def test_a_widget_past_its_time_limit_says_so_and_is_not_cached(app, api, seed, monkeypatch):
    from scrm.dashboards.service import DashboardService
    from scrm.db import db

    app.config["SCRM_DASHBOARD_TIMEOUT"] = 1
    slow = slow_statement(app)
    original = DashboardService._rows

    def slowed(self, *args, **kwargs):
        db.session.execute(slow)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DashboardService, "_rows", slowed)
    query = {"widget": "open_complaints"}
    response = api.get("/api/v1/dashboards/service_quality/data", query_string=query)
    assert response.status_code == 200
    widget = response.get_json()["widgets"]["open_complaints"]
    assert widget["error"]["code"] == "timed_out" and "超过 1 秒" in widget["error"]["message"]

    monkeypatch.setattr(DashboardService, "_rows", original)
    again = api.get("/api/v1/dashboards/service_quality/data", query_string=query).get_json()["widgets"]
    assert "error" not in again["open_complaints"]  # the failure was not cached


def test_a_request_body_over_the_limit_is_refused_in_the_error_shape(app, api):
    from scrm.db import db

    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    body = {"name": "张三", "notes": "备注" * 400_000}
    response = api.post("/api/v1/records/customer", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 413
    assert response.get_json() == {
        "error": {"code": "too_large", "message": "请求内容过大（最多 1.0 MB）。", "details": []}
    }
    with app.app_context():
        assert db.session.execute(sa.text("SELECT count(*) FROM crm_customer")).scalar() == 0


@pytest.mark.parametrize("limit", ["0", "201", "-5", "abc", "1e3"])
def test_page_size_outside_the_cap_is_refused_at_limit(api, limit):
    response = api.get("/api/v1/records/customer", query_string={"limit": limit})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert [d["path"] for d in error["details"]] == ["limit"] and "200" in error["details"][0]["message"]


def nested(depth: int) -> dict:
    condition: dict = {"field": "name", "op": "eq", "value": "x"}
    for _ in range(depth):
        condition = {"any": [condition, {"field": "name", "op": "eq", "value": "y"}]}
    return condition


def wide(nodes: int) -> dict:
    return {"any": [{"field": "name", "op": "eq", "value": str(i)} for i in range(nodes)]}


@pytest.mark.parametrize("condition", [nested(20), wide(300)], ids=["too deep", "too large"])
def test_a_condition_too_large_is_refused_with_its_limits(api, condition):
    response = api.get("/api/v1/records/customer", query_string={"filter": json.dumps(condition)})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_filter"
    assert [(d["path"], d["code"]) for d in error["details"]] == [("filter", "E-COND-006")]
    assert "12" in error["message"] and "200" in error["message"]
