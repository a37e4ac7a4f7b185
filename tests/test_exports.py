"""Export controls on the demo brokerage: row limits per role, the approval step (never by the
requester), files made with the requester's scope and masking, stamped with who, when and a
hidden watermark, downloadable a few times before they expire, every step in the audit chain."""

from __future__ import annotations

import csv
import io

import pytest
import sqlalchemy as sa
from support import login
from test_security_scopes import MASKED, expected_customers, table_rows

from scrm.data.exporting import ExportRequest, watermark_of
from scrm.demo.users import DEMO_USERS

SENSITIVE = ("id_number", "mobile", "email", "address")


def as_user(app, username: str):
    client = app.test_client()
    login(client, username)
    return client


def ask(client, **body):
    return client.post("/api/v1/exports", json={"entity": "customer", "purpose": "year-end care calls", **body})


def read_file(data: bytes) -> tuple[str, list[str], list[list[str]]]:
    text = data.decode("utf-8-sig")
    stamp, _nl, rest = text.partition("\r\n")
    rows = list(csv.reader(io.StringIO(rest)))
    return stamp, rows[0], rows[1:]


def raw_values(app, field: str) -> set[str]:
    from scrm.data.records import RecordService
    from scrm.runtime import snapshot

    with app.app_context():
        svc = RecordService(snapshot())
        return {str(r[field]) for batch in svc.scan("customer", fields=[field]) for r in batch if r.get(field)}


@pytest.mark.parametrize("username", ["am_demo", "lead_demo"])
def test_within_the_limit_the_file_is_ready_at_once_scoped_and_masked(demo, username):
    app, _ = demo
    client = as_user(app, username)
    r = ask(client)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["status"] == "generated" and body["needs_approval_because"] == []
    f = client.get(body["file"])
    assert f.status_code == 200 and f.headers["Content-Disposition"].startswith("attachment;")
    stamp, header, rows = read_file(f.data)
    assert body["number"] in stamp and username in stamp
    assert watermark_of(header[0]) is not None
    ids = {int(row[0]) for row in rows}
    assert ids == expected_customers(app, username)
    text = f.data.decode("utf-8-sig")
    for field in SENSITIVE:
        leaked = [v for v in raw_values(app, field) if v in text]
        assert not leaked, (field, leaked[:3])
    assert "***" in text


@pytest.mark.parametrize("username", [u for u, *_ in DEMO_USERS])
def test_every_role_exports_only_its_scope_and_what_it_may_see(demo, username):
    """Out-of-scope customers never reach a file; values a role sees masked leave masked (the
    branch manager's role exports mobile numbers in full, after an approval)."""
    app, _ = demo
    client = as_user(app, username)
    r = ask(client)
    if r.status_code == 403:
        from scrm.runtime import snapshot

        with app.app_context():
            grants = snapshot().documents[("role", dict((u, role) for u, role, *_ in DEMO_USERS)[username])]
        assert "export" not in grants.get("permissions", {}).get("customer", {}).get("actions", [])
        assert b"customer_no" not in r.data
        return
    body = r.get_json()
    if body["status"] == "submitted":
        approver = as_user(app, "demo" if username == "compliance_demo" else "compliance_demo")
        assert approver.post(f"/api/v1/exports/{body['id']}/approve", json={}).status_code == 200
    f = client.get(f"/api/v1/exports/{body['id']}/file")
    assert f.status_code == 200
    _stamp, _header, rows = read_file(f.data)
    assert {int(row[0]) for row in rows} == expected_customers(app, username)
    if username in MASKED:
        text = f.data.decode("utf-8-sig")
        for field in SENSITIVE:
            if (username, field) == ("branch_demo", "mobile"):
                continue
            leaked = [v for v in raw_values(app, field) if v in text]
            assert not leaked, (field, leaked[:3])


def test_the_watermark_in_the_header_names_the_request(demo):
    app, _ = demo
    client = as_user(app, "am_demo")
    body = ask(client, fields=["name", "asset_tier"]).get_json()
    _stamp, header, _rows = read_file(client.get(body["file"]).data)
    with app.app_context():
        from scrm.db import db

        req = db.session.get(ExportRequest, body["id"])
        assert watermark_of(header[0]) == req.watermark
        assert req.content.startswith("enc:")  # the stored file is sealed
        db.session.remove()


@pytest.mark.parametrize("username", ["branch_demo", "hq_demo"])
def test_a_role_without_a_free_allowance_waits_for_approval(demo, username):
    app, _ = demo
    client = as_user(app, username)
    body = ask(client, fields=["name", "asset_tier"]).get_json()
    assert body["status"] == "submitted" and body["file"] is None
    assert body["needs_approval_because"] == ["您的角色导出需要审批。"]
    r = client.get(f"/api/v1/exports/{body['id']}/file")
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "not_downloadable"


