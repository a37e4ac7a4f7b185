"""Plugin dashboard sources (hook scrm_dashboard_sources): a widget with ``"source"`` shows a folder
plugin's rows on the page, in the API, the CSV and the print page, read through the viewer's own
record service; an unknown source is a definition problem at its path; a source that fails shows
an error in its widget while the rest of the dashboard renders, and the error is recorded."""

import shutil
import sys
import textwrap

import pytest
import sqlalchemy as sa

from scrm.config import REPO_ROOT

PLUGIN = textwrap.dedent("""
    from collections import Counter

    import sqlalchemy as sa
    from scrm.dashboards.sources import DashboardSource
    from scrm.db import db
    from scrm.plugins import hookimpl

    CALLS, HANG = [], []


    def tiers(svc, params, filters):
        while HANG:  # the source's back end stopped answering
            pass
        CALLS.append({"user": svc.user_id, "system": svc.permissions.system, "params": params,
                      "period": (filters.start, filters.end), "channel": filters.get("channel")})
        customers = svc.list("customer", limit=200).items
        counts = Counter(c["asset_tier"] for c in customers)
        return [{"tier": t, "customers": n, "share": n / len(customers)} for t, n in sorted(counts.items())
                if n >= params.get("least", 0)]


    def broken(svc, params, filters):
        svc.list("customer", limit=1)
        try:  # a failed statement (PostgreSQL then refuses the rest of the transaction) …
            db.session.execute(sa.text("SELECT * FROM trading_desk_positions"))
        except Exception:
            pass
        raise ConnectionError("the trading desk is down")  # … and the source fails: later widgets still work


    @hookimpl
    def scrm_dashboard_sources():
        return [
            DashboardSource("tiers", {"zh-CN": "客户分层", "en": "Tiers"}, tiers, groups=("tier",),
                            measures=("customers", "share")),
            DashboardSource("desk", "交易台", broken),
        ]
""")

DASHBOARD = {
    "kind": "dashboard", "name": "desk_board", "label": "交易台看板",
    "filters": [{"name": "channel", "type": "string"}],
    "datasets": {"c": {"entity": "customer"}},
    "widgets": [
        {"id": "tier_bar", "type": "bar", "source": "tiers", "params": {"least": 1}, "title": "客户分层",
         "grid": {"x": 0, "y": 0, "w": 12, "h": 4}},
        {"id": "tier_table", "type": "table", "source": "tiers", "sort": [{"by": "tier", "dir": "desc"}],
         "labels": {"tier": "分层", "customers": "客户数"}, "formats": {"share": "0.0%"},
         "grid": {"x": 12, "y": 0, "w": 12, "h": 4}},
        {"id": "desk", "type": "kpi", "source": "desk", "title": "交易台", "grid": {"x": 0, "y": 4, "w": 6, "h": 2}},
        {"id": "customers", "type": "kpi", "dataset": "c", "title": "客户数", "grid": {"x": 6, "y": 4, "w": 6, "h": 2}},
    ],
}  # fmt: skip


@pytest.fixture
def board(database, tmp_path):
    """An application with the plugin, the seed's customers and the dashboard published; yields
    (client, API headers, customer ids, app)."""
    from support import make_app, seed_records

    for folder in ("schemas", "workflows"):
        shutil.copytree(REPO_ROOT / folder, tmp_path / folder)
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "desk.py").write_text(PLUGIN)
    url, template = database
    app = make_app(url, home=tmp_path)
    from scrm.dashboards.service import CACHE
    from scrm.data.records import RecordService
    from scrm.db import db
    from scrm.runtime import snapshot

    with app.app_context():
        ids = seed_records(RecordService(snapshot(), None))
        db.session.commit()
        db.session.remove()
    CACHE.clear()
    sys.modules["scrm_plugin_desk"].CALLS.clear()
    sys.modules["scrm_plugin_desk"].HANG.clear()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {template.admin_token}"}
    saved = client.put("/api/v1/definitions/dashboard/desk_board", json=DASHBOARD, headers=headers)
    assert saved.status_code == 200, saved.get_json()
    published = client.post("/api/v1/definitions/dashboard/desk_board/publish", headers=headers)
    assert published.status_code == 200, published.get_json()
    yield client, headers, ids, app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_scrm_dashboard_sources_render_in_the_api_page_csv_and_print(board):
    client, headers, _ids, _app = board
    data = client.get("/api/v1/dashboards/desk_board/data", query_string={"channel": "app"}, headers=headers)
    assert data.status_code == 200, data.get_json()
    widgets = data.get_json()["widgets"]
    rows = widgets["tier_bar"]["rows"]
    assert [(r["tier"], r["customers"]) for r in rows] == [("hnw", 1), ("mass", 1), ("wealth", 1)]
    assert rows[0]["share"] == pytest.approx(1 / 3)
    assert widgets["tier_bar"]["option"]["series"][0]["data"] == [1, 1, 1]
    assert [r["tier"] for r in widgets["tier_table"]["rows"]] == ["wealth", "mass", "hnw"]  # the widget's sort
    assert widgets["customers"]["rows"][0]["value"] == 3  # a dataset's widget beside them
    calls = sys.modules["scrm_plugin_desk"].CALLS
    assert calls and all(c["user"] is not None and not c["system"] for c in calls)  # the viewer's service
    assert calls[0]["params"] == {"least": 1} and calls[0]["channel"] == "app"
    assert calls[0]["period"][0] < calls[0]["period"][1]
    table = client.get("/d/desk_board/w/tier_table", headers=headers)
    assert table.status_code == 200
    html = table.get_data(as_text=True)
    assert "分层" in html and "客户数" in html and "wealth" in html and "33.3%" in html
    csv = client.get("/d/desk_board/w/tier_table.csv", headers=headers)
    assert csv.status_code == 200 and csv.get_data(as_text=True).lstrip("\ufeff").splitlines()[1].startswith("wealth")
    assert client.get("/d/desk_board", headers=headers).status_code == 200


