"""Fixtures: every test that touches a database runs on SQLite, and on PostgreSQL too when
``SCRM_TEST_DATABASE_URL`` names a database on a reachable server (CI sets it).

A template database with the shipped definitions, users and an API token is built once per
backend; each test gets a fresh copy (a file copy on SQLite, ``CREATE DATABASE … TEMPLATE``
on PostgreSQL), so tests are isolated and fast.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from support import (  # noqa: F401
    ADMIN_PASSWORD,
    BACKENDS,
    DEMO_CUSTOMERS,
    DEMO_TODAY,
    PG_URL,
    ApiClient,
    login,
    make_app,
    seed_records,
    template_copy,
)
from support import pg_server as _pg_server
from support import pg_url as _pg_url

AM_PASSWORD = "am-pass-1234"


@dataclass
class Template:
    backend: str
    url: str
    admin_token: str
    am_token: str


def build_template(url: str, backend: str) -> Template:
    from scrm.db import db, write_intent
    from scrm.installation import initialise
    from scrm.security.users import create_user, find_user, issue_token

    os.environ["SCRM_ADMIN_PASSWORD"] = ADMIN_PASSWORD
    try:
        app = make_app(url)
        with app.app_context():
            report = initialise()
            assert not report.sync.problems, [p.line() for p in report.sync.problems]
            with write_intent():
                create_user("am", AM_PASSWORD, ["account_manager"], "客户经理甲")
                admin_token = issue_token(find_user("admin"), "tests")
                am_token = issue_token(find_user("am"), "tests")
            if backend == "sqlite":
                db.session.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
            db.session.remove()
            db.engine.dispose()
    finally:
        os.environ.pop("SCRM_ADMIN_PASSWORD", None)
    return Template(backend, url, admin_token, am_token)


@pytest.fixture(scope="session")
def templates(tmp_path_factory):
    built: dict[str, Template] = {}
    created_pg: list[str] = []

    def get(backend: str) -> Template:
        if backend not in built:
            if backend == "sqlite":
                path = tmp_path_factory.mktemp("template") / "template.db"
                built[backend] = build_template(f"sqlite:///{path}", backend)
            else:
                server, base = _pg_server(PG_URL)
                name = f"{base}_tpl_{uuid.uuid4().hex[:8]}"
                with server.connect() as conn:
                    conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
                created_pg.append(name)
                built[backend] = build_template(_pg_url(PG_URL, name), backend)
        return built[backend]

    yield get
    if created_pg:
        server, _base = _pg_server(PG_URL)
        with server.connect() as conn:
            for name in created_pg:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def database(backend, templates, tmp_path):
    """A fresh copy of the template database: yields (url, template)."""
    template = templates(backend)
    with template_copy(template, tmp_path) as url:
        yield url, template


def _served(database):
    """An application on the test database, its connections closed afterwards."""
    from scrm.db import db

    application = make_app(database[0])
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def app(database):
    yield from _served(database)


@pytest.fixture
def tokens(database) -> dict[str, str]:
    _url, template = database
    return {"admin": template.admin_token, "am": template.am_token}


@pytest.fixture
def client(app):
    """A browser-like client logged in as the administrator."""
    c = app.test_client()
    login(c, "admin")
    return c


@pytest.fixture
def am_client(app):
    c = app.test_client()
    login(c, "am")
    return c


@pytest.fixture
def anon(app):
    return app.test_client()


@pytest.fixture
def api(app, tokens):
    return ApiClient(app.test_client(), tokens["admin"])


@pytest.fixture
def am_api(app, tokens):
    return ApiClient(app.test_client(), tokens["am"])


@pytest.fixture
def ctx(app):
    """An application context for calling services directly; messages in English."""
    from flask_babel import force_locale

    with app.app_context(), force_locale("en"):
        yield app


@pytest.fixture
def svc(ctx):
    from scrm.data.records import RecordService
    from scrm.db import db
    from scrm.runtime import snapshot

    service = RecordService(snapshot(), None)
    db.session.rollback()  # hold no read transaction (SQLite snapshot) while other fixtures write
    return service


@pytest.fixture
def seed(app):
    """A small org tree, two employees and three customers; returns their ids by key."""
    from scrm.data.records import RecordService
    from scrm.runtime import snapshot

    with app.app_context():
        return seed_records(RecordService(snapshot(), None))


@pytest.fixture
def am_owns_c1(app, seed):
    """``seed`` with emp1 signed in as "am" (the account manager of c1–c3)."""
    from scrm.data.records import RecordService
    from scrm.db import db
    from scrm.runtime import snapshot

    with app.app_context():
        RecordService(snapshot(), None, system=True).update("employee", seed["emp1"], {"login": "am", "_version": 1})
        db.session.commit()
        db.session.remove()
    return seed


@pytest.fixture
def second_app(database):
    """Another application instance (another worker) on the same database."""
    yield from _served(database)


@pytest.fixture(scope="module", params=BACKENDS)
def demo(request, templates, tmp_path_factory):
    """One database per backend with the shipped CRM's demo loaded, once per test module (the
    module's tests only read it)."""
    template = templates(request.param)
    if request.param == "sqlite":
        target = tmp_path_factory.mktemp("demo") / "demo.db"
        shutil.copyfile(template.url[len("sqlite:///") :], target)
        url, cleanup = f"sqlite:///{target}", None
    else:
        server, base = _pg_server(PG_URL)
        name = f"{base}_demo_{uuid.uuid4().hex[:8]}"
        with server.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{sa.engine.make_url(template.url).database}"')
        url, cleanup = _pg_url(PG_URL, name), name
    app = make_app(url)
    with app.app_context():
        from scrm.demo import load_demo

        summary = load_demo(customers=DEMO_CUSTOMERS, today=DEMO_TODAY)
    yield app, summary
    with app.app_context():
        from scrm.db import db

        db.session.remove()
        db.engine.dispose()
    if cleanup:
        server, _ = _pg_server(PG_URL)
        with server.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{cleanup}" WITH (FORCE)')
