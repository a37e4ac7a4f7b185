"""The database handle and the engine settings that make SQLite and PostgreSQL behave alike.

SQLite gets WAL, a generous busy timeout, foreign keys and *transactional DDL* (the pysqlite
BEGIN recipe from the SQLAlchemy docs), so a failed migration rolls back whole as it does on
PostgreSQL. Transactions that will write start with ``BEGIN IMMEDIATE`` on SQLite, so two
writers queue on the busy timeout instead of failing with a stale snapshot.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask, current_app, has_request_context, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
_write_intent: ContextVar[bool] = ContextVar("scrm_write_intent", default=False)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@contextmanager
def write_intent() -> Iterator[None]:
    """Mark work outside a request (CLI, jobs) as a writer: SQLite then begins IMMEDIATE."""
    token = _write_intent.set(True)
    try:
        yield
    finally:
        _write_intent.reset(token)


@contextmanager
def writing() -> Iterator[None]:
    """Run a unit of work that writes. On SQLite, a transaction that began as a reader is ended
    first (nothing was written in it), so the write transaction starts ``IMMEDIATE`` and cannot
    fail on a stale snapshot."""
    with write_intent():
        session = db.session()
        if db.engine.dialect.name == "sqlite" and session.in_transaction():
            if not (session.new or session.dirty or session.deleted):
                conn = session.connection()
                if not conn.info.get("scrm_writer"):
                    session.rollback()
        yield


def run(statement, parameters=None):
    """Execute a Core statement on the session's connection (same transaction as the session),
    skipping the ORM execution layer: the hot read paths use it."""
    return db.session.connection().execute(statement, parameters)


def reads_only(view):
    """Mark a POST view that writes nothing (the designer's condition count, its form preview):
    on SQLite its transaction begins as a reader, so the writer lock is not held while it runs."""
    view.scrm_reads_only = True
    return view


def wants_write() -> bool:
    if _write_intent.get():
        return True
    if not has_request_context() or request.method in SAFE_METHODS:
        return False
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    return not getattr(view, "scrm_reads_only", False)


def init_app(app: Flask) -> None:
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    options = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        if ":memory:" not in url:
            Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
        options = {"connect_args": {"timeout": 30, "check_same_thread": False}}
    else:
        options.update({"pool_size": 10, "max_overflow": 10, "pool_recycle": 1800})
        if url.startswith("postgresql") and not app.config.get("SCRM_PG_JIT"):
            # JIT compiled the rules' large statements for 1-2 s each to save less (bench/alert_rules.py)
            options["connect_args"] = {"options": "-c jit=off"}
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", options)
    db.init_app(app)
    with app.app_context():
        configure_engine(db.engine)


_configured: set[int] = set()
SQLITE_CACHE_KIB = 65536


def configure_engine(engine: Engine) -> None:
    if id(engine) in _configured:
        return
    _configured.add(id(engine))
    if engine.dialect.name != "sqlite":
        return
    memory = engine.url.database in (None, "", ":memory:")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (transactional DDL)
        cursor = dbapi_conn.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        # 64 MiB of page cache per connection, not the default 2 MiB: a list page at 1M customers
        # walks thousands of index and table pages (bench/list_scale.py: quick search 1.68x -> 1.17x)
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
        # SQLite's lower() folds ASCII only; conditions use this one for non-ASCII searches
        dbapi_conn.create_function("scrm_lower", 1, _lower, deterministic=True)
        # SQLite knows no time zones; conditions read local dates and hours through this one
        dbapi_conn.create_function("scrm_localtime", 2, _localtime, deterministic=True)

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        writer = wants_write()
        conn.info["scrm_writer"] = writer
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")


def _lower(value):
    return value.lower() if isinstance(value, str) else value


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _localtime(value, zone):
    """A stored UTC timestamp (``YYYY-MM-DD HH:MM:SS[.ffffff]``) as local wall-clock text."""
    if not isinstance(value, str) or not isinstance(zone, str):
        return None
    try:
        moment = datetime.fromisoformat(value).replace(tzinfo=UTC).astimezone(_zone(zone))
    except (ValueError, KeyError, ZoneInfoNotFoundError):
        return None
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def dialect_name() -> str:
    return db.engine.dialect.name


class TimeLimitExceeded(Exception):
    """A statement run under :func:`time_limit` took longer than allowed and was cancelled."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Cancel the statements of this block that run longer than ``seconds`` (previews the designer
    asks for while typing: a slow condition must not hold a worker). The transaction is rolled
    back when a statement was cancelled, and :class:`TimeLimitExceeded` raised."""
    from sqlalchemy.exc import OperationalError

    session = db.session()
    conn = session.connection()
    if dialect_name() == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, int(seconds * 1000))}")
        try:
            yield
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) != "57014":  # query_canceled (psycopg 3)
                raise
            session.rollback()
            raise TimeLimitExceeded() from None
        else:
            conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
        return
    raw = conn.connection.driver_connection
    deadline = time.monotonic() + seconds
    raw.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 20_000)
    try:
        yield
    except OperationalError as exc:
        if "interrupted" not in str(exc):
            raise
        session.rollback()
        raise TimeLimitExceeded() from None
    finally:
        raw.set_progress_handler(None, 0)


def within(seconds: float) -> AbstractContextManager:
    """:func:`time_limit` for a configured limit in seconds; ``0`` is none."""
    return time_limit(seconds) if seconds and seconds > 0 else nullcontext()
