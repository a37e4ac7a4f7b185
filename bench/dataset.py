"""The benchmarks' data: the demo generator's dataset in a database, created once and analysed.

A dataset is cached by its URL (a SQLite file in ``bench/data/`` named after its size, or a
PostgreSQL database you name); loading it again adds nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable


def ensure_database(url: str, fresh: bool = False) -> None:
    """Create the PostgreSQL database named in ``url`` if the server does not have it yet;
    ``fresh``: drop it first."""
    import sqlalchemy as sa

    server, name = url.rsplit("/", 1)
    engine = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if fresh:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if not conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


def prepare_dataset(url: str, customers: int, top_up: Callable[[], None] | None = None, *, fresh: bool = False) -> None:
    """Initialise the database at ``url`` (created on a PostgreSQL server that lacks it) with the
    shipped definitions and the demo data for ``customers`` customers; ``top_up`` adds more
    (inside the application context); then ANALYZE (and VACUUM on PostgreSQL), so the planner
    has the statistics and the pages the state a real installation has after a load and
    autovacuum. A kept dataset is only readable with the encryption key it was made with (the
    checkout's ``instance/``): ``fresh`` makes it anew (CI's clean clones)."""
    if url.startswith("postgresql"):
        ensure_database(url, fresh)
    os.environ["SCRM_DATABASE_URL"] = url
    os.environ.setdefault("SCRM_ADMIN_PASSWORD", "bench-Secret-1")
    os.environ.setdefault("SCRM_SECRET_KEY", "bench")
    from scrm.app import create_app
    from scrm.db import db
    from scrm.demo import load_demo
    from scrm.installation import initialise

    app = create_app()
    with app.app_context():
        initialise()
        started = time.perf_counter()
        print(f"dataset: {load_demo(customers=customers)[0]} ({time.perf_counter() - started:.0f} s)", flush=True)
        if top_up is not None:
            top_up()
        db.session.remove()
        if db.engine.dialect.name == "postgresql":  # and VACUUM: the hint bits and visibility map
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM (ANALYZE)")
        else:
            with db.engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE")
                conn.commit()
