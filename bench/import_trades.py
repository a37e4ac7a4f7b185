#!/usr/bin/env python3
"""Trade import throughput: the ``trading_import`` plugin's format through SCRM's importer vs a
hand-written bulk load of the same file.

    python bench/import_trades.py --customers 2000 --trades 20000          # SQLite, dataset cached
    python bench/import_trades.py --customers 100000 --trades 1000000 \\
        --database postgresql://postgres@127.0.0.1/scrm_bench            # the 1M figure

The trades are written as the counter's export (成交编号, 资金账号, 证券代码, 成交日期 …) in files
of at most ``--file-rows`` rows (an import takes at most ``SCRM_IMPORT_MAX_ROWS``, 100,000 by
default), for the demo dataset's accounts and securities. SCRM imports each file as the system
does from the drop folder: header recognised, references resolved in batches, every row
validated, derived (its customer from its account), checked, inserted with its history and
hooks, in chunks of 200 with the job's progress. The baseline is what a developer would write
for this one file: ``csv.reader``, two dicts for the account and security ids, and
``executemany`` INSERTs of 1,000 rows, with no validation, history or hooks. Then every file is
imported again (nothing to change: the idempotent re-import). Printed: rows per second of each,
and the ratio to the baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from dataset import prepare_dataset  # noqa: E402

SHANGHAI = ZoneInfo("Asia/Shanghai")
HEADER = [
    "成交编号",
    "资金账号",
    "证券代码",
    "成交日期",
    "成交时间",
    "买卖方向",
    "成交数量",
    "成交价格",
    "成交金额",
    "佣金",
]


def write_files(folder: Path, prefix: str, accounts: list[str], symbols: list[str], total: int, per_file: int):
    """The trades as the counter exports them, ``per_file`` rows a file; the files' paths."""
    rng = random.Random(20261122)
    folder.mkdir(parents=True, exist_ok=True)
    paths, start = [], date(2026, 11, 20)
    for number, first in enumerate(range(0, total, per_file)):
        path = folder / f"trade_{prefix}_{number:03d}.csv"
        with path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(HEADER)
            for n in range(first, min(total, first + per_file)):
                day = start - timedelta(days=n % 20)
                quantity, price = rng.randrange(1, 50) * 100, Decimal(rng.randrange(300, 20000)) / 100
                amount = quantity * price
                writer.writerow([f"{prefix}{n:09d}", rng.choice(accounts), rng.choice(symbols), day.isoformat(),
                                 f"{day} 10:{n % 60:02d}:{n * 7 % 60:02d}", rng.choice(("买入", "卖出")), quantity,
                                 price, amount, (amount * Decimal("0.00025")).quantize(Decimal("0.01"))])  # fmt: skip
        paths.append(path)
    return paths


def bulk_load(snapshot, paths: list[Path]) -> int:
    """The baseline: the files straight into the trade table."""
    import sqlalchemy as sa

    from scrm.db import db

    def column(entity, name):
        return snapshot.tables[entity].main.c[snapshot.entity(entity).field(name).column]

    accounts = dict(db.session.execute(sa.select(column("account", "fund_account_no"), snapshot.tables["account"].main.c.id,
                                                 ).where(True)).all())  # fmt: skip
    customers = dict(
        db.session.execute(sa.select(snapshot.tables["account"].main.c.id, column("account", "customer"))).all()
    )
    securities = dict(
        db.session.execute(sa.select(column("security", "symbol"), snapshot.tables["security"].main.c.id)).all()
    )
    trade = snapshot.tables["trade"].main
    names = ["trade_no", "account", "security", "trade_date", "trade_time", "side", "quantity", "price", "amount",
             "commission"]  # fmt: skip
    cols = {n: snapshot.entity("trade").field(n).column for n in [*names, "customer"]}
    sides = {"买入": "buy", "卖出": "sell"}
    count, batch = 0, []
    now = datetime.now(UTC)
    for path in paths:
        with path.open(encoding="utf-8") as f:
            reader = csv.reader(f)
            next(reader)
            for row in reader:
                account = accounts[row[1]]
                batch.append({
                    cols["trade_no"]: "B" + row[0], cols["account"]: account, cols["customer"]: customers[account],
                    cols["security"]: securities[row[2]], cols["trade_date"]: date.fromisoformat(row[3]),
                    cols["trade_time"]: datetime.fromisoformat(row[4]).replace(tzinfo=SHANGHAI), cols["side"]: sides[row[5]],
                    cols["quantity"]: Decimal(row[6]), cols["price"]: Decimal(row[7]), cols["amount"]: Decimal(row[8]),
                    cols["commission"]: Decimal(row[9]), "version": 1, "created_at": now, "updated_at": now,
                })  # fmt: skip
                if len(batch) == 1000:
                    db.session.execute(sa.insert(trade), batch)
                    count, batch = count + len(batch), []
    if batch:
        db.session.execute(sa.insert(trade), batch)
        count += len(batch)
    db.session.commit()
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--trades", type=int, default=20_000)
    parser.add_argument("--file-rows", type=int, default=100_000)
    parser.add_argument("--database", help="SQLAlchemy URL (default: a SQLite file in bench/data/)")
    args = parser.parse_args()

    url = args.database or f"sqlite:///{HERE / 'data' / f'customers_{args.customers}.db'}"
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    prepare_dataset(url, args.customers)

    import sqlalchemy as sa

    from scrm.app import create_app
    from scrm.data.import_run import import_file
    from scrm.db import db, write_intent
    from scrm.runtime import snapshot

    app = create_app({"SCRM_DATABASE_URL": url, "SECRET_KEY": "bench"})
    with app.app_context():
        snap = snapshot()
        acc = snap.tables["account"].main.c[snap.entity("account").field("fund_account_no").column]
        sym = snap.tables["security"].main.c[snap.entity("security").field("symbol").column]
        accounts = list(db.session.execute(sa.select(acc).limit(50_000)).scalars())
        symbols = list(db.session.execute(sa.select(sym)).scalars())
    prefix = f"R{int(time.time()) % 100000:05d}"
    folder = HERE / "data" / "trades"
    paths = write_files(folder, prefix, accounts, symbols, args.trades, args.file_rows)

    started = time.perf_counter()
    with app.app_context():
        loaded = bulk_load(snapshot(), paths)
    bare = time.perf_counter() - started

    runs = {}
    for label in ("import", "re-import"):
        started, rows, outcome = time.perf_counter(), 0, []
        for path in paths:
            with app.app_context(), write_intent():
                job = import_file(app, "trade", path)
                rows += job.processed_rows
                outcome.append((job.status, job.created_rows, job.unchanged_rows, job.failed_rows))
        runs[label] = (time.perf_counter() - started, rows, outcome)
    for path in paths:
        path.unlink()

    backend = "postgresql" if url.startswith("postgresql") else "sqlite"
    print(f"\n{args.trades:,} trades in {len(paths)} file(s) of at most {args.file_rows:,} rows, "
          f"{len(accounts):,} accounts, {len(symbols):,} securities, on {backend}")  # fmt: skip
    print(f"{'hand-written bulk load':24} {bare:9.1f} s {loaded / bare:10,.0f} rows/s")
    for label, (seconds, rows, outcome) in runs.items():
        created = sum(o[1] for o in outcome)
        unchanged = sum(o[2] for o in outcome)
        failed = sum(o[3] for o in outcome)
        print(f"{'SCRM ' + label:24} {seconds:9.1f} s {rows / seconds:10,.0f} rows/s  "
              f"(created {created:,}, unchanged {unchanged:,}, failed {failed:,}; "
              f"{seconds / bare:.1f}x the bulk load's time)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
