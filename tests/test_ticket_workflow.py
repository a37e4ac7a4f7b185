"""The service-ticket workflow (W1) end to end through the API: classification and routing on
creation, role guards (403), required inputs and guards (422), compare-and-set (409), SLA clocks
escalated exactly once by the sweep (also by a scheduler process killed and restarted), the
customer's status link, and @mentions. Simultaneous steps and simultaneous creations in a
round-robin pool run on threads against two application instances (two workers)."""

from __future__ import annotations

import re
import signal
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from support import scheduler_process, wait_for


@pytest.fixture
def desk(app, seed):
    """Service staff in the branch: two agents under a team leader; users with tokens."""
    from scrm.data.records import RecordService
    from scrm.db import write_intent
    from scrm.runtime import snapshot
    from scrm.security.users import create_user, find_user, issue_token

    with app.app_context():
        svc = RecordService(snapshot(), None)
        people = {}
        for login, role, no in (("lead", "team_leader", "E101"), ("agent1", "service_agent", "E102"),
                                ("agent2", "service_agent", "E103")):  # fmt: skip
            values = {"employee_no": no, "name": f"员工{no}", "org_unit": seed["branch"], "role": role, "login": login}
            if login != "lead":
                values["supervisor"] = people["lead"]
            people[login] = svc.create("employee", values)["id"]
        tokens = {}
        with write_intent():
            for login, role in (("lead", "team_lead"), ("agent1", "service_agent"), ("agent2", "service_agent")):
                create_user(login, "Pass-word-1234", [role], login)
            for login in ("lead", "agent1", "agent2", "admin"):
                tokens[login] = issue_token(find_user(login), "tests")
    client = app.test_client()

    def call(user, method, path, client=client, **kw):
        return getattr(client, method)(path, headers={"Authorization": f"Bearer {tokens[user]}"}, **kw)

    return {"people": people, "call": call, "seed": seed}


def together(*calls):
    """Run the calls on threads released at the same moment; their results in order."""
    gate, results = threading.Barrier(len(calls)), [None] * len(calls)

    def run(i, call):
        gate.wait()
        results[i] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def new_ticket(desk, **values):
    body = {"subject": "银证转账没到账", "description": "昨天转出的资金还没到", "source_channel": "phone_inbound",
            "org_unit": desk["seed"]["branch"], **values}  # fmt: skip
    r = desk["call"]("admin", "post", "/api/v1/records/service_ticket", json=body)
    assert r.status_code == 201, r.json
    return r.json


def step(desk, user, ticket_id, name, **body):
    return desk["call"](user, "post", f"/api/v1/records/service_ticket/{ticket_id}/transitions/{name}", json=body)


@pytest.mark.parametrize(
    ("subject", "category", "priority", "queue"),
    [
        ("银证转账没到账", "funds_transfer", "P2", "call_center"),
        ("两融担保比例不足要追保吗", "margin", "P2", "margin_desk"),
        ("佣金太高了想调整", "fees", "P3", "manager"),
        ("我的账户被盗了有人盗买盗卖", "fraud_signal", "P1", "call_center"),
        ("随便问问", "other", "P2", "call_center"),
    ],
)
def test_a_new_ticket_is_classified_numbered_and_routed(desk, subject, category, priority, queue):
    t = new_ticket(desk, subject=subject, description="")
    assert (t["category"], t["priority"], t["queue"]) == (category, priority, queue)
    assert re.fullmatch(r"SR\d{8}\d{4}", t["ticket_no"])
    assert t["status"] == "assigned" and t["assignee"] in desk["people"].values()
    assert t["customer_visible_status"] == "received" and t["first_response_due"] and t["resolve_due"]


def test_the_manager_queue_goes_to_the_customers_account_manager(desk):
    t = new_ticket(desk, subject="佣金能不能优惠", customer=desk["seed"]["c1"])
    assert t["queue"] == "manager" and t["assignee"] == desk["seed"]["emp1"]


def test_round_robin_takes_turns_within_the_pool(desk):
    assignees = [new_ticket(desk, subject="新股中签缴款怎么操作")["assignee"] for _ in range(4)]
    agents = {desk["people"]["agent1"], desk["people"]["agent2"]}
    assert set(assignees) == agents and assignees[0] != assignees[1] and assignees[:2] == assignees[2:]


