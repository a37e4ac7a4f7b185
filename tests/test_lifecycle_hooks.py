"""Lifecycle hooks: a folder plugin hears of every publication and of every workflow transition,
with what happened, inside the transaction that did it."""

import shutil
import sys
import textwrap

import pytest

from scrm.config import REPO_ROOT

SPY = textwrap.dedent("""
    from scrm.plugins import hookimpl

    CALLS = []


    @hookimpl
    def scrm_definitions_published(published, revision):
        CALLS.append(("published", sorted(published), revision))


    @hookimpl
    def scrm_record_transitioned(entity, record_id, transition, from_state, to_state, user_id):
        CALLS.append(("transitioned", entity.name, record_id, transition, from_state, to_state, user_id))
""")

LABEL = {"zh-CN": "评估", "en": "Review"}
FLOW = {
    "kind": "workflow", "name": "fb_flow", "label": "意见处理", "entity": "feedback", "state_field": "status",
    "initial": "new",
    "states": {"new": {"label": {"zh-CN": "新建", "en": "New"}, "category": "open"},
               "reviewed": {"label": {"zh-CN": "已评估", "en": "Reviewed"}, "category": "done", "final": True}},
    "transitions": [{"name": "review", "label": LABEL, "from": ["new"], "to": "reviewed"}],
}  # fmt: skip


@pytest.fixture
def spied(database, tmp_path):
    from support import make_app

    for folder in ("schemas", "workflows"):
        shutil.copytree(REPO_ROOT / folder, tmp_path / folder)
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "spy.py").write_text(SPY)
    url, template = database
    app = make_app(url, home=tmp_path)
    calls = sys.modules["scrm_plugin_spy"].CALLS
    calls.clear()
    return app.test_client(), {"Authorization": f"Bearer {template.admin_token}"}, calls


def test_scrm_definitions_published_hears_each_publication_but_not_a_dry_run(spied):
    client, headers, calls = spied
    assert client.put("/api/v1/definitions/workflow/fb_flow", json=FLOW, headers=headers).status_code in (200, 201)
    dry = client.post("/api/v1/definitions/workflow/fb_flow/publish", json={"dry_run": True}, headers=headers)
    assert dry.status_code == 200 and calls == []
    published = client.post("/api/v1/definitions/workflow/fb_flow/publish", headers=headers)
    assert published.status_code == 200, published.json
    assert calls == [("published", [("workflow", "fb_flow", 1)], calls[0][2])] and calls[0][2] > 0


def test_scrm_record_transitioned_hears_the_move_with_who_made_it(spied):
    client, headers, calls = spied
    client.put("/api/v1/definitions/workflow/fb_flow", json=FLOW, headers=headers)
    client.post("/api/v1/definitions/workflow/fb_flow/publish", headers=headers)
    record = client.post("/api/v1/records/feedback", json={"feedback_type": "suggestion", "content": "好用"},
                         headers=headers).json  # fmt: skip
    moved = client.post(f"/api/v1/records/feedback/{record['id']}/transitions/review", json={}, headers=headers)
    assert moved.status_code == 200, moved.json
    heard = [c for c in calls if c[0] == "transitioned"]
    assert len(heard) == 1
    _kind, entity, record_id, transition, source, target, user_id = heard[0]
    assert (entity, record_id, transition, source, target) == ("feedback", record["id"], "review", "new", "reviewed")
    assert isinstance(user_id, int)
