"""Plugin condition functions (hook scrm_condition_functions): a folder plugin's function filters
a list in SQL and agrees with its Python evaluation; one without a SQL builder is refused where
conditions compile to SQL and works where they are evaluated one record at a time; an unknown
name is a definition problem; a function that fails gives NULL, is recorded, and the request
still succeeds."""

import json
import shutil
import textwrap
from decimal import Decimal

import pytest
import sqlalchemy as sa

from scrm.config import REPO_ROOT

PLUGIN = textwrap.dedent("""
    import sqlalchemy as sa
    from scrm.conditions.functions import ConditionFunction
    from scrm.plugins import hookimpl


    def asset_band(assets):
        if assets is None:
            return None
        return "high" if assets >= 1000000 else "mid" if assets >= 100000 else "low"


    def asset_band_sql(assets):
        return sa.case((assets.is_(None), sa.null()), (assets >= 1000000, "high"), (assets >= 100000, "mid"),
                       else_="low")


    def wan(assets):
        return None if assets is None else assets / 10000


    def broken(assets):
        raise ZeroDivisionError("band table missing")


    def broken_sql(assets):
        raise RuntimeError("no SQL today")


    @hookimpl
    def scrm_condition_functions():
        return [
            ConditionFunction("asset_band", (1, 1), asset_band, sql=asset_band_sql, arguments=("decimal",),
                              label={"zh-CN": "资产档位", "en": "Asset band"}),
            ConditionFunction("asset_band_py", (1, 1), asset_band, arguments=("decimal",)),
            ConditionFunction("wan", (1, 1), wan, sql=lambda a: a / 10000, result="decimal", arguments=("decimal",)),
            ConditionFunction("broken_band", (1, 1), broken, sql=broken_sql, arguments=("decimal",)),
            ConditionFunction("refused_band", (1, 1), asset_band, sql=lambda a: sa.func.scrm_no_such_function(a),
                              arguments=("decimal",)),
            ConditionFunction("lower", (1, 1), lambda s: None if s is None else s.upper(), sql=sa.func.upper),
        ]
""")
ASSETS = {"c1": "2500000.00", "c2": "50000.50", "c3": None}


@pytest.fixture
def world(database, tmp_path):
    """An application with the plugin and three customers with total assets of 2.5 m, 50,000.50
    and none; yields (api client, customer ids by key, the app)."""
    from support import make_app, seed_records

    for folder in ("schemas", "workflows"):
        shutil.copytree(REPO_ROOT / folder, tmp_path / folder)
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "banding.py").write_text(PLUGIN)
    url, template = database
    app = make_app(url, home=tmp_path)
    from scrm.data.records import RecordService
    from scrm.db import db
    from scrm.runtime import snapshot

    with app.app_context():
        svc = RecordService(snapshot(), None)
        ids = seed_records(svc)
        system = RecordService(snapshot(), None, system=True)  # (total assets are imported: read-only)
        for key, assets in ASSETS.items():
            system.update("customer", ids[key], {"total_assets": assets, "_version": 1})
        db.session.commit()
        db.session.remove()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {template.admin_token}"}
    yield client, headers, ids, app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def listed(client, headers, condition) -> tuple[int, object]:
    response = client.get(
        "/api/v1/records/customer", query_string={"filter": json.dumps(condition), "limit": 100}, headers=headers
    )
    body = response.get_json()
    return response.status_code, sorted(r["id"] for r in body["items"]) if response.status_code == 200 else body


def band(fn: str, op: str = "eq", value="high") -> dict:
    return {"expr": {"calc": fn, "args": [{"field": "total_assets"}]}, "op": op, "value": value}


def evaluate(app, ids, condition, context="check") -> dict:
    """The condition evaluated by the Python back-end on each customer (a check constraint's path)."""
    from scrm.conditions import Predicate, Preparer
    from scrm.data.evaluation import environment
    from scrm.data.records import RecordService
    from scrm.runtime import snapshot

    with app.test_request_context():
        snap = snapshot()
        node = Preparer(snap.field_types, snap.entity, context).condition(condition, snap.entity("customer"))
        svc = RecordService(snap, None)
        predicate, env = Predicate(node), environment(snap)
        return {key: predicate(svc.get("customer", ids[key]), env) for key in ASSETS}


def test_scrm_condition_functions_filter_a_list_in_sql_as_python_evaluates_them(world):
    client, headers, ids, app = world
    conditions = [
        band("asset_band", op, value)
        for op, value in (("eq", "high"), ("eq", "low"), ("ne", "high"), ("in", ["mid", "low"]), ("not_in", ["high"]))
    ]
    conditions.append({"expr": {"calc": "asset_band", "args": [{"field": "total_assets"}]}, "op": "is_null"})
    for condition in conditions:
        status, found = listed(client, headers, condition)
        assert status == 200, found
        in_python = evaluate(app, ids, condition)
        assert found == sorted(ids[k] for k, hit in in_python.items() if hit), (condition, in_python)
    assert listed(client, headers, band("asset_band"))[1] == [ids["c1"]]
    # a decimal result compares exactly on both databases; a plugin's name replaces a built-in
    assert listed(client, headers, band("wan", "gte", "5.00005"))[1] == [ids["c1"], ids["c2"]]
    assert listed(client, headers, band("wan", "gt", "5.00005"))[1] == [ids["c1"]]
    upper = {"expr": {"calc": "lower", "args": [{"field": "name"}]}, "op": "eq", "value": "王芳"}
    assert listed(client, headers, upper)[1] == [ids["c1"]]


