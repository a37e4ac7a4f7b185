"""Field encryption at rest: the database holds ciphertext, equality still works through the
blind index, history is sealed too, and keys rotate."""

from __future__ import annotations

import base64
import json

import pytest
from click.testing import CliRunner

from scrm.cli import cli
from scrm.security.crypto import KeyError_, Keyring, new_key_setting

ID_NUMBER = "11010519491231002X"  # the seed's first customer


def raw_customer(app, customer_id: int) -> dict:
    from scrm.db import db

    with app.app_context(), db.engine.connect() as conn:
        row = (
            conn.exec_driver_sql(
                f"SELECT * FROM crm_customer WHERE id = {int(customer_id)}"  # noqa: S608 (an int)
            )
            .mappings()
            .one()
        )
        return dict(row)


def test_the_database_holds_ciphertext(app, seed):
    row = raw_customer(app, seed["c1"])
    assert row["id_number"].startswith("enc:test1:") and ID_NUMBER not in json.dumps(row, default=str)
    assert len(row["id_number__bidx"]) == 64
    assert row["name"] == "王芳"  # names are masked for roles, not encrypted (search by part of a name)


def test_exact_search_by_id_number_finds_the_customer(api, seed):
    found = api.get("/api/v1/records/customer", query_string={"q": ID_NUMBER}).json["items"]
    assert [c["id"] for c in found] == [seed["c1"]]
    assert found[0]["id_number"] == ID_NUMBER
    assert api.get("/api/v1/records/customer", query_string={"q": ID_NUMBER[:8]}).json["items"] == []


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"field": "id_number", "op": "eq", "value": ID_NUMBER}, ["c1"]),
        ({"field": "id_number", "op": "in", "value": [ID_NUMBER, "110105194912310038"]}, ["c1", "c2"]),
        ({"field": "id_number", "op": "ne", "value": ID_NUMBER}, ["c2", "c3"]),
        ({"not": {"field": "id_number", "op": "in", "value": [ID_NUMBER]}}, ["c2", "c3"]),
        ({"field": "mobile", "op": "is_empty"}, ["c1", "c2", "c3"]),
    ],
)
def test_equality_conditions_use_the_blind_index(api, seed, condition, expected):
    r = api.get("/api/v1/records/customer", query_string={"filter": json.dumps(condition), "sort": "id"})
    assert r.status_code == 200, r.json
    assert [c["id"] for c in r.json["items"]] == [seed[k] for k in expected]


@pytest.mark.parametrize(
    "condition",
    [
        {"field": "id_number", "op": "starts_with", "value": "110"},
        {"field": "mobile", "op": "contains", "value": "138"},
        {"field": "id_number", "op": "gt", "value": "1"},
        {"field": "name", "op": "eq", "value": {"field": "id_number"}},
    ],
)
def test_other_comparisons_on_encrypted_fields_are_refused(api, condition):
    r = api.get("/api/v1/records/customer", query_string={"filter": json.dumps(condition)})
    assert r.status_code == 400
    assert "E-COND-015" in json.dumps(r.json) or "encrypted" in json.dumps(r.json)
    assert api.get("/api/v1/records/customer", query_string={"sort": "id_number"}).status_code == 400


def test_unique_rules_hold_on_encrypted_values(api, seed):
    body = {"customer_no": "310000000099", "name": "重复", "id_type": "cn_id", "id_number": ID_NUMBER}
    r = api.post("/api/v1/records/customer", json=body)
    assert r.status_code == 422
    assert any(d["path"] == "id_number" for d in r.json["error"]["details"])


def test_history_keeps_encrypted_values_sealed(app, api, seed):
    from scrm.db import db

    version = api.get(f"/api/v1/records/customer/{seed['c2']}").json["version"]
    r = api.patch(f"/api/v1/records/customer/{seed['c2']}", json={"mobile": "13900001111", "_version": version})
    assert r.status_code == 200
    with app.app_context(), db.engine.connect() as conn:
        stored = conn.exec_driver_sql(
            "SELECT new_value FROM scrm_change WHERE entity = 'customer' AND field_name = 'mobile'"
        ).scalar_one()
    assert "13900001111" not in json.dumps(stored)
    shown = api.get(f"/api/v1/records/customer/{seed['c2']}/history").json
    assert any(item["new"] == "13900001111" for item in (shown["items"] if isinstance(shown, dict) else shown))


def test_a_value_moved_to_another_field_does_not_open():
    ring = Keyring(new_key_setting("k1"))
    sealed = ring.seal("13800001111", "customer.mobile")
    assert ring.open(sealed, "customer.mobile") == "13800001111"
    with pytest.raises(KeyError_, match="altered or moved"):
        ring.open(sealed, "customer.phone_alt")
    assert ring.open("plain before encryption", "customer.mobile") == "plain before encryption"


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("", "no encryption key"),
        ("k1", "<id>:<base64"),
        ("k1:not base64!", "not valid base64"),
        ("k1:" + base64.b64encode(b"short").decode(), "32 bytes"),
        (",".join("k1:" + base64.b64encode(fill * 32).decode() for fill in (b"a", b"b")), "share an id"),
    ],
)
def test_unusable_key_settings_are_named(setting, message):
    with pytest.raises(KeyError_, match=message):
        Keyring(setting)


def test_rotation_reseals_everything_with_the_new_key(app, seed, database, monkeypatch):
    from scrm.db import db

    url, _ = database
    old = app.config["SCRM_ENCRYPTION_KEY"]
    # a value stored before the field was encrypted: plain, without a blind index
    with app.app_context(), db.engine.connect() as conn:
        conn.exec_driver_sql(
            f"UPDATE crm_customer SET mobile = '13700002222', mobile__bidx = NULL WHERE id = {int(seed['c3'])}"
        )
        conn.commit()
    generated = CliRunner().invoke(cli, ["keys", "generate", "--id", "k2"]).output.strip()
    monkeypatch.setenv("SCRM_DATABASE_URL", url)
    monkeypatch.setenv("SCRM_SECRET_KEY", "rotation-test")
    monkeypatch.setenv("SCRM_ENCRYPTION_KEY", f"{generated},{old}")
    result = CliRunner().invoke(cli, ["keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert "customer.id_number: 3" in result.output
    row = raw_customer(app, seed["c3"])
    assert row["id_number"].startswith("enc:k2:") and row["mobile"].startswith("enc:k2:")
    from support import make_app

    rotated = make_app(url, SCRM_ENCRYPTION_KEY=generated)  # the old key may now be dropped
    client = rotated.test_client()
    from support import login

    login(client, "admin")
    found = client.get("/api/v1/records/customer", query_string={"q": "13700002222"}).get_json()["items"]
    assert [c["id"] for c in found] == [seed["c3"]]
    with rotated.app_context():
        db.session.remove()
        db.engine.dispose()


def test_demo_data_is_written_encrypted(demo):
    app, _ = demo
    from scrm.db import db

    with app.app_context(), db.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT id_number, id_number__bidx, mobile FROM crm_customer").all()
        accounts = conn.exec_driver_sql("SELECT fund_account_no FROM crm_account").all()
    assert rows and all(r[0].startswith("enc:") and len(r[1]) == 64 for r in rows)
    assert all(r[2] is None or r[2].startswith("enc:") for r in rows)
    assert all(a[0].startswith("enc:") for a in accounts)
