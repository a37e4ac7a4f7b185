"""The scrm command line: init is idempotent, users and tokens, sync conflicts, export, migrate,
plugins list, and one-line errors without tracebacks."""

import json
import shutil

import pytest
from click.testing import CliRunner

from scrm.cli import cli
from scrm.config import REPO_ROOT


@pytest.fixture
def home(tmp_path):
    """A copy of the shipped configuration, so sync tests can edit files."""
    for folder in ("schemas", "workflows", "plugins"):
        if (REPO_ROOT / folder).exists():
            shutil.copytree(REPO_ROOT / folder, tmp_path / folder)
    return tmp_path


@pytest.fixture
def run(database, home, monkeypatch):
    url, _template = database
    monkeypatch.setenv("SCRM_DATABASE_URL", url)
    monkeypatch.setenv("SCRM_HOME", str(home))
    monkeypatch.setenv("SCRM_SECRET_KEY", "cli-test")
    monkeypatch.setenv("SCRM_LOCALE", "en")
    runner = CliRunner()

    def invoke(*args, input=None):
        return runner.invoke(cli, list(args), input=input, catch_exceptions=False)

    return invoke


def test_init_is_idempotent(run):
    first = run("init")
    assert first.exit_code == 0, first.output
    again = run("init")
    assert again.exit_code == 0 and "conflict" not in again.output


def test_init_on_an_empty_database(tmp_path, monkeypatch):
    monkeypatch.setenv("SCRM_DATABASE_URL", f"sqlite:///{tmp_path / 'fresh.db'}")
    monkeypatch.setenv("SCRM_SECRET_KEY", "x")
    monkeypatch.setenv("SCRM_ADMIN_PASSWORD", "fresh-Secret-1")
    result = CliRunner().invoke(cli, ["init", "--demo", "--customers", "30"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    created = next(line for line in result.output.splitlines() if line.startswith("created: "))
    assert "entity/account" in created and "alert/tag_hnw" in created and "30 customers" in result.output
    assert "password" in result.output


def test_user_create_token_and_passwd(run, app):
    assert run("user", "create", "zhangsan", "--role", "account_manager", "--password", "secret-pass-1").exit_code == 0
    token = run("user", "token", "zhangsan").output.strip()
    assert token.startswith("scrm_")
    r = app.test_client().get("/api/v1/records/customer", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    assert run("user", "passwd", "zhangsan", "--password", "another-pass-2").exit_code == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["user", "create", "x1", "--role", "nope", "--password", "secret-pass"], "unknown role"),
        (["user", "create", "admin", "--role", "admin", "--password", "secret-pass"], "already exists"),
        (["user", "create", "bad name", "--role", "admin", "--password", "secret-pass"], "not a valid user name"),
        (["user", "create", "short", "--role", "admin", "--password", "123"], "at least 8"),
        (["user", "token", "nobody"], "no user"),
    ],
)
def test_cli_errors_are_one_line(run, args, message):
    result = run(*args)
    assert result.exit_code != 0
    assert message in result.output.lower()
    assert "Traceback" not in result.output


def test_sync_reports_designer_edits_as_conflicts(run, api, home):
    doc = api.get("/api/v1/definitions/entity/security").json
    doc["fields"].append({"name": "note", "type": "text"})
    assert api.put("/api/v1/definitions/entity/security", json=doc).status_code == 200
    assert api.post("/api/v1/definitions/entity/security/publish").status_code == 200
    path = home / "schemas" / "entities" / "security.json"
    shipped = json.loads(path.read_text())
    shipped["label"] = {"zh-CN": "证券资料", "en": "Security"}
    path.write_text(json.dumps(shipped, ensure_ascii=False))
    result = run("sync")
    assert result.exit_code == 1 and "conflict: entity/security" in result.output
    forced = run("sync", "--force")
    assert forced.exit_code == 0 and "forced: entity/security" in forced.output
    versions = api.get("/api/v1/definitions/entity/security/versions").json["items"]
    assert [v["source"] for v in versions][:2] == ["file", "api"]  # the designer's version stays in history


def test_sync_applies_changed_files(run, home, api):
    path = home / "schemas" / "entities" / "security.json"
    shipped = json.loads(path.read_text())
    shipped["fields"].append({"id": "isin", "name": "isin", "type": "string", "max_length": 12})
    path.write_text(json.dumps(shipped, ensure_ascii=False))
    result = run("sync")
    assert result.exit_code == 0 and "updated: entity/security" in result.output
    assert "isin" in [f["name"] for f in api.get("/api/v1/definitions/entity/security").json["fields"]]
    assert "up to date" in run("sync").output


def test_export_writes_published_definitions(run, tmp_path):
    result = run("export", str(tmp_path / "out"))
    assert result.exit_code == 0
    exported = json.loads((tmp_path / "out" / "schemas" / "entities" / "customer.json").read_text())
    assert exported["name"] == "customer" and all("column" in f for f in exported["fields"])


def test_migrate_plan(run):
    result = run("migrate", "--plan")
    assert result.exit_code == 0 and "matches" in result.output


def test_plugins_list(run):
    result = run("plugins", "list")
    assert "scrm.builtins" in result.output and "scrm_field_types" in result.output


def test_debug_flag_is_accepted(run):
    assert run("--debug", "migrate", "--plan").exit_code == 0


def test_purge_needs_a_deactivated_field_and_yes(run, api, seed):
    refused = run("purge", "customer", "notes")
    assert refused.exit_code == 1 and "deactivate" in refused.output.lower()
    doc = api.get("/api/v1/definitions/entity/security").json
    doc["fields"] = [f for f in doc["fields"] if f["name"] != "is_st"]
    api.put("/api/v1/definitions/entity/security", json=doc)
    api.post("/api/v1/definitions/entity/security/publish")
    preview = run("purge", "security", "is_st")
    assert preview.exit_code == 0 and "nothing changed" in preview.output and "DROP" in preview.output.upper()
    done = run("purge", "security", "is_st", "--yes")
    assert done.exit_code == 0 and "purged" in done.output


def test_rules_run_dry_run_and_list(run, app, seed):
    dry = run("rules", "run", "tag_hnw", "--dry-run")
    assert dry.exit_code == 0 and dry.output.startswith("tag_hnw: matched")
    as_json = run("rules", "run", "tag_hnw", "--dry-run", "--json")
    assert as_json.exit_code == 0 and '"dry_run": true' in as_json.output
    real = run("rules", "run", "tag_hnw")
    assert real.exit_code == 0 and "fired" in real.output
    listed = run("rules", "list")
    assert "tag_hnw" in listed.output and "last run" in listed.output
    missing = run("rules", "run", "no_such_rule")
    assert missing.exit_code == 1 and "no_such_rule" in missing.output
    delivered = run("outbox", "deliver")
    assert delivered.exit_code == 0 and "sent 0" in delivered.output
