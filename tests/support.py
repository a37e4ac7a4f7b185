"""Helpers shared by the tests (import them with ``from support import …``)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from datetime import date, datetime
from html.parser import HTMLParser
from pathlib import Path

import sqlalchemy as sa
from jinja2 import StrictUndefined
from werkzeug.datastructures import MultiDict

from scrm.app import create_app
from scrm.config import REPO_ROOT

PG_URL = os.environ.get("SCRM_TEST_DATABASE_URL")
# one field-encryption key for every app and CLI run of the suite (they share template databases)
os.environ.setdefault("SCRM_ENCRYPTION_KEY", "test1:" + "dGVzdC1lbmNyeXB0aW9uLWtleS0zMi1ieXRlcyEhISE=")
DEMO_TODAY = date(2026, 11, 20)  # the demo fixture's "today" and size
DEMO_CUSTOMERS = 60
ADMIN_PASSWORD = "Secret-pass-123"  # the test template's administrator
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def pg_server(url: str) -> tuple[sa.engine.Engine, str]:
    parsed = sa.engine.make_url(
        url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url
    )
    server = sa.create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    return server, parsed.database or "scrm_test"


def pg_url(base: str, name: str) -> str:
    parsed = sa.engine.make_url(
        base.replace("postgresql://", "postgresql+psycopg://", 1) if base.startswith("postgresql://") else base
    )
    return parsed.set(database=name).render_as_string(hide_password=False)


def make_app(url: str, home: Path | None = None, **overrides):
    app = create_app(
        {
            "SCRM_DATABASE_URL": url,
            "SCRM_HOME": str(home or REPO_ROOT),
            "SECRET_KEY": "test-secret",
            "WTF_CSRF_ENABLED": False,
            "TESTING": True,
            **overrides,
        }
    )
    app.jinja_env.undefined = StrictUndefined
    return app


def login(client, username: str) -> None:
    from scrm.security.users import find_user

    with client.application.app_context():
        user_id = find_user(username).id
    with client.session_transaction() as session:
        session["_user_id"] = str(user_id)
        session["_fresh"] = True


class _FormParser(HTMLParser):
    """Collect what a browser would submit for the first ``form.scrm-form`` on a page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.fields: list[tuple[str, str]] = []
        self.in_form = False
        self.select: str | None = None
        self.select_value: list[str] = []
        self.select_multiple = False
        self.first_option: str | None = None
        self.textarea: str | None = None
        self.text = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and "scrm-form" in (a.get("class") or ""):
            self.in_form = True
        if not self.in_form:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            if kind in ("submit", "button"):
                return
            self.fields.append((name, a.get("value", "")))
        elif tag == "select" and name:
            self.select, self.select_value, self.first_option = name, [], None
            self.select_multiple = "multiple" in a
        elif tag == "option" and self.select is not None:
            if self.first_option is None:
                self.first_option = a.get("value", "")
            if "selected" in a:
                self.select_value.append(a.get("value", ""))
        elif tag == "textarea" and name:
            self.textarea, self.text = name, ""

    def handle_data(self, data):
        if self.textarea is not None:
            self.text += data

    def handle_endtag(self, tag):
        if tag == "form" and self.in_form:
            self.in_form = False
        elif tag == "select" and self.select is not None:
            values = self.select_value or ([] if self.select_multiple else [self.first_option or ""])
            self.fields += [(self.select, v) for v in values]
            self.select = None
        elif tag == "textarea" and self.textarea is not None:
            self.fields.append((self.textarea, self.text.removeprefix("\n")))
            self.textarea = None


def form_data(html: str) -> list[tuple[str, str]]:
    parser = _FormParser()
    parser.feed(html)
    return parser.fields


def count_statements(app, fn) -> int:
    """How many SQL statements ``fn`` runs on the app's engine (transaction control left out)."""
    return len(captured_statements(app, fn))


def captured_statements(app, fn) -> list[tuple[str, object]]:
    """The SQL statements ``fn`` runs on the app's engine, with their parameters (transaction
    control left out)."""
    from scrm.db import db

    with app.app_context():
        engine = db.engine
    seen = []

    def before(conn, cursor, statement, parameters, *args):
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "COMMIT")):
            seen.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        fn()
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)
    return seen


def local_today() -> date:
    """Today in the installation's time zone (Asia/Shanghai by default), as the app counts days:
    between 16:00 and 24:00 UTC it is already tomorrow there."""
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo(os.environ.get("SCRM_TIMEZONE", "Asia/Shanghai"))).date()


