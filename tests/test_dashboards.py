"""Dashboards: the shipped KPIs against an independent computation over crafted rows, the branch
manager's numbers limited to their subtree, drill-down lists that match the widget's numbers,
the org-tree drill, time buckets in the tenant's zone, caching, formats, and bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from urllib.parse import parse_qs, urlparse

import pytest
from support import login

PASSWORD = "Pass-word-1234"
NOW = datetime.now(UTC).replace(microsecond=0)
WHEN = NOW - timedelta(days=2)  # inside the tests' period, whatever the day of the month
PERIOD = {"from": (NOW - timedelta(days=7)).date().isoformat(), "to": NOW.date().isoformat()}

# (customer key, csat, nps) per survey response: Beijing customers c1–c3, Shanghai c4
RESPONSES = [
    ("c1", 5, 10), ("c1", 4, 9), ("c2", 3, 7), ("c2", 1, 2), ("c3", 5, None), ("c3", None, 6),
    ("c4", 2, 0), ("c4", 5, 9), ("c4", 4, 10),
]  # fmt: skip
# (customer key, org key, assignee key, fcr, reopened, first response minutes, resolution minutes, breached)
TICKETS = [
    ("c1", "branch", "emp1", True, 0, 10, 100, False), ("c1", "branch", "emp1", False, 1, 30, 700, True),
    ("c2", "branch", "emp2", True, 0, 5, 50, False), ("c3", "branch", "emp2", False, 0, None, 400, False),
    ("c4", "sh", "emp3", True, 0, 20, 60, False), ("c4", "sh", "emp3", True, 0, 40, 90, True),
]  # fmt: skip
# (customer key, amount, commission)
TRADES = [("c1", "100000.00", "25.00"), ("c1", "50000.50", "12.50"), ("c2", "20000.00", "5.00"),
          ("c4", "300000.00", "60.00")]  # fmt: skip
HANDLING = Decimal("0.0000541")


def insert(snap, entity: str, rows: list[dict]) -> None:
    from scrm.db import write_intent
    from scrm.demo.bulk import BulkWriter

    tables = snap.tables[entity]
    fields = sorted({k for r in rows for k in r} - {"id"})
    with write_intent():
        writer = BulkWriter(tables, fields, NOW, snap)
        first = BulkWriter.next_id(tables)
        writer.write_dicts([{"id": first + i, **r} for i, r in enumerate(rows)])


@pytest.fixture
def book(app, seed):
    """A second branch (Shanghai) with its own employee and customer, survey responses,
    resolved tickets and trades; a branch manager of Beijing with an API token."""
    from scrm.data.records import RecordService
    from scrm.db import write_intent
    from scrm.runtime import snapshot
    from scrm.security.users import create_user, find_user, issue_token

    ids = dict(seed)
    with app.app_context():
        snap = snapshot()
        svc = RecordService(snap, None)
        ids["sh"] = svc.create(
            "org_unit", {"code": "SH01", "name": "上海营业部", "unit_type": "branch", "parent": seed["hq"]}
        )["id"]
        ids["emp3"] = svc.create(
            "employee", {"employee_no": "E003", "name": "周杰", "org_unit": ids["sh"], "role": "account_manager"}
        )["id"]
        ids["bm"] = svc.create(
            "employee",
            {
                "employee_no": "E009",
                "name": "吴经理",
                "org_unit": seed["branch"],
                "role": "branch_manager",
                "login": "bm",
            },
        )["id"]
        ids["c4"] = svc.create(
            "customer",
            {"customer_no": "310000000004", "name": "赵敏", "id_type": "cn_id", "id_number": "110105195001010063",
             "asset_tier": "mass", "primary_manager": ids["emp3"], "servicing_org": ids["sh"]},
        )["id"]  # fmt: skip
        insert(snap, "survey_response", [
            {"customer": ids[c], "responded_at": WHEN, "sent_at": WHEN, "csat_score": csat, "nps_score": nps}
            for c, csat, nps in RESPONSES
        ])  # fmt: skip
        insert(snap, "service_ticket", [
            {"ticket_no": f"SR20260101{i:04d}", "customer": ids[c], "subject": "问题", "priority": "P3", "category": "fees",
             "status": "resolved", "org_unit": ids[org], "assignee": ids[who], "queue": "call_center",
             "resolved_at": WHEN, "first_responded_at": WHEN if frt is not None else None, "fcr": fcr,
             "reopened_count": reopened, "first_response_minutes": frt, "resolution_minutes": art,
             "resolution_breached": breached, "response_breached": False, "paused_minutes": 0, "escalation_level": 0}
            for i, (c, org, who, fcr, reopened, frt, art, breached) in enumerate(TICKETS)
        ])  # fmt: skip
        insert(snap, "trade", [
            {"trade_no": f"T{i}", "customer": ids[c], "trade_date": WHEN.date(), "side": "buy",
             "amount": Decimal(amount), "commission": Decimal(fee), "quantity": Decimal(100), "price": Decimal(10)}
            for i, (c, amount, fee) in enumerate(TRADES)
        ])  # fmt: skip
        with write_intent():
            create_user("bm", PASSWORD, ["branch_manager"], "吴经理")
            ids["bm_token"] = issue_token(find_user("bm"), "tests")
    return ids


def data(client, name: str, token: str | None = None, **params) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.get(f"/api/v1/dashboards/{name}/data", query_string={**PERIOD, **params}, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["widgets"]


def pct(part: int, whole: int) -> float | None:
    return None if not whole else float(Fraction(100 * part, whole))


def expected_d1(keys: set[str]) -> dict:
    scored = [c for k, c, _n in RESPONSES if k in keys and c is not None]
    nps = [n for k, _c, n in RESPONSES if k in keys and n is not None]
    tickets = [t for t in TICKETS if t[0] in keys]
    return {
        "csat": pct(sum(1 for c in scored if c >= 4), len(scored)),
        "csat_avg": float(Fraction(sum(scored), len(scored))),
        "nps": float(Fraction(100 * (sum(1 for n in nps if n >= 9) - sum(1 for n in nps if n <= 6)), len(nps))),
        "fcr": pct(sum(1 for t in tickets if t[3]), len(tickets)),
        "resolved": len(tickets),
        "frt": float(
            Fraction(sum(t[5] for t in tickets if t[5] is not None), sum(1 for t in tickets if t[5] is not None))
        ),
        "art": float(Fraction(sum(t[6] for t in tickets), len(tickets))),
        "sla": pct(sum(1 for t in tickets if not t[7]), len(tickets)),
        "reopen": pct(sum(1 for t in tickets if t[4] > 0), len(tickets)),
    }


def kpi(widgets: dict, widget: str) -> dict:
    return widgets[widget]["rows"][0]


@pytest.fixture
def small_samples(app):
    """The crafted book is small: the minimum-sample rule (n ≥ 20, NPS n ≥ 30) would hide it."""
    from scrm.dashboards import service

    original = service.DashboardService._hide_small_samples
    service.DashboardService._hide_small_samples = lambda self, widget, rows: None
    yield
    service.DashboardService._hide_small_samples = original


def test_service_quality_kpis_equal_an_independent_computation(api, book, small_samples):
    response = api.get("/api/v1/dashboards/service_quality/data", query_string=PERIOD)
    assert response.status_code == 200, response.get_json()
    widgets = response.get_json()["widgets"]
    want = expected_d1({"c1", "c2", "c3", "c4"})
    assert kpi(widgets, "csat")["csat"] == pytest.approx(want["csat"])
    assert kpi(widgets, "csat")["csat_avg"] == pytest.approx(want["csat_avg"])
    assert kpi(widgets, "nps")["nps"] == pytest.approx(want["nps"])
    assert kpi(widgets, "fcr")["fcr"] == pytest.approx(want["fcr"])
    assert kpi(widgets, "fcr")["resolved"] == want["resolved"]
    by_priority = {r["priority"]: r for r in widgets["times_by_priority"]["rows"]}
    assert by_priority["P3"]["frt"] == pytest.approx(want["frt"])
    assert by_priority["P3"]["art"] == pytest.approx(want["art"])
    agents = {r["assignee"]: r for r in widgets["agents"]["rows"]}
    assert sum(r["resolved"] for r in agents.values()) == len(TICKETS)
    for key in ("emp1", "emp2", "emp3"):
        mine = [t for t in TICKETS if t[2] == key]
        row = agents[str(book[key])]
        assert row["resolved"] == len(mine)
        assert row["sla"] == pytest.approx(pct(sum(1 for t in mine if not t[7]), len(mine)))
        assert row["reopen_rate"] == pytest.approx(pct(sum(1 for t in mine if t[4]), len(mine)))
    assert kpi(widgets, "csat")["csat"] is not None
    mix = {(r["segment"], r["quarter"]) for r in widgets["nps_mix"]["rows"] if r["responses"]}
    segments = {int(s) for s, _q in mix}
    assert segments == {0, 1, 2}


def test_nps_and_csat_hide_small_samples(api, book):
    widgets = api.get("/api/v1/dashboards/service_quality/data", query_string=PERIOD).get_json()["widgets"]
    assert kpi(widgets, "nps")["nps"] is None  # 8 responses < 30
    assert kpi(widgets, "csat")["csat"] is None  # 8 scored < 20
    assert kpi(widgets, "csat")["scored"] == 8


def test_performance_commission_is_the_reference_formula(api, book):
    widgets = api.get("/api/v1/dashboards/performance/data", query_string=PERIOD).get_json()["widgets"]
    amount = sum(Decimal(a) for _c, a, _f in TRADES)
    fees = sum(Decimal(f) for _c, _a, f in TRADES)
    row = kpi(widgets, "commission")
    assert row["gross"] == pytest.approx(float(fees))
    assert row["net"] == pytest.approx(float(fees - amount * HANDLING))
    assert row["rate"] == pytest.approx(float(fees / amount))
    assert kpi(widgets, "volume")["volume"] == pytest.approx(float(amount))
    assert kpi(widgets, "volume")["traders"] == 3
    units = {r["unit"]: r for r in widgets["org_ranking"]["rows"]}
    beijing = sum(Decimal(a) for c, a, _f in TRADES if c != "c4")
    assert units[str(book["branch"])]["volume"] == pytest.approx(float(beijing))
    assert units[str(book["sh"])]["volume"] == pytest.approx(300000.0)
    top = widgets["top_customers"]["rows"]
    assert top[0]["customer"] == str(book["c4"])  # ranked by net commission


def test_branch_manager_sees_only_their_subtree(app, book, small_samples):
    client = app.test_client()
    widgets = data(client, "service_quality", book["bm_token"])
    want = expected_d1({"c1", "c2", "c3"})
    assert kpi(widgets, "csat")["csat"] == pytest.approx(want["csat"])
    assert kpi(widgets, "nps")["nps"] == pytest.approx(want["nps"])
    assert kpi(widgets, "fcr")["resolved"] == want["resolved"]
    assert str(book["emp3"]) not in {r["assignee"] for r in widgets["agents"]["rows"]}
    perf = data(client, "performance", book["bm_token"])
    assert kpi(perf, "volume")["volume"] == pytest.approx(float(sum(Decimal(a) for c, a, _f in TRADES if c != "c4")))
    assert {r["unit"] for r in perf["org_ranking"]["rows"]} == {str(book["branch"])}


def records(client, entity: str, condition: dict, token: str | None = None) -> list[dict]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    out, after = [], None
    while True:
        query = {"filter": json.dumps(condition), "limit": 200, **({"after": after} if after else {})}
        response = client.get(f"/api/v1/records/{entity}", query_string=query, headers=headers)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        out += body["items"]
        after = body["next"]
        if not after:
            return out


def drill_condition(client, location: str) -> tuple[str, dict]:
    url = urlparse(location)
    return url.path.rsplit("/", 1)[-1], json.loads(parse_qs(url.query)["cond"][0])


@pytest.mark.parametrize("user", ["admin", "bm"])
def test_drill_down_lists_match_the_widget(app, book, user, small_samples):
    client = app.test_client()
    login(client, user)
    token = book["bm_token"] if user == "bm" else None
    api_client = app.test_client()
    if user == "admin":
        login(api_client, "admin")
    widgets = data(api_client, "service_quality", token)
    for row in widgets["agents"]["rows"]:
        response = client.get(
            f"/d/service_quality/w/agents/drill?from={PERIOD['from']}&to={PERIOD['to']}&g_assignee={row['assignee']}"
        )
        assert response.status_code == 302
        entity, condition = drill_condition(client, response.headers["Location"])
        assert entity == "service_ticket"
        listed = records(api_client, entity, condition, token)
        assert len(listed) == row["resolved"]
        assert {r["assignee"] for r in listed} == {int(row["assignee"])}
    fcr = kpi(widgets, "fcr")
    response = client.get(f"/d/service_quality/w/fcr/drill?from={PERIOD['from']}&to={PERIOD['to']}")
    entity, condition = drill_condition(client, response.headers["Location"])
    assert len(records(api_client, entity, condition, token)) == fcr["resolved"]
    # the list page shows the drill-down, its way back and the same records
    page = client.get(response.headers["Location"])
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="drill-chip"' in body
    assert body.count("<tr data-id=") == fcr["resolved"]


def test_org_ranking_drills_down_the_tree(client, book):
    top = client.get(f"/d/performance/w/org_ranking?from={PERIOD['from']}&to={PERIOD['to']}").get_data(as_text=True)
    assert "北京营业部" in top and "上海营业部" in top
    response = client.get(
        f"/d/performance/w/org_ranking/drill?from={PERIOD['from']}&to={PERIOD['to']}&g_unit={book['branch']}"
    )
    assert response.status_code == 302
    target = urlparse(response.headers["Location"])
    assert target.path == "/d/performance" and parse_qs(target.query)["org"] == [str(book["branch"])]
    inner = client.get(
        f"/d/performance/w/managers?org={book['branch']}&from={PERIOD['from']}&to={PERIOD['to']}"
    ).get_data(as_text=True)
    assert "张伟" in inner and "周杰" not in inner  # Beijing's managers only


def test_week_buckets_are_local(svc):
    """A ticket created Monday 07:30 in Shanghai (Sunday 23:30 UTC) is in that Monday's week."""
    from scrm.dashboards.plan import prepare
    from scrm.dashboards.service import DashboardService

    snap = svc.snapshot
    monday = datetime(2026, 11, 15, 23, 30, tzinfo=UTC)
    insert(snap, "service_ticket", [{"ticket_no": "SR202611160001", "subject": "周一早上", "priority": "P3",
                                     "status": "new", "queue": "call_center", "first_responded_at": monday}])  # fmt: skip
    doc = {
        "kind": "dashboard", "name": "weeks",
        "datasets": {"t": {"entity": "service_ticket", "time_field": "first_responded_at"}},
        "widgets": [{"id": "w", "type": "bar", "dataset": "t", "group_by": [{"time_bucket": "week", "as": "week"},
                     {"time_bucket": "day", "as": "day"}], "measure": {"agg": "count"}}],
    }  # fmt: skip
    plan = prepare(snap.field_types, snap.entity, doc)
    ds = DashboardService(svc)
    params = ds.params(plan, {"from": "2026-11-10", "to": "2026-11-20"})
    rows = [r for r in ds.data(plan, plan.widgets["w"], params).rows if r["value"]]
    assert [(r["week"], r["day"]) for r in rows] == [("2026-11-16", "2026-11-16")]