def test_the_whole_path_with_guards_roles_and_history(desk):
    t = new_ticket(desk)
    tid, mine = t["id"], next(k for k, v in desk["people"].items() if v == t["assignee"])
    other = "agent2" if mine == "agent1" else "agent1"
    assert step(desk, other, tid, "start").status_code == 403
    assert step(desk, mine, tid, "start").json["status"] == "in_progress"
    assert step(desk, mine, tid, "start").status_code == 409  # not from in_progress any more
    r = step(desk, mine, tid, "request_info")
    assert r.status_code == 422 and r.json["error"]["details"][0]["path"] == "comment"
    assert step(desk, mine, tid, "request_info", comment="请提供截图").json["customer_visible_status"] == "need_info"
    assert step(desk, mine, tid, "customer_replied").status_code == 200
    r = step(desk, mine, tid, "resolve", input={"resolution_code": "converted_to_complaint", "resolution_summary": "x"})
    assert r.status_code == 422 and r.json["error"]["code"] == "guard_failed"
    r = step(desk, mine, tid, "resolve", input={"resolution_code": "answered"})
    assert r.status_code == 422 and r.json["error"]["details"][0]["path"] == "resolution_summary"
    r = step(desk, mine, tid, "resolve", input={"resolution_code": "answered", "resolution_summary": "已到账"})
    assert r.json["status"] == "resolved" and r.json["fcr"] is True and r.json["first_responded_at"]
    assert step(desk, mine, tid, "close").status_code == 403
    assert step(desk, "lead", tid, "close").json["status"] == "closed"
    r = desk["call"]("admin", "patch", f"/api/v1/records/service_ticket/{tid}", json={"subject": "改", "_version": 99})
    assert r.status_code == 409
    flow = desk["call"](mine, "get", f"/api/v1/records/service_ticket/{tid}/workflow").json
    assert [h["transition"] for h in flow["history"]] == [
        "create", "route", "start", "request_info", "customer_replied", "resolve", "close"]  # fmt: skip
    assert flow["history"][3]["comment"] == "请提供截图" and flow["transitions"] == []
    assert all(c["status"] == "stopped" for c in flow["slas"])


def test_the_status_changes_only_through_steps(desk):
    t = new_ticket(desk)
    r = desk["call"]("admin", "patch", f"/api/v1/records/service_ticket/{t['id']}",
                     json={"status": "closed", "_version": t["version"]})  # fmt: skip
    assert r.status_code == 422 and "status" in [d["path"] for d in r.json["error"]["details"]]


def test_two_simultaneous_steps_one_wins_the_other_gets_409(desk):
    t = new_ticket(desk)
    mine = next(k for k, v in desk["people"].items() if v == t["assignee"])
    first = step(desk, mine, t["id"], "start", _version=t["version"])
    second = step(desk, "lead", t["id"], "reassign", input={"assignee": desk["people"]["lead"]},
                  comment="换人", _version=t["version"])  # fmt: skip
    assert (first.status_code, second.status_code) == (200, 409)


def test_simultaneous_steps_in_two_workers_one_wins_the_other_gets_409(desk, second_app):
    t = new_ticket(desk)
    mine = next(k for k, v in desk["people"].items() if v == t["assignee"])
    other = second_app.test_client()
    first, second = together(
        lambda: step(desk, mine, t["id"], "start"),
        lambda: desk["call"](
            "lead",
            "post",
            f"/api/v1/records/service_ticket/{t['id']}/transitions/cancel",
            client=other,
            json={"comment": "客户撤回"},
        ),
    )
    assert sorted((first.status_code, second.status_code)) == [200, 409], (first.json, second.json)
    loser = first if first.status_code == 409 else second
    assert loser.json["error"]["code"] == "conflict"
    history = desk["call"]("admin", "get", f"/api/v1/records/service_ticket/{t['id']}/workflow").json["history"]
    assert [h["transition"] for h in history].count("start") + [h["transition"] for h in history].count(
        "cancel"
    ) == 1  # exactly one of them happened


