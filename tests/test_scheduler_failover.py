"""The scheduler across processes: one leader, a hot standby that takes over within 15 s after
the leader is killed with SIGKILL, and no firing lost or doubled across the takeover."""

from __future__ import annotations

import os
import signal
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from support import scheduler_process, wait_for

TAKEOVER_LIMIT = 15.0


def scheduler(url: str, log):
    return scheduler_process(url, log, SCRM_SCHEDULER_RECONCILE="2")


@pytest.fixture
def engine(database):
    from scrm.config import database_url

    eng = sa.create_engine(database_url(database[0], os.getcwd()))
    yield eng
    eng.dispose()


def nodes(engine) -> dict[int, str]:
    fresh = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=10)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT name, state FROM scrm_scheduler_node WHERE heartbeat_at >= :t"), {"t": fresh}
        ).all()
    return {int(name.rsplit(":", 1)[1]): state for name, state in rows}


def firings(engine, rule: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM scrm_alert_firing WHERE rule = :r"), {"r": rule}).scalar()


def runs(engine, rule: str) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            sa.text("SELECT reason, status FROM scrm_alert_run WHERE rule = :r ORDER BY id"), {"r": rule}
        )]  # fmt: skip


def test_standby_takes_over_after_sigkill_and_nothing_is_lost_or_doubled(app, seed, engine, tmp_path):
    from scrm.alerts.store import Watermark
    from scrm.data.records import RecordService
    from scrm.db import db
    from scrm.runtime import snapshot

    with app.app_context():
        svc = RecordService(snapshot(), None, system=True)
        svc.update("customer", seed["c1"], {"total_assets": "8000000", "_version": 1})
        account = svc.create("account", {"fund_account_no": "880000000001", "customer": seed["c1"]})["id"]
        # tag_hnw last ran a week ago: the leader must catch up once, at once
        db.session.add(Watermark(rule="tag_hnw", occurrence=datetime(2026, 1, 1), updated_at=datetime(2026, 1, 1)))
        db.session.commit()
    log = (tmp_path / "scheduler.log").open("w")
    first = scheduler(app.config["SQLALCHEMY_DATABASE_URI"], log)
    try:
        leader = wait_for(lambda: [p for p, s in nodes(engine).items() if s == "leader"], 30, "a leader")[0]
        assert leader == first.pid
        second = scheduler(app.config["SQLALCHEMY_DATABASE_URI"], log)
        wait_for(lambda: nodes(engine).get(second.pid) == "standby", 30, "the standby")
        wait_for(lambda: firings(engine, "tag_hnw") == 1, 30, f"the catch-up run ({runs(engine, 'tag_hnw')})")
        assert [r for r in runs(engine, "tag_hnw") if r[0] == "catch_up"] == [("catch_up", "done")]

        first.send_signal(signal.SIGKILL)
        first.wait(10)
        killed = time.monotonic()
        wait_for(lambda: nodes(engine).get(second.pid) == "leader", TAKEOVER_LIMIT + 5, "the takeover")
        took = time.monotonic() - killed
        assert took <= TAKEOVER_LIMIT, f"takeover took {took:.1f}s"

        # the new leader works the event queue: a big outflow fires once
        with app.app_context():
            svc = RecordService(snapshot(), None, system=True)
            svc.update(
                "customer", seed["c1"], {"asset_tier": "hnw", "_version": svc.get("customer", seed["c1"])["version"]}
            )
            svc.create("fund_transfer", {"transfer_no": "OUT1", "account": account, "customer": seed["c1"],
                                         "transfer_type": "sec_to_bank", "amount": "5000000",
                                         "occurred_at": datetime.now(UTC).isoformat()})  # fmt: skip
        wait_for(lambda: firings(engine, "alr_hnw_outflow") == 1, 30, "the event-triggered firing")

        # the dead leader's occurrence is run again (as if it died before recording it): no double firing
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE scrm_alert_watermark SET occurrence = :t WHERE rule = 'tag_hnw'"),
                         {"t": datetime(2026, 1, 1)})  # fmt: skip
        wait_for(lambda: len([r for r in runs(engine, "tag_hnw") if r[0] == "catch_up"]) == 2, 30, "a second catch-up")
        assert firings(engine, "tag_hnw") == 1
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
    finally:
        for proc in (first, locals().get("second")):
            if proc is not None and proc.poll() is None:
                proc.kill()
        log.close()
    print(f"takeover in {took:.1f}s", file=sys.stderr)