@pytest.mark.parametrize(
    "widget, code, path",
    [
        ({"measure": {"agg": "count", "rel": "tickets"}}, "E-DASH-001", "$.widgets[0].measure.rel"),
        ({"measure": {"agg": "sum", "of": "subject"}}, "E-DASH-001", "$.widgets[0].measure.of"),
        ({"measure": {"calc": "pct_change", "args": [1, 2, 3]}}, "E-DASH-001", "$.widgets[0].measure.args"),
        ({"measure": {"agg": "avg", "of": "no_such"}}, "E-COND-001", "$.widgets[0].measure.of"),
        ({"type": "line", "group_by": [{"field": "priority", "as": "p"}], "encoding": {"x": "q"}}, "E-DASH-002",
         "$.widgets[0].encoding.x"),
        ({"type": "bar", "group_by": [{"field": "org_unit", "tree": "nope", "as": "u"}]}, "E-DASH-003",
         "$.widgets[0].group_by[0].tree"),
        ({"type": "line"}, "E-DASH-005", "$.widgets[0].group_by"),
        ({"type": "bar", "group_by": [{"field": "subject", "bins": [{"label": "x", "lt": 1}], "as": "b"}]}, "E-DASH-006",
         "$.widgets[0].group_by[0].bins"),
        ({"filter": {"field": "priority", "op": "eq", "value": {"param": "missing"}}}, "E-COND-007",
         "$.widgets[0].filter.value.param"),
    ],
)  # fmt: skip
def test_checker_anchors_dashboard_problems(widget, code, path):
    from scrm.config import REPO_ROOT
    from scrm.data.tables import physical_names
    from scrm.meta.checker import Checker
    from scrm.meta.documents import DefinitionSet, Document, definition_files, load_files
    from scrm.plugins.manager import Plugins

    docs, _problems = load_files(definition_files(REPO_ROOT), base=REPO_ROOT)
    shipped = DefinitionSet()
    for d in docs:
        shipped.add(d)
    doc = {"kind": "dashboard", "name": "broken", "label": "Broken",
           "datasets": {"t": {"entity": "service_ticket", "time_field": "created_at"}},
           "widgets": [{"id": "w", "type": "kpi", "dataset": "t", **widget}]}  # fmt: skip
    checker = Checker(Plugins(load_entry_points=False).field_types, physical_names)
    _normalised, problems = checker.check_set(
        shipped.replaced(Document("dashboard", "broken", doc)), only={("dashboard", "broken")}
    )
    assert (code, path) in {(p.code, p.path) for p in problems}, [(p.code, p.path, p.message) for p in problems]
    assert all(p.message and "Traceback" not in p.message for p in problems)


