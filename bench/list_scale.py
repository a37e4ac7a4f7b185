#!/usr/bin/env python3
"""The generated customer list page at 1,000,000 customers against the same page at 10,000.

    python bench/list_scale.py                     # SQLite files in bench/data/ (made once, then cached)
    python bench/list_scale.py --database postgresql://postgres@127.0.0.1:5432   # scrm_bench_10k / _1m
    python bench/list_scale.py --size-small 10000 --size-large 1000000 --rounds 100 --target 1.5
    python bench/list_scale.py --staff scaled      # employees multiplied too: every book keeps its size

The claim: keyset pagination and no COUNT keep the filtered, sorted list page flat as the table
grows, so the page at the large size stays within ``--target`` (1.5) times the page at the small
size. The small database is the demo generator's; the large one is the small one with its customers
multiplied in SQL (see ``scale_data.py``). Both apps run in this process and every round asks each
scenario of both, alternating which goes first, so machine noise hits both alike.

Scenarios, for the administrator (every customer) and the account-manager demo login (scope "own":
their customers only): a filter plus a sort (first page, the next page through the keyset cursor,
a deeper page after following the cursor several times, and a page from the middle of the filtered
list — as deep, relatively, at both sizes), the default list, and a quick search.

Printed: median and p95 per scenario and size, the rows each page shows, and the ratio large/small
of the medians. Before timing, one request per scenario and size runs with its SQL captured: a
``count(`` over the customer table fails the run (no COUNT is part of the claim; the header's
unread-notification badge counts the user's own notifications), and the main list statement's plan on the
large database is printed (EXPLAIN QUERY PLAN on SQLite; EXPLAIN ANALYZE on PostgreSQL).
Exit status 1 when a ratio exceeds the target or a COUNT was issued. A scenario more than three
times over the target after 10 rounds is no longer timed (it is reported with its round count).
Results also go to bench/results/ as JSON.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from scale_data import configure_environment, database_url, prepare_large, prepare_small, size_label  # noqa: E402

ROLES = (("admin", "demo"), ("account manager", "am_demo"))
NEXT = re.compile(r'<tr id="list-more-row">\s*<td[^>]*>\s*<a [^>]*href="([^"]+)"')
ROW = re.compile(r'<tr data-id="')
EARLY_STOP = 10  # rounds after which a scenario more than 3x over the target is no longer timed
MAIN_STATEMENT = re.compile(r"\bFROM crm_customer\b(?!_)", re.IGNORECASE)


@dataclass
class Scenario:
    role: str
    name: str
    paths: dict[str, str] = field(default_factory=dict)  # size label -> path
    rows: dict[str, int] = field(default_factory=dict)
    statements: dict[str, list[tuple[str, object]]] = field(default_factory=dict)
    times: dict[str, list[float]] = field(default_factory=dict)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


class Site:
    """One database's app, with a test client per role."""

    def __init__(self, label: str, url: str):
        from scrm.app import create_app
        from scrm.db import db
        from scrm.security.users import find_user

        self.label, self.url = label, url
        self.app = create_app({"SCRM_DATABASE_URL": url, "SECRET_KEY": "bench"})
        self.clients = {}
        with self.app.app_context():
            self.engine = db.engine
            for role, username in ROLES:
                user = find_user(username)
                if user is None:
                    raise SystemExit(f"{url}: no user {username!r} (the demo logins)")
                client = self.app.test_client()
                with client.session_transaction() as session:
                    session["_user_id"] = str(user.id)
                    session["_fresh"] = True
                self.clients[role] = client

    def get(self, role: str, path: str) -> str:
        response = self.clients[role].get(path)
        if response.status_code != 200:
            raise SystemExit(
                f"{self.label} {role} {path} answered {response.status_code}: {response.get_data(as_text=True)[:300]}"
            )
        return response.get_data(as_text=True)

    def time(self, role: str, path: str) -> float:
        client = self.clients[role]
        started = time.perf_counter()
        response = client.get(path)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise SystemExit(f"{self.label} {role} {path} answered {response.status_code}")
        return elapsed

    def capture(self, role: str, path: str) -> tuple[str, list[tuple[str, object]]]:
        from sqlalchemy import event

        seen: list[tuple[str, object]] = []

        def record(conn, cursor, statement, parameters, context, executemany):
            seen.append((statement, parameters))

        event.listen(self.engine, "before_cursor_execute", record)
        try:
            page = self.get(role, path)
        finally:
            event.remove(self.engine, "before_cursor_execute", record)
        return page, seen

    def explain(self, statement: str, parameters) -> list[str]:
        raw = self.engine.raw_connection()
        try:
            cursor = raw.cursor()
            if self.engine.dialect.name == "sqlite":
                cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
                rows = cursor.fetchall()
                depth = {0: -1}
                out = []
                for node, parent, _unused, detail in rows:
                    depth[node] = depth.get(parent, -1) + 1
                    out.append("  " * depth[node] + detail)
                return out
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
            return [r[0] for r in cursor.fetchall()]
        finally:
            raw.rollback()
            raw.close()


