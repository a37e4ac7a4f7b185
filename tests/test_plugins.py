"""The plugin system: built-ins register through the hooks; a folder plugin adds a field type;
a broken plugin is isolated and reported; every hook is documented and tested (meta-test)."""

import inspect
import re
import shutil
import textwrap
from pathlib import Path

import pytest

from scrm.config import REPO_ROOT
from scrm.plugins import hookspecs
from scrm.plugins.builtins import BUILTIN_FIELD_TYPES
from scrm.plugins.manager import Plugins

HOOKS = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("scrm_")]

STOCK_CODE = textwrap.dedent("""
    import re
    from scrm.fields.text import StringType
    from scrm.fields import ConversionError
    from scrm.plugins import hookimpl


    class StockCode(StringType):
        name = "stock_code"
        default_length = 12
        options_schema = {}

        def normalise(self, text):
            text = text.upper()
            if not re.fullmatch(r"[0-9]{6}\\.(SH|SZ|BJ)", text):
                raise ConversionError(f"{text!r} is not a stock code like 600519.SH")
            return text


    @hookimpl
    def scrm_field_types():
        return [StockCode()]
""")


def test_scrm_field_types_registers_every_builtin():
    plugins = Plugins(load_entry_points=False)
    assert set(plugins.field_types.names()) == {cls.name for cls in BUILTIN_FIELD_TYPES}
    builtin = next(s for s in plugins.status if s.name == "scrm.builtins")
    assert builtin.status == "enabled" and "scrm_field_types" in builtin.hooks


def test_folder_plugin_adds_a_field_type(tmp_path):
    (tmp_path / "stock.py").write_text(STOCK_CODE)
    plugins = Plugins(tmp_path, load_entry_points=False)
    assert "stock_code" in plugins.field_types
    f_type = plugins.field_types["stock_code"]
    from scrm.meta.model import FieldDef

    assert f_type.validate("600519.sh", FieldDef("x", {"name": "s", "type": "stock_code"})) == "600519.SH"


def test_a_broken_plugin_is_isolated_and_reported(tmp_path):
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom at import')\n")
    (tmp_path / "wrong.py").write_text(
        textwrap.dedent("""
        from scrm.plugins import hookimpl

        @hookimpl
        def scrm_field_types():
            return ["not a field type"]
    """)
    )
    plugins = Plugins(tmp_path, load_entry_points=False)
    status = {s.name: s for s in plugins.status}
    assert status["broken"].status == "failed" and "boom at import" in status["broken"].error
    assert status["wrong"].status == "failed" and "not a FieldType" in status["wrong"].error
    assert "string" in plugins.field_types  # the built-ins still work


def test_disabled_plugin_is_not_loaded(tmp_path):
    (tmp_path / "stock.py").write_text(STOCK_CODE)
    plugins = Plugins(tmp_path, disabled={"stock"}, load_entry_points=False)
    assert "stock_code" not in plugins.field_types
    assert {s.name: s.status for s in plugins.status}["stock"] == "disabled"


def test_plugin_field_type_works_end_to_end(database, tmp_path):
    """A published entity uses the plugin's type: checked, stored, validated through the API."""
    from support import make_app

    for folder in ("schemas", "workflows"):
        if (REPO_ROOT / folder).exists():
            shutil.copytree(REPO_ROOT / folder, tmp_path / folder)
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "stock.py").write_text(STOCK_CODE)
    url, template = database
    app = make_app(url, home=tmp_path)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {template.admin_token}"}
    doc = {"kind": "entity", "name": "watch", "label": "自选股", "fields": [{"name": "code", "type": "stock_code"}]}
    assert client.put("/api/v1/definitions/entity/watch", json=doc, headers=headers).status_code == 200
    assert client.post("/api/v1/definitions/entity/watch/publish", headers=headers).status_code == 200
    ok = client.post("/api/v1/records/watch", json={"code": "600519.sh"}, headers=headers)
    assert ok.status_code == 201 and ok.json["code"] == "600519.SH"
    bad = client.post("/api/v1/records/watch", json={"code": "ABC"}, headers=headers)
    assert bad.status_code == 422 and "stock code" in bad.json["error"]["details"][0]["message"]


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented(hook):
    doc = (REPO_ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    assert f"`{hook}" in doc, f"{hook} is missing from docs/plugins.md"
    assert getattr(hookspecs, hook).__doc__, f"{hook} has no docstring"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(hook):
    tests = "\n".join(p.read_text(encoding="utf-8") for p in Path(__file__).parent.glob("test_*.py"))
    assert re.search(rf"def test_{hook}\b|def test_\w*{hook}\w*\(", tests), f"no test named after {hook}"


SMS_OVERRIDE = textwrap.dedent("""
    from scrm.plugins import hookimpl


    class Carrier:
        name = "sms"

        def send(self, *, address, subject, body, template, params):
            return "carrier-1"


    @hookimpl
    def scrm_notification_channels(config):
        return [Carrier()]
""")


def test_builtin_channels_and_calendars_come_through_the_hooks_and_a_plugin_replaces_them(tmp_path):
    (tmp_path / "carrier.py").write_text(SMS_OVERRIDE)
    plugins = Plugins(tmp_path, load_entry_points=False)
    builtin = next(s for s in plugins.status if s.name == "scrm.builtins")
    assert {"scrm_notification_channels", "scrm_calendars"} <= set(builtin.hooks)
    in_order = [[c.name for c in extra] for extra in reversed(plugins.call("scrm_notification_channels", config={}))]
    assert in_order == [["email", "sms"], ["sms"]]  # built-ins first: the plugin's sms wins
    assert "sse_trading_days" in plugins.call("scrm_calendars")[-1]


@pytest.mark.parametrize(
    "requires, status",
    [(">=0.1,<99", "enabled"), (">=99", "incompatible"), ("~=0.1", "incompatible"), (None, "enabled")],
)
def test_a_plugin_declares_its_version_and_the_scrm_versions_it_works_with(tmp_path, requires, status):
    header = "__version__ = '1.4.2'\n" + (f"SCRM_REQUIRES = {requires!r}\n" if requires else "")
    (tmp_path / "stock.py").write_text(header + STOCK_CODE)
    plugins = Plugins(tmp_path, load_entry_points=False)
    found = next(s for s in plugins.status if s.name == "stock")
    assert (found.status, found.version, found.requires) == (status, "1.4.2", requires)
    assert ("stock_code" in plugins.field_types) == (status == "enabled")
    if status == "incompatible":
        assert "requires SCRM" in found.error
