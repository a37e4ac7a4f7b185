"""Crashes: a child process doing real work is killed with SIGKILL at a chosen point — in the
middle of a bulk import, a rule batch, a publish with its migration — and the database it leaves
is consistent: no partial all-or-nothing import, the saved chunks of a skip-bad-rows import and
nothing more, no firing doubled when the rule runs again, the old definition and never a mix.
(A scheduler killed while it escalates SLAs: test_ticket_workflow.py and
test_scheduler_failover.py.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

CHILD = r"""
import importlib, json, os, signal, sys

spec = json.loads(sys.argv[1])
for module, name, value in spec.get("set", []):
    setattr(importlib.import_module(module), name, value)
module, _sep, path = spec["crash"].partition(":")
owner = importlib.import_module(module)
*parents, name = path.split(".")
for parent in parents:
    owner = getattr(owner, parent)
original = getattr(owner, name)
calls = [0]

def crashing(*args, **kwargs):
    result = original(*args, **kwargs)
    calls[0] += 1
    if calls[0] >= spec["after"]:
        os.kill(os.getpid(), signal.SIGKILL)
    return result

setattr(owner, name, crashing)
from scrm.app import create_app
from scrm.db import write_intent

app = create_app()
with app.app_context(), write_intent():
    exec(spec["then"])