def follow(site: Site, role: str, path: str, pages: int) -> str | None:
    """The path of page ``pages + 1``: the first page's path with the cursor followed ``pages`` times."""
    for _ in range(pages):
        found = NEXT.search(site.get(role, path))
        if found is None:
            return None
        path = html.unescape(found.group(1))
    return path


def middle_cursor(site: Site, query: str) -> str:
    """The keyset cursor of the row halfway down the list ``query`` filters (equality filters
    ``f_<field>=<value>``, sorted by -total_assets), ignoring the user's scope: a page as deep in
    the large list as in the small one, relatively. Made with the platform's own cursor encoding."""
    import sqlalchemy as sa

    from scrm.data.query import encode_cursor, parse_sort
    from scrm.db import db
    from scrm.runtime import snapshot

    with site.app.app_context():
        snap = snapshot()
        tables = snap.tables["customer"]
        entity, t = tables.entity, tables.main
        keys = parse_sort("-total_assets", entity, tables, snap.field_types)
        where = [t.c.deleted_at.is_(None)]
        for key, value in parse_qsl(query):
            if key.startswith("f_"):
                where.append(t.c[entity.field(key[2:]).column] == value)
        total = db.session.execute(sa.select(sa.func.count()).select_from(t).where(*where)).scalar_one()
        total_assets = t.c[entity.field("total_assets").column]
        row = db.session.execute(
            sa.select(t.c.id, total_assets.label("total_assets"))
            .where(*where)
            .order_by(total_assets.desc().nulls_first(), t.c.id.desc())
            .offset(total // 2)
            .limit(1)
        ).one()
        db.session.remove()
        return encode_cursor(keys, {"id": row.id, "total_assets": row.total_assets})


def build_scenarios(sites: list[Site], args) -> list[Scenario]:
    out = []
    filters = {"admin": args.admin_filter, "account manager": args.am_filter}
    for role, _username in ROLES:
        first = f"/e/customer?{filters[role]}&sort=-total_assets"
        plans = [
            ("filter + sort, first page", lambda s, r, f=first: f),
            ("filter + sort, next page", lambda s, r, f=first: follow(s, r, f, 1)),
            (f"filter + sort, page {args.deep}", lambda s, r, f=first: follow(s, r, f, args.deep - 1)),
            (
                "filter + sort, middle of list",
                lambda s, r, f=first, q=filters[role]: f"{f}&after={middle_cursor(s, q)}",
            ),
            ("default list", lambda s, r: "/e/customer"),
            ("quick search", lambda s, r: f"/e/customer?q={args.search}"),
        ]
        for name, make in plans:
            scenario = Scenario(role, name)
            for site in sites:
                path = make(site, role)
                if path is None:
                    raise SystemExit(f"{site.label}: {role} has no page for {name!r}; choose another filter")
                scenario.paths[site.label] = path
            out.append(scenario)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-small", type=int, default=10_000)
    parser.add_argument("--size-large", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--target", type=float, default=1.5, help="largest allowed ratio of medians (default 1.5)")
    parser.add_argument(
        "--database", help="PostgreSQL server URL (databases scrm_bench_<size> are made there); default SQLite"
    )
    parser.add_argument("--admin-filter", default="f_asset_tier=wealth", help="the administrator's filter")
    parser.add_argument(
        "--am-filter", default="f_asset_tier=mass", help="the account manager's filter (their book is small at 10k)"
    )
    parser.add_argument("--search", default="王", help="the quick-search text")
    parser.add_argument("--deep", type=int, default=4, help="the deeper page's number")
    parser.add_argument(
        "--staff",
        choices=("fixed", "scaled"),
        default="fixed",
        help="fixed: the large database keeps the base's ~70 employees (each book grows with the size, as from "
        "the demo generator); scaled: employees are copied with the customers (each book keeps its size)",
    )
    parser.add_argument("--show-sql", action="store_true", help="print every statement of the captured requests")
    parser.add_argument("--prepare-only", action="store_true", help="make (or find) the databases, measure nothing")
    parser.add_argument("--json", type=Path, help="where to write the results (default bench/results/)")
    args = parser.parse_args()

    configure_environment()
    small_label, large_label = size_label(args.size_small), size_label(args.size_large)
    small_url = database_url(args.database, args.size_small)
    large_url = database_url(args.database, args.size_large, "_staff" if args.staff == "scaled" else "")
    small_info = prepare_small(small_url, args.size_small)
    large_info = prepare_large(small_url, large_url, args.size_small, args.size_large, small_info, args.staff)
    backend = "postgresql" if args.database else "sqlite"
    if args.prepare_only:
        return 0

    sites = [Site(small_label, small_url), Site(large_label, large_url)]
    scenarios = build_scenarios(sites, args)

    # one request per scenario and size with its SQL: no COUNT, and the plan of the list statement
    failures = []
    plans: dict[str, list[str]] = {}
    print(f"\nSQL of one request per scenario ({backend}):")
    for sc in scenarios:
        counts = []
        for site in sites:
            page, statements = site.capture(sc.role, sc.paths[site.label])
            sc.rows[site.label] = len(ROW.findall(page))
            sc.statements[site.label] = statements
            # a COUNT over the listed table (the header's unread-notification badge counts the
            # user's own notifications, whatever the table's size: not part of the claim)
            counted = [s for s, _p in statements if "count(" in s.lower() and "crm_customer" in s]
            if counted:
                failures.append(f"{site.label} {sc.role} / {sc.name}: COUNT issued: {counted[0][:200]}")
            counts.append(f"{site.label}: {len(statements)} statements{' WITH COUNT' if counted else ''}")
        print(f"  {sc.role:16} {sc.name:30} {'; '.join(counts)}")
    large = sites[1]
    for sc in scenarios:
        main_list = [(s, p) for s, p in sc.statements[large.label] if MAIN_STATEMENT.search(s) and "LIMIT" in s.upper()]
        if not main_list:
            failures.append(f"{sc.role} / {sc.name}: no list statement found")
            continue
        statement, parameters = main_list[0]
        key = f"{sc.role} / {sc.name}"
        plans[key] = large.explain(statement, parameters)
        if sc is scenarios[0] or args.show_sql:
            print(f"\nmain list statement ({key}, {large.label}):\n{statement}\nparameters: {parameters}")
        if args.show_sql:
            print(f"\nevery statement of that request ({large.label}):")
            for n, (other, _p) in enumerate(sc.statements[large.label], 1):
                print(f"  {n:2}. {' '.join(other.split())[:300]}")
        print(f"\nplan at {large.label}, {key}:")
        for line in plans[key]:
            print(f"  {line}")

    for sc in scenarios:
        for site in sites:
            sc.times[site.label] = []
    for _ in range(args.warmup):
        for sc in scenarios:
            for site in sites:
                site.time(sc.role, sc.paths[site.label])
    started = time.perf_counter()
    stopped: set[int] = set()
    for i in range(args.rounds):
        order = sites if i % 2 == 0 else sites[::-1]
        for n, sc in enumerate(scenarios):
            if n in stopped:
                continue
            for site in order:
                sc.times[site.label].append(site.time(sc.role, sc.paths[site.label]))
            # a scenario far over the target after EARLY_STOP rounds has said what it has to say
            small_t, large_t = sc.times[sites[0].label], sc.times[sites[1].label]
            if len(small_t) >= EARLY_STOP and statistics.median(large_t) > 3 * args.target * statistics.median(small_t):
                stopped.add(n)
    measured = time.perf_counter() - started

    print(
        f"\n{backend}: {args.size_small:,} vs {args.size_large:,} customers ({args.staff} staff"
        f"), {args.rounds} rounds "
        f"({measured:.0f} s); target ratio <= {args.target}"
    )
    head = f"{'role':16} {'scenario':30} {'rows':>7} {small_label + ' ms':>17} {large_label + ' ms':>17} {'ratio':>6}"
    print(head)
    print(f"{'':16} {'':30} {'':>7} {'median':>8} {'p95':>8} {'median':>8} {'p95':>8}")
    results = []
    for sc in scenarios:
        s, lg = sc.times[small_label], sc.times[large_label]
        ratio = statistics.median(lg) / statistics.median(s)
        row = {
            "role": sc.role,
            "scenario": sc.name,
            "paths": sc.paths,
            "rows": sc.rows,
            "statements": {k: len(v) for k, v in sc.statements.items()},
            f"{small_label}_median_ms": statistics.median(s) * 1000,
            f"{small_label}_p95_ms": p95(s) * 1000,
            f"{large_label}_median_ms": statistics.median(lg) * 1000,
            f"{large_label}_p95_ms": p95(lg) * 1000,
            "ratio": ratio,
        }
        results.append(row)
        flag = "" if ratio <= args.target else "  MISSED"
        if len(s) < args.rounds:
            flag += f" (timed {len(s)} rounds)"
        row["rounds"] = len(s)
        rows = f"{sc.rows[small_label]}/{sc.rows[large_label]}"
        print(
            f"{sc.role:16} {sc.name:30} {rows:>7} {row[f'{small_label}_median_ms']:8.2f} "
            f"{row[f'{small_label}_p95_ms']:8.2f} {row[f'{large_label}_median_ms']:8.2f} "
            f"{row[f'{large_label}_p95_ms']:8.2f} {ratio:6.2f}{flag}",
            flush=True,
        )
        if ratio > args.target:
            failures.append(f"{sc.role} / {sc.name}: ratio {ratio:.3f} > {args.target}")
    print(
        f"\ndatasets: {small_label} generated in {small_info['seconds']} s; {large_label} multiplied from it in "
        f"{large_info['seconds']} s ({large_info.get('steps', '')})"
    )

    staff = "_staff" if args.staff == "scaled" else ""
    target = args.json or HERE / "results" / f"list_scale_{backend}_{large_label}{staff}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        json.dumps(
            {
                "backend": backend,
                "sizes": [args.size_small, args.size_large],
                "staff": args.staff,
                "rounds": args.rounds,
                "target": args.target,
                "datasets": {small_label: small_info, large_label: large_info},
                "results": results,
                "plans": plans,
                "failures": failures,
            },
            indent=2,
            ensure_ascii=False,
        )
    )
    if failures:
        print("\nFAILED:\n  " + "\n  ".join(failures))
        return 1
    print(f"\nevery ratio within {args.target}; no COUNT")
    return 0


if __name__ == "__main__":
    sys.exit(main())
