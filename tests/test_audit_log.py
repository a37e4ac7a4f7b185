"""The audit log: what it records, its hash chain, tamper detection, append-only triggers and
archiving."""

from __future__ import annotations

import json
import threading

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from support import login

from scrm.cli import cli


def entries(app, **where) -> list[dict]:
    from scrm.db import db
    from scrm.security.audit import AuditEntry

    with app.app_context():
        table = AuditEntry.__table__
        query = sa.select(table).order_by(table.c.id)
        for key, value in where.items():
            query = query.where(table.c[key] == value)
        out = [dict(r) for r in db.session.execute(query).mappings()]
        db.session.remove()
        return out


def raw_sql(app, *statements: str) -> None:
    """What someone with the database's keys can do, behind the application's back."""
    from scrm.db import db

    with app.app_context(), db.engine.connect() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
        conn.commit()


DROP = {
    "sqlite": ["DROP TRIGGER scrm_audit_no_update", "DROP TRIGGER scrm_audit_no_delete"],
    "postgresql": ["DROP TRIGGER scrm_audit_append_only ON scrm_audit"],
}


def verify(app):
    from scrm.security import audit

    with app.app_context():
        return audit.verify()


@pytest.fixture
def busy(app, seed):
    """A log with logins, record changes and sensitive views in it."""
    client = app.test_client()
    client.post("/login", data={"username": "admin", "password": "wrong-password"})
    client.post("/login", data={"username": "admin", "password": "Secret-pass-123"})
    customer = seed["c1"]
    client.get(f"/e/customer/{customer}")
    client.patch(f"/api/v1/records/customer/{customer}", json={"occupation": "other", "_version": 1})
    return app


def test_logins_changes_and_sensitive_views_are_recorded(busy, seed):
    log = entries(busy)
    actions = [e["action"] for e in log]
    assert actions.count("login") == 2
    denied = next(e for e in log if e["action"] == "login" and e["result"] == "denied")
    assert denied["username"] == "admin" and denied["user_id"] is None
    change = next(e for e in log if e["action"] == "update" and e["entity"] == "customer")
    assert change["record_id"] == seed["c1"] and change["fields"] == "occupation" and change["username"] == "admin"
    view = next(e for e in log if e["action"] == "view_sensitive")
    assert view["record_id"] == seed["c1"] and "id_number" in view["fields"]
    assert all(e["ip"] == "127.0.0.1" for e in log if e["username"] == "admin")


def test_masked_views_are_not_sensitive_reads(app, seed):
    from scrm.data.records import RecordService
    from scrm.runtime import snapshot

    with app.app_context():
        RecordService(snapshot(), None).update("employee", seed["emp1"], {"login": "am"}, 1)
    client = app.test_client()
    login(client, "am")
    before = len(entries(app, action="view_sensitive"))
    r = client.get(f"/api/v1/records/customer/{seed['c1']}")
    assert r.status_code == 200 and "*" in r.get_json()["id_number"]
    assert len(entries(app, action="view_sensitive")) == before


def test_the_chain_links_every_entry(busy):
    log = entries(busy)
    assert len(log) >= 5
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(log, log[1:], strict=False))
    result = verify(busy)
    assert result.ok and result.entries == len(log)


@pytest.mark.parametrize("column", ["username", "fields", "at", "detail", "action"])
def test_one_changed_byte_is_found_at_its_entry(busy, backend, column):
    log = entries(busy)
    target = next(e for e in log[1:-1] if e[column])
    value = target[column]
    changed = value[:-1] + ("X" if value[-1] != "X" else "Y")
    raw_sql(busy, *DROP[backend], f"UPDATE scrm_audit SET {column} = '{changed}' WHERE id = {target['id']}")
    result = verify(busy)
    assert not result.ok and result.first_broken == target["id"]
    assert "changed" in result.problem


def test_a_removed_entry_breaks_the_next(busy, backend):
    log = entries(busy)
    gone = log[2]
    raw_sql(busy, *DROP[backend], f"DELETE FROM scrm_audit WHERE id = {gone['id']}")
    result = verify(busy)
    assert result.first_broken == log[3]["id"] and "removed" in result.problem


def test_the_table_refuses_updates_and_deletes(busy):
    from sqlalchemy.exc import DBAPIError

    for statement in ("UPDATE scrm_audit SET username = 'x'", "DELETE FROM scrm_audit"):
        with pytest.raises(DBAPIError, match="append-only"):
            raw_sql(busy, statement)
    assert verify(busy).ok