def test_sensitive_data_in_full_needs_compliance_and_the_file_keeps_the_requesters_scope(demo):
    app, _ = demo
    branch, compliance = as_user(app, "branch_demo"), as_user(app, "compliance_demo")
    body = ask(branch, fields=["name", "mobile"]).get_json()
    assert any("手机号" in r or "Mobile" in r for r in body["needs_approval_because"])
    assert body["sensitive_fields"] == ["mobile"]
    waiting = compliance.get("/api/v1/exports").get_json()["waiting"]
    assert body["id"] in [w["id"] for w in waiting]
    r = compliance.post(f"/api/v1/exports/{body['id']}/approve", json={"note": "return-visit campaign"})
    assert r.status_code == 200 and r.get_json()["status"] == "generated"
    # the approver sees the request, never the file
    assert compliance.get(f"/api/v1/exports/{body['id']}/file").status_code == 403
    _stamp, header, rows = read_file(branch.get(f"/api/v1/exports/{body['id']}/file").data)
    assert {int(r[0]) for r in rows} == expected_customers(app, "branch_demo")  # not compliance's "all"
    mobiles = {cid: mobile for cid, mobile in table_rows(app, "customer", "id", "mobile")}
    assert all(row[2] == (mobiles[int(row[0])] or "") for row in rows)  # in full, as approved


@pytest.mark.parametrize(
    "requester, fields, approver, code, status",
    [
        ("branch_demo", ["name"], "am_demo", "not_found", 404),
        ("branch_demo", ["name"], "branch_demo", "not_approver", 403),
        ("branch_demo", ["name"], "lead_demo", "not_found", 404),
        ("demo", ["name", "mobile"], "demo", "own_request", 403),  # an administrator approves others' only
    ],
)
def test_only_another_user_who_approves_may_approve(demo, requester, fields, approver, code, status):
    app, _ = demo
    body = ask(as_user(app, requester), fields=fields).get_json()
    assert body["status"] == "submitted"
    r = as_user(app, approver).post(f"/api/v1/exports/{body['id']}/approve", json={})
    assert r.status_code == status and r.get_json()["error"]["code"] == code


def test_a_rejection_needs_a_reason_and_is_final(demo):
    app, _ = demo
    compliance = as_user(app, "compliance_demo")
    body = ask(as_user(app, "branch_demo"), fields=["name"]).get_json()
    r = compliance.post(f"/api/v1/exports/{body['id']}/reject", json={"note": " "})
    assert r.status_code == 400 and r.get_json()["error"]["details"][0]["path"] == "note"
    r = compliance.post(f"/api/v1/exports/{body['id']}/reject", json={"note": "not needed for the purpose"})
    assert r.get_json()["status"] == "rejected"
    r = compliance.post(f"/api/v1/exports/{body['id']}/approve", json={})
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "already_decided"


def test_downloads_are_limited_and_only_for_the_requester(demo):
    app, _ = demo
    client = as_user(app, "am_demo")
    body = ask(client, fields=["name"]).get_json()
    other = as_user(app, "lead_demo")
    assert other.get(f"/api/v1/exports/{body['id']}").status_code == 404
    assert other.get(f"/api/v1/exports/{body['id']}/file").status_code == 404
    for _ in range(app.config["SCRM_EXPORT_DOWNLOADS"]):
        assert client.get(body["file"]).status_code == 200
    r = client.get(body["file"])
    assert r.status_code == 400
    assert client.get(f"/api/v1/exports/{body['id']}").get_json()["status"] == "expired"


def test_expired_files_are_deleted(demo):
    app, _ = demo
    client = as_user(app, "am_demo")
    body = ask(client, fields=["name"]).get_json()
    with app.app_context():
        from scrm.db import db

        db.session.execute(
            sa.update(ExportRequest).where(ExportRequest.id == body["id"]).values(expires_at="2000-01-01T00:00:00Z")
        )
        db.session.commit()
        db.session.remove()
    assert client.get(body["file"]).status_code == 400
    with app.app_context():
        from scrm.db import db

        req = db.session.get(ExportRequest, body["id"])
        assert req.status == "expired" and req.content is None
        db.session.remove()


@pytest.mark.parametrize(
    "username, body, status, path",
    [
        ("am_demo", {"purpose": ""}, 400, "purpose"),
        ("am_demo", {"fields": ["no_such_field"]}, 400, "fields[0]"),
        ("am_demo", {"fields": "name"}, 400, "fields"),
        ("am_demo", {"filter": {"field": "id_number", "op": "eq", "value": "110105194912310038"}}, 400, "filter"),
        ("am_demo", {"filter": {"field": "name", "op": "near", "value": "x"}}, 400, "filter.op"),
        ("am_demo", {"entity": "trade"}, 403, None),
        ("agent_demo", {}, 403, None),
        ("compliance_demo", {}, 403, None),
    ],
)
def test_bad_or_forbidden_requests_say_where(demo, username, body, status, path):
    app, _ = demo
    r = ask(as_user(app, username), **body)
    assert r.status_code == status, r.get_json()
    if path:
        assert r.get_json()["error"]["details"][0]["path"] == path


