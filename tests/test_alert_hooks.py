"""The hooks the alert engine and the notifications use: a plugin's channel and calendar are
picked up; record writes and finished imports reach the event queue in the writer's transaction."""

from __future__ import annotations

import textwrap
from datetime import date

import sqlalchemy as sa


def test_scrm_notification_channels_adds_a_channel_the_outbox_sends_through(app, seed, api):
    from scrm.notify import channels as channel_module
    from scrm.notify.message import Message
    from scrm.notify.outbox import OutboxMessage, deliver_due, enqueue
    from scrm.plugins import hookimpl
    from scrm.runtime import runtime

    sent = []

    class Pager:
        name = "sms"  # replaces the built-in gateway

        def send(self, *, address, subject, body, template, params):
            sent.append((address, body, template, params))
            return "pager-1"

    class Plugin:
        @hookimpl
        def scrm_notification_channels(self, config):
            return [Pager()]

    with app.app_context():
        runtime().plugins.pm.register(Plugin(), name="pager")
        assert isinstance(channel_module.channels()["sms"], Pager)
        message = Message("sms", {"name": "张伟", "mobile": "13812345678"}, "主题", "正文", "TPL", {"a": "1"})
        assert enqueue(message) == 1
        from scrm.db import db

        db.session.commit()
        assert deliver_due()["sent"] == 1
        assert OutboxMessage.query.one().provider_id == "pager-1"
    assert sent == [("13812345678", "正文", "TPL", {"a": "1"})]


def test_scrm_calendars_replaces_a_calendar(tmp_path):
    from scrm.jobs.calendars import Calendar, builtin_calendars
    from scrm.plugins.manager import Plugins

    sse = builtin_calendars()["sse_trading_days"]
    assert not sse.is_open(date(2026, 10, 1)) and sse.is_open(date(2026, 10, 9)) and not sse.is_open(date(2026, 10, 10))
    assert sse.previous_open(date(2026, 10, 8)) == date(2026, 9, 30)
    (tmp_path / "hk.py").write_text(
        textwrap.dedent("""
        from datetime import date
        from scrm.jobs.calendars import Calendar
        from scrm.plugins import hookimpl

        @hookimpl
        def scrm_calendars():
            return {"hkex": Calendar("hkex", frozenset({1, 2, 3, 4, 5}), frozenset({date(2026, 12, 25)}))}
    """)
    )
    plugins = Plugins(tmp_path, load_entry_points=False)
    found = {}
    for extra in plugins.pm.hook.scrm_calendars():
        found.update(extra)
    assert isinstance(found["hkex"], Calendar) and not found["hkex"].is_open(date(2026, 12, 25))


def test_scrm_record_written_queues_events_only_for_entities_rules_listen_to(app, seed):
    from scrm.alerts.store import Event
    from scrm.data.records import RecordService
    from scrm.db import db
    from scrm.runtime import snapshot

    with app.app_context():
        svc = RecordService(snapshot(), None, system=True)
        svc.update("employee", seed["emp1"], {"status": "resigning", "_version": 1})  # alr_manager_leaving listens
        svc.update("org_unit", seed["branch"], {"address": "北京市", "_version": 1})  # nobody listens
        events = db.session.execute(sa.select(Event)).scalars().all()
        assert [(e.name, e.record_id, e.created) for e in events] == [("record.employee", seed["emp1"], False)]
        assert '"status"' in events[0].changed and '"active"' in events[0].old
        before = db.session.execute(sa.select(sa.func.count()).select_from(Event)).scalar()
        try:  # a write that fails leaves no event behind
            svc.update("employee", seed["emp1"], {"status": "nonsense", "_version": 2})
        except Exception:
            pass
        assert db.session.execute(sa.select(sa.func.count()).select_from(Event)).scalar() == before


def test_scrm_import_finished_queues_the_import_completed_event(app, seed, tmp_path):
    from scrm.alerts.events import dispatch
    from scrm.alerts.store import Event
    from scrm.db import db
    from scrm.plugins.hookspecs import hookimpl  # noqa: F401  (the engine's own implementation runs)
    from scrm.runtime import runtime, snapshot

    with app.app_context():
        runtime().plugins.pm.hook.scrm_import_finished(
            snapshot=snapshot(), entity="asset_snapshot", job_id=1, status="done"
        )
        runtime().plugins.pm.hook.scrm_import_finished(
            snapshot=snapshot(), entity="asset_snapshot", job_id=2, status="rolled_back"
        )
        db.session.commit()
        [event] = db.session.execute(sa.select(Event)).scalars().all()
        assert event.name == "import.asset_snapshot.completed"
        ran = {o.rule for o in dispatch(snapshot(), event)}
        assert {"tag_hnw", "alr_margin_ratio", "tag_tech_pref"} <= ran  # the EOD rules run also_on it
        assert "alr_birthday" not in ran
