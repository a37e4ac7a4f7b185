"""Record scopes and field masking for every shipped role, on the demo brokerage.

Each demo login is an employee on the org tree. What they may see is computed here from first
principles (assignments, the org tree, the roles' scopes) and compared with what every read path
gives them: pages, the API, lookups, quick search, related lists and history. Records outside the
scope are 404 with nothing of theirs in the body; C2-sensitive values of masked fields never
leave the server unmasked; filters, sorts and searches cannot probe them; forbidden writes fail
with 403 naming the field."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from support import login

from scrm.demo.users import DEMO_USERS

ROLE_OF = {username: role for username, role, _what, _emp in DEMO_USERS}
SCOPED = ["am_demo", "lead_demo", "branch_demo"]
MASKED = ["am_demo", "lead_demo", "branch_demo", "hq_demo", "agent_demo", "supervisor_demo", "designer_demo"]
SENSITIVE = ("id_number", "mobile", "email", "address")
ACTIVE = {"effective", "customer_notified"}


def table_rows(app, entity: str, *fields: str) -> list[tuple]:
    from scrm.db import db
    from scrm.runtime import snapshot

    with app.app_context():
        et = snapshot().tables[entity]
        columns = [et.main.c[et.entity.field(f).column if et.entity.field(f) else f] for f in fields]
        query = sa.select(*columns).where(et.main.c.deleted_at.is_(None)).order_by(et.main.c.id)
        out = [tuple(r) for r in db.session.execute(query)]
        db.session.remove()
        return out


def level_of(app, username: str) -> str:
    from scrm.runtime import snapshot

    with app.app_context():
        doc = snapshot().documents.get(("role", ROLE_OF[username]), {})
    if ROLE_OF[username] == "admin":
        return "all"
    return doc["permissions"]["customer"]["scope"]


def expected_customers(app, username: str) -> set[int]:
    """The customers the login may see, worked out from the raw tables."""
    customers = table_rows(app, "customer", "id", "primary_manager", "servicing_org")
    level = level_of(app, username)
    if level == "all":
        return {c[0] for c in customers}
    staff = table_rows(app, "employee", "id", "login", "org_unit")
    me = next(e for e in staff if e[1] == username)
    units = table_rows(app, "org_unit", "id", "parent", "unit_type")
    parent = {u[0]: u[1] for u in units}
    kind = {u[0]: u[2] for u in units}

    def subtree(root):
        out, todo = set(), [root]
        while todo:
            node = todo.pop()
            out.add(node)
            todo += [u for u, p in parent.items() if p == node]
        return out

    if level == "own":
        tree = set()
    elif level == "team":
        tree = subtree(me[2])
    else:
        top = me[2]
        while kind[top] not in ("branch", "region", "hq"):
            top = parent[top]
        tree = subtree(top)
    people = {me[0]} | {e[0] for e in staff if e[2] in tree}
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    shared = {
        customer
        for customer, employee, start, end, status in table_rows(
            app, "customer_assignment", "customer", "employee", "valid_from", "valid_to", "status"
        )
        if employee in people
        and status in ACTIVE
        and (start is None or start <= today)
        and (end is None or end >= today)
    }
    return {cid for cid, manager, org in customers if manager in people or org in tree or cid in shared}


def as_user(app, username: str):
    client = app.test_client()
    login(client, username)
    return client


def api_ids(client, entity: str, **params) -> list[int]:
    ids, after = [], None
    while True:
        query = {"limit": 200, **params, **({"after": after} if after else {})}
        r = client.get(f"/api/v1/records/{entity}", query_string=query)
        assert r.status_code == 200, r.get_json()
        body = r.get_json()
        ids += [item["id"] for item in body["items"]]
        after = body["next"]
        if not after:
            return ids


@pytest.mark.parametrize("username", [u for u, *_ in DEMO_USERS])
def test_customer_scope_follows_the_org_tree(demo, username):
    app, _ = demo
    expected = expected_customers(app, username)
    seen = api_ids(as_user(app, username), "customer")
    assert len(seen) == len(set(seen))
    assert set(seen) == expected
    total = len(table_rows(app, "customer", "id"))
    if username in SCOPED:
        assert 0 < len(expected) < total


@pytest.mark.parametrize("username", SCOPED)
@pytest.mark.parametrize(
    "params",
    [
        {"sort": "-total_assets", "limit": 7},
        {"sort": "last_trade_date,customer_no", "limit": 11},
        {
            "sort": "-last_trade_date",
            "limit": 13,
            "filter": json.dumps({"field": "asset_tier", "op": "eq", "value": "mass"}),
        },
    ],
    ids=["desc-money", "nullable-date-asc", "nullable-date-desc-filtered"],
)
def test_scoped_pages_follow_the_same_order_as_an_unscoped_list(demo, username, params):
    """A scope of several alternatives is read as one ordered query per alternative, united:
    the pages must be the administrator's list in the same order, cut down to the scope, with
    every record once however the alternatives overlap."""
    app, _ = demo
    expected = expected_customers(app, username)
    seen = api_ids(as_user(app, username), "customer", **params)
    everyone = api_ids(as_user(app, "demo"), "customer", **params)
    assert seen == [cid for cid in everyone if cid in expected]


def test_scopes_nest_along_the_tree(demo):
    app, _ = demo
    own, team, branch = (expected_customers(app, u) for u in SCOPED)
    assert own <= team <= branch and own < branch


@pytest.mark.parametrize("username", SCOPED + ["agent_demo"])
@pytest.mark.parametrize("entity", ["trade", "account", "service_ticket", "ticket_comment", "customer_tag"])
def test_child_records_follow_their_customer(demo, username, entity):
    app, _ = demo
    allowed = expected_customers(app, username)
    if entity == "ticket_comment":
        tickets = dict(table_rows(app, "service_ticket", "id", "customer"))
        owner = {cid: tickets.get(ticket) for cid, ticket in table_rows(app, "ticket_comment", "id", "ticket")}
    else:
        owner = dict(table_rows(app, entity, "id", "customer"))
    expected = {rid for rid, customer in owner.items() if customer in allowed}
    if entity == "service_ticket":  # tickets assigned to the user are theirs too
        me = next((e for e, login_ in table_rows(app, "employee", "id", "login") if login_ == username), None)
        expected |= {rid for rid, assignee in table_rows(app, "service_ticket", "id", "assignee") if assignee == me}
    if level_of(app, username) == "all":
        expected = set(owner)
    assert set(api_ids(as_user(app, username), entity)) == expected


def outsider(app, username: str) -> tuple[int, str, str]:
    inside = expected_customers(app, username)
    return next(
        (c, name, no) for c, name, no in table_rows(app, "customer", "id", "name", "customer_no") if c not in inside
    )


@pytest.mark.parametrize("username", SCOPED)
def test_records_outside_the_scope_are_not_found_anywhere(demo, username):
    app, _ = demo
    client = as_user(app, username)
    cid, name, number = outsider(app, username)
    responses = {
        "page": client.get(f"/e/customer/{cid}"),
        "edit": client.get(f"/e/customer/{cid}/edit"),
        "api": client.get(f"/api/v1/records/customer/{cid}"),
        "history": client.get(f"/api/v1/records/customer/{cid}/history"),
        "explain": client.post(
            f"/api/v1/records/customer/{cid}/explain", json={"condition": {"field": "asset_tier", "op": "is_not_null"}}
        ),
    }
    for path, r in responses.items():
        assert r.status_code == 404, path
        body = r.get_data(as_text=True)
        assert name not in body and number not in body, path
    searches = {
        "list": client.get("/e/customer", query_string={"q": number}),
        "api": client.get("/api/v1/records/customer", query_string={"q": number}),
        "filter": client.get(
            "/api/v1/records/customer", query_string={"filter": json.dumps({"field": "id", "op": "eq", "value": cid})}
        ),
        "lookup": client.post("/e/interaction/choices/customer", data={"_label_customer": name}),
    }
    for path, r in searches.items():
        assert r.status_code == 200, path
        body = r.get_data(as_text=True)  # (the search box repeats what was typed)
        assert f'/e/customer/{cid}"' not in body and f'data-value="{cid}"' not in body and name not in body, path
        if path in ("api", "filter"):
            assert r.get_json()["items"] == [], path
    trade = (
        next(t for t, c in table_rows(app, "trade", "id", "customer") if c == cid)
        if any(c == cid for _t, c in table_rows(app, "trade", "id", "customer"))
        else None
    )
    if trade is not None:
        assert client.get(f"/e/trade/{trade}").status_code == 404
        assert client.get(f"/api/v1/records/trade/{trade}").status_code == 404


def test_related_lists_keep_to_the_scope(demo):
    """An account manager may open a colleague's employee page; the colleague's customers in its
    related list are not theirs to see."""
    app, _ = demo
    inside = expected_customers(app, "am_demo")
    me = next(e for e, login_ in table_rows(app, "employee", "id", "login") if login_ == "am_demo")
    customers = table_rows(app, "customer", "id", "name", "primary_manager")
    colleague = next(m for _c, _n, m in customers if m not in (None, me))
    theirs = [(c, n) for c, n, m in customers if m == colleague and c not in inside]
    assert theirs
    html = as_user(app, "am_demo").get(f"/e/employee/{colleague}").get_data(as_text=True)
    for cid, name in theirs:
        assert name not in html and f'/e/customer/{cid}"' not in html


def sensitive_values(app, username: str) -> dict[int, list[str]]:
    inside = expected_customers(app, username)
    out = {}
    for cid, *values in table_rows(app, "customer", "id", *SENSITIVE):
        if cid in inside:
            out[cid] = [v for v in values if v and len(v) >= 6]
    return out


@pytest.mark.parametrize("username", MASKED + ["demo"])
def test_masked_values_never_leave_the_server(demo, username):
    app, _ = demo
    client = as_user(app, username)
    values = sensitive_values(app, username)
    sample = list(values)[:3]
    bodies = [
        client.get("/e/customer", query_string={"cols": "name,id_number,mobile,email,address"}).get_data(as_text=True),
        client.get("/api/v1/records/customer", query_string={"limit": 200}).get_data(as_text=True),
    ]
    for cid in sample:
        bodies.append(client.get(f"/e/customer/{cid}").get_data(as_text=True))
        bodies.append(client.get(f"/api/v1/records/customer/{cid}").get_data(as_text=True))
        bodies.append(client.get(f"/api/v1/records/customer/{cid}/history").get_data(as_text=True))
        edit = client.get(f"/e/customer/{cid}/edit")
        if edit.status_code == 200:
            bodies.append(edit.get_data(as_text=True))
    everything = "\n".join(bodies)
    leaked = sorted({v for cid in values for v in values[cid] if v in everything})
    if username == "demo":  # the administrator sees them: the check above can see a leak
        assert leaked
    else:
        assert leaked == []
        first = values[sample[0]]
        masked_id = next(v for v in first if v[:3].isdigit() and len(v) == 18)
        assert masked_id[:3] + "*" * 11 + masked_id[-4:] in everything


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"filter": json.dumps({"field": "id_number", "op": "starts_with", "value": "1"})}, "invalid_filter"),
        ({"filter": json.dumps({"not": {"field": "mobile", "op": "contains", "value": "138"}})}, "invalid_filter"),
        (
            {"filter": json.dumps({"field": "primary_manager.mobile", "op": "eq", "value": "13800000000"})},
            "invalid_filter",
        ),
        ({"sort": "-id_number"}, "invalid_sort"),
    ],
)
def test_filters_and_sorts_cannot_probe_masked_fields(demo, params, code):
    app, _ = demo
    r = as_user(app, "am_demo").get("/api/v1/records/customer", query_string=params)
    assert r.status_code == 400
    assert r.get_json()["error"]["code"] == code


def test_emptiness_and_whole_values_may_be_asked(demo):
    app, _ = demo
    client = as_user(app, "am_demo")
    values = sensitive_values(app, "am_demo")
    cid, mobile = next((c, v[1]) for c, v in values.items() if len(v) > 1 and v[1].startswith("1"))
    empty = json.dumps({"field": "mobile", "op": "is_empty"})
    assert client.get("/api/v1/records/customer", query_string={"filter": empty}).status_code == 200
    assert cid in api_ids(client, "customer", q=mobile)  # the whole number the customer gives
    assert cid not in api_ids(client, "customer", q=mobile[:7])  # a part of it finds nothing


def own_customer(app, username: str = "am_demo") -> int:
    return min(expected_customers(app, username))


def test_forbidden_actions_fail_loudly(demo):
    app, _ = demo
    cid = own_customer(app)
    hq = as_user(app, "hq_demo")
    r = hq.patch(f"/api/v1/records/customer/{cid}", json={"occupation": "other", "_version": 1})
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "forbidden_action"
    assert hq.get("/e/customer/new").status_code == 403
    assert 'href="/e/customer/new"' not in hq.get("/e/customer").get_data(as_text=True)
    am = as_user(app, "am_demo")
    r = am.delete(f"/api/v1/records/customer/{cid}")
    assert r.status_code == 403


def test_forbidden_fields_fail_with_the_field_named(demo):
    app, _ = demo
    cid = own_customer(app)
    am = as_user(app, "am_demo")
    current = am.get(f"/api/v1/records/customer/{cid}").get_json()
    r = am.patch(f"/api/v1/records/customer/{cid}", json={"risk_level": "C5", "_version": current["version"]})
    assert r.status_code == 403
    error = r.get_json()["error"]
    assert error["code"] == "forbidden_field" and error["details"][0]["path"] == "risk_level"
    # the record as the user was shown it, sent back whole, changes nothing
    echo = {k: v for k, v in current.items() if not k.startswith("_") and k not in ("created_at", "updated_at")}
    r = am.patch(f"/api/v1/records/customer/{cid}", json={**echo, "_version": current["version"]})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["version"] == current["version"]
    stored = dict(table_rows(app, "customer", "id", "id_number"))[cid]
    assert stored != current["id_number"] and stored[-4:] == current["id_number"][-4:]  # the real value stays


def test_a_masked_field_can_be_replaced(demo):
    app, _ = demo
    cid = own_customer(app)
    am = as_user(app, "am_demo")
    version = am.get(f"/api/v1/records/customer/{cid}").get_json()["version"]
    r = am.patch(f"/api/v1/records/customer/{cid}", json={"mobile": "13911112222", "_version": version})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["mobile"] == "139****2222"
    assert dict(table_rows(app, "customer", "id", "mobile"))[cid] == "13911112222"


def test_references_outside_the_scope_do_not_exist(demo):
    app, _ = demo
    cid, _name, _no = outsider(app, "am_demo")
    r = as_user(app, "am_demo").post(
        "/api/v1/records/interaction",
        json={"customer": cid, "channel": "phone_outbound", "started_at": "2026-11-20T02:00:00Z", "summary": "问候"},
    )
    assert r.status_code == 422
    paths = {d["path"]: d["message"] for d in r.get_json()["error"]["details"]}
    assert "customer" in paths and str(cid) in paths["customer"]


def test_what_a_user_creates_is_theirs(demo):
    app, _ = demo
    am = as_user(app, "am_demo")
    me = next(e for e, login_ in table_rows(app, "employee", "id", "login") if login_ == "am_demo")
    template = am.get(f"/api/v1/records/customer/{own_customer(app)}").get_json()
    body = {
        "customer_no": "SEC000001", "customer_type": "individual", "name": "测试新客", "id_type": "cn_id",
        "id_number": "110101199003071233", "mobile": "13700001111", "customer_status": template["customer_status"],
    }  # fmt: skip
    r = am.post("/api/v1/records/customer", json={**body, "primary_manager": me})
    assert r.status_code == 403 and r.get_json()["error"]["details"][0]["path"] == "primary_manager"
    r = am.post("/api/v1/records/customer", json=body)
    assert r.status_code == 201, r.get_json()
    created = r.get_json()
    assert created["primary_manager"] == me and created["id_number"] == "110***********1233"
    assert am.get(f"/e/customer/{created['id']}").status_code == 200
    assert as_user(app, "lead_demo").get(f"/api/v1/records/customer/{created['id']}").status_code == 200


@pytest.mark.parametrize("username", [u for u, *_ in DEMO_USERS])
def test_demo_users_see_only_what_their_role_allows(demo, username):
    app, _ = demo
    from scrm.runtime import snapshot

    with app.app_context():
        snap = snapshot()
        doc = snap.documents.get(("role", ROLE_OF[username]), {})
        entities = sorted(snap.entities)
    granted = set(entities) if ROLE_OF[username] == "admin" else set(doc["permissions"])
    client = as_user(app, username)
    home = client.get("/").get_data(as_text=True)
    for name in entities:
        r = client.get(f"/e/{name}")
        if name in granted:
            assert r.status_code == 200, name
        else:
            assert r.status_code == 403, name
            assert f'href="/e/{name}"' not in home


@pytest.mark.parametrize(("username", "code"), [("designer_demo", "not_admin"), ("am_demo", "not_designer")])
def test_only_administrators_change_roles(demo, username, code):
    app, _ = demo
    client = as_user(app, username)
    role = client.get("/api/v1/definitions/role/account_manager").get_json()
    body = {**role["published"]["body"]} if "published" in role else role
    r = client.put("/api/v1/definitions/role/account_manager", json=body)
    assert r.status_code == 403 and r.get_json()["error"]["code"] == code


def test_reveal_with_a_reason_shows_the_value_for_a_while_and_is_logged(demo):
    app, _ = demo
    from scrm.db import db
    from scrm.security.audit import AuditEntry

    cid = own_customer(app)
    real = dict(table_rows(app, "customer", "id", "id_number"))[cid]
    am = as_user(app, "am_demo")
    r = am.post(f"/api/v1/records/customer/{cid}/reveal", json={"fields": ["id_number"], "reason": ""})
    assert r.status_code == 422 and r.get_json()["error"]["details"][0]["path"] == "reason"
    r = am.post(f"/api/v1/records/customer/{cid}/reveal", json={"fields": ["id_number"], "reason": "客户来电核实身份"})
    assert r.status_code == 200 and r.get_json()["values"]["id_number"] == real
    assert am.get(f"/api/v1/records/customer/{cid}").get_json()["id_number"] == real  # for the next minutes
    assert as_user(app, "lead_demo").get(f"/api/v1/records/customer/{cid}").get_json()["id_number"] != real
    with app.app_context():
        entry = db.session.execute(
            sa.select(AuditEntry).where(AuditEntry.action == "reveal", AuditEntry.record_id == cid)
        ).scalar_one()
        assert (entry.username, entry.fields, entry.reason) == ("am_demo", "id_number", "客户来电核实身份")
        db.session.remove()


@pytest.mark.parametrize(("username", "status"), [("agent_demo", 403), ("hq_demo", 403)])
def test_roles_that_only_see_masked_values_cannot_reveal(demo, username, status):
    app, _ = demo
    cid = own_customer(app)
    r = as_user(app, username).post(
        f"/api/v1/records/customer/{cid}/reveal", json={"fields": ["id_number"], "reason": "想看一下完整号码"}
    )
    assert r.status_code == status


def test_reveal_outside_the_scope_is_not_found(demo):
    app, _ = demo
    cid, _name, _no = outsider(app, "am_demo")
    r = as_user(app, "am_demo").post(f"/api/v1/records/customer/{cid}/reveal", json={"reason": "核实客户身份信息"})
    assert r.status_code == 404


def test_reveal_from_the_page(demo):
    app, _ = demo
    cid = own_customer(app)
    client = as_user(app, "branch_demo")
    page = client.get(f"/e/customer/{cid}").get_data(as_text=True)
    assert f"/e/customer/{cid}/reveal" in page
    r = client.post(f"/e/customer/{cid}/reveal", data={"reason": "办理业务核对证件"})
    assert r.status_code == 303
    real = dict(table_rows(app, "customer", "id", "id_number"))[cid]
    assert real in client.get(f"/e/customer/{cid}").get_data(as_text=True)


def test_a_departing_managers_book_is_handed_over_in_one_go(demo):
    """The branch manager hands the account manager's whole book to a colleague: the old
    assignments end yesterday, new ones start today, the customers' primary manager changes,
    and the scopes follow at once. Runs last in this module: it changes the demo's book."""
    app, _ = demo
    staff = table_rows(app, "employee", "id", "login", "org_unit", "role")
    am = next(e for e in staff if e[1] == "am_demo")
    boss = next(e for e in staff if e[1] == "branch_demo")
    successor = next(e[0] for e in staff if e[3] == "account_manager" and e[0] != am[0] and e[2] == am[2])
    book = expected_customers(app, "am_demo")
    assert book
    values = {"change_reason": "manager_left", "request_type": "bulk_transfer", "approved_by": boss[0]}
    denied = as_user(app, "am_demo").post(
        "/api/v1/records/customer/hand-over", json={"from": am[0], "to": successor, "values": values}
    )
    assert denied.status_code == 403, denied.get_json()  # an account manager may not reassign their book
    r = as_user(app, "branch_demo").post(
        "/api/v1/records/customer/hand-over", json={"from": am[0], "to": successor, "values": values}
    )
    assert r.status_code == 200, r.get_json()
    counts = r.get_json()
    assert counts["shares_created"] == counts["shares_ended"] >= len(book) and counts["owners_changed"] >= 1
    assert expected_customers(app, "am_demo") == set()  # nothing current is left in the old book
    managers = dict(table_rows(app, "customer", "id", "primary_manager"))
    assert all(managers[c] != am[0] for c in book)
    from scrm.db import db
    from scrm.security.audit import AuditEntry

    with app.app_context():
        entry = db.session.execute(sa.select(AuditEntry).where(AuditEntry.action == "hand_over")).scalar_one()
        assert entry.username == "branch_demo"
        db.session.remove()


def test_forms_offer_no_choices_from_entities_the_role_cannot_read(demo):
    """A reference to an entity the role may not read keeps its value and lists nothing else."""
    app, _ = demo
    from scrm.data.records import RecordService
    from scrm.runtime import snapshot
    from scrm.web.forms import LayoutBuilder

    class User:
        id, username, roles = 1, "designer_demo", ("designer",)

    with app.test_request_context():
        svc = RecordService.for_user(snapshot(), User())
        entity = snapshot().entity("customer")
        field = entity.field("primary_manager")
        builder = LayoutBuilder(svc, entity, "edit", {"primary_manager": 3, "_titles": {"primary_manager": "某经理"}})
        svc.permissions._grants["employee"] = svc.permissions.grant("trade")  # as a role without employee read
        assert not svc.permissions.can("employee", "read")
        widget, choices, _extra = builder.ref_widget(field, 3)
        assert widget == "select" and [(c.value, c.label) for c in choices] == [("3", "某经理")]