def test_cli_verify_names_the_broken_entry(busy, backend, database, monkeypatch):
    url, _ = database
    monkeypatch.setenv("SCRM_DATABASE_URL", url)
    monkeypatch.setenv("SCRM_SECRET_KEY", "audit-test")
    ok = CliRunner().invoke(cli, ["audit", "verify"])
    assert ok.exit_code == 0 and "audit log intact" in ok.output
    target = entries(busy)[1]
    raw_sql(busy, *DROP[backend], f"UPDATE scrm_audit SET reason = 'edited' WHERE id = {target['id']}")
    broken = CliRunner().invoke(cli, ["audit", "verify"])
    assert broken.exit_code == 1
    assert f"broken at entry #{target['id']}" in broken.output


def test_archive_moves_old_entries_and_both_halves_verify(busy, database, monkeypatch, tmp_path):
    url, _ = database
    monkeypatch.setenv("SCRM_DATABASE_URL", url)
    monkeypatch.setenv("SCRM_SECRET_KEY", "audit-test")
    before = entries(busy)
    from datetime import UTC, datetime, timedelta

    from scrm.db import db
    from scrm.security import audit

    path = tmp_path / "audit-2026.jsonl"
    with busy.app_context():
        moved = audit.archive(path, datetime.now(UTC) + timedelta(seconds=1))
        db.session.commit()
        audit.append("login", audit.Actor(1, "admin"))
        db.session.commit()
    assert moved == len(before)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0])["kind"] == "scrm-audit-archive" and len(lines) == moved + 1
    assert verify(busy).ok and verify(busy).entries == 1
    assert CliRunner().invoke(cli, ["audit", "verify", "--file", str(path)]).exit_code == 0
    record = json.loads(lines[2])
    record["username"] = "someone-else"
    lines[2] = json.dumps(record, ensure_ascii=False)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["audit", "verify", "--file", str(path)])
    assert result.exit_code == 1 and f"#{record['id']}" in result.output


def test_concurrent_appends_keep_one_chain(app):
    from scrm.db import db, writing
    from scrm.security import audit

    errors = []

    def work(n):
        try:
            with app.app_context():
                for i in range(15):
                    with writing():
                        audit.append("login", audit.Actor(n, f"user{n}"), detail={"i": i})
                        db.session.commit()
                db.session.remove()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    result = verify(app)
    assert result.ok and result.entries >= 60


def test_saving_the_edit_form_logs_the_change_and_no_view(app, seed):
    """Opening the form logs the sensitive view; saving it logs the change only: the POST
    compares with what the form showed and does not read the record back (the browser is
    redirected to the record page, which logs its own view)."""
    from support import form_data
    from werkzeug.datastructures import MultiDict

    client = app.test_client()
    client.post("/login", data={"username": "admin", "password": "Secret-pass-123"})
    url = f"/e/customer/{seed['c1']}/edit"
    before = entries(app)[-1]["id"]
    pairs = [(k, "other" if k == "occupation" else v) for k, v in form_data(client.get(url).get_data(as_text=True))]
    assert [e["action"] for e in entries(app) if e["id"] > before] == ["view_sensitive"]
    before = entries(app)[-1]["id"]
    r = client.post(url, data=MultiDict(pairs))
    assert r.status_code == 303
    actions = [e["action"] for e in entries(app) if e["id"] > before]
    assert actions == ["update"]


@pytest.mark.parametrize("savepoint", ["kept", "rolled back"])
def test_appends_in_one_transaction_chain_without_rereading(app, savepoint):
    """The second entry of a transaction chains to the first without reading the table; an
    entry inside a savepoint that is rolled back is not chained to."""
    from support import captured_statements

    from scrm.db import db, writing
    from scrm.security import audit

    actor = audit.Actor(1, "chain")

    def work():
        with app.app_context():
            with writing():
                audit.append("login", actor, detail={"n": 1})
                audit.append("login", actor, detail={"n": 2})
                nested = db.session.begin_nested()
                audit.append("login", actor, detail={"n": 3})
                nested.commit() if savepoint == "kept" else nested.rollback()
                audit.append("login", actor, detail={"n": 4})
                db.session.commit()
            db.session.remove()

    statements = captured_statements(app, work)
    reads = [q for q, _ in statements if "scrm_audit.hash" in q and "ORDER BY" in q]
    # the first entry, the one in the savepoint, and the one after it (a new innermost transaction)
    assert len(reads) == 3, reads
    logged = [json.loads(e["detail"])["n"] for e in entries(app, username="chain")]
    assert logged == ([1, 2, 3, 4] if savepoint == "kept" else [1, 2, 4])
    assert verify(app).ok
