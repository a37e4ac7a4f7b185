"""The shipped securities CRM: its definitions are clean, every entity's pages render, and the
demo generator fills every entity with data that is deterministic, passes the entities' own
rules and adds up (positions to market value, accounts to customer assets, answers to levels)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from support import DEMO_CUSTOMERS, DEMO_TODAY, make_app

from scrm.cli import cli

ROOT = Path(__file__).resolve().parent.parent
ENTITIES = sorted(p.stem for p in (ROOT / "schemas" / "entities").glob("*.json"))
CUSTOMERS, TODAY = DEMO_CUSTOMERS, DEMO_TODAY


def rows(app, entity: str, *fields: str, where=None) -> list[tuple]:
    from scrm.db import db
    from scrm.runtime import snapshot

    with app.app_context():
        et = snapshot().tables[entity]
        columns = [et.main.c[et.entity.field(f).column if et.entity.field(f) else f] for f in fields]
        query = sa.select(*columns).order_by(et.main.c.id)
        if where is not None:
            query = query.where(where(et))
        return [tuple(r) for r in db.session.execute(query)]


def test_shipped_definitions_are_clean():
    result = CliRunner().invoke(cli, ["check"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert " 0 errors, 0 warnings" in result.output
    assert len(ENTITIES) >= 30


def test_every_entity_is_populated(demo):
    app, summary = demo
    assert summary[0].startswith(f"demo data: {CUSTOMERS} customers")
    empty = [e for e in ENTITIES if not rows(app, e, "id")]
    assert empty == []


def record(app, entity: str, record_id: int) -> dict:
    from scrm.data.records import RecordService
    from scrm.runtime import snapshot

    with app.app_context():
        return RecordService(snapshot(), None).get(entity, record_id)


@pytest.mark.parametrize("entity", ENTITIES)
def test_every_page_renders_and_an_untouched_form_saves_nothing(demo, entity):
    from support import form_data
    from werkzeug.datastructures import MultiDict

    app, _ = demo
    client = app.test_client()
    assert client.post("/login", data={"username": "demo", "password": "demo12345"}).status_code == 302
    first = rows(app, entity, "id")[0][0]
    for url in (f"/e/{entity}", f"/e/{entity}/new", f"/e/{entity}/{first}", f"/e/{entity}/{first}/edit"):
        response = client.get(url)
        assert response.status_code == 200, (url, response.get_data(as_text=True)[:300])
        assert "Traceback" not in response.get_data(as_text=True)
    before = record(app, entity, first)
    html = client.get(f"/e/{entity}/{first}/edit").get_data(as_text=True)
    saved = client.post(f"/e/{entity}/{first}/edit", data=MultiDict(form_data(html)))
    assert saved.status_code == 303, saved.get_data(as_text=True)[-3000:]
    assert record(app, entity, first) == before


def test_generated_records_pass_their_entities_rules(demo):
    """Demo rows are bulk-written around the record service; each must still be a record the
    service would accept unchanged (required fields, references, check constraints)."""
    app, _ = demo
    from flask_babel import force_locale

    from scrm.data.records import RecordService
    from scrm.runtime import snapshot

    problems = {}
    with app.app_context(), force_locale("en"):
        snap = snapshot()
        svc = RecordService(snap, None)
        for name in ENTITIES:
            entity = snap.entity(name)
            for record in svc.list(name, limit=100).items:
                data = {k: v for k, v in record.items() if entity.field(k) is not None and not entity.field(k).computed}
                found = svc.problems(name, data, record["id"])
                if found:
                    problems[(name, record["id"])] = found
    assert problems == {}


def test_the_figures_add_up(demo):
    app, _ = demo
    from collections import defaultdict

    last = max(r[0] for r in rows(app, "asset_snapshot", "snapshot_date"))
    snap_total = defaultdict(int)
    snap_mv = {}
    for account, customer, day, total, mv in rows(
        app, "asset_snapshot", "account", "customer", "snapshot_date", "total_assets", "market_value"
    ):
        if day == last:
            snap_total[customer] += total
            snap_mv[account] = mv
    position_mv = defaultdict(int)
    for account, day, mv in rows(app, "position", "account", "as_of_date", "market_value"):
        assert day == last
        position_mv[account] += mv
    assert position_mv and all(snap_mv[a] == v for a, v in position_mv.items())
    tiers = ((30_000_000, "uhnw"), (5_000_000, "hnw"), (1_000_000, "wealth"), (100_000, "potential"), (0, "mass"))
    latest_assessment = {}
    for customer, level, lowest, status in rows(
        app, "suitability_assessment", "customer", "final_level", "is_lowest_category", "status"
    ):
        if status != "superseded":
            latest_assessment[customer] = (level, lowest)
    trade_days = defaultdict(list)
    for customer, day in rows(app, "trade", "customer", "trade_date"):
        trade_days[customer].append(day)
    for cid, total, tier, stage, risk, lowest, last_trade in rows(
        app, "customer", "id", "total_assets", "asset_tier", "lifecycle_stage", "risk_level", "is_lowest_category",
        "last_trade_date",
    ):  # fmt: skip
        assert snap_total[cid] == total, cid
        if stage != "closed":
            assert tier == next(t for floor, t in tiers if total >= floor), (cid, total, tier)
        if cid in latest_assessment:
            assert (risk, bool(lowest)) == (latest_assessment[cid][0], bool(latest_assessment[cid][1]))
        if lowest:
            assert risk == "C1"
        if trade_days[cid]:
            assert last_trade == max(trade_days[cid])


def test_the_same_seed_gives_the_same_data(templates, tmp_path):
    """Two loads with one seed and one date produce identical rows (ids included)."""
    digests = []
    for n in range(2):
        target = tmp_path / f"d{n}.db"
        shutil.copyfile(templates("sqlite").url[len("sqlite:///") :], target)
        app = make_app(f"sqlite:///{target}")
        with app.app_context():
            from scrm.db import db
            from scrm.demo import load_demo

            load_demo(customers=25, today=TODAY)
            digest = hashlib.sha256()
            for table in ("crm_customer", "crm_trade", "crm_suitability_assessment", "crm_service_ticket"):
                for row in db.session.execute(sa.text(f"SELECT * FROM {table} ORDER BY id")):
                    # sealed values differ by their random nonce; their blind indexes (kept) do not
                    values = [
                        v
                        for k, v in row._mapping.items()
                        if k not in ("created_at", "updated_at") and not (isinstance(v, str) and v.startswith("enc:"))
                    ]
                    digest.update(json.dumps(values, default=str).encode())
            digests.append(digest.hexdigest())
            db.session.remove()
            db.engine.dispose()
    assert digests[0] == digests[1]


def test_every_role_has_a_demo_login(demo):
    app, _ = demo
    from scrm.demo.users import DEMO_USERS
    from scrm.runtime import snapshot

    with app.app_context():
        roles = {name for kind, name in snapshot().documents if kind == "role"}
    assert {role for _u, role, _w, _e in DEMO_USERS} <= roles | {"admin"}
    for username, *_ in DEMO_USERS:
        client = app.test_client()
        r = client.post("/login", data={"username": username, "password": "demo12345"})
        assert r.status_code == 302, username
        assert client.get("/e/customer").status_code == 200


def test_customer_page_in_english(demo):
    app, _ = demo
    client = app.test_client()
    client.post("/login", data={"username": "demo", "password": "demo12345"})
    first = rows(app, "customer", "id")[0][0]
    client.get("/lang/en")
    html = client.get(f"/e/customer/{first}").get_data(as_text=True)
    assert "Risk tolerance" in html and "Accounts" in html
