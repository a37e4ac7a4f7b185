"""Actions come from the hook ``scrm_actions``: a folder plugin's action is checked against its
options schema like a built-in, runs in an alert rule (dry run and real run) and in a workflow
step; one that fails is recorded and stops neither the other actions nor the other records; one
named like a built-in replaces it; an unknown one is refused at its path."""

import shutil
import sys
import textwrap

import pytest
import sqlalchemy as sa

from scrm.config import REPO_ROOT

RISK = textwrap.dedent("""
    import sqlalchemy as sa
    from scrm.alerts.action_types import Action
    from scrm.db import db
    from scrm.plugins import hookimpl

    PUSHED, FAIL_FOR, HANG_FOR = [], set(), set()


    class PushRisk(Action):
        name = "push_risk"
        label = {"zh-CN": "推送风控", "en": "Push to risk"}
        options_schema = {
            "properties": {"queue": {"type": "string", "minLength": 1},
                           "who": {"$ref": "common.json#/$defs/recipient"},
                           "title": {"$ref": "common.json#/$defs/i18nText"}},
            "required": ["queue"],
        }

        def run(self, context, action, batch):
            for fired in batch:
                who = context.recipients(action["who"], fired) if "who" in action else []
                PUSHED.append((action["queue"], fired.record_id, who, context.render("title", fired), context.source))

        def describe(self, action):
            return f"push to the {action['queue']} queue"


    class FlakyMark(Action):
        name = "flaky_mark"
        label = "Flaky mark"

        def run(self, context, action, batch):
            t = context.snapshot.tables["customer"].main
            column = t.c[context.entity.field("name").column]
            ids = [f.record_id for f in batch]
            db.session.execute(sa.update(t).where(t.c.id.in_(ids)).values({column: "marked by a plugin"}))
            if FAIL_FOR & set(ids):
                raise RuntimeError("the risk system said no")
            while HANG_FOR & set(ids):  # the risk system never answers
                pass


    class NotSet(Action):
        name = "set"  # the built-in set decides a workflow step's values: not replaceable


    class LostRef(Action):
        name = "lost_ref"
        options_schema = {"properties": {"who": {"$ref": "common.json#/$defs/no_such_thing"}}}


    @hookimpl
    def scrm_actions():
        return [PushRisk(), FlakyMark(), NotSet(), LostRef(), "not an action"]
""")

PAGER = textwrap.dedent("""
    from scrm.alerts.action_types import Action
    from scrm.plugins import hookimpl

    PAGED = []


    class Pager(Action):
        name = "notify"  # replaces the built-in notification, taking the same options
        label = "Page"
        options_schema = {"$ref": "common.json#/$defs/actionOptions/notify"}

        def run(self, context, action, batch):
            for fired in batch:
                for spec in action["to"]:
                    PAGED.append((context.render("subject", fired), fired.record_id, context.recipients(spec, fired)))


    @hookimpl
    def scrm_actions():
        return [Pager()]
""")

RULE = {
    "kind": "alert", "name": "alr_risk_push", "label": {"zh-CN": "风控推送", "en": "Risk push"},
    "entity": "customer", "enabled": True, "severity": "high",
    "schedule": {"cron": "0 9 * * 1-5", "tz": "Asia/Shanghai"},
    "condition": {"field": "asset_tier", "op": "in", "value": ["hnw", "mass", "wealth"]},
    "actions": [
        {"do": "flaky_mark"},
        {"do": "push_risk", "queue": "margin", "who": {"field": "primary_manager"}, "title": "复核 {{record.name}}"},
        {"do": "tag", "add": ["RISK_PUSHED"], "remove_when": "never"},
    ],
}  # fmt: skip


@pytest.fixture
def plugged(database, tmp_path):
    """An application whose plugins folder holds ``risk.py`` and ``pager.py``, with the seed."""
    from support import make_app, seed_records

    from scrm.data.records import RecordService
    from scrm.db import db
    from scrm.runtime import snapshot

    for folder in ("schemas", "workflows"):
        shutil.copytree(REPO_ROOT / folder, tmp_path / folder)
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "risk.py").write_text(RISK)
    url, template = database
    app = make_app(url, home=tmp_path)
    with app.app_context():
        seed = seed_records(RecordService(snapshot(), None))
    risk = sys.modules["scrm_plugin_risk"]
    risk.PUSHED.clear()
    risk.FAIL_FOR.clear()
    risk.HANG_FOR.clear()
    yield app, {"Authorization": f"Bearer {template.admin_token}"}, seed, risk
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def publish(client, headers, doc) -> None:
    saved = client.put(f"/api/v1/definitions/{doc['kind']}/{doc['name']}", json=doc, headers=headers)
    assert saved.status_code in (200, 201), saved.json
    published = client.post(f"/api/v1/definitions/{doc['kind']}/{doc['name']}/publish", headers=headers)
    assert published.status_code == 200, published.json


def names(app, ids) -> dict[int, str]:
    from scrm.data.records import RecordService
    from scrm.runtime import snapshot

    with app.app_context():
        svc = RecordService(snapshot(), None, system=True)
        return {i: svc.get("customer", i)["name"] for i in ids}


