#!/usr/bin/env python3
"""A condition with an aggregate over trades: the compiled statement vs hand-written SQL vs a
per-record Python loop, on the same data in one run.

    python bench/conditions.py --customers 200000 --trades 2000000          # SQLite (cached in bench/data/)
    python bench/conditions.py --customers 200000 --trades 2000000 --database postgresql://postgres@127.0.0.1/scrm_bench

The condition — "wealth, HNW or UHNW customers with at least three sells in the last 30 days
and no do-not-disturb flag" — is what an alert or a list filter would declare:

    {"all": [{"field": "asset_tier", "op": "in", "value": ["wealth", "hnw", "uhnw"]},
             {"expr": {"agg": "count", "rel": "trades", "where": {"field": "side", "op": "eq", "value": "sell"},
                       "window": {"field": "trade_time", "from": "now-30d", "to": "now"}}, "op": "gte", "value": 3},
             {"not": {"field": "marketing_dnd", "op": "eq", "value": true}}]}

Variants, each answering "which customer ids match":
* compiled (grouped): SCRM's SQL back-end, the aggregate as a derived table grouped by customer and
  joined once (what lists and batch alerts use);
* compiled (correlated): the same with a correlated subquery per customer (one-record mode);
* hand-written SQL, grouped and correlated: what a developer would write for this one question;
* Python loop: every customer record read and tested one at a time by the Python back-end, its
  aggregate delegated to SQL per record — how rule engines that evaluate record by record work.
All variants must return the same ids (checked). SQL variants run interleaved, ``--rounds`` times;
the loop runs once (it is slow). Printed: median ms and ratios.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from dataset import prepare_dataset  # noqa: E402

CONDITION = {
    "all": [
        {"field": "asset_tier", "op": "in", "value": ["wealth", "hnw", "uhnw"]},
        {
            "expr": {
                "agg": "count",
                "rel": "trades",
                "where": {"field": "side", "op": "eq", "value": "sell"},
                "window": {"field": "trade_time", "from": "now-30d", "to": "now"},
            },
            "op": "gte",
            "value": 3,
        },
        {"not": {"field": "marketing_dnd", "op": "eq", "value": True}},
    ]
}
HANDWRITTEN_CORRELATED = """
SELECT c.id FROM crm_customer c
WHERE c.deleted_at IS NULL AND c.asset_tier IN ('wealth', 'hnw', 'uhnw')
  AND (c.marketing_dnd IS NULL OR c.marketing_dnd = :false)
  AND (SELECT count(*) FROM crm_trade t
       WHERE t.customer_id = c.id AND t.side = 'sell' AND t.trade_time >= :start AND t.trade_time < :end
         AND t.deleted_at IS NULL) >= 3
"""
HANDWRITTEN = """
SELECT c.id FROM crm_customer c
JOIN (SELECT customer_id, count(*) AS n FROM crm_trade
      WHERE side = 'sell' AND trade_time >= :start AND trade_time < :end AND deleted_at IS NULL
      GROUP BY customer_id) t ON t.customer_id = c.id
WHERE c.deleted_at IS NULL AND c.asset_tier IN ('wealth', 'hnw', 'uhnw') AND t.n >= 3
  AND (c.marketing_dnd IS NULL OR c.marketing_dnd = :false)
