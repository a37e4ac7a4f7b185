#!/usr/bin/env python3
"""Publishing an added field on the customer table at 1,000,000 rows vs the bare ALTER TABLE.

    python bench/publish_field.py --database postgresql://postgres@127.0.0.1:5432      # the target
    python bench/publish_field.py --customers 100000                                   # SQLite

The customers are ``bench/scale_data.py``'s: the demo generator's 10,000, multiplied in SQL to
``--customers`` (cached as ``scrm_bench_<size>_publish``, its own database: every run adds
columns to it). Each round publishes the customer entity with one more field, the way the
designer's "publish" does it — the draft saved and checked against the whole configuration, the
migration planned and applied in the publish transaction, the definition stored, the revision
moved, the hooks told — and then, in the same round, runs the baseline: what a developer would
type for the same column, ``ALTER TABLE … ADD COLUMN`` (and ``CREATE INDEX`` for an indexed
field) in one transaction, rolled back. Three kinds of field:

* a text field (a nullable column: no row is touched),
* a yes/no field with a default (a constant default: PostgreSQL stores it once, SQLite too),
* an indexed choice field (the index is built over every row).

Printed: median and p95 per kind, and the ratio to the baseline. The target (issue 12) is under
2 s for the added field on 1M rows on PostgreSQL.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import scale_data  # noqa: E402
from list_page import p95  # noqa: E402

KINDS = {
    "text field": ({"type": "string", "max_length": 100}, "VARCHAR(100)", False),
    "yes/no field with a default": ({"type": "bool", "default": False}, "BOOLEAN DEFAULT false NOT NULL", False),
    "indexed choice field": (
        {"type": "enum", "indexed": True,
         "options": [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}]},
        "VARCHAR(64)", True,
    ),
}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--base", type=int, default=10_000, help="customers made by the demo generator")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database", help="a postgresql:// server URL (default: SQLite files in bench/data/)")
    args = parser.parse_args()
    scale_data.configure_environment()

    small = scale_data.database_url(args.database, args.base)
    large = scale_data.database_url(args.database, args.customers, "_publish")
    info = scale_data.prepare_small(small, args.base)
    scale_data.prepare_large(small, large, args.base, args.customers, info)

    import sqlalchemy as sa

    from scrm.db import db, write_intent
    from scrm.runtime import runtime

    app = scale_data._app(large)
    stamp = int(time.time()) % 1_000_000
    results = {kind: ([], [], []) for kind in KINDS}  # publish, ALTER TABLE, the draft's save
    with app.app_context():
        rows = db.session.execute(sa.text("SELECT count(*) FROM crm_customer")).scalar()
        db.session.rollback()
        backend = db.engine.dialect.name
        service = runtime().definitions
        started = time.perf_counter()  # a new process builds its validators once: not what a publish costs
        service.check_draft("entity", "customer", service.published_set().get("entity", "customer").body)
        print(f"checker warmed up in {time.perf_counter() - started:.1f} s", flush=True)
        for round_ in range(args.rounds):
            for number, (kind, (spec, column_sql, indexed)) in enumerate(KINDS.items()):
                name = f"bench_{stamp}_{round_}_{number}"
                body = copy.deepcopy(service.published_set().get("entity", "customer").body)
                body["fields"].append({"id": name, "name": name, "label": {"zh-CN": name, "en": name}, **spec})
                started = time.perf_counter()
                with write_intent():
                    _row, problems = service.save_draft("entity", "customer", body, source="bench")
                    if any(p.severity == "error" for p in problems):
                        raise SystemExit(f"{kind}: the draft was refused: {problems[:3]}")
                saved = time.perf_counter() - started
                started = time.perf_counter()
                with write_intent():
                    service.publish("entity", "customer")
                published = time.perf_counter() - started

                started = time.perf_counter()
                with db.engine.connect() as conn, conn.begin() as tx:
                    conn.exec_driver_sql(f"ALTER TABLE crm_customer ADD COLUMN hand_{name} {column_sql}")
                    if indexed:
                        conn.exec_driver_sql(f"CREATE INDEX ix_hand_{name} ON crm_customer (hand_{name})")
                    tx.rollback()
                bare = time.perf_counter() - started
                results[kind][0].append(published)
                results[kind][1].append(bare)
                results[kind][2].append(saved)
                print(f"round {round_ + 1} {kind}: draft saved in {saved * 1000:.0f} ms, published in "
                      f"{published * 1000:.0f} ms; ALTER TABLE {bare * 1000:.0f} ms", flush=True)  # fmt: skip
        db.session.remove()
        db.engine.dispose()

    print(f"\n{'field added':30} {'publish ms':>19} {'ALTER TABLE ms':>19} {'ratio':>7} {'draft save ms':>14}")
    print(f"{'':30} {'median':>9} {'p95':>9} {'median':>9} {'p95':>9} {'':>7} {'median':>14}")
    for kind, (ours, bare, saves) in results.items():
        print(f"{kind:30} {statistics.median(ours) * 1000:9.0f} {p95(ours) * 1000:9.0f} "
              f"{statistics.median(bare) * 1000:9.0f} {p95(bare) * 1000:9.0f} "
              f"{statistics.median(ours) / statistics.median(bare):7.1f} {statistics.median(saves) * 1000:14.0f}")  # fmt: skip
    print(f"\n{rows:,} customers on {backend}, {args.rounds} rounds; target: publish under 2 s on PostgreSQL at 1M")
    return 0


if __name__ == "__main__":
    sys.exit(main())