def after_swap(page, target: str, action) -> None:
    """Run ``action`` (a browser step that makes htmx replace ``target``) and wait until the
    replacement is in the page. Waiting for the response is not enough: a step taken between
    the response and the swap acts on the element the swap throws away."""
    from playwright.sync_api import expect

    page.locator(target).evaluate("el => { el.dataset.stale = '1'; }")
    action()
    expect(page.locator(f"{target}[data-stale]")).to_have_count(0)
    expect(page.locator(target)).to_have_count(1)


def seed_records(svc) -> dict:
    """A small org tree, two employees and three customers (the ``seed`` fixture's)."""
    ids = {}
    svc.bulk_create("org_unit", [{"code": "HQ", "name": "总部", "unit_type": "hq"}])
    ids["hq"] = svc.list("org_unit").items[0]["id"]
    ids["branch"] = svc.create(
        "org_unit", {"code": "BJ01", "name": "北京营业部", "unit_type": "branch", "parent": ids["hq"]}
    )["id"]
    ids["emp1"] = svc.create(
        "employee", {"employee_no": "E001", "name": "张伟", "org_unit": ids["branch"], "role": "account_manager"}
    )["id"]
    ids["emp2"] = svc.create(
        "employee", {"employee_no": "E002", "name": "李娜", "org_unit": ids["branch"], "role": "account_manager"}
    )["id"]
    for key, number, name, idno, tier in (
        ("c1", "310000000001", "王芳", "11010519491231002X", "hnw"),
        ("c2", "310000000002", "刘强", "110105194912310038", "mass"),
        ("c3", "310000000003", "陈静", "110105195001010047", "wealth"),
    ):
        ids[key] = svc.create(
            "customer",
            {
                "customer_no": number,
                "name": name,
                "id_type": "cn_id",
                "id_number": idno,
                "asset_tier": tier,
                "primary_manager": ids["emp1"],
                "servicing_org": ids["branch"],
                "tags": ["价值投资"] if key == "c1" else [],
            },
        )["id"]
    return ids


def scheduler_process(url: str, log, **env) -> subprocess.Popen:
    """``scrm scheduler`` in its own process on the database at ``url``; ``env`` adds settings."""
    variables = {**os.environ, "SCRM_DATABASE_URL": url, "SCRM_LOCALE": "en", **env}
    return subprocess.Popen(
        [sys.executable, "-c", "from scrm.cli import main; main()", "scheduler"], env=variables, stdout=log, stderr=log
    )


def wait_for(predicate, timeout: float, what: str):
    """Poll ``predicate`` until it returns something true (returned) or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# -- designer pages ---------------------------------------------------------------------------------
def etag_of(page: str) -> str:
    """The ETag a designer page's forms carry (the version they were opened on)."""
    return re.search(r'name="base" value="([^"]+)"', page).group(1)


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def post(client, url: str, page: str, data, base: bool = True):
    """Submit a designer form from ``page`` (its CSRF token and ETag) with ``data`` (a dict, or
    pairs for repeated names), following the redirect."""
    pairs = list(data.items()) if isinstance(data, dict) else list(data)
    pairs.append(("csrf_token", csrf(page)))
    if base:
        pairs.append(("base", etag_of(page)))
    return client.post(url, data=MultiDict(pairs), follow_redirects=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``scrm run`` in a process of its own on ``url``, spoken to over HTTP."""

    def __init__(self, url: str):
        self.port = free_port()
        env = {**os.environ, "SCRM_DATABASE_URL": url, "SCRM_SECRET_KEY": "processes", "SCRM_LOCALE": "en"}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from scrm.cli import main; main()", "run", "--port", str(self.port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.base + "/healthz", timeout=1)
                return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server on {self.port} did not start")

    def call(self, method: str, path: str, token: str, body=None, headers=None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.base + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@contextmanager
def template_copy(template, folder: Path):
    """A fresh copy of a template database (a file copy, or ``CREATE DATABASE … TEMPLATE``): its URL."""
    if template.backend == "sqlite":
        target = folder / "scrm.db"
        shutil.copyfile(template.url[len("sqlite:///") :], target)
        yield f"sqlite:///{target}"
        return
    server, base = pg_server(PG_URL)
    name = f"{base}_t_{uuid.uuid4().hex[:10]}"
    template_name = sa.engine.make_url(template.url).database
    with server.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"')
    try:
        yield pg_url(PG_URL, name)
    finally:
        with server.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class ApiClient:
    """Flask test client speaking JSON with a bearer token."""

    def __init__(self, client, token: str):
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def __getattr__(self, method):
        def call(path, json=None, headers=None, **kwargs):
            return getattr(self.client, method)(path, json=json, headers={**self.headers, **(headers or {})}, **kwargs)

        return call