sys.exit(3)  # the crash point was never reached
"""


def killed_child(url: str, crash: str, after: int, then: str, set_: list | None = None) -> None:
    """Run ``then`` in a child process on ``url``; it kills itself (SIGKILL) right after the
    ``after``-th call of ``crash`` (``module:Class.method``) returns."""
    spec = {"crash": crash, "after": after, "then": then, "set": set_ or []}
    env = {**os.environ, "SCRM_DATABASE_URL": url, "SCRM_SECRET_KEY": "crashes", "SCRM_LOCALE": "en"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(spec)], env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == -signal.SIGKILL, f"exit {done.returncode}: {done.stderr[-2000:]}"


def count(app, sql: str, **params) -> int:
    from scrm.db import db

    with app.app_context():
        value = db.session.execute(sa.text(sql), params).scalar()
        db.session.remove()
        return value


# -- a bulk import -------------------------------------------------------------------------------
ROWS = 450


@pytest.fixture
def tag_file(tmp_path):
    path = tmp_path / "tags.csv"
    lines = ["code,name,category,tag_type"] + [f"CRASH{i:04d},标签{i},service,manual" for i in range(ROWS)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def import_then(path, mode: str) -> str:
    return (
        "from pathlib import Path\n"
        "from scrm.data.import_run import import_file\n"
        f"import_file(app, 'tag', Path({str(path)!r}), key='code', mode={mode!r})\n"
    )


def rerun(app, monkeypatch) -> str:
    """Run the interrupted job again, as an administrator does from its page."""
    from support import login

    from scrm.data import importing
    from scrm.db import db

    monkeypatch.setattr(importing, "STALE_AFTER", timedelta(0))  # the heartbeat has stopped
    with app.app_context():
        job_id = db.session.execute(sa.text("SELECT max(id) FROM scrm_import")).scalar()
        db.session.remove()
    client = app.test_client()
    login(client, "admin")
    assert f"/imports/{job_id}/rerun" in client.get(f"/imports/{job_id}").data.decode()  # offered again
    response = client.post(f"/imports/{job_id}/rerun")
    assert response.status_code == 303, response.data[:500]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = count(app, "SELECT status FROM scrm_import WHERE id = :id", id=job_id)
        if status not in ("queued", "running"):
            return status
        time.sleep(0.2)
    raise AssertionError("the rerun did not finish")


TAGS = "SELECT count(*) FROM crm_tag WHERE code LIKE 'CRASH%'"


def test_an_all_or_nothing_import_killed_midway_saves_nothing(app, database, tag_file, monkeypatch):
    url, _template = database
    killed_child(url, "scrm.data.import_run:Runner._save", 300, import_then(tag_file, "all"))
    assert count(app, TAGS) == 0
    assert rerun(app, monkeypatch) == "done"
    assert count(app, TAGS) == ROWS


def test_a_skip_bad_rows_import_killed_midway_keeps_its_saved_chunks(app, database, tag_file, monkeypatch):
    url, _template = database
    killed_child(url, "scrm.data.import_run:Runner._save", 300, import_then(tag_file, "skip"))
    assert count(app, TAGS) == 200  # the first chunk (CHUNK = 200) committed, the second not
    assert rerun(app, monkeypatch) == "done"
    assert count(app, TAGS) == ROWS  # the rest, none twice (code is unique)


# -- a rule batch --------------------------------------------------------------------------------
@pytest.fixture
def demo_db(database):
    from support import DEMO_TODAY, make_app

    from scrm.db import db
    from scrm.demo import load_demo

    url, _template = database
    app = make_app(url)
    with app.app_context():
        load_demo(customers=40, today=DEMO_TODAY)
        db.session.remove()
    return url, app


def busiest_rule(app) -> tuple[str, int]:
    """A rule that fires for many records of the demo (and creates tasks or tags)."""
    from scrm.alerts.engine import run_rule
    from scrm.alerts.model import rules_of
    from scrm.runtime import snapshot

    with app.app_context():
        counts = {name: run_rule(name, dry_run=True).fired for name in rules_of(snapshot())}
    name = max(counts, key=counts.get)
    return name, counts[name]


def test_a_rule_batch_killed_midway_fires_nothing_twice_when_run_again(demo_db):
    from scrm.alerts.engine import run_rule

    url, app = demo_db
    name, expected = busiest_rule(app)
    assert expected >= 3, (name, expected)
    firings = "SELECT count(*) FROM scrm_alert_firing WHERE rule = :rule"
    distinct = (
        "SELECT count(*) FROM (SELECT DISTINCT record_id, period_key FROM scrm_alert_firing WHERE rule = :rule) d"
    )
    killed_child(
        url,
        "scrm.alerts.actions:ActionRunner.apply",
        2,
        f"from scrm.alerts.engine import run_rule\nrun_rule({name!r})\n",
        set_=[["scrm.alerts.engine", "BATCH", 1]],
    )
    assert count(app, firings, rule=name) == 1  # the first chunk committed with its actions; the second not
    with app.app_context():
        again = run_rule(name)
    assert again.status == "done" and again.fired == expected - 1
    assert count(app, firings, rule=name) == count(app, distinct, rule=name) == expected
    runs = "SELECT count(*) FROM scrm_alert_run WHERE rule = :rule AND status = :status"
    assert count(app, runs, rule=name, status="running") == 0  # the killed run is closed
    assert count(app, runs, rule=name, status="failed") == 1


# -- a publish with its migration ------------------------------------------------------------------
def test_a_publish_killed_inside_its_migration_leaves_the_old_definition(app, api, database):
    from scrm.meta import store

    url, _template = database
    doc = api.get("/api/v1/definitions/entity/tag").json
    for n in (1, 2):
        doc["fields"].append(
            {"name": f"crash_{n}", "type": "string", "max_length": 20, "label": {"zh-CN": f"字段{n}", "en": f"F{n}"}}
        )
    assert api.put("/api/v1/definitions/entity/tag", json=doc).status_code == 200
    with app.app_context():
        before = (store.current_revision(), store.get("entity", "tag", store.PUBLISHED).version)

    publish = "from scrm.runtime import runtime\nruntime().definitions.publish('entity', 'tag')\n"
    killed_child(url, "scrm.data.migrate:add_column", 1, publish)  # after the first ALTER TABLE

    from scrm.db import db

    with app.app_context():
        db.engine.dispose()
        after = (store.current_revision(), store.get("entity", "tag", store.PUBLISHED).version)
        columns = {c["name"] for c in sa.inspect(db.engine).get_columns("crm_tag")}
        draft = store.get("entity", "tag", store.DRAFT)
        db.session.remove()
    assert after == before and not {"crash_1", "crash_2"} & columns and draft is not None
    assert api.get("/api/v1/records/tag?limit=1").status_code == 200  # the old definition serves
    published = api.post("/api/v1/definitions/entity/tag/publish")
    assert published.status_code == 200, published.json
    with app.app_context():
        columns = {c["name"] for c in sa.inspect(db.engine).get_columns("crm_tag")}
    assert {"crash_1", "crash_2"} <= columns
