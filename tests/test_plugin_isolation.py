"""A plugin's error in a hook stays its own: the request that called the hook goes on (its
database work undone to a savepoint), the error is recorded against the plugin and in the audit
trail, and a validation hook that fails refuses the save with a clear message."""

import shutil
import textwrap

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
    return make_app(url, home=tmp_path), template


def status_of(app, name: str):
    from scrm.runtime import runtime

    with app.app_context():
        return next(s for s in runtime().plugins.status if s.name == name)


def audited(app) -> list[str]:
    from scrm.db import db

    with app.app_context():
        rows = db.session.execute(sa.text("SELECT reason FROM scrm_audit WHERE action = 'plugin_error'")).scalars()
        return list(rows)


@pytest.mark.parametrize("flaky_app", ["scrm_derive_record", "scrm_record_written"], indirect=True)
def test_a_failing_hook_does_not_break_the_save(flaky_app):
    app, template = flaky_app
    client = app.test_client()
    headers = {"Authorization": f"Bearer {template.admin_token}"}
    saved = client.post("/api/v1/records/feedback", json=FEEDBACK, headers=headers)
    assert saved.status_code == 201, saved.json
    stored = client.get(f"/api/v1/records/feedback/{saved.json['id']}", headers=headers).json
    assert stored["content"] == FEEDBACK["content"]  # the plugin's own write was undone
    status = status_of(app, "flaky")
    assert status.hook_errors == 1 and "broke" in status.last_error
    assert len(audited(app)) == 1 and "flaky" in audited(app)[0]


@pytest.mark.parametrize("flaky_app", ["scrm_check_record"], indirect=True)
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