def test_simultaneous_tickets_take_distinct_round_robin_turns(desk, app, second_app):
    """Six tickets for the call-center pool created at once through two workers: each agent gets
    three (the pool's cursor row is locked while choosing)."""
    clients = [app.test_client(), second_app.test_client()]
    body = {"subject": "银证转账没到账", "description": "资金还没到", "source_channel": "phone_inbound",
            "org_unit": desk["seed"]["branch"]}  # fmt: skip
    made = together(*[
        (lambda c=clients[i % 2]: desk["call"]("admin", "post", "/api/v1/records/service_ticket", client=c, json=body))
        for i in range(6)
    ])  # fmt: skip
    assert [r.status_code for r in made] == [201] * 6, [r.json for r in made if r.status_code != 201]
    turns = Counter(r.json["assignee"] for r in made)
    assert turns == {desk["people"]["agent1"]: 3, desk["people"]["agent2"]: 3}
    assert len({r.json["ticket_no"] for r in made}) == 6  # the day's sequence, no number twice


def test_sla_escalation_happens_once_per_step(desk, app):
    from scrm.db import db
    from scrm.notify.inbox import Notification
    from scrm.workflows.sweep import sweep

    t = new_ticket(desk)
    with app.app_context():
        later = datetime.now(UTC) + timedelta(days=3)
        first = sweep(now=later)
        again = sweep(now=later)
        titles = [n.title for n in db.session.query(Notification).all()]
    assert first.escalations >= 4 and again.escalations == 0 and first.errors == 0
    assert sum("首次响应超时" in x for x in titles) == 1  # the supervisor, once
    r = desk["call"]("admin", "get", f"/api/v1/records/service_ticket/{t['id']}").json
    assert r["response_breached"] and r["resolution_breached"] and r["escalation_level"] >= 1


def test_the_customer_status_link_shows_progress_and_takes_replies(desk, app):
    t = new_ticket(desk)
    mine = next(k for k, v in desk["people"].items() if v == t["assignee"])
    panel = desk["call"](mine, "get", f"/api/v1/records/service_ticket/{t['id']}/workflow")
    assert panel.status_code == 200
    step(desk, mine, t["id"], "start")
    step(desk, mine, t["id"], "request_info", comment="请提供截图")
    from scrm.workflows.engine import instance_of

    with app.app_context():
        token = instance_of("service_ticket", t["id"]).public_token
    anon = app.test_client()
    page = anon.get(f"/s/{token}")
    assert page.status_code == 200 and "待您补充" in page.text and "银证转账" not in page.text
    assert anon.post(f"/s/{token}/reply", data={"body": "截图已发"}).status_code == 303
    page = anon.get(f"/s/{token}")
    assert "截图已发" in page.text and "处理中" in page.text  # the reply moved it back in progress
    assert anon.get("/s/not-a-token").status_code == 404


def test_an_at_mention_notifies_and_adds_a_watcher(desk, app):
    t = new_ticket(desk)
    r = desk["call"]("admin", "post", "/api/v1/records/ticket_comment",
                     json={"ticket": t["id"], "body": "请 @lead 看一下", "visibility": "internal",
                           "author": desk["people"]["agent1"]})  # fmt: skip
    assert r.status_code == 201, r.json
    assert r.json["mentions"] == [desk["people"]["lead"]]
    ticket = desk["call"]("admin", "get", f"/api/v1/records/service_ticket/{t['id']}").json
    assert desk["people"]["lead"] in ticket["watchers"]
    inbox = desk["call"]("lead", "get", "/api/v1/notifications").json
    assert any("@" in n["title"] for n in inbox["items"])


# -- a real scheduler process, killed and restarted ----------------------------------------------
def scheduler(url: str, log):
    return scheduler_process(url, log, SCRM_SCHEDULER_SWEEP="1", SCRM_LOCALE="zh_CN")