def test_over_the_ceiling_is_refused(demo):
    app, _ = demo
    app.config["SCRM_EXPORT_MAX_ROWS"] = 2
    try:
        r = ask(as_user(app, "lead_demo"), fields=["name"])
    finally:
        app.config["SCRM_EXPORT_MAX_ROWS"] = 100_000
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "too_many_rows"


def test_every_step_is_in_the_audit_chain(demo):
    app, _ = demo
    branch, compliance = as_user(app, "branch_demo"), as_user(app, "compliance_demo")
    body = ask(branch, fields=["name"], purpose="audit trail test").get_json()
    compliance.post(f"/api/v1/exports/{body['id']}/approve", json={"note": "fine"})
    branch.get(f"/api/v1/exports/{body['id']}/file")
    with app.app_context():
        from scrm.db import db
        from scrm.security import audit

        rows = db.session.execute(
            sa.select(audit.AuditEntry.action, audit.AuditEntry.username, audit.AuditEntry.detail).where(
                audit.AuditEntry.detail.contains(body["number"])
            )
        ).all()
        assert [(a, u) for a, u, _d in rows] == [
            ("export_request", "branch_demo"),
            ("export_approve", "compliance_demo"),
            ("export", "branch_demo"),
            ("export_download", "branch_demo"),
        ]
        assert audit.verify().ok
        db.session.remove()


def test_the_export_page_carries_the_lists_filters(demo):
    app, _ = demo
    client = as_user(app, "am_demo")
    listing = client.get("/e/customer?f_asset_tier=mass")
    assert b"/e/customer/export?f_asset_tier=mass" in listing.data
    page = client.get("/e/customer/export?f_asset_tier=mass")
    assert page.status_code == 200
    html = page.data.decode()
    assert "asset_tier" in html and 'name="purpose"' in html
    token = html.split('name="csrf_token" value="')[1].split('"')[0]
    flt = html.split('name="filter" value="')[1].split('"')[0].replace("&#34;", '"')
    r = client.post(
        "/e/customer/export",
        data={"csrf_token": token, "filter": flt, "q": "", "fields": ["name", "asset_tier"], "purpose": "tier review"},
    )
    assert r.status_code == 302 and "/exports/" in r.headers["Location"]
    shown = client.get(r.headers["Location"]).data.decode()
    assert "tier review" in shown and "csrf_token" in shown
    r = client.post("/e/customer/export", data={"csrf_token": token, "filter": flt, "fields": ["name"], "purpose": ""})
    assert r.status_code == 400 and 'id="purpose-error"' in r.data.decode()
    assert b"/exports" in client.get("/exports").data


def test_roles_without_export_get_no_button(demo):
    app, _ = demo
    assert b"/e/customer/export" not in as_user(app, "agent_demo").get("/e/customer").data
    assert as_user(app, "agent_demo").get("/e/customer/export").status_code == 403


def test_spreadsheet_formulas_are_defused(api, seed):
    payload = {
        "customer_no": "310000000009",
        "name": '=HYPERLINK("x")',
        "id_type": "cn_id",
        "id_number": "110105195001010063",
        "primary_manager": seed["emp1"],
        "servicing_org": seed["branch"],
    }
    r = api.post("/api/v1/records/customer", json=payload)
    assert r.status_code == 201, r.get_json()
    body = api.post(
        "/api/v1/exports", json={"entity": "customer", "purpose": "formula test", "fields": ["name"]}
    ).get_json()
    _stamp, _header, rows = read_file(api.get(body["file"]).data)
    assert '\'=HYPERLINK("x")' in [row[1] for row in rows]


def test_the_operator_export_writes_a_stamped_file_and_logs_it(demo, tmp_path):
    from click.testing import CliRunner

    from scrm.cli import cli

    app, _ = demo
    target = tmp_path / "customers.csv"
    runner = CliRunner(env={"SCRM_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"]})
    result = runner.invoke(cli, ["export-data", "customer", str(target), "--fields", "name,asset_tier"])
    assert result.exit_code == 0, result.output
    _stamp, header, rows = read_file(target.read_bytes())
    assert len(rows) == len(table_rows(app, "customer", "id"))
    again = runner.invoke(cli, ["export-data", "customer", str(target)])
    assert again.exit_code == 1 and "exists" in again.output
    bad = runner.invoke(cli, ["export-data", "customer", str(tmp_path / "x.csv"), "--fields", "nope"])
    assert bad.exit_code == 1 and "Traceback" not in bad.output