@pytest.mark.parametrize(
    "query, path",
    [({"from": "2026-13-01"}, "from"), ({"period": "forever"}, "period"), ({"org": "abc"}, "org"),
     ({"from": "2026-02-01", "to": "2026-01-01"}, "to"), ({"channel": "carrier_pigeon"}, "channel")],
)  # fmt: skip
def test_bad_parameters_are_refused_at_their_name(api, query, path):
    response = api.get("/api/v1/dashboards/service_quality/data", query_string=query)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_params"
    assert path in {d["path"] for d in error["details"]}


@pytest.mark.parametrize("url, status", [
    ("/api/v1/dashboards/nope/data", 404), ("/api/v1/dashboards/service_quality/data?widget=nope", 400),
])  # fmt: skip
def test_unknown_dashboards_and_widgets(api, url, status):
    response = api.get(url)
    assert response.status_code == status
    assert "error" in response.get_json()


def test_pages_fragments_csv_and_print(client, book):
    page = client.get("/d/service_quality").get_data(as_text=True)
    assert page.count('hx-trigger="revealed"') >= 10 and "dashboard-filters" in page
    kpi_html = client.get(f"/d/service_quality/w/fcr?from={PERIOD['from']}&to={PERIOD['to']}").get_data(as_text=True)
    assert "scrm-kpi-value" in kpi_html
    chart = client.get(f"/d/service_quality/w/backlog?from={PERIOD['from']}").get_data(as_text=True)
    assert 'data-dash-chart="1"' in chart or "scrm-dash-loading" not in chart
    csv_response = client.get(f"/d/service_quality/w/agents.csv?from={PERIOD['from']}&to={PERIOD['to']}")
    assert csv_response.status_code == 200 and csv_response.mimetype == "text/csv"
    lines = csv_response.get_data(as_text=True).lstrip("\ufeff").strip().splitlines()
    assert len(lines) == 1 + 3 and lines[0].startswith("处理人")
    printed = client.get(f"/d/performance/print?from={PERIOD['from']}&to={PERIOD['to']}").get_data(as_text=True)
    assert 'hx-trigger="revealed"' not in printed and "scrm-kpi-value" in printed
    assert client.get("/d").status_code == 200


