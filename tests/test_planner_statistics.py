"""Planner statistics after a bulk load (``scrm.demo.bulk.analyze``).

SQLite samples by default only where a table is too big to read whole: a sampled ANALYZE caps
every "rows per key" near its sample size, and the planner then takes a status index for as
selective as an employee index (the 1M list benchmark's 2.2 s page)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

ROWS = 12_000


def rows_per_key_after_analyze(kinds: int) -> list[str]:
    """``sqlite_stat1`` for an index over ``kinds`` values, after a bulk load and analyze()."""
    from scrm.db import db
    from scrm.demo import bulk

    db.session.execute(sa.text("CREATE TABLE bench_kinds (id INTEGER PRIMARY KEY, kind TEXT)"))
    db.session.execute(sa.text("CREATE INDEX ix_bench_kinds_kind ON bench_kinds (kind)"))
    db.session.execute(
        sa.text("INSERT INTO bench_kinds (kind) VALUES (:k)"), [{"k": f"k{i % kinds}"} for i in range(ROWS)]
    )
    bulk.analyze()
    stat = db.session.execute(sa.text("SELECT stat FROM sqlite_stat1 WHERE idx = 'ix_bench_kinds_kind'"))
    return stat.scalar_one().split()[:2]


@pytest.mark.parametrize("kinds", [2, 3])
def test_sqlite_statistics_are_exact_for_tables_that_fit(app, kinds):
    from scrm.db import db

    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("SQLite's sampled ANALYZE")
        assert rows_per_key_after_analyze(kinds) == [str(ROWS), str(ROWS // kinds)]
        db.session.remove()


def test_sqlite_samples_tables_too_big_to_read_whole(app, monkeypatch):
    from scrm.db import db
    from scrm.demo import bulk

    monkeypatch.setattr(bulk, "FULL_STATISTICS_ROWS", ROWS - 1)
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("SQLite's sampled ANALYZE")
        assert int(rows_per_key_after_analyze(2)[1]) < ROWS // 2  # sampled: near the sample size
        db.session.remove()


def test_postgresql_statistics_cover_the_loaded_tables(app):
    from scrm.db import db
    from scrm.demo import bulk

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("PostgreSQL's ANALYZE")
        db.session.execute(sa.text("CREATE TABLE bench_kinds (id SERIAL PRIMARY KEY, kind TEXT)"))
        db.session.execute(
            sa.text("INSERT INTO bench_kinds (kind) SELECT 'k' || (g % 2) FROM generate_series(1, :n) g"), {"n": ROWS}
        )
        bulk.analyze()
        distinct = db.session.execute(
            sa.text("SELECT n_distinct FROM pg_stats WHERE tablename = 'bench_kinds' AND attname = 'kind'")
        ).scalar_one()
        assert distinct == 2
        db.session.remove()