def test_scrm_actions_registers_the_builtins_and_a_plugins_action(plugged):
    from scrm.alerts.action_types import action_types
    from scrm.runtime import runtime

    app, _headers, _seed, _risk = plugged
    with app.app_context():
        types = action_types()
        assert {"set", "notify", "create_task", "tag", "start_workflow", "push_risk", "flaky_mark"} <= set(types)
        assert types.is_builtin("set") and types.owner("set") == "scrm.builtins"  # not replaced
        assert not types.is_builtin("push_risk") and types.owner("push_risk") == "risk"
        assert "lost_ref" not in types  # its options could never be checked
        status = next(s for s in runtime().plugins.status if s.name == "risk")
        assert status.hook_errors == 3 and "not an Action" in status.last_error
        errors = [e.error for e in runtime().plugins.errors if e.plugin == "risk"]
        assert any("lost_ref: the options_schema refers to common.json#/$defs/no_such_thing" in e for e in errors)
        assert action_types() is types  # collected once while the plugins stay the same


def test_scrm_actions_a_plugins_action_runs_in_a_rule_dry_and_for_real(plugged):
    app, headers, seed, risk = plugged
    client = app.test_client()
    publish(client, headers, RULE)
    customers = [seed["c1"], seed["c2"], seed["c3"]]
    before = names(app, customers)

    dry = client.post("/api/v1/alerts/alr_risk_push/run", json={"dry_run": True}, headers=headers)
    assert dry.status_code == 200, dry.json
    assert dry.json["fired"] == 3 and dry.json["actions"][1] == {"do": "push_risk",
                                                                 "description": "push to the margin queue"}  # fmt: skip
    assert risk.PUSHED == [] and names(app, customers) == before  # a dry run runs no action

    real = client.post("/api/v1/alerts/alr_risk_push/run", json={}, headers=headers)
    assert real.status_code == 200, real.json
    assert real.json["status"] == "done" and real.json["fired"] == 3 and real.json["tagged"] == 3
    assert sorted(p[1] for p in risk.PUSHED) == customers
    first = next(p for p in risk.PUSHED if p[1] == seed["c1"])
    assert first == ("margin", seed["c1"], [seed["emp1"]], "复核 王芳", "alr_risk_push")
    assert set(names(app, customers).values()) == {"marked by a plugin"}


def test_scrm_actions_a_failing_plugin_action_stops_neither_the_others_nor_the_other_records(plugged):
    from scrm.runtime import runtime

    app, headers, seed, risk = plugged
    client = app.test_client()
    publish(client, headers, RULE)
    risk.FAIL_FOR.add(seed["c2"])
    real = client.post("/api/v1/alerts/alr_risk_push/run", json={}, headers=headers)
    assert real.status_code == 200 and real.json["status"] == "done", real.json
    assert real.json["failed_actions"] == 1 and real.json["tagged"] == 3  # the built-in after it ran
    assert len(risk.PUSHED) == 3  # so did the plugin's next action, for every record
    marked = names(app, [seed["c1"], seed["c2"], seed["c3"]])
    assert marked == {seed["c1"]: "marked by a plugin", seed["c2"]: "刘强", seed["c3"]: "marked by a plugin"}
    with app.app_context():
        status = next(s for s in runtime().plugins.status if s.name == "risk")
        assert "flaky_mark in alr_risk_push: RuntimeError: the risk system said no (1 of 3)" in status.last_error
        from scrm.db import db

        audited = db.session.execute(sa.text("SELECT reason FROM scrm_audit WHERE action = 'plugin_error'")).scalars()
        assert any("risk.scrm_actions" in r and "flaky_mark" in r for r in audited)


def test_scrm_actions_a_plugin_action_that_hangs_is_stopped_and_undone(plugged):
    from scrm.runtime import runtime

    app, headers, seed, risk = plugged
    client = app.test_client()
    publish(client, headers, RULE)
    risk.HANG_FOR.add(seed["c2"])
    with app.app_context():
        runtime().plugins.timeout = 1
    real = client.post("/api/v1/alerts/alr_risk_push/run", json={}, headers=headers)
    assert real.status_code == 200 and real.json["status"] == "done", real.json
    assert real.json["failed_actions"] == 3 and real.json["tagged"] == 3  # the batch, not retried one by one
    assert len(risk.PUSHED) == 3
    assert set(names(app, [seed["c1"], seed["c2"], seed["c3"]]).values()) == {"王芳", "刘强", "陈静"}  # undone
    with app.app_context():
        status = next(s for s in runtime().plugins.status if s.name == "risk")
        assert "flaky_mark in alr_risk_push: HookTimeout: timed out after 1 s" in status.last_error


