"""Dashboard D1 (service quality) over many tickets and survey responses.

    python bench/dashboard_d1.py --tickets 1000000                      # PostgreSQL (the target)
    python bench/dashboard_d1.py --tickets 100000 --database sqlite     # SQLite

It creates ``scrm_bench_d1_<n>`` (or ``bench/data/d1_<n>.db``) once with the shipped definitions,
40 org units, 400 employees, 20,000 customers, ``--tickets`` tickets over the last 400 days and as
many survey responses, and keeps it. Then, as a branch manager (record scope: one branch of ten)
and as HQ (scope: all), it times:

* ``cold`` — every widget of D1 computed (plan, statement, labels, nothing cached), per widget
  and in total, the medians of ``--rounds``;
* ``cached`` — the same page loaded again: every widget from the result cache;
* ``baseline`` — hand-written SQL for two KPIs (CSAT, FCR) over the same rows, measured in the
  same run, so the generated statements compare with what a programmer would write.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale_data import _app, configure_environment  # noqa: E402

HERE = Path(__file__).resolve().parent
SERVER = "postgresql://postgres@127.0.0.1:5432"
CUSTOMERS = 20_000
BRANCHES = 10


def database_url(kind: str, tickets: int) -> str:
    if kind == "sqlite":
        (HERE / "data").mkdir(exist_ok=True)
        return f"sqlite:///{HERE / 'data' / f'd1_{tickets}.db'}"
    return f"{SERVER}/scrm_bench_d1_{tickets}"


def exists(url: str, tickets: int) -> bool:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT count(*) FROM crm_survey_response")).scalar() == tickets
    except sa.exc.SQLAlchemyError:
        return False
    finally:
        engine.dispose()


def create(url: str, tickets: int) -> None:
    if url.startswith("postgresql"):
        admin = sa.create_engine(
            f"{SERVER.replace('postgresql://', 'postgresql+psycopg://')}/postgres", isolation_level="AUTOCOMMIT"
        )
        name = url.rsplit("/", 1)[1]
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    else:
        Path(url[len("sqlite:///") :]).unlink(missing_ok=True)
    app = _app(url)
    with app.app_context():
        from scrm.db import db, write_intent
        from scrm.demo.bulk import BulkWriter
        from scrm.installation import initialise
        from scrm.runtime import snapshot
        from scrm.security.users import create_user

        initialise()
        snap = snapshot()
        now = datetime.now(UTC)
        rng = random.Random(9)

        def write(entity: str, fields: list[str], rows) -> None:
            with write_intent():
                writer = BulkWriter(snap.tables[entity], fields, now, snap)
                batch = []
                for row in rows:
                    batch.append(row)
                    if len(batch) == 50_000:
                        writer.write(batch)
                        db.session.commit()
                        batch = []
                if batch:
                    writer.write(batch)
                db.session.commit()

        units = [(1, "HQ", "总部", "hq", None)]
        units += [(2 + b, f"B{b:02d}", f"营业部{b:02d}", "branch", 1) for b in range(BRANCHES)]
        units += [(100 + t, f"T{t:02d}", f"团队{t:02d}", "team", 2 + t % BRANCHES) for t in range(29)]
        write("org_unit", ["code", "name", "unit_type", "parent"], units)
        teams = [u[0] for u in units if u[3] == "team"]
        staff = [(i, f"E{i:05d}", f"员工{i}", teams[i % len(teams)], "account_manager", "bm" if i == 1 else None)
                 for i in range(1, 401)]  # fmt: skip
        staff[0] = (1, "E00001", "分支经理", 2, "branch_manager", "bm")
        write("employee", ["employee_no", "name", "org_unit", "role", "login"], staff)
        branch_of = {u[0]: u[4] for u in units if u[3] == "team"}
        customers = []
        for i in range(1, CUSTOMERS + 1):
            manager = staff[rng.randrange(1, len(staff))]
            customers.append((i, f"{310000000000 + i}", f"客户{i}", manager[0], branch_of[manager[3]]))
        write("customer", ["customer_no", "name", "primary_manager", "servicing_org"], customers)
        org_of = {c[0]: c[4] for c in customers}

        def ticket_rows():
            for i in range(1, tickets + 1):
                customer = rng.randrange(1, CUSTOMERS + 1)
                created = now - timedelta(minutes=rng.randrange(0, 400 * 1440))
                resolved = created + timedelta(minutes=rng.randrange(5, 4000)) if rng.random() < 0.85 else None
                status = "resolved" if resolved else rng.choice(("new", "assigned", "in_progress", "pending_customer"))
                yield (
                    i, f"SR{created:%Y%m%d}{i:08d}", customer, "标题", rng.choice(("fees", "margin", "ipo", "other")),
                    rng.choice(("P1", "P2", "P3", "P3", "P4")), status, rng.randrange(2, 401), "call_center",
                    org_of[customer], rng.choice(("phone_inbound", "app_chat", "portal")), created,
                    resolved, resolved and rng.random() < 0.8, 1 if rng.random() < 0.04 else 0,
                    rng.randrange(1, 120), rng.randrange(30, 3000) if resolved else None, rng.random() < 0.1,
                    rng.random() < 0.12, rng.choice((None, 3, 4, 5, 5)),
                )  # fmt: skip

        write("service_ticket",
              ["ticket_no", "customer", "subject", "category", "priority", "status", "assignee", "queue", "org_unit",
               "source_channel", "first_responded_at", "resolved_at", "fcr", "reopened_count", "first_response_minutes",
               "resolution_minutes", "response_breached", "resolution_breached", "csat_score"],
              ticket_rows())  # fmt: skip

        with db.engine.begin() as conn:  # the writer stamps every row "now": tickets were opened over the period
            conn.execute(sa.text("UPDATE crm_service_ticket SET created_at = first_responded_at"))

        def response_rows():
            for i in range(1, tickets + 1):
                moment = now - timedelta(minutes=rng.randrange(0, 400 * 1440))
                yield (i, rng.randrange(1, CUSTOMERS + 1), i, moment, moment, rng.choice((None, 1, 2, 3, 4, 4, 5, 5, 5)),
                       rng.choice((None, 0, 3, 6, 7, 8, 9, 9, 10, 10)))  # fmt: skip

        write(
            "survey_response",
            ["customer", "ticket", "sent_at", "responded_at", "csat_score", "nps_score"],
            response_rows(),
        )
        with write_intent():
            create_user("bm", "Bench-pass-1234", ["branch_manager"], "分支经理")
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(sa.text("ANALYZE"))


def measure(url: str, rounds: int) -> None:
    app = _app(url)
    with app.test_request_context("/"):
        from flask_login import login_user

        from scrm.dashboards.service import CACHE, DashboardService
        from scrm.data.records import RecordService
        from scrm.db import db
        from scrm.runtime import snapshot
        from scrm.security.users import find_user

        snap = snapshot()
        print(f"database: {db.engine.dialect.name}, {url.rsplit('/', 1)[-1]}")
        for label, username in (("HQ (all)", "admin"), ("branch manager (1 of 10)", "bm")):
            user = find_user(username)
            login_user(user)
            svc = RecordService.for_user(snap, user)
            ds = DashboardService(svc)
            plan = ds.plan("service_quality")
            params = ds.params(plan, {"period": "12m"})
            per_widget: dict[str, list[float]] = {w: [] for w in plan.widgets}
            totals, cached = [], []
            for _ in range(rounds):
                CACHE.clear()
                start = time.perf_counter()
                for wid, widget in plan.widgets.items():
                    t = time.perf_counter()
                    ds.data(plan, widget, params)
                    per_widget[wid].append(time.perf_counter() - t)
                totals.append(time.perf_counter() - start)
                start = time.perf_counter()
                for widget in plan.widgets.values():
                    ds.data(plan, widget, params)
                cached.append(time.perf_counter() - start)
            print(f"\n{label}: {len(plan.widgets)} widgets, period last 12 months")
            for wid, samples in per_widget.items():
                print(f"  {wid:<20} {statistics.median(samples) * 1000:9.1f} ms")
            print(f"  {'all widgets (cold)':<20} {statistics.median(totals) * 1000:9.1f} ms")
            print(f"  {'all widgets (cached)':<20} {statistics.median(cached) * 1000:9.3f} ms")
        start = datetime.now(UTC) - timedelta(days=365)
        base = {
            "csat": sa.text("SELECT 100.0 * count(*) FILTER (WHERE csat_score >= 4) / NULLIF(count(csat_score), 0) "
                            "FROM crm_survey_response WHERE deleted_at IS NULL AND responded_at >= :s"),
            "fcr": sa.text("SELECT 100.0 * count(*) FILTER (WHERE fcr) / NULLIF(count(*), 0) FROM crm_service_ticket "
                           "WHERE deleted_at IS NULL AND status IN ('resolved', 'closed') AND resolved_at >= :s"),
        }  # fmt: skip
        if db.engine.dialect.name == "sqlite":
            base = {k: sa.text(str(v).replace("count(*) FILTER (WHERE csat_score >= 4)", "sum(csat_score >= 4)")
                                      .replace("count(*) FILTER (WHERE fcr)", "sum(fcr)")) for k, v in base.items()}  # fmt: skip
            start = start.replace(tzinfo=None).isoformat(" ", "microseconds")
        print("\nhand-written SQL (baseline, HQ scope)")
        for name, stmt in base.items():
            samples = []
            for _ in range(rounds):
                t = time.perf_counter()
                db.session.execute(stmt, {"s": start}).scalar()
                samples.append(time.perf_counter() - t)
            print(f"  {name:<20} {statistics.median(samples) * 1000:9.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    configure_environment()
    url = database_url(args.database, args.tickets)
    if not exists(url, args.tickets):
        started = time.perf_counter()
        create(url, args.tickets)
        print(f"dataset made in {time.perf_counter() - started:.0f} s")
    measure(url, args.rounds)


if __name__ == "__main__":
    main()
