"""Plugins add commands to ``scrm`` (``scrm_cli_commands``): a folder plugin's command runs inside
the application; one named like a built-in is left out and the clash recorded; a plugin whose
hook fails breaks no command."""

import shutil
import textwrap

import pytest
from click.testing import CliRunner

from scrm.config import REPO_ROOT

HELLO = textwrap.dedent("""
    import click
    from scrm.data.records import RecordService
    from scrm.plugins import hookimpl
    from scrm.runtime import snapshot


    @click.command("count-customers")
    @click.option("--tier", help="Only this asset tier.")
    def count_customers(tier):
        \"\"\"How many customers there are.\"\"\"
        svc = RecordService(snapshot(), None, system=True)
        condition = {"field": "asset_tier", "op": "eq", "value": tier} if tier else None
        click.echo(f"{svc.count('customer', filter=condition)} customers")


    @click.command("check")
    def shadow():
        click.echo("the plugin's check")


    @hookimpl
    def scrm_cli_commands():
        return [count_customers, shadow, "not a command"]
""")

BROKEN = textwrap.dedent("""
    from scrm.plugins import hookimpl


    @hookimpl
    def scrm_cli_commands():
        raise RuntimeError("no commands today")
""")


@pytest.fixture
def home(database, tmp_path, monkeypatch):
    """A home with the shipped definitions, the seed and an empty plugins folder; ``scrm`` is
    configured for it."""
    from support import make_app, seed_records

    from scrm.data.records import RecordService
    from scrm.db import db
    from scrm.runtime import snapshot

    for folder in ("schemas", "workflows"):
        shutil.copytree(REPO_ROOT / folder, tmp_path / folder)
    (tmp_path / "plugins").mkdir()
    url, _template = database
    app = make_app(url, home=tmp_path)
    with app.app_context():
        seed_records(RecordService(snapshot(), None))
        db.session.remove()
        db.engine.dispose()
    monkeypatch.setenv("SCRM_DATABASE_URL", url)
    monkeypatch.setenv("SCRM_HOME", str(tmp_path))
    monkeypatch.setenv("SCRM_SECRET_KEY", "cli-test")
    return tmp_path


def scrm(*args):
    from scrm.cli import cli

    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_scrm_cli_commands_adds_a_plugins_command_that_runs_in_the_application(home):
    (home / "plugins" / "hello.py").write_text(HELLO)
    counted = scrm("count-customers", "--tier", "hnw")
    assert counted.exit_code == 0, counted.output
    assert counted.output.strip() == "1 customers"
    assert scrm("count-customers").output.strip() == "3 customers"
    listed = scrm("--help")
    assert listed.exit_code == 0 and "count-customers" in listed.output and "How many customers" in listed.output


def test_scrm_cli_commands_a_clash_with_a_builtin_is_left_out_and_recorded(home):
    (home / "plugins" / "hello.py").write_text(HELLO)
    checked = scrm("check")
    assert "definitions checked" in checked.output and "the plugin's check" not in checked.output
    listed = scrm("plugins", "list")
    assert listed.exit_code == 0, listed.output
    line = next(x for x in listed.output.splitlines() if x.startswith("hello "))
    assert "scrm_cli_commands" in line and "is not a click command" in line  # the last of its two refusals
    from scrm.cli import cli, plugin_commands
    from scrm.plugins.manager import Plugins

    plugins = Plugins(home / "plugins", load_entry_points=False)
    assert list(plugin_commands(plugins, set(cli.commands))) == ["count-customers"]
    errors = [e.error for e in plugins.errors if e.plugin == "hello"]
    assert errors[0] == "the command 'check' is not added: a built-in command has that name"


def test_scrm_cli_commands_a_failing_plugin_breaks_no_command(home):
    (home / "plugins" / "broken.py").write_text(BROKEN)
    listed = scrm("--help")
    assert listed.exit_code == 0 and "init" in listed.output and "plugins" in listed.output
    unknown = scrm("no-such-command")
    assert unknown.exit_code == 2 and "No such command" in unknown.output
    status = scrm("plugins", "list")
    line = next(x for x in status.output.splitlines() if x.startswith("broken "))
    assert "scrm_cli_commands: RuntimeError: no commands today" in line