def test_scrm_condition_functions_without_sql_are_refused_where_conditions_compile_to_sql(world):
    client, headers, ids, app = world
    check = client.post(
        "/api/v1/definitions/conditions/check",
        json={"entity": "customer", "condition": band("asset_band_py"), "context": "filter"},
        headers=headers,
    ).get_json()
    assert not check["valid"]
    [problem] = check["problems"]
    assert (problem["code"], problem["path"]) == ("E-COND-004", "$.expr.calc")
    assert "asset_band_py" in problem["message"] and "列表筛选" in problem["message"], problem["message"]
    for context in ("check", "form", "guard"):  # evaluated one record at a time: allowed
        ok = client.post(
            "/api/v1/definitions/conditions/check",
            json={"entity": "customer", "condition": band("asset_band_py"), "context": context},
            headers=headers,
        ).get_json()
        assert ok["valid"], (context, ok)
    assert evaluate(app, ids, band("asset_band_py")) == {"c1": True, "c2": False, "c3": False}
    status, body = listed(client, headers, band("asset_band_py"))
    assert status == 400 and body["error"]["code"] == "invalid_filter"  # never a 500


def test_scrm_condition_functions_unknown_names_are_definition_problems(world):
    client, headers, _ids, _app = world
    check = client.post(
        "/api/v1/definitions/conditions/check",
        json={"entity": "customer", "condition": band("no_such_fn"), "context": "filter"},
        headers=headers,
    ).get_json()
    assert [(p["code"], p["path"]) for p in check["problems"]] == [("E-COND-013", "$.expr.calc")]
    alert = {
        "kind": "alert", "name": "bands", "label": "档位", "entity": "customer",
        "schedule": {"cron": "0 8 * * *", "tz": "Asia/Shanghai"}, "condition": band("no_such_fn"),
        "actions": [{"do": "tag", "add": ["HNW"]}],
    }  # fmt: skip
    refused = client.put("/api/v1/definitions/alert/bands", json=alert, headers=headers)
    assert refused.status_code == 422, refused.get_json()
    assert "$.condition.expr.calc" in {d["path"] for d in refused.get_json()["error"]["details"]}
    alert["condition"] = band("asset_band_py")  # no SQL: rules are evaluated in SQL
    refused = client.put("/api/v1/definitions/alert/bands", json=alert, headers=headers)
    assert refused.status_code == 422
    assert "$.condition.expr.calc" in {d["path"] for d in refused.get_json()["error"]["details"]}
    alert["condition"] = band("asset_band")
    saved = client.put("/api/v1/definitions/alert/bands", json=alert, headers=headers)
    assert saved.status_code == 200, saved.get_json()


def test_scrm_condition_functions_that_fail_give_null_and_are_recorded(world):
    client, headers, ids, app = world
    status, found = listed(client, headers, band("broken_band"))
    assert status == 200 and found == []  # the SQL builder failed: unknown, so no match …
    status, found = listed(client, headers, band("broken_band", "ne"))
    assert status == 200 and found == sorted(ids[k] for k in ASSETS)  # … and "not" of unknown holds
    assert evaluate(app, ids, band("broken_band")) == {"c1": False, "c2": False, "c3": False}
    from scrm.db import db
    from scrm.runtime import runtime

    with app.app_context():
        status_of = next(s for s in runtime().plugins.status if s.name == "banding")
        assert status_of.hook_errors >= 2 and "broken_band" in status_of.last_error
        audited = db.session.execute(
            sa.text("SELECT reason FROM scrm_audit WHERE action = 'plugin_error'")
        ).scalars().all()  # fmt: skip
    assert any("banding.scrm_condition_functions" in r and "no SQL today" in r for r in audited), audited


def test_scrm_condition_functions_whose_sql_the_database_refuses_are_a_400_naming_them(world):
    client, headers, ids, app = world
    status, body = listed(client, headers, band("refused_band"))
    assert status == 400 and body["error"]["code"] == "E-COND-016", body
    assert "refused_band" in body["error"]["message"] and "IT" in body["error"]["message"]
    assert "scrm_no_such_function" not in json.dumps(body)  # no SQL shown to the user
    status, found = listed(client, headers, band("asset_band"))
    assert status == 200 and found == [ids["c1"]]  # the next request is unharmed
    from scrm.runtime import runtime

    with app.app_context():
        status_of = next(s for s in runtime().plugins.status if s.name == "banding")
        assert "refused_band" in status_of.last_error and "refused its SQL" in status_of.last_error


def test_scrm_condition_functions_registry_builtins_and_replacements(world):
    _client, _headers, _ids, app = world
    from scrm.conditions import functions
    from scrm.runtime import runtime

    core = functions.current()  # outside an application: the core's functions
    assert core["round"].builtin and "asset_band" not in core
    with app.app_context():
        found = functions.current()
        builtin = next(s for s in runtime().plugins.status if s.name == "scrm.builtins")
    assert "scrm_condition_functions" in builtin.hooks
    assert found["asset_band"].plugin == "banding" and not found["asset_band"].builtin
    assert found["lower"].plugin == "banding" and found["round"].builtin  # replaced / kept
    assert functions.call(found["wan"], [Decimal("25000")]) == Decimal("2.5")
    assert functions.call(found["asset_band"], ["not a number"]) is None  # a TypeError inside: NULL
