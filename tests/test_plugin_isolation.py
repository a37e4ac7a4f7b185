"""A plugin's error in a hook stays its own: the request that called the hook goes on (its
database work undone to a savepoint), the error is recorded against the plugin and in the audit
trail, and a validation hook that fails refuses the save with a clear message. A hook that runs
past ``SCRM_PLUGIN_TIMEOUT`` is stopped and treated the same way."""

import shutil
import textwrap
import threading
import time

import pytest
import sqlalchemy as sa

from scrm.config import REPO_ROOT

FEEDBACK = {"feedback_type": "suggestion", "content": "开户流程可以更简单", "status": "new"}

FLAKY = {
    "scrm_derive_record": """
        @hookimpl
        def scrm_derive_record(entity, record):
            if entity.name == "feedback":
                raise RuntimeError("derive broke")
    """,
    "scrm_record_written": """
        import sqlalchemy as sa
        from scrm.db import db

        @hookimpl
        def scrm_record_written(entity, record_id):
            if entity.name == "feedback":  # writes, then fails: the write must not stay
                db.session.execute(sa.text("UPDATE crm_feedback SET content = 'changed by a plugin' WHERE id = :id"),
                                   {"id": record_id})
                raise ValueError("written broke")
    """,
    "scrm_check_record": """
        @hookimpl
        def scrm_check_record(entity, record):
            if entity.name == "feedback":
                raise KeyError("check broke")
    """,
    "hanging_written": """
        import sqlalchemy as sa
        from scrm.db import db

        @hookimpl
        def scrm_record_written(entity, record_id):
            if entity.name == "feedback":  # writes, then never returns
                db.session.execute(sa.text("UPDATE crm_feedback SET content = 'changed by a plugin' WHERE id = :id"),
                                   {"id": record_id})
                while True:
                    pass
    """,
    "swallowing_written": """
        import sqlalchemy as sa
        from scrm.db import db

        @hookimpl
        def scrm_record_written(entity, record_id):
            if entity.name == "feedback":  # swallows its stop, writes and returns anyway
                try:
                    while True:
                        pass
                except Exception:
                    pass
                db.session.execute(sa.text("UPDATE crm_feedback SET content = 'changed by a plugin' WHERE id = :id"),
                                   {"id": record_id})
    """,
    "hanging_check": """
        @hookimpl
        def scrm_check_record(entity, record):
            if entity.name == "feedback":
                while True:
                    pass
    """,
}


@pytest.fixture
def flaky_app(database, tmp_path, request):
    from support import make_app

    for folder in ("schemas", "workflows"):
        shutil.copytree(REPO_ROOT / folder, tmp_path / folder)
    (tmp_path / "plugins").mkdir()
    code = "from scrm.plugins import hookimpl\n" + textwrap.dedent(FLAKY[request.param])
    (tmp_path / "plugins" / "flaky.py").write_text(code)
    url, template = database
    return make_app(url, home=tmp_path, SCRM_PLUGIN_TIMEOUT="1"), template


def status_of(app, name: str):
    from scrm.runtime import runtime

    with app.app_context():
        return next(s for s in runtime().plugins.status if s.name == name)


def audited(app) -> list[str]:
    from scrm.db import db

    with app.app_context():
        rows = db.session.execute(sa.text("SELECT reason FROM scrm_audit WHERE action = 'plugin_error'")).scalars()
        return list(rows)


@pytest.mark.parametrize(
    "flaky_app", ["scrm_derive_record", "scrm_record_written", "hanging_written", "swallowing_written"], indirect=True
)
def test_a_failing_or_hanging_hook_does_not_break_the_save(flaky_app):
    app, template = flaky_app
    client = app.test_client()
    headers = {"Authorization": f"Bearer {template.admin_token}"}
    saved = client.post("/api/v1/records/feedback", json=FEEDBACK, headers=headers)
    assert saved.status_code == 201, saved.json
    stored = client.get(f"/api/v1/records/feedback/{saved.json['id']}", headers=headers).json
    assert stored["content"] == FEEDBACK["content"]  # the plugin's own write was undone
    status = status_of(app, "flaky")
    assert status.hook_errors == 1 and ("broke" in status.last_error or "HookTimeout" in status.last_error)
    assert len(audited(app)) == 1 and "flaky" in audited(app)[0]


