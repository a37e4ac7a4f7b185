#!/usr/bin/env python3
"""Load: gunicorn with several workers on PostgreSQL under Locust running account managers' days.

    python bench/load.py --database postgresql://postgres@127.0.0.1:5432/scrm_bench_load
    python bench/load.py --database ... --customers 10000 --workers 1,2,4 --users 16 --seconds 60

The dataset is the demo generator's (made once, cached in the named database). The script makes
``--logins`` account-manager logins, each linked to one of the busiest account managers (so each
simulated user works their own book, with the scope rules of the shipped role), then for each
worker count starts ``gunicorn -w N`` on loopback, waits for ``/healthz``, runs Locust headless
with ``--users`` simulated account managers (bench/locustfile.py: lists, search, 360° pages,
records, tasks, the API, an edit form saved) for ``--seconds``, and stops the server.

Printed per worker count and request kind: requests, failures, requests/s, median, p95 and p99
(ms); and the throughput of every run as a ratio to the first (the baseline measured in the same
run: one worker). Exit status 1 when any request failed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from dataset import prepare_dataset  # noqa: E402

PASSWORD = "Load-test-1"


def make_logins(url: str, how_many: int) -> list[dict]:
    """Account-manager logins for the busiest managers without a login yet, with their books."""
    import sqlalchemy as sa

    from scrm.app import create_app
    from scrm.db import db
    from scrm.demo.users import link_login
    from scrm.runtime import snapshot
    from scrm.security.users import create_user, find_user, set_password

    app = create_app({"SCRM_DATABASE_URL": url})
    logins = []
    with app.app_context():
        snap = snapshot()
        customers, employees = snap.tables["customer"].main, snap.tables["employee"].main
        manager = customers.c[snap.entity("customer").field("primary_manager").column]
        login = employees.c[snap.entity("employee").field("login").column]
        busiest = db.session.execute(
            sa.select(manager, sa.func.count())
            .join(employees, employees.c.id == manager)
            .where(customers.c.deleted_at.is_(None), sa.or_(login.is_(None), login.like("load_am_%")))
            .group_by(manager)
            .order_by(sa.func.count().desc(), manager)
            .limit(how_many)
        ).all()
        for i, (employee, _size) in enumerate(busiest):
            username = f"load_am_{i}"
            user = find_user(username)
            if user is None:
                create_user(username, PASSWORD, ["account_manager"], display_name=username)
            else:
                set_password(user, PASSWORD)
            link_login(employee, username)
            book = db.session.execute(
                sa.select(customers.c.id)
                .where(manager == employee, customers.c.deleted_at.is_(None))
                .order_by(customers.c.id)
                .limit(1000)
            ).scalars()
            logins.append({"username": username, "password": PASSWORD, "customers": list(book)})
        db.session.commit()
    return logins


def wait_healthy(base: str, server: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with status {server.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit("the server did not become healthy within a minute")


def run_once(args, workers: int, users_file: Path, out: Path) -> list[dict]:
    port = args.port
    base = f"http://127.0.0.1:{port}"
    bindir = Path(sys.executable).parent
    env = dict(os.environ, SCRM_DATABASE_URL=args.database, SCRM_SCHEDULER="off")
    server = subprocess.Popen(
        [str(bindir / "gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{port}", "--no-control-socket",
         "--access-logfile", "-" if args.access_log else "/dev/null", "scrm.app:create_app()"],
        env=env, cwd=HERE.parent, stdout=subprocess.DEVNULL if not args.access_log else None,
    )  # fmt: skip
    try:
        wait_healthy(base, server)
        prefix = out / f"workers_{workers}"
        subprocess.run(
            [str(bindir / "locust"), "-f", str(HERE / "locustfile.py"), "--headless", "--only-summary",
             "-u", str(args.users), "-r", str(args.users), "-t", f"{args.seconds}s", "--host", base,
             "--csv", str(prefix), "--loglevel", "WARNING", "--stop-timeout", "10"],
            env=dict(env, SCRM_LOAD_USERS=str(users_file), SCRM_LOAD_THINK=str(args.think)),
            check=False, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    with open(f"{prefix}_stats.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", required=True, help="a PostgreSQL URL (the dataset is made there once)")
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--workers", default="1,4", help="gunicorn worker counts to run, the first is the baseline")
    parser.add_argument("--users", type=int, default=16, help="simulated account managers")
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--think", type=float, default=0, help="think time between requests, 0..N seconds")
    parser.add_argument("--logins", type=int, default=8)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--access-log", action="store_true")
    parser.add_argument("--fresh", action="store_true", help="drop and remake the dataset (a new checkout's key)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if not args.database.startswith("postgresql"):
        raise SystemExit("the load test runs on PostgreSQL (several workers); give --database postgresql://…")
    for tool in ("gunicorn", "locust"):
        if not (Path(sys.executable).parent / tool).exists():
            raise SystemExit(f"{tool} is missing: pip install -e '.[bench]'")

    prepare_dataset(args.database, args.customers, fresh=args.fresh)
    logins = make_logins(args.database, args.logins)
    out = Path(tempfile.mkdtemp(prefix="scrm-load-"))
    users_file = out / "logins.json"
    users_file.write_text(json.dumps(logins))
    print(f"{len(logins)} account-manager logins, books of {min(len(x['customers']) for x in logins)}–"
          f"{max(len(x['customers']) for x in logins)} customers; {args.users} simulated users, "
          f"{args.seconds} s per run, think time 0–{args.think} s", flush=True)  # fmt: skip

    results, failed = {}, 0
    for workers in [int(w) for w in args.workers.split(",")]:
        rows = run_once(args, workers, users_file, out)
        results[workers] = rows
        print(f"\ngunicorn -w {workers}")
        print(f"{'request':30} {'count':>7} {'fail':>5} {'req/s':>7} {'median':>7} {'p95':>6} {'p99':>6}")
        for r in rows:
            print(
                f"{r['Name'][:30]:30} {r['Request Count']:>7} {r['Failure Count']:>5} "
                f"{float(r['Requests/s']):7.1f} {r['50%']:>7} {r['95%']:>6} {r['99%']:>6}"
            )
        failed += int(next(r for r in rows if r["Name"] == "Aggregated")["Failure Count"])
    first = next(iter(results))
    base_rps = float(next(r for r in results[first] if r["Name"] == "Aggregated")["Requests/s"])
    print(f"\nthroughput vs -w {first} (same run):")
    for workers, rows in results.items():
        total = next(r for r in rows if r["Name"] == "Aggregated")
        print(
            f"  -w {workers}: {float(total['Requests/s']):7.1f} req/s  ratio {float(total['Requests/s']) / base_rps:5.2f}"
            f"  median {total['50%']} ms  p95 {total['95%']} ms  p99 {total['99%']} ms  failures {total['Failure Count']}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"customers": args.customers, "users": args.users, "runs": results}, indent=1))
    for path in sorted(out.glob("*_failures.csv")):
        if path.stat().st_size > 60:  # more than the header
            print(f"failures: {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
