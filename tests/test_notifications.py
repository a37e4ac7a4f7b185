"""Notifications leave through the outbox after commit: the in-app inbox, e-mail to a real local
SMTP server (aiosmtpd), SMS to the local gateway simulator — rendered, masked, retried."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

RULE = {
    "kind": "alert",
    "name": "big_customer_notice",
    "entity": "customer",
    "severity": "high",
    "label": {"zh-CN": "大客户提醒", "en": "Big customer notice"},
    "metrics": {"assets": {"field": "total_assets"}},
    "condition": {"field": "total_assets", "op": "gte", "value": "1000000"},
    "actions": [
        {
            "do": "notify",
            "channels": ["inapp", "email", "sms"],
            "to": [{"field": "primary_manager"}],
            "template": "SMS_BIG_01",
            "params": {"cust": "{{record.name|mask_name}}", "assets": "{{metrics.assets|money}}"},
            "subject": {"zh-CN": "大客户 {{record.name|mask_name}}", "en": "Big customer {{record.name|mask_name}}"},
            "body": {
                "zh-CN": "客户 {{record.name|mask_name}} 资产 {{metrics.assets|money}}，证件 {{record.id_number|mask_id_number}}"
            },
        }
    ],
}


@pytest.fixture
def smtp():
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    received = []

    class Keep(Message):
        def handle_message(self, message):
            received.append(message)

    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    controller.received = received
    yield controller
    controller.stop()


@pytest.fixture
def gateway():
    import threading

    from scrm.notify.simulator import make_server

    server = make_server()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def published(api, seed, app):
    assert api.put("/api/v1/definitions/alert/big_customer_notice", json=RULE).status_code in (200, 201)
    assert api.post("/api/v1/definitions/alert/big_customer_notice/publish").status_code == 200
    from scrm.data.records import RecordService
    from scrm.runtime import snapshot
    from scrm.security.users import create_user

    with app.app_context():
        svc = RecordService(snapshot(), None, system=True)
        svc.update("employee", seed["emp1"], {"login": "zhangwei", "email": "zhangwei@broker.example",
                                              "mobile": "13812345678", "_version": 1})  # fmt: skip
        create_user("zhangwei", "Secret-pass-123", ["account_manager"], "张伟")
        svc.update("customer", seed["c1"], {"total_assets": "3000000", "_version": 1})
    return seed


def configure(app, **values):
    app.config.update(values)


def test_email_and_sms_leave_rendered_and_masked(app, published, smtp, gateway):
    from scrm.alerts.engine import run_rule
    from scrm.notify.outbox import OutboxMessage, deliver_due

    configure(app, SCRM_SMTP_HOST="127.0.0.1", SCRM_SMTP_PORT=smtp.port, SCRM_SMTP_FROM="crm@broker.example",
              SCRM_SMS_GATEWAY_URL=f"http://127.0.0.1:{gateway.server_port}/send", SCRM_SMS_TOKEN="t0ken")  # fmt: skip
    with app.app_context():
        outcome = run_rule("big_customer_notice")
        assert (outcome.fired, outcome.applied.messages) == (1, 3)
        assert {m.status for m in OutboxMessage.query.all()} == {"pending"}  # nothing left before commit
        assert deliver_due() == {"sent": 2, "failed": 0, "retry": 0, "waiting": 0}
        assert {m.status for m in OutboxMessage.query.all()} == {"sent"}
    [mail] = smtp.received
    from email.header import decode_header, make_header

    assert mail["To"] == "zhangwei@broker.example" and str(make_header(decode_header(mail["Subject"]))) == "大客户 王*"
    body = mail.get_payload(decode=True).decode()
    assert "3,000,000.00" in body and "王芳" not in body and "110***********002X" in body
    [sms] = gateway.state.messages
    assert sms["to"] == "13812345678" and sms["template"] == "SMS_BIG_01"
    assert sms["params"] == {"cust": "王*", "assets": "3,000,000.00"} and "王芳" not in sms["text"]
    assert sms["authorization"] == "Bearer t0ken"


def test_the_inbox_counts_unread_and_marks_read(app, published):
    from scrm.alerts.engine import run_rule

    with app.app_context():
        run_rule("big_customer_notice")
    client = app.test_client()
    from support import login

    login(client, "zhangwei")
    inbox = client.get("/api/v1/notifications").json
    assert inbox["unread"] == 1 and inbox["items"][0]["title"] == "大客户 王*"
    assert inbox["items"][0]["link"] == f"/e/customer/{published['c1']}"
    marked = client.post("/api/v1/notifications/read", json={}, headers=_csrf(client))
    assert marked.json == {"marked": 1, "unread": 0}
    assert client.post("/api/v1/notifications/read", json={"ids": "all"}, headers=_csrf(client)).status_code == 400


def _csrf(client) -> dict:
    import re

    page = client.get("/").get_data(as_text=True)
    return {"X-CSRFToken": re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)}


def test_a_gateway_outage_is_retried_then_sent(app, published, gateway):
    from scrm.alerts.engine import run_rule
    from scrm.notify.message import utcnow
    from scrm.notify.outbox import OutboxMessage, deliver_due

    configure(app, SCRM_SMS_GATEWAY_URL=f"http://127.0.0.1:{gateway.server_port}/send?fail=2")
    with app.app_context():
        run_rule("big_customer_notice")
        assert deliver_due()["retry"] == 1
        sms = OutboxMessage.query.filter_by(channel="sms").one()
        assert (sms.status, sms.attempts, "503" in sms.last_error) == ("pending", 1, True)
        assert deliver_due()["retry"] == 0  # not due again yet
        assert deliver_due(now=utcnow() + timedelta(minutes=2))["retry"] == 1
        assert deliver_due(now=utcnow() + timedelta(minutes=10))["sent"] == 1
        sms = OutboxMessage.query.filter_by(channel="sms").one()
        assert (sms.status, sms.attempts, sms.provider_id) == ("sent", 3, "sim-1")
    assert len(gateway.state.messages) == 1


def test_an_unconfigured_channel_keeps_its_messages(app, published):
    from scrm.alerts.engine import run_rule
    from scrm.notify.outbox import OutboxMessage, deliver_due

    configure(app, SCRM_SMTP_HOST=None, SCRM_SMS_GATEWAY_URL=None)
    with app.app_context():
        run_rule("big_customer_notice")
        assert deliver_due()["waiting"] == 2
        messages = OutboxMessage.query.all()
        assert {(m.status, m.attempts) for m in messages} == {("pending", 0)}
        assert all("is not set" in m.last_error for m in messages)
        assert all(m.address and "13812345678" not in m.address for m in messages)  # sealed at rest
    page = _admin_page(app, "/rules")
    assert 'id="outbox-state"' in page and "pending 1" in page and "SCRM_SMS_GATEWAY_URL is not set" in page


def _admin_page(app, path: str) -> str:
    from support import login

    client = app.test_client()
    login(client, "admin")
    return client.get(path).get_data(as_text=True)


@pytest.mark.parametrize("total", [Decimal("999999.99"), Decimal("1000000")])
def test_only_matching_records_notify(app, published, total):
    from scrm.alerts.engine import run_rule
    from scrm.data.records import RecordService
    from scrm.notify.inbox import Notification
    from scrm.runtime import snapshot

    with app.app_context():
        svc = RecordService(snapshot(), None, system=True)
        svc.update("customer", published["c1"], {"total_assets": str(total), "_version": 2})
        run_rule("big_customer_notice")
        assert Notification.query.count() == (1 if total >= 1000000 else 0)
