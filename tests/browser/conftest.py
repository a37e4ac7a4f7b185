"""Browser tests: Debian's chromium driven by Playwright against a live server.

They skip when chromium is not installed, unless SCRM_REQUIRE_BROWSER=1 (CI), which turns the
skip into a failure so a CI machine without a browser cannot pass silently.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


@pytest.fixture
def backend():
    return "sqlite"  # the UI does not depend on the database; the service tests cover PostgreSQL


@pytest.fixture(scope="session")
def browser():
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        if os.environ.get("SCRM_REQUIRE_BROWSER"):
            pytest.fail("chromium is not installed (make browser-deps)")
        pytest.skip("chromium is not installed; run `make browser-deps` to run the browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()


@pytest.fixture
def live_server(app, seed):
    app.config["WTF_CSRF_ENABLED"] = True  # the real thing: forms and htmx carry the token
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


def _console_error(msg) -> str:
    """A console error with where it came from (an intermittent one is found by its source)."""
    where = msg.location or {}
    return f"{msg.text} [{where.get('url') or '?'}:{where.get('lineNumber', '?')}; page {msg.page.url if msg.page else '?'}]"


def _new_page(browser, base, *, javascript=True, mobile=False, user="admin", password="Secret-pass-123"):
    context = browser.new_context(
        java_script_enabled=javascript,
        viewport={"width": 390, "height": 844} if mobile else {"width": 1366, "height": 900},
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(_console_error(msg)) if msg.type == "error" else None)
    page.scrm_errors = errors
    page.goto(f"{base}/login")
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    return page


@pytest.fixture
def new_page():
    return _new_page


ARTEFACTS = Path(os.environ.get("SCRM_ARTEFACTS", Path(__file__).resolve().parents[2] / "build" / "artefacts"))


@pytest.fixture
def screenshot(request):
    """Save a full-page screenshot as a test artefact (build/artefacts/, or $SCRM_ARTEFACTS)."""

    def take(page, name: str) -> Path:
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTEFACTS / f"{name}.png"
        # caret "initial": hiding the caret makes Playwright add a <style> the page's CSP may refuse
        page.screenshot(path=str(path), full_page=True, caret="initial")
        assert path.stat().st_size > 1000
        return path

    return take
