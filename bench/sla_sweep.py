"""The workflow sweep's due-clock query over many SLA clocks (PostgreSQL).

    python bench/sla_sweep.py --clocks 1000000

It creates ``scrm_bench_sla_sweep`` with the ``scrm_sla_clock`` table only, fills it with
``--clocks`` clocks — 80 % stopped, 10 % paused, 10 % running with the next escalation check
spread from one hour ago to three days ahead (about 1 % of the running ones due) — and times the
query each sweep pass starts with (the due ids, oldest first, a batch of 500):

* ``indexed`` — as the scheduler runs it, on ``ix_scrm_sla_clock_due (status, next_check_at)``;
* ``baseline`` — the same query with index scans turned off (what a missing index would cost),
  measured in the same run, so the figure is a ratio on a noisy machine.

Then the database is dropped. Prints the plan and the medians of ``--rounds`` runs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import datetime

import sqlalchemy as sa

QUERY = sa.text(
    "SELECT id FROM scrm_sla_clock WHERE status = 'running' AND next_check_at <= :now ORDER BY next_check_at LIMIT 500"
)
FILL = sa.text("""
    INSERT INTO scrm_sla_clock (entity, record_id, sla, workflow, version, status, calendar, started_at,
      paused_minutes, target_minutes, escalation_step, breached, next_check_at)
    SELECT 'service_ticket', g, CASE WHEN g % 2 = 0 THEN 'first_response' ELSE 'resolution' END, 'service_ticket', 1,
      CASE WHEN g % 10 < 8 THEN 'stopped' WHEN g % 10 = 8 THEN 'paused' ELSE 'running' END, 'service_hours',
      :now - (g % 1000) * interval '1 minute', 0, 120, 0, false,
      CASE WHEN g % 10 = 9 THEN :now + ((g % 4380) - 60) * interval '1 minute' ELSE NULL END
    FROM generate_series(1, :n) g""")


def timed(conn, rounds: int, now, query=QUERY) -> tuple[float, int]:
    samples, found = [], 0
    for _ in range(rounds):
        start = time.perf_counter()
        found = len(conn.execute(query, {"now": now}).all())
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clocks", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    from scrm.workflows.store import Clock

    admin = sa.create_engine(f"{args.server}/postgres", isolation_level="AUTOCOMMIT")
    name = "scrm_bench_sla_sweep"
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    engine = sa.create_engine(f"{args.server}/{name}")
    now = datetime(2026, 11, 22, 2, 0)
    try:
        Clock.__table__.create(engine)
        started = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(FILL, {"now": now, "n": args.clocks})
            conn.execute(sa.text("ANALYZE scrm_sla_clock"))
        print(f"{args.clocks:,} clocks made in {time.perf_counter() - started:.1f} s")
        with engine.connect() as conn:
            plan = conn.execute(sa.text("EXPLAIN " + QUERY.text), {"now": now}).scalars().all()
            print("\n".join(plan))
            indexed, found = timed(conn, args.rounds, now)
            conn.execute(sa.text("SET enable_indexscan = off"))
            conn.execute(sa.text("SET enable_bitmapscan = off"))
            conn.execute(sa.text("SET enable_indexonlyscan = off"))
            # another statement text: psycopg prepares a statement run five times, and a prepared
            # statement would keep the indexed plan
            baseline_query = sa.text(QUERY.text + " -- baseline")
            plan = conn.execute(sa.text("EXPLAIN " + baseline_query.text), {"now": now}).scalars().all()
            print("baseline plan:", " / ".join(p.strip() for p in plan[:1] + plan[-2:]))
            baseline, _ = timed(conn, args.rounds, now, baseline_query)
        print(f"due clocks found: {found} (batch of 500)")
        print(f"indexed {indexed:.2f} ms · baseline (no index) {baseline:.2f} ms · ratio {indexed / baseline:.3f}")
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


if __name__ == "__main__":
    main()
