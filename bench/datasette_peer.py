#!/usr/bin/env python3
"""SCRM's generated customer list vs Datasette's table page over the same SQLite table.

    python bench/datasette_peer.py --customers 100000 --rounds 200

Datasette (from PyPI, ``pip install -e '.[bench]'``) is the peer that, like SCRM, generates its
pages from metadata: it serves the very database file SCRM uses, ``crm_customer``, with the same
filter, sort, page size and columns — customer no., name, asset tier, risk level, total assets,
account manager (the foreign key shown by the employee's name, Datasette's ``label_column``),
lifecycle stage — and hides deleted rows as SCRM does. SCRM's page also shows each customer's
tags and the filter bar; Datasette's shows its own filter form and column actions.

Datasette counts the matching rows on every table page (``count(*)``, up to its 1 s limit) and
tries its facet suggestions (50 ms each); SCRM never counts (keyset paging). Both variants are
measured: Datasette as it ships, and with ``_nocount=1&_nofacet=1`` (the closest to SCRM's
work). Each page is fetched through the framework's own in-process client (Flask's test client;
Datasette's ``ds.client``, httpx over ASGI), interleaved round by round. Printed: median and p95
per variant and scenario, and the ratio SCRM / Datasette (below 1: SCRM is faster).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from dataset import prepare_dataset  # noqa: E402
from list_page import measure, p95  # noqa: E402

COLUMNS = ["customer_no", "name", "asset_tier", "risk_level", "total_assets", "primary_manager", "lifecycle_stage"]


def scenarios(column: dict[str, str]) -> list[tuple[str, str, str]]:
    """(name, SCRM query, Datasette query) — ``{cursor}`` / ``{next}`` filled from page one."""
    shown = "&".join(f"_col={column[c]}" for c in COLUMNS)
    base = f"_size=50&{shown}&deleted_at__isnull=1&_sort_desc={column['total_assets']}"
    wealth = f"{column['asset_tier']}__exact=wealth"
    return [
        ("filter + sort, first page", "?f_asset_tier=wealth&sort=-total_assets", f"{base}&{wealth}"),
        ("filter + sort, next page", "?f_asset_tier=wealth&sort=-total_assets&after={cursor}",
         f"{base}&{wealth}&_next={{next}}"),
        ("default list (all customers)", "?sort=-total_assets", base),
        ("name contains 王", "?q=王&sort=-total_assets", f"{base}&{column['name']}__contains={quote('王')}"),
    ]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    try:
        from datasette.app import Datasette
    except ImportError:
        raise SystemExit("Datasette is not installed: pip install -e '.[bench]'") from None

    path = HERE / "data" / f"customers_{args.customers}.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    prepare_dataset(f"sqlite:///{path}", args.customers)

    import re

    from scrm.app import create_app
    from scrm.runtime import snapshot
    from scrm.security.users import find_user

    app = create_app({"SCRM_DATABASE_URL": f"sqlite:///{path}", "SECRET_KEY": "bench"})
    client = app.test_client()
    with app.app_context():
        demo_id = find_user("demo").id
        customer, employee = snapshot().entity("customer"), snapshot().entity("employee")
        column = {c: customer.field(c).column for c in COLUMNS}
        manager_name = employee.field("name").column
    with client.session_transaction() as session:
        session["_user_id"] = str(demo_id)
        session["_fresh"] = True

    loop = asyncio.new_event_loop()
    metadata = {"databases": {path.stem: {"tables": {"crm_employee": {"label_column": manager_name}}}}}
    # Datasette stops a statement after 1 s by default and answers 400 ("SQL Interrupted"): its
    # count over 100,000 rows gets there on a busy machine. The comparison lets it finish.
    ds = Datasette([str(path)], metadata=metadata, settings={"num_sql_threads": 1, "sql_time_limit_ms": 120_000})
    loop.run_until_complete(ds.invoke_startup())

    def peer(query: str) -> float:
        started = time.perf_counter()
        response = loop.run_until_complete(ds.client.get(f"/{path.stem}/crm_customer?{query}"))
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise SystemExit(f"Datasette answered {response.status_code} to {query}: {response.text[:300]}")
        return elapsed

    plan = scenarios(column)
    first = client.get("/e/customer" + plan[0][1]).get_data(as_text=True)
    cursor = re.search(r"after=([\w-]+)", first).group(1)
    page = loop.run_until_complete(
        ds.client.get(f"/{path.stem}/crm_customer.json?{plan[0][2]}&_shape=objects&_labels=on")
    ).json()
    next_token = page["next"]
    assert len(page["rows"]) == 50 and page["rows"][0][column["primary_manager"]]["label"], "labels expanded"

    print(f"\n{'scenario':32} {'SCRM ms':>17} {'Datasette ms':>17} {'ratio':>6} "
          f"{'Datasette, no count/facets':>27} {'ratio':>6}")  # fmt: skip
    print(f"{'':32} {'median':>8} {'p95':>8} {'median':>8} {'p95':>8} {'':>6} {'median':>13} {'p95':>13}")
    for name, ours, theirs in plan:
        ours_path = "/e/customer" + ours.format(cursor=cursor)
        theirs = theirs.format(next=next_token)
        lean = theirs + "&_nocount=1&_nofacet=1"
        for _ in range(10):  # warm caches (definitions, templates, SQLite pages)
            measure(client, ours_path)
            peer(theirs)
            peer(lean)
        times = {"scrm": [], "datasette": [], "lean": []}
        order = [("scrm", ours_path), ("datasette", theirs), ("lean", lean)]
        for i in range(args.rounds):
            for key, target in order[i % 3 :] + order[: i % 3]:
                times[key].append(measure(client, target) if key == "scrm" else peer(target))
        med = {k: statistics.median(v) * 1000 for k, v in times.items()}
        tail = {k: p95(v) * 1000 for k, v in times.items()}
        print(f"{name:32} {med['scrm']:8.2f} {tail['scrm']:8.2f} {med['datasette']:8.2f} {tail['datasette']:8.2f} "
              f"{med['scrm'] / med['datasette']:6.2f} {med['lean']:13.2f} {tail['lean']:13.2f} "
              f"{med['scrm'] / med['lean']:6.2f}", flush=True)  # fmt: skip
    import datasette

    print(f"\n{args.customers:,} customers on SQLite, {args.rounds} rounds per scenario; Datasette "
          f"{datasette.__version__}; target: SCRM faster than Datasette (ratio < 1)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
