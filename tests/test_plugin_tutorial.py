"""The tutorial's plugin (docs/examples/plugins/contact_check.py) does what docs/plugins.md says:
it loads from a plugins folder, refuses a throw-away e-mail at its field, and adds its panel to
the 360° page — so the tutorial cannot rot."""

import re
import shutil

import pytest

from scrm.config import REPO_ROOT
from scrm.plugins.manager import Plugins

TUTORIAL = REPO_ROOT / "docs" / "examples" / "plugins" / "contact_check.py"


def test_the_tutorial_plugin_is_short_and_loads(tmp_path):
    assert len(TUTORIAL.read_text(encoding="utf-8").splitlines()) < 50
    shutil.copy(TUTORIAL, tmp_path / "contact_check.py")
    found = next(s for s in Plugins(tmp_path, load_entry_points=False).status if s.name == "contact_check")
    assert (found.status, found.version) == ("enabled", "1.0.0")
    assert set(found.hooks) == {"scrm_check_record", "scrm_customer_360_panels"}


@pytest.fixture
def with_tutorial(app):
    """The running application with the tutorial's plugin registered, as a folder plugin."""
    import importlib.util

    from scrm.runtime import runtime

    spec = importlib.util.spec_from_file_location("scrm_plugin_contact_check", TUTORIAL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with app.app_context():
        plugins = runtime().plugins
        plugins.pm.register(module, name="contact_check")
        plugins._sources["contact_check"] = "folder"
    return app


@pytest.mark.parametrize("email, refused", [("wang@mailinator.com", True), ("wang@example.com", False)])
def test_the_tutorial_check_refuses_a_throwaway_email_at_its_field(with_tutorial, api, seed, email, refused):
    current = api.get(f"/api/v1/records/customer/{seed['c1']}").json
    r = api.patch(f"/api/v1/records/customer/{seed['c1']}", json={"email": email},
                  headers={"If-Match": str(current["version"])})  # fmt: skip
    assert r.status_code == (422 if refused else 200), r.json
    if refused:
        assert r.json["error"]["details"][0]["path"] == "email"


def test_the_tutorial_panel_shows_on_the_360_page(with_tutorial, client, seed):
    html = client.get(f"/e/customer/{seed['c1']}/360").get_data(as_text=True)
    assert re.search(r'id="plugin-panel-1-title">联系方式核对（缺 \d 项）', html)
    assert html.count("已登记") + html.count("缺失") >= 4