@pytest.mark.parametrize("flaky_app", ["scrm_check_record", "hanging_check"], indirect=True)
def test_a_failing_validation_hook_refuses_the_save_with_a_message(flaky_app):
    app, template = flaky_app
    client = app.test_client()
    headers = {"Authorization": f"Bearer {template.admin_token}"}
    refused = client.post("/api/v1/records/feedback", json=FEEDBACK, headers=headers)
    assert refused.status_code == 422
    assert "flaky" in str(refused.json["error"]["details"])
    listed = client.get("/api/v1/records/feedback", headers=headers).json
    assert all(r["content"] != FEEDBACK["content"] for r in listed["items"])
    assert status_of(app, "flaky").hook_errors == 1


def test_plugins_list_shows_the_last_hook_error_from_the_audit_trail(app, monkeypatch):
    from click.testing import CliRunner

    from scrm.cli import cli
    from scrm.db import db
    from scrm.security import audit

    with app.app_context():
        audit.append("plugin_error", reason="x", detail={"plugin": "scrm.alerts", "hook": "scrm_calendars",
                                                         "error": "OSError: gone"})  # fmt: skip
        db.session.commit()
    monkeypatch.setenv("SCRM_DATABASE_URL", app.config["SCRM_DATABASE_URL"])
    monkeypatch.setenv("SCRM_HOME", str(app.config["SCRM_HOME"]))
    monkeypatch.setenv("SCRM_SECRET_KEY", "cli-test")
    result = CliRunner().invoke(cli, ["plugins", "list"], catch_exceptions=False)
    line = next(x for x in result.output.splitlines() if x.startswith("scrm.alerts"))
    assert "scrm_calendars: OSError: gone" in line, result.output


def busy(seconds: float) -> str:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return "done"


@pytest.mark.parametrize(
    "seconds, work, outcome",
    [
        (0.2, 0.01, "done"),  # in time
        (0.05, 10, "timed out after 0.05 s and was stopped"),  # stopped, well before its 10 s
        (0, 0.1, "done"),  # no limit
    ],
)
def test_a_deadline_stops_a_busy_call_and_nothing_else(seconds, work, outcome):
    from scrm.plugins.watchdog import HookTimeout, call_with_deadline

    started = time.monotonic()
    try:
        result = call_with_deadline(seconds, busy, work)
    except HookTimeout as exc:
        result = str(exc)
    assert result == outcome and time.monotonic() - started < 2
    busy(0.6)  # a stop raised late would land here, in the caller's code


def test_many_deadlines_that_end_as_they_fire_leave_no_stray_stop_behind():
    from scrm.plugins.watchdog import HookTimeout, call_with_deadline

    stopped = 0
    for _ in range(300):
        try:
            call_with_deadline(0.002, busy, 0.002)  # finishes just as its deadline passes
        except HookTimeout:
            stopped += 1
    busy(1.2)  # no stop arrives after its call has returned (the watchdog repeats a stop every 0.5 s)
    assert 0 <= stopped <= 300
    started = time.monotonic()  # and the watchdog still works (a stop landing in a lock it held once hung it)
    with pytest.raises(HookTimeout):
        call_with_deadline(0.05, busy, 5)
    assert time.monotonic() - started < 1.5


def test_an_inner_deadline_does_not_take_an_outer_ones_stop():
    from scrm.plugins.watchdog import HookTimeout, call_with_deadline

    def outer():
        return call_with_deadline(5, busy, 10)  # the inner one would let it run 5 s

    started = time.monotonic()
    with pytest.raises(HookTimeout, match="after 0.1 s"):
        call_with_deadline(0.1, outer)
    assert time.monotonic() - started < 1.5


def test_deadlines_in_two_threads_stop_only_their_own():
    from scrm.plugins.watchdog import HookTimeout, call_with_deadline

    results = {}

    def run(name, seconds, work):
        try:
            results[name] = call_with_deadline(seconds, busy, work)
        except HookTimeout:
            results[name] = "stopped"

    threads = [threading.Thread(target=run, args=("slow", 0.1, 5)), threading.Thread(target=run, args=("fast", 3, 0.3))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == {"slow": "stopped", "fast": "done"}


@pytest.mark.parametrize("overrides, in_request, outside", [({}, 10, 300),
                                                            ({"SCRM_PLUGIN_TIMEOUT": "2", "SCRM_PLUGIN_JOB_TIMEOUT": "0"}, 2, 0)])  # fmt: skip
def test_plugins_may_run_longer_in_jobs_than_in_requests(database, overrides, in_request, outside):
    from support import make_app

    from scrm.runtime import runtime

    app = make_app(database[0], **overrides)
    with app.app_context():
        assert runtime().plugins.deadline() == outside  # imports, scheduled rules, the CLI
    with app.test_request_context():
        assert runtime().plugins.deadline() == in_request
