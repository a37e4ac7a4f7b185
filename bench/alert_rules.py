"""The nightly rule batch: all shipped alert and tagging rules over the demo generator's data.

    python bench/alert_rules.py                                     # 10,000 customers, SQLite
    python bench/alert_rules.py --customers 1000000 \\
        --database postgresql://postgres@127.0.0.1:5432            # the issue's target (PostgreSQL)

The dataset is the demo generator's (``scrm init --demo``): per customer about 12 trades and 90
days of asset snapshots per account, positions, transfers, tickets… At 1,000,000 customers that
is about 12 M trades and 93 M snapshots; it is made once (``bench/scale_data.prepare_small``) and
kept (SQLite in ``bench/data/``, PostgreSQL as ``scrm_bench_<size>_demo``).

Each round starts from the data as generated (the engine's tasks, messages, firings, runs and
tag links of earlier rounds are undone) and runs every shipped rule as the scheduler would at
18:30 on the day the data was generated — the first night of the rules on that brokerage:

* ``statement`` — the one evaluating statement of the rule (dry run, median of the rounds);
* ``run`` — the real run: statement, firing inserts, tasks, tags, field values, messages;
* ``baseline`` — one full read of the customer table (``SELECT count(*) … WHERE status …``),
  measured in the same run, so figures compare across noisy machines as ratios.

Event-triggered rules are run over all records (as their end-of-day reconcile would), which
costs more than an event, which evaluates one record.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from datetime import time as clock
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale_data import _app, database_url, prepare_small  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def clean(db, built_at: str) -> None:
    """Put the data back as generated: forget what earlier rounds fired (firings, runs, tasks,
    messages) and the tag links they added or ended, so every round is the same first night."""
    moment = datetime.fromisoformat(built_at).astimezone(UTC)
    if db.engine.dialect.name == "sqlite":  # stored as naive UTC text, compared as text
        moment = moment.replace(tzinfo=None).isoformat(" ", "microseconds")
    with db.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM crm_task WHERE alert_event IS NOT NULL"))
        conn.execute(sa.text("DELETE FROM crm_customer_tag WHERE created_at > :t"), {"t": moment})
        conn.execute(sa.text("UPDATE crm_customer_tag SET removed_at = NULL WHERE removed_at > :t"), {"t": moment})
        for table in ("scrm_alert_firing", "scrm_alert_run", "scrm_notification", "scrm_outbox", "scrm_alert_event"):
            conn.execute(sa.text(f"DELETE FROM {table}"))


def baseline(db) -> float:
    started = time.perf_counter()
    with db.engine.connect() as conn:
        conn.execute(
            sa.text("SELECT count(*) FROM crm_customer WHERE deleted_at IS NULL AND customer_status <> 'closed'")
        )
    return (time.perf_counter() - started) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--database", help="a postgresql:// server URL (default: SQLite in bench/data/)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of the whole batch (default 1)")
    parser.add_argument("--rules", help="comma-separated rule names (default: all shipped)")
    parser.add_argument("--prepare-only", action="store_true")
    parser.add_argument("--target", type=float, default=300.0, help="the batch's budget in seconds (default 300)")
    parser.add_argument("--json", type=Path, help="where to write the results (default bench/results/)")
    args = parser.parse_args()

    url = database_url(args.database, args.customers, "_demo")
    info = prepare_small(url, args.customers)
    if args.prepare_only:
        return 0
    app = _app(url)
    from scrm.alerts.engine import run_rule
    from scrm.alerts.model import rules_of
    from scrm.db import db
    from scrm.runtime import snapshot

    tz = ZoneInfo(app.config["SCRM_TIMEZONE"])
    built = datetime.fromisoformat(info["built_at"]).astimezone(tz).date()
    now = datetime.combine(built, clock(18, 30), tz).astimezone(UTC)
    results: dict[str, dict] = {}
    bases: list[float] = []
    batch_totals: list[float] = []
    with app.app_context():
        from scrm.installation import initialise

        initialise()  # the shipped rules as they are now (the dataset may be older than an edit)
        db.session.remove()
        names = sorted(rules_of(snapshot()))
        if args.rules:
            names = [n for n in names if n in set(args.rules.split(","))]
        for round_no in range(args.rounds):
            db.session.remove()  # no transaction open while the round is reset (SQLite locks)
            clean(db, info["built_at"])
            bases.append(baseline(db))
            total = 0.0
            for name in names:
                dry = run_rule(name, now=now, dry_run=True)
                real = run_rule(name, now=now)
                if real.error or dry.error:
                    print(f"{name}: {real.error or dry.error}", file=sys.stderr)
                entry = results.setdefault(name, {"statement": [], "run": [], "matched": 0, "fired": 0})
                entry["statement"].append(dry.statement_ms)
                entry["run"].append(real.duration_ms)
                entry["matched"], entry["fired"] = real.matched, real.fired
                total += real.duration_ms
                print(f"  round {round_no + 1} {name:28} statement {dry.statement_ms:9.0f} ms  run {real.duration_ms:9.0f} ms"
                      f"  matched {real.matched:>9,}  fired {real.fired:>7,}", flush=True)  # fmt: skip
            batch_totals.append(total)
        base = statistics.median(bases)
        dialect = db.engine.dialect.name
    print()
    print(f"{args.customers:,} customers on {dialect}; baseline (one read of the customer table) {base:.0f} ms")
    print(f"{'rule':28} {'statement ms':>12} {'run ms':>10} {'× base':>8} {'matched':>10} {'fired':>8}")
    for name in names:
        r = results[name]
        statement, run_ms = statistics.median(r["statement"]), statistics.median(r["run"])
        print(f"{name:28} {statement:12.0f} {run_ms:10.0f} {run_ms / base:8.1f} {r['matched']:10,} {r['fired']:8,}")
    total_s = statistics.median(batch_totals) / 1000
    verdict = "meets" if total_s <= args.target else "MISSES"
    print(f"{'total':28} {sum(statistics.median(r['statement']) for r in results.values()):12.0f}"
          f" {total_s * 1000:10.0f} {total_s * 1000 / base:8.1f}   -> {total_s:.1f} s, {verdict} the {args.target:.0f} s budget")  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    out = args.json or RESULTS / f"alert_rules_{dialect}_{args.customers}.json"
    out.write_text(json.dumps({"customers": args.customers, "database": dialect, "baseline_ms": base,
                               "total_s": total_s, "rules": results, "measured_at": datetime.now(UTC).isoformat()},
                              indent=2))  # fmt: skip
    return 0 if total_s <= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
