#!/usr/bin/env python3
"""A controlled export (scope, masking, stamp, watermark, formula guard) vs a bare CSV dump.

    python bench/export.py --customers 10000            # SQLite (default), dataset cached in bench/data/
    python bench/export.py --customers 10000 --database postgresql://postgres@127.0.0.1/scrm_bench

The export writes the customers the HQ-manager demo login may see (all of them, ID and mobile
numbers masked), ten columns including a reference title and the tags, as SCRM's exports do.
The baseline is what a developer would write without any controls: one SQL query for the same
columns and ``csv.writer``. Both run in the same process, alternating, so machine noise hits
both alike. Printed: median seconds per variant, rows per second, and the ratio. The domain
reference's target: a 10,000-row export with masking and watermark in under 60 seconds.
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from dataset import prepare_dataset  # noqa: E402

COLUMNS = ["customer_no", "name", "id_number", "mobile", "asset_tier", "risk_level", "primary_manager",
           "total_assets", "opened_at", "tags"]  # fmt: skip


def controlled(svc, entity, columns, limit: int) -> int:
    from scrm.data.exporting import stamp_line, write_csv

    out = io.StringIO()
    return write_csv(
        svc, entity, columns, out, stamp=stamp_line("BENCH", entity, "hq_demo", datetime.now(UTC), "0" * 16),
        watermark="0" * 16, limit=limit,
    )  # fmt: skip


def bare(snapshot, limit: int) -> int:
    import sqlalchemy as sa

    from scrm.db import db

    et = snapshot.tables["customer"]
    entity = snapshot.entity("customer")
    c = et.main.c
    cols = [c[entity.field(n).column] for n in COLUMNS if n not in ("tags", "primary_manager")]
    emp = snapshot.tables["employee"].main.alias("m")
    stmt = (
        sa.select(c.id, *cols, emp.c[snapshot.entity("employee").field("name").column])
        .select_from(et.main.outerjoin(emp, emp.c.id == c[entity.field("primary_manager").column]))
        .where(c.deleted_at.is_(None))
        .order_by(c.id)
        .limit(limit)
    )
    out = io.StringIO()
    writer = csv.writer(out)
    count = 0
    for row in db.session.execute(stmt):
        writer.writerow(row)
        count += 1
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=10_000, help="rows per export")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database", help="SQLAlchemy URL (default: a SQLite file in bench/data/)")
    args = parser.parse_args()

    url = args.database or f"sqlite:///{HERE / 'data' / f'customers_{args.customers}.db'}"
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    prepare_dataset(url, args.customers)

    from scrm.app import create_app
    from scrm.data.exporting import exportable
    from scrm.data.records import RecordService
    from scrm.runtime import snapshot
    from scrm.security.users import find_user

    app = create_app({"SCRM_DATABASE_URL": url, "SECRET_KEY": "bench"})
    with app.test_request_context():
        snap = snapshot()
        svc = RecordService.for_user(snap, find_user("hq_demo"))
        entity = svc.entity("customer")
        available = {c.field.name: c for c in exportable(svc, entity)}
        columns = [available[n] for n in COLUMNS]
        masked = [c.field.name for c in columns if c.mode == "masked"]
        controlled(svc, entity, columns, 100)  # warm caches
        bare(snap, 100)
        times = {"controlled": [], "bare": []}
        rows = {}
        for i in range(args.rounds):
            order = ("controlled", "bare") if i % 2 == 0 else ("bare", "controlled")
            for name in order:
                started = time.perf_counter()
                if name == "controlled":
                    rows[name] = controlled(svc, entity, columns, args.rows)
                else:
                    rows[name] = bare(snap, args.rows)
                times[name].append(time.perf_counter() - started)
    c_med, b_med = statistics.median(times["controlled"]), statistics.median(times["bare"])
    backend = "postgresql" if url.startswith("postgresql") else "sqlite"
    print(f"\n{rows['controlled']:,} rows, {len(COLUMNS)} columns ({', '.join(masked)} masked) on {backend}, "
          f"{args.rounds} rounds")  # fmt: skip
    print(f"{'controlled export':22} {c_med:8.3f} s  {rows['controlled'] / c_med:10,.0f} rows/s")
    print(f"{'bare CSV dump':22} {b_med:8.3f} s  {rows['bare'] / b_med:10,.0f} rows/s")
    print(f"ratio controlled / bare: {c_med / b_med:.2f}; target: 10,000 rows in < 60 s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
