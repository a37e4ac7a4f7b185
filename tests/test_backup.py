"""scrm backup / scrm restore: an exact round trip of definitions, data and the audit chain on
each database, and refusals that leave the target as it was (damaged files, other keys, a
database that is not empty)."""

from __future__ import annotations

import json
import uuid
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from support import ADMIN_PASSWORD, PG_URL, make_app, pg_server, pg_url

from scrm.backup import BackupError, make_backup, restore_backup
from scrm.backup.archive import table_checksum
from scrm.cli import cli
from scrm.security.crypto import new_key_setting

SECOND_KEY = new_key_setting("k2")


def dialect_of(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


@pytest.fixture(scope="module")
def source(demo, tmp_path_factory):
    """The demo installation and one backup of it."""
    app, _summary = demo
    path = tmp_path_factory.mktemp("backup") / "scrm-backup.zip"
    with app.app_context():
        made = make_backup(path)
    return app, path, made


@pytest.fixture
def empty(source, tmp_path):
    """The URL of an empty database of the source's kind."""
    app, _path, _made = source
    if dialect_of(app.config["SQLALCHEMY_DATABASE_URI"]) == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored.db'}"
        return
    server, base = pg_server(PG_URL)
    name = f"{base}_restore_{uuid.uuid4().hex[:8]}"
    with server.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield pg_url(PG_URL, name)
    with server.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def cli_run(monkeypatch):
    def invoke(url: str, *args: str, **env: str):
        monkeypatch.setenv("SCRM_DATABASE_URL", url)
        monkeypatch.setenv("SCRM_LOCALE", "en")
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return CliRunner().invoke(cli, list(args))

    return invoke


@pytest.fixture
def installed(source, templates, tmp_path):
    """A fresh installation without customers (the test template) of the source's kind."""
    from support import template_copy

    app, _path, _made = source
    with template_copy(templates(dialect_of(app.config["SQLALCHEMY_DATABASE_URI"])), tmp_path) as url:
        yield url


def checksums(app, manifest) -> dict[str, tuple[int, str]]:
    from scrm.backup.archive import settle_session
    from scrm.db import db

    with app.app_context(), db.engine.connect() as conn, conn.begin():
        settle_session(conn)
        return {t.name: (lambda c: (c.rows, c.hexdigest()))(table_checksum(conn, t)) for t in manifest.tables}


def audit_rows(app, upto: int) -> list[tuple]:
    from scrm.db import db

    with app.app_context():
        rows = db.session.execute(sa.text("SELECT * FROM scrm_audit WHERE id <= :n ORDER BY id"), {"n": upto}).all()
        db.session.remove()
        return [tuple(r) for r in rows]


def closed(app) -> None:
    from scrm.db import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_round_trip_is_exact(source, empty, cli_run):
    app, path, made = source
    result = cli_run(empty, "restore", str(path))
    assert result.exit_code == 0, result.output
    assert f"restored {len(made.manifest.tables)} tables, {made.manifest.rows:,} rows" in result.output
    assert "audit log intact" in result.output
    restored = make_app(empty)
    try:
        after = checksums(restored, made.manifest)
        expected = {t.name: (t.rows, t.checksum) for t in made.manifest.tables}
        audited = expected.pop("scrm_audit")
        assert {n: v for n, v in after.items() if n != "scrm_audit"} == expected
        assert after["scrm_audit"][0] == audited[0] + 1  # the restore is the one entry added
        assert audit_rows(restored, audited[0]) == audit_rows(app, audited[0])
        assert made.manifest.rows > 5_000 and {"crm_customer", "scrm_definition", "scrm_user"} <= set(expected)

        # the restored installation works: sealed fields open, new ids follow the restored ones
        client = restored.test_client()
        token = client.post("/api/v1/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD}).json["token"]
        headers = {"Authorization": f"Bearer {token}"}
        first = client.get("/api/v1/records/customer?sort=id&limit=1", headers=headers).json["items"][0]
        assert first["id_number"] and not str(first["id_number"]).startswith("enc:")
        tag = client.post(
            "/api/v1/records/tag",
            json={"code": "RESTORED", "name": "restored-ok", "category": "service", "tag_type": "manual"},
            headers=headers,
        )
        assert tag.status_code == 201, tag.json
        assert tag.json["id"] > expected["crm_tag"][0]
    finally:
        closed(restored)


def test_restore_into_a_database_that_is_not_empty_needs_force(source, installed, cli_run):
    _app, path, made = source
    url = installed
    refused = cli_run(url, "restore", str(path))
    assert refused.exit_code == 1
    assert "The database is not empty" in refused.output and "--force" in refused.output
    target = make_app(url)
    try:
        with target.app_context():
            from scrm.meta import store

            before = store.current_revision()
        forced = cli_run(url, "restore", "--force", str(path))
        assert forced.exit_code == 0, forced.output
        assert "dropped the" in forced.output
        with target.app_context():
            from scrm.db import db

            assert store.current_revision() > max(before, made.manifest.revision)  # workers reload
            customers = db.session.execute(sa.text("SELECT count(*) FROM crm_customer")).scalar()
        assert customers == next(t.rows for t in made.manifest.tables if t.name == "crm_customer")
    finally:
        closed(target)


def rewrite(original: Path, target: Path, member: str, change) -> Path:
    """A copy of the backup with one member changed (``change`` gets and returns its bytes)."""
    with zipfile.ZipFile(original) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == member:
                data = change(data)
                if data is None:
                    continue
            out.writestr(item.filename, data)
    return target


def _manifest(**changes):
    def change(data: bytes) -> bytes:
        raw = json.loads(data)
        raw.update(changes)
        return json.dumps(raw).encode()

    return change


def _customer_line(fn):
    def change(data: bytes) -> bytes:
        lines = data.splitlines()
        return b"\n".join(fn(lines)) + b"\n"

    return change


DAMAGE = {
    "not a zip": (None, None, "is not a readable SCRM backup"),
    "no manifest": ("manifest.json", lambda d: None, "is not a readable SCRM backup"),
    "another format": ("manifest.json", _manifest(format="something-else"), "not an SCRM backup"),
    "a later format": ("manifest.json", _manifest(format_version=99), "format version 99"),
    "another database": ("manifest.json", None, "restore it into a"),
    "a row altered": (
        "tables/crm_customer.jsonl",
        _customer_line(lambda ls: [ls[0].replace(b'"', b'"x', 3), *ls[1:]]),
        "damaged",
    ),
    "a row lost": ("tables/crm_customer.jsonl", _customer_line(lambda ls: ls[1:]), "crm_customer does not match"),
    "a table lost": ("tables/crm_trade.jsonl", lambda d: None, "damaged at table crm_trade"),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_damaged_backups_change_nothing(case, source, installed, cli_run, tmp_path):
    _app, path, made = source
    url = installed
    member, change, message = DAMAGE[case]
    bad = tmp_path / "bad.zip"
    if case == "not a zip":
        bad.write_text("hello")
    elif case == "another database":
        other = "postgresql" if made.manifest.dialect == "sqlite" else "sqlite"
        rewrite(path, bad, "manifest.json", _manifest(dialect=other))
    else:
        rewrite(path, bad, member, change)
    target = make_app(url)
    try:
        with target.app_context():
            names_before = sorted(sa.inspect(target.extensions["sqlalchemy"].engine).get_table_names())
        result = cli_run(url, "restore", "--force", str(bad))
        assert result.exit_code == 1
        assert message in result.output and "Traceback" not in result.output
        with target.app_context():
            from scrm.db import db

            db.engine.dispose()
            assert sorted(sa.inspect(db.engine).get_table_names()) == names_before
            assert db.session.execute(sa.text("SELECT count(*) FROM crm_customer")).scalar() == 0
            assert db.session.execute(sa.text("SELECT count(*) FROM scrm_user")).scalar() == 2
    finally:
        closed(target)


KEYS = {
    "no such key": ("k9:" + new_key_setting().split(":", 1)[1], "does not hold"),
    "another key of the same name": (new_key_setting("test1"), "is not the key 'test1'"),
    "another key first": (None, "put that key first"),
}


@pytest.mark.parametrize("case", list(KEYS))
def test_restore_needs_the_keys_that_sealed_the_data(case, source, empty):
    app, path, _made = source
    setting, message = KEYS[case]
    if setting is None:
        setting = f"{SECOND_KEY},{app.config['SCRM_ENCRYPTION_KEY']}"
    target = make_app(empty, SCRM_ENCRYPTION_KEY=setting)
    try:
        with target.app_context(), pytest.raises(BackupError, match=message):
            restore_backup(path)
        with target.app_context():
            from scrm.db import db

            assert sa.inspect(db.engine).get_table_names() == []
    finally:
        closed(target)


def test_backup_never_overwrites_unasked_and_notes_itself(source, cli_run, tmp_path):
    app, path, _made = source
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    target = tmp_path / "again.zip"
    target.write_text("keep me")
    refused = cli_run(url, "backup", str(target))
    assert refused.exit_code == 1 and "already exists" in refused.output
    assert target.read_text() == "keep me"
    done = cli_run(url, "backup", "--overwrite", str(target))
    assert done.exit_code == 0, done.output
    assert "backup written to" in done.output and "keep them apart" in done.output
    assert zipfile.ZipFile(target).testzip() is None
    assert not list(tmp_path.glob("*.partial"))
    from scrm.db import db

    with app.app_context():
        actions = db.session.execute(
            sa.text("SELECT action, row_count FROM scrm_audit WHERE action = 'backup.create'")
        ).all()
        db.session.remove()
    assert len(actions) >= 2 and all(count > 5_000 for _a, count in actions)
