#!/usr/bin/env python3
"""Generated customer list page vs a hand-written Flask + SQLAlchemy view running the same query.

    python bench/list_page.py --customers 100000            # SQLite (default), dataset cached in bench/data/
    python bench/list_page.py --customers 100000 --database postgresql://postgres@127.0.0.1/scrm_bench

Both views answer the same request in the same process, interleaved round by round, so machine
noise hits both alike: log in (session → user row), filter by asset tier, sort by total assets
(descending), 50 rows with the manager's name, the branch and the tags, rendered as a Bootstrap
table. The hand-written one is what a developer would write for this one page; the generated one
is SCRM's metadata-driven list (definitions registry, record service, field types, templates).
Printed: median and p95 per variant and scenario, and the ratio generated / hand-written.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from dataset import prepare_dataset  # noqa: E402
from handwritten import create_handwritten_app  # noqa: E402

SCENARIOS = [
    ("filter + sort, first page", "?f_asset_tier=wealth&sort=-total_assets", "asset_tier=wealth"),
    (
        "filter + sort, next page",
        "?f_asset_tier=wealth&sort=-total_assets&after={cursor}",
        "asset_tier=wealth&after={after}",
    ),
    ("default list (all customers)", "?sort=-total_assets", ""),
    ("quick search", "?q=王&sort=-total_assets", "q=王"),
]


def measure(client, path: str) -> float:
    started = time.perf_counter()
    response = client.get(path)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"{path} answered {response.status_code}: {response.get_data(as_text=True)[:300]}")
    return elapsed


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--database", help="SQLAlchemy URL (default: a SQLite file in bench/data/)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    url = args.database or f"sqlite:///{HERE / 'data' / f'customers_{args.customers}.db'}"
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    prepare_dataset(url, args.customers)

    from scrm.app import create_app
    from scrm.security.users import find_user

    generated = create_app({"SCRM_DATABASE_URL": url, "SECRET_KEY": "bench"})
    gen_client = generated.test_client()
    with generated.app_context():
        demo_id = find_user("demo").id
    with gen_client.session_transaction() as session:
        session["_user_id"] = str(demo_id)
        session["_fresh"] = True
    hand = create_handwritten_app(generated.config["SQLALCHEMY_DATABASE_URI"])
    hand_client = hand.test_client()
    with hand_client.session_transaction() as session:
        session["user_id"] = demo_id

    # cursors for the "next page" scenario, taken from each implementation's own first page
    import re

    first = gen_client.get("/e/customer" + SCENARIOS[0][1]).get_data(as_text=True)
    cursor = re.search(r"after=([\w-]+)", first).group(1)
    after = hand_client.get("/customers?asset_tier=wealth").headers["X-Next"]

    results = []
    print(f"\n{'scenario':34} {'generated ms':>20} {'hand-written ms':>20} {'ratio':>7}")
    print(f"{'':34} {'median':>9} {'p95':>10} {'median':>9} {'p95':>10} {'(median)':>8}")
    for name, gen_query, hand_query in SCENARIOS:
        gen_path = "/e/customer" + gen_query.format(cursor=cursor)
        hand_path = "/customers?" + hand_query.format(after=after)
        for _ in range(10):  # warm caches (definitions, templates, SQLite pages)
            measure(gen_client, gen_path)
            measure(hand_client, hand_path)
        gen_times, hand_times = [], []
        for i in range(args.rounds):
            if i % 2:
                gen_times.append(measure(gen_client, gen_path))
                hand_times.append(measure(hand_client, hand_path))
            else:
                hand_times.append(measure(hand_client, hand_path))
                gen_times.append(measure(gen_client, gen_path))
        g_med, h_med = statistics.median(gen_times), statistics.median(hand_times)
        row = {
            "scenario": name,
            "generated_median_ms": g_med * 1000,
            "generated_p95_ms": p95(gen_times) * 1000,
            "handwritten_median_ms": h_med * 1000,
            "handwritten_p95_ms": p95(hand_times) * 1000,
            "ratio": g_med / h_med,
        }
        results.append(row)
        print(
            f"{name:34} {row['generated_median_ms']:9.2f} {row['generated_p95_ms']:10.2f} "
            f"{row['handwritten_median_ms']:9.2f} {row['handwritten_p95_ms']:10.2f} {row['ratio']:8.2f}",
            flush=True,
        )
    backend = "postgresql" if url.startswith("postgresql") else "sqlite"
    print(f"\n{args.customers} customers on {backend}, {args.rounds} rounds per scenario; target ratio <= 1.3")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {"customers": args.customers, "backend": backend, "rounds": args.rounds, "results": results}, indent=2
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
