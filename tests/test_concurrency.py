"""Many writers at once: increments of one record from threads in two workers and from two
server processes lose nothing (every accepted write is visible, every stale one gets 409), and
simultaneous publishes of one definition publish it once. (Simultaneous workflow steps and
round-robin turns: test_ticket_workflow.py; simultaneous audit appends: test_audit_log.py.)"""

from __future__ import annotations

import copy
import threading
from collections import Counter

import pytest
import sqlalchemy as sa

WRITERS = 6
INCREMENTS = 6


def on_threads(count: int, work) -> list:
    """``work(i)`` on ``count`` threads released at the same moment; their results in order."""
    gate, results = threading.Barrier(count), [None] * count

    def run(i):
        gate.wait()
        results[i] = work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def increment(get, patch, path: str, times: int) -> Counter:
    """Read-modify-write ``times`` increments of the tag's counter, retrying on 409."""
    seen: Counter = Counter()
    done = 0
    while done < times:
        status, record = get(path)
        assert status == 200, record
        value = (record["expires_after_days"] or 0) + 1
        status, body = patch(path, {"expires_after_days": value}, record["version"])
        seen[status] += 1
        if status == 200:
            done += 1
        else:
            assert status == 409, body
            assert body["error"]["code"] in ("conflict", "stale_version", "version_conflict"), body
    return seen


@pytest.fixture
def counter_tag(api) -> str:
    created = api.post(
        "/api/v1/records/tag",
        json={"code": "COUNTER", "name": "计数", "category": "service", "tag_type": "manual", "expires_after_days": 1},
    )
    assert created.status_code == 201, created.json
    return f"/api/v1/records/tag/{created.json['id']}"


def test_increments_from_two_workers_lose_nothing(app, second_app, tokens, counter_tag):
    headers = {"Authorization": f"Bearer {tokens['admin']}"}

    def work(i):
        client = (app if i % 2 else second_app).test_client()

        def get(path):
            r = client.get(path, headers=headers)
            return r.status_code, r.json

        def patch(path, body, version):
            r = client.patch(path, json=body, headers={**headers, "If-Match": str(version)})
            return r.status_code, r.json

        return increment(get, patch, counter_tag, INCREMENTS)

    results = on_threads(WRITERS, work)
    total = sum(results, Counter())
    assert total[200] == WRITERS * INCREMENTS and set(total) <= {200, 409}
    final = app.test_client().get(counter_tag, headers=headers).json
    assert final["expires_after_days"] == 1 + WRITERS * INCREMENTS  # every accepted write is there
    assert final["version"] == 1 + WRITERS * INCREMENTS  # and nothing else wrote


def test_increments_from_two_server_processes_lose_nothing(database, tokens, counter_tag):
    from support import Server

    url, _template = database
    servers = [Server(url), Server(url)]
    try:

        def work(i):
            server = servers[i % 2]

            def get(path):
                return server.call("GET", path, tokens["admin"])

            def patch(path, body, version):
                return server.call("PATCH", path, tokens["admin"], body, headers={"If-Match": str(version)})

            return increment(get, patch, counter_tag, INCREMENTS)

        total = sum(on_threads(WRITERS, work), Counter())
        status, final = servers[0].call("GET", counter_tag, tokens["admin"])
    finally:
        for server in servers:
            server.stop()
    assert total[200] == WRITERS * INCREMENTS and set(total) <= {200, 409}
    assert (status, final["expires_after_days"], final["version"]) == (
        200,
        1 + WRITERS * INCREMENTS,
        1 + WRITERS * INCREMENTS,
    )


def test_simultaneous_publishes_publish_once(app, second_app, tokens):
    from scrm.db import db
    from scrm.meta import store

    headers = {"Authorization": f"Bearer {tokens['admin']}"}
    client = app.test_client()
    doc = copy.deepcopy(client.get("/api/v1/definitions/entity/tag", headers=headers).json)
    doc["fields"].append(
        {"name": "race_note", "type": "string", "max_length": 40, "label": {"zh-CN": "备注", "en": "Note"}}
    )
    assert client.put("/api/v1/definitions/entity/tag", json=doc, headers=headers).status_code == 200
    publishes = sa.text("SELECT count(*) FROM scrm_audit WHERE action = 'publish' AND detail LIKE '%\"tag\"%'")
    with app.app_context():
        before = (store.current_revision(), store.get("entity", "tag", store.PUBLISHED).version)
        audited = db.session.execute(publishes).scalar()
        db.session.remove()

    def work(i):
        c = (app if i % 2 else second_app).test_client()
        r = c.post("/api/v1/definitions/entity/tag/publish", headers=headers)
        return r.status_code, (r.json.get("error") or {}).get("code")

    results = on_threads(4, work)
    assert sorted(s for s, _c in results).count(200) == 1, results
    assert all(code in ("no_draft", "conflict") for s, code in results if s != 200), results
    with app.app_context():
        assert store.current_revision() == before[0] + 1
        assert store.get("entity", "tag", store.PUBLISHED).version > before[1]
        published = db.session.execute(publishes).scalar() - audited
        columns = [c["name"] for c in sa.inspect(db.engine).get_columns("crm_tag")]
    assert published == 1 and columns.count("race_note") == 1
    assert client.get("/api/v1/records/tag?limit=1", headers=headers).status_code == 200