def test_home_page_shows_the_roles_widgets(app, book):
    c = app.test_client()
    login(c, "bm")
    home = c.get("/").get_data(as_text=True)
    assert 'id="home-dashboard"' in home and "/d/performance/w/commission" in home


def test_results_are_cached_per_viewer(app, book):
    from scrm.dashboards.service import CACHE

    admin, bm = app.test_client(), app.test_client()
    login(admin, "admin")
    login(bm, "bm")
    CACHE.clear()
    before = CACHE.hits
    url = f"/api/v1/dashboards/performance/data?widget=volume&from={PERIOD['from']}&to={PERIOD['to']}"
    first = admin.get(url).get_json()
    assert admin.get(url).get_json() == first and CACHE.hits == before + 1
    other = bm.get(url).get_json()  # another viewer: computed for their scope, not served from the admin's entry
    assert other["widgets"]["volume"]["rows"][0]["volume"] < first["widgets"]["volume"]["rows"][0]["volume"]


@pytest.mark.parametrize(
    "value, format, text",
    [(Fraction(2, 3), "0.0%", "66.7%"), (Fraction(905, 10), "percent", "90.5%"), (Decimal("123456789"), "money", "123.46 m"),
     (Decimal("54321"), "money", "54,321"), (Fraction(95), "duration", "1 h 35 min"), (None, "0.0", "—"),
     (Fraction(7, 2), "0", "4"), (12345, None, "12,345")],
)  # fmt: skip
def test_number_formats(ctx, value, format, text):  # English: the ctx fixture forces it
    from scrm.dashboards.present import fmt

    assert fmt(value, format) == text


def test_choice_groups_come_in_the_order_of_their_options(api, app, book):
    from scrm.runtime import snapshot

    widgets = api.get("/api/v1/dashboards/customers_aum/data", query_string=PERIOD).get_json()["widgets"]
    tiers = [r["tier"] for r in widgets["tiers"]["rows"]]
    with app.app_context():
        options = [o.value for o in snapshot().entity("customer").field("asset_tier").options]
    assert {"mass", "hnw"} <= set(tiers) and tiers == sorted(tiers, key=options.index)  # not alphabetical