def test_an_sla_breach_escalates_once_across_a_scheduler_restart(desk, app, tmp_path):
    """Ticket A breaches while the scheduler runs: escalated once. The scheduler is killed with
    SIGKILL; ticket B breaches while it is down; the restarted scheduler escalates B once and
    leaves A alone — nothing missed, nothing twice."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    engine = sa.create_engine(url)
    a, b = new_ticket(desk), new_ticket(desk)

    def breach(ticket):  # the first-response clock started a month ago: every step is due now
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "UPDATE scrm_sla_clock SET started_at = :start, next_check_at = :due "
                    "WHERE entity = 'service_ticket' AND record_id = :id AND sla = 'first_response'"
                ),
                {"start": datetime.now(UTC).replace(tzinfo=None) - timedelta(days=30),
                 "due": datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=1), "id": ticket["id"]},
            )  # fmt: skip

    def taken(ticket) -> int:
        with engine.connect() as conn:
            return conn.execute(
                sa.text("SELECT escalation_step FROM scrm_sla_clock WHERE entity = 'service_ticket' "
                        "AND record_id = :id AND sla = 'first_response'"), {"id": ticket["id"]},
            ).scalar()  # fmt: skip

    def sent(ticket) -> Counter:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT rule FROM scrm_notification WHERE rule LIKE 'sla:first_response@%' AND link = :link"),
                {"link": f"/e/service_ticket/{ticket['id']}"},
            ).scalars()
            return Counter(rows)

    log = (tmp_path / "scheduler.log").open("w")
    procs = []
    try:
        breach(a)
        procs.append(scheduler(url, log))
        wait_for(lambda: taken(a) == 2, 60, "ticket A's two escalation steps")
        once = sent(a)
        assert once["sla:first_response@75%"] >= 1 and once["sla:first_response@100%"] >= 2, once
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait(10)
        breach(b)  # while no scheduler runs
        time.sleep(1.5)
        assert taken(b) == 0
        procs.append(scheduler(url, log))
        wait_for(lambda: taken(b) == 2, 60, "ticket B's steps after the restart")
        time.sleep(3)  # several more sweeps
        assert sent(a) == once and sent(b) == once  # the same recipients, each step once
        assert (taken(a), taken(b)) == (2, 2)
        procs[1].send_signal(signal.SIGTERM)
        assert procs[1].wait(30) == 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        log.close()
        engine.dispose()
    ticket = desk["call"]("admin", "get", f"/api/v1/records/service_ticket/{b['id']}").json
    assert ticket["response_breached"] is True


START_RULE = {
    "kind": "alert",
    "name": "big_customer_callback",
    "entity": "customer",
    "severity": "high",
    "label": {"zh-CN": "大客户回访工单", "en": "Big customer call-back ticket"},
    "condition": {"field": "total_assets", "op": "gte", "value": "1000000"},
    "actions": [
        {
            "do": "start_workflow",
            "workflow": "service_ticket",
            "record": "customer",
            "values": {
                "subject": {"zh-CN": "大客户资产回访：{{record.name|mask_name}}", "en": "Call back {{record.name}}"},
                "description": {"zh-CN": "规则自动创建：资产达到大客户标准，请客户经理回访", "en": "Created by a rule"},
                "source_channel": "event",
                "org_unit": {"field": "servicing_org"},
            },
        }
    ],
}


def test_an_alert_starts_a_ticket_that_the_workflow_then_governs(app, api, desk):
    from scrm.alerts.engine import run_rule
    from scrm.data.records import RecordService
    from scrm.runtime import snapshot
    from scrm.workflows.engine import instance_of

    assert api.put("/api/v1/definitions/alert/big_customer_callback", json=START_RULE).status_code in (200, 201)
    assert api.post("/api/v1/definitions/alert/big_customer_callback/publish").status_code == 200
    seed = desk["seed"]
    with app.app_context():
        svc = RecordService(snapshot(), None, system=True)
        svc.update("customer", seed["c1"], {"total_assets": "3000000", "_version": 1})
        first = run_rule("big_customer_callback")
        again = run_rule("big_customer_callback")
        tickets = svc.list("service_ticket", filter={"field": "customer", "op": "eq", "value": seed["c1"]}).items
        assert (first.error, again.error, first.fired, again.fired) == (None, None, 1, 0)
        [ticket] = [svc.get("service_ticket", t["id"]) for t in tickets]
        inst = instance_of("service_ticket", ticket["id"])
    assert ticket["subject"].startswith("大客户资产回访：王") and "芳" not in ticket["subject"]  # masked
    assert ticket["ticket_no"].startswith("SR") and ticket["status"] in ("new", "assigned")
    assert ticket["description"].startswith("规则自动创建")
    assert ticket["org_unit"] == seed["branch"] and ticket["first_response_due"] is not None  # clocks started
    assert inst is not None and inst.workflow == "service_ticket"