"""


def top_up_to(trades: int):
    """Trades added in bulk until there are ``trades`` (runs in the application context)."""

    def top_up() -> None:
        import sqlalchemy as sa

        from scrm.db import db
        from scrm.runtime import snapshot

        have = db.session.execute(sa.select(sa.func.count()).select_from(snapshot().tables["trade"].main)).scalar_one()
        if have < trades:
            started = time.perf_counter()
            top_up_trades(trades - have)
            print(f"trades topped up to {trades} ({time.perf_counter() - started:.0f} s)", flush=True)

    return top_up


def top_up_trades(missing: int, seed: int = 7) -> None:
    """Insert trades in bulk (setup, not measured): a skewed share per customer over 180 days."""
    import sqlalchemy as sa

    from scrm.db import db, write_intent
    from scrm.runtime import snapshot

    snap = snapshot()
    trade, account, security = (snap.tables[n].main for n in ("trade", "account", "security"))

    def col(entity: str, field: str) -> str:
        return snap.entity(entity).field(field).column

    rng = random.Random(seed)
    with write_intent():
        accounts = db.session.execute(
            sa.select(account.c.id, account.c[col("account", "customer")]).where(
                account.c[col("account", "account_type")] == "normal"
            )
        ).all()
        securities = db.session.execute(sa.select(security.c.id)).scalars().all()
        start_no = db.session.execute(sa.select(sa.func.count()).select_from(trade)).scalar_one() + 1
        weights = [rng.paretovariate(1.5) for _ in accounts]  # a few very active customers, many quiet ones
        now = datetime.now(UTC)
        batch = 50_000
        for offset in range(0, missing, batch):
            rows = []
            for i, (account_id, customer_id) in enumerate(
                rng.choices(accounts, weights, k=min(batch, missing - offset))
            ):
                moment = now - timedelta(seconds=rng.randint(0, 180 * 86400))
                price = Decimal(rng.randint(300, 200_000)) / 100
                qty = Decimal(rng.randint(1, 50) * 100)
                values = {
                    "trade_no": f"B{start_no + offset + i:011d}",
                    "account": account_id,
                    "customer": customer_id,
                    "security": rng.choice(securities),
                    "trade_date": moment.date(),
                    "trade_time": moment,
                    "side": rng.choice(["buy", "buy", "sell", "sell", "margin_buy"]),
                    "quantity": qty,
                    "price": price,
                    "amount": (price * qty).quantize(Decimal("0.01")),
                    "channel": "app",
                }
                row = {col("trade", name): value for name, value in values.items()}
                rows.append({"version": 1, "created_at": now, "updated_at": now, **row})
            db.session.execute(sa.insert(trade), rows)
            db.session.commit()


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--trades", type=int, default=2_000_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--database", help="SQLAlchemy URL (default: a SQLite file in bench/data/)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    url = args.database or f"sqlite:///{HERE / 'data' / f'conditions_{args.customers}_{args.trades}.db'}"
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    prepare_dataset(url, args.customers, top_up_to(args.trades))

    import sqlalchemy as sa

    from scrm.app import create_app
    from scrm.conditions import compile_sql
    from scrm.conditions.sql import grouped_by_default
    from scrm.data.evaluation import environment, prepared
    from scrm.db import db, dialect_name, run
    from scrm.runtime import snapshot

    app = create_app({"SCRM_DATABASE_URL": url, "SECRET_KEY": "bench"})
    with app.app_context():
        snap = snapshot()
        customer = snap.entity("customer")
        main = snap.tables["customer"].main
        env = environment(snap)  # now captured once, for every variant
        check = prepared(snap, CONDITION, customer)
        counts = run(sa.select(sa.func.count()).select_from(snap.tables["trade"].main)).scalar_one()
        n_customers = run(sa.select(sa.func.count()).select_from(main)).scalar_one()

        def compiled(batch: bool):
            def query():
                where = compile_sql(check.node, customer, snap.tables, env, dialect_name(), batch=batch)
                stmt = where.apply(sa.select(main.c.id).where(main.c.deleted_at.is_(None)))
                return set(run(stmt).scalars())

            return query

        start = env.now - timedelta(days=30)
        params = {"start": start, "end": env.now, "false": False}
        if dialect_name() == "sqlite":  # stored as naive UTC text
            stamp = "%Y-%m-%d %H:%M:%S.%f"
            params.update(start=start.strftime(stamp), end=env.now.strftime(stamp))

        def handwritten(sql: str):
            statement = sa.text(sql).bindparams(**params)
            return lambda: set(run(statement).scalars())

        def loop():
            env_loop = environment(snap, now=env.now)
            stored = [main.c[f.column].label(f.name) for f in customer.active_fields if f.column in main.c]
            selected = set()
            for row in run(sa.select(main.c.id, *stored).where(main.c.deleted_at.is_(None))).mappings():
                record = dict(row)
                if check.predicate(record, env_loop):
                    selected.add(record["id"])
            return selected

        variants = {
            "compiled (grouped)": compiled(True),
            "compiled (correlated)": compiled(False),
            "hand-written (grouped)": handwritten(HANDWRITTEN),
            "hand-written (correlated)": handwritten(HANDWRITTEN_CORRELATED),
        }
        answers = {name: fn() for name, fn in variants.items()}  # warm-up, and the answers to compare
        times: dict[str, list[float]] = {name: [] for name in variants}
        for i in range(args.rounds):
            order = list(variants) if i % 2 == 0 else list(reversed(variants))
            for name in order:
                elapsed, _ = timed(variants[name])
                times[name].append(elapsed)
        loop_time, loop_answer = timed(loop)
        answers["Python loop"] = loop_answer
        expected = answers["hand-written (grouped)"]
        wrong = [name for name, ids in answers.items() if ids != expected]
        if wrong:
            raise SystemExit(f"variants disagree with the hand-written SQL: {wrong}")
        db.session.remove()

    medians = {name: statistics.median(values) for name, values in times.items()}
    best_hand = min(medians["hand-written (grouped)"], medians["hand-written (correlated)"])
    best_compiled = min(medians["compiled (grouped)"], medians["compiled (correlated)"])
    results = []
    print(f"\n{n_customers} customers, {counts} trades on {dialect_name_of(url)}; {len(expected)} customers match")
    print(f"{'variant':28} {'median ms':>10} {'vs best hand-written':>21}")
    for name, median in medians.items():
        results.append({"variant": name, "median_ms": median * 1000, "vs_best_handwritten": median / best_hand})
        print(f"{name:28} {median * 1000:10.1f} {median / best_hand:21.2f}")
    for strategy in ("grouped", "correlated"):
        ratio = medians[f"compiled ({strategy})"] / medians[f"hand-written ({strategy})"]
        print(f"compiled / hand-written, {strategy}: {ratio:.2f}")
    print(f"best compiled / best hand-written: {best_compiled / best_hand:.2f}")
    print(f"Python loop (1 run): {loop_time * 1000:.0f} ms = {loop_time / best_compiled:.0f}x the best compiled")
    results.append(
        {"variant": "Python loop", "median_ms": loop_time * 1000, "vs_best_compiled": loop_time / best_compiled}
    )
    default = "grouped" if grouped_by_default(dialect_name_of(url)) else "correlated"
    print(f"SCRM's default strategy on this database: {default}")
    print("\ntargets: compiled <= 1.3x hand-written; Python loop >= 50x compiled")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "customers": n_customers,
                    "trades": counts,
                    "matches": len(expected),
                    "backend": dialect_name_of(url),
                    "rounds": args.rounds,
                    "results": results,
                },
                indent=2,
            )
        )
    return 0


def dialect_name_of(url: str) -> str:
    return "postgresql" if url.startswith("postgresql") else "sqlite"


if __name__ == "__main__":
    sys.exit(main())