def test_scrm_dashboard_sources_read_through_the_viewers_permissions(board, app_user):
    client, headers, _ids, _app = board
    everyone = client.get("/api/v1/dashboards/desk_board/data?widget=tier_bar", headers=headers).get_json()
    mine = client.get(
        "/api/v1/dashboards/desk_board/data?widget=tier_bar", headers={"Authorization": f"Bearer {app_user}"}
    ).get_json()
    assert [(r["tier"], r["customers"]) for r in mine["widgets"]["tier_bar"]["rows"]] == [("mass", 1)]
    assert len(everyone["widgets"]["tier_bar"]["rows"]) == 3  # (each viewer's result is cached apart)
    admin, am = (c["user"] for c in sys.modules["scrm_plugin_desk"].CALLS)
    assert admin != am


@pytest.fixture
def app_user(board):
    """An account manager who services c1 only, with an API token."""
    _client, _headers, ids, app = board
    from scrm.data.records import RecordService
    from scrm.db import db, write_intent
    from scrm.runtime import snapshot
    from scrm.security.users import create_user, find_user, issue_token

    with app.app_context():
        system = RecordService(snapshot(), None, system=True)
        emp = system.create("employee", {"employee_no": "E077", "name": "孙悦", "org_unit": ids["branch"],
                                         "role": "account_manager", "login": "am2"})  # fmt: skip
        system.update("customer", ids["c2"], {"primary_manager": emp["id"], "_version": 1})
        db.session.commit()
        with write_intent():
            create_user("am2", "am2-pass-1234", ["account_manager"], "孙悦")
            token = issue_token(find_user("am2"), "tests")
        db.session.remove()
    return token


def test_scrm_dashboard_sources_that_fail_show_an_error_and_the_rest_renders(board):
    client, headers, _ids, app = board
    fragment = client.get("/d/desk_board/w/desk", headers=headers)
    assert fragment.status_code == 200
    html = fragment.get_data(as_text=True)
    assert "scrm-dash-error" in html and "desk" in html and "scrm-kpi-value" not in html
    assert "ConnectionError" not in html and "trading desk is down" not in html  # no raw exception text
    printed = client.get("/d/desk_board/print", headers=headers)
    assert printed.status_code == 200
    text = printed.get_data(as_text=True)
    assert "scrm-dash-error" in text and "wealth" in text and "scrm-kpi-value" in text
    data = client.get("/api/v1/dashboards/desk_board/data", headers=headers)
    assert data.status_code == 200 and data.get_json()["widgets"]["tier_bar"]["rows"]
    drill = client.get("/d/desk_board/w/desk/drill", headers=headers)
    assert drill.status_code == 400  # no records behind a plugin's numbers: said, never a 500
    from scrm.db import db
    from scrm.runtime import runtime

    with app.app_context():
        status = next(s for s in runtime().plugins.status if s.name == "desk")
        assert status.hook_errors >= 1 and "trading desk is down" in status.last_error
        audited = db.session.execute(
            sa.text("SELECT reason FROM scrm_audit WHERE action = 'plugin_error'")
        ).scalars().all()  # fmt: skip
    assert any("desk.scrm_dashboard_sources" in r for r in audited), audited


def test_scrm_dashboard_sources_that_hang_are_stopped_and_show_an_error(board):
    client, headers, _ids, app = board
    from scrm.runtime import runtime

    with app.app_context():
        runtime().plugins.timeout = 1
    sys.modules["scrm_plugin_desk"].HANG.append(True)
    fragment = client.get("/d/desk_board/w/tier_bar", headers=headers)
    assert fragment.status_code == 200
    assert "scrm-dash-error" in fragment.get_data(as_text=True)
    kpi = client.get("/d/desk_board/w/customers", headers=headers)  # the next request is unharmed
    assert kpi.status_code == 200 and "scrm-kpi-value" in kpi.get_data(as_text=True)
    with app.app_context():
        status = next(s for s in runtime().plugins.status if s.name == "desk")
        assert "tiers: HookTimeout: timed out after 1 s and was stopped" in status.last_error


@pytest.mark.parametrize(
    "widget, code, path",
    [
        ({"source": "nope"}, "E-DASH-005", "$.widgets[0].source"),
        ({"source": "tiers", "filter": {"field": "asset_tier", "op": "eq", "value": "hnw"}}, "E-DASH-005",
         "$.widgets[0].filter"),
        ({"source": "desk", "type": "line"}, "E-DASH-005", "$.widgets[0].source"),
        ({"source": "tiers", "encoding": {"x": "branch"}}, "E-DASH-002", "$.widgets[0].encoding.x"),
        ({}, "E-SCHEMA-001", "$.widgets[0]"),
    ],
)  # fmt: skip
def test_scrm_dashboard_sources_unknown_or_misused_are_definition_problems(board, widget, code, path):
    client, headers, _ids, _app = board
    doc = {**DASHBOARD, "name": "broken_board",
           "widgets": [{"id": "w", "type": "kpi", **widget}]}  # fmt: skip
    refused = client.put("/api/v1/definitions/dashboard/broken_board", json=doc, headers=headers)
    assert refused.status_code == 422, refused.get_json()
    found = {(d["code"], d["path"]): d["message"] for d in refused.get_json()["error"]["details"]}
    assert (code, path) in found, found
    message = found[(code, path)]
    assert message and "Traceback" not in message
    if widget == {"source": "nope"}:
        assert "nope" in message and "tiers" in message  # names the known sources