def test_scrm_actions_an_unknown_action_or_bad_options_are_refused_at_their_path(plugged):
    app, headers, _seed, _risk = plugged
    client = app.test_client()
    doc = {**RULE, "actions": [*RULE["actions"][:2], {"do": "push_riks", "queue": "margin"}]}
    refused = client.put("/api/v1/definitions/alert/alr_risk_push", json=doc, headers=headers)
    assert refused.status_code == 422, refused.json
    details = {d["path"]: d for d in refused.json["error"]["details"]}
    assert list(details) == ["$.actions[2].do"]  # not also its options: the name is what is wrong
    assert (
        '"push_riks"' in details["$.actions[2].do"]["message"] and "push_risk" in details["$.actions[2].do"]["message"]
    )
    bad = [{"do": "push_risk", "queue": 7}, {"do": "push_risk"}, {"do": "push_risk", "queue": "q", "colour": "red"}]
    refused = client.put("/api/v1/definitions/alert/alr_risk_push", json={**RULE, "actions": bad}, headers=headers)
    assert refused.status_code == 422
    paths = {d["path"]: d["code"] for d in refused.json["error"]["details"]}
    assert paths == {"$.actions[0].queue": "E-SCHEMA-003", "$.actions[1]": "E-SCHEMA-001",
                     "$.actions[2].colour": "E-SCHEMA-002"}  # fmt: skip
    doc = {**RULE, "actions": [{"do": "push_risk", "queue": "margin", "who": {"field": "no_such_field"}}]}
    refused = client.put("/api/v1/definitions/alert/alr_risk_push", json=doc, headers=headers)
    assert refused.status_code == 422 and refused.json["error"]["details"][0]["path"] == "$.actions[0].who.field"


def test_scrm_actions_a_plugins_action_replaces_the_builtin_of_its_name(plugged, tmp_path):
    from support import make_app

    from scrm.alerts.action_types import action_types

    _app, headers, seed, _risk = plugged
    (tmp_path / "plugins" / "pager.py").write_text(PAGER)
    app = make_app(_app.config["SCRM_DATABASE_URL"], home=tmp_path)
    with app.app_context():
        assert not action_types().is_builtin("notify") and action_types().owner("notify") == "pager"
    client = app.test_client()
    notify = {"do": "notify", "to": [{"field": "primary_manager"}], "subject": "关注 {{record.name}}"}
    refused = client.put("/api/v1/definitions/alert/alr_risk_push", json={**RULE, "actions": [{**notify, "to": 1}]},
                         headers=headers)  # fmt: skip
    assert refused.status_code == 422 and refused.json["error"]["details"][0]["path"] == "$.actions[0].to"
    publish(client, headers, {**RULE, "actions": [notify]})
    real = client.post("/api/v1/alerts/alr_risk_push/run", json={}, headers=headers)
    assert real.status_code == 200 and real.json["status"] == "done", real.json
    paged = sorted(sys.modules["scrm_plugin_pager"].PAGED, key=lambda p: p[1])
    assert paged == [
        (f"关注 {n}", seed[c], [seed["emp1"]]) for c, n in (("c1", "王芳"), ("c2", "刘强"), ("c3", "陈静"))
    ]
    assert real.json["messages"] == 0  # the built-in sent nothing


FLOW = {
    "kind": "workflow", "name": "fb_flow", "label": "意见处理", "entity": "feedback", "state_field": "status",
    "initial": "new",
    "states": {"new": {"label": {"zh-CN": "新建", "en": "New"}, "category": "open"},
               "reviewed": {"label": {"zh-CN": "已评估", "en": "Reviewed"}, "category": "done", "final": True,
                            "on_enter": [{"do": "push_risk", "queue": "feedback", "title": "意见 {{record.content}}"}]}},
    "transitions": [{"name": "review", "label": {"zh-CN": "评估", "en": "Review"}, "from": ["new"], "to": "reviewed"}],
}  # fmt: skip


def test_scrm_actions_a_plugins_action_runs_in_a_workflow_step(plugged):
    app, headers, _seed, risk = plugged
    client = app.test_client()
    publish(client, headers, FLOW)
    record = client.post("/api/v1/records/feedback", json={"feedback_type": "suggestion", "content": "好用"},
                         headers=headers).json  # fmt: skip
    moved = client.post(f"/api/v1/records/feedback/{record['id']}/transitions/review", json={}, headers=headers)
    assert moved.status_code == 200, moved.json
    assert risk.PUSHED == [("feedback", record["id"], [], "意见 好用", "transition:review")]


def test_scrm_actions_the_alert_editor_offers_a_plugins_action(plugged):
    from support import login, post

    from scrm.meta import store

    app, _headers, _seed, _risk = plugged
    client = app.test_client()
    login(client, "admin")
    index = client.get("/design/?kind=alert").get_data(as_text=True)
    page = post(client, "/design/new", index, {"kind": "alert", "name": "alr_pushing", "label": "推送",
                                               "entity": "customer"}, base=False).get_data(as_text=True)  # fmt: skip
    assert '<option value="push_risk">Push to risk</option>' in page or 'value="push_risk">推送风控' in page
    assert 'value="create_task"' in page and 'value="set"' not in page  # (set: in the JSON view)
    post(client, "/design/alert/alr_pushing/actions", page, {"do": "push_risk", "options": '{"queue": "margin"}'})
    with app.app_context():
        assert store.get("alert", "alr_pushing", store.DRAFT).body["actions"] == [
            {"do": "push_risk", "queue": "margin"}
        ]
