"""Believable demo data for the shipped securities CRM, deterministic and fast at any scale.

``load_demo(customers=N)`` builds a brokerage: an org tree with about sixty employees, the
securities master and ninety trading days of market history, the product shelf, knowledge base,
questionnaire, surveys, campaigns and market events; then N customers in batches, each with
accounts, permissions, holdings, trades, fund transfers, daily asset snapshots, assignments,
tags, consents, suitability assessments, recommendations and sales, interactions, tickets with
comments, complaints, tasks, return visits and survey responses. Rows go straight to the tables
through :class:`.bulk.BulkWriter` (``executemany`` on SQLite, ``COPY`` on PostgreSQL); snapshots
are derived in SQL. The same seed on the same day gives the same data.
"""

from __future__ import annotations

import time
from datetime import date

import sqlalchemy as sa

from ..db import db, write_intent
from ..runtime import snapshot
from . import content, market, org, relations, service, suitability
from .bulk import DeferredIndexes, analyze, reset_sequences
from .customers import CustomerGenerator, Writers
from .run import SNAPSHOT_DAYS, Run
from .snapshots import SnapshotWriter
from .users import DEMO_PASSWORD, demo_logins, ensure_demo_users

__all__ = ["DEMO_PASSWORD", "demo_logins", "ensure_demo_users", "load_demo"]

BATCH = 5_000
# the tables written customer by customer: loaded without secondary indexes, indexed at the end
BULK_ENTITIES = (
    "customer", "account", "account_permission", "position", "trade", "fund_transfer", "asset_snapshot",
    "customer_assignment", "customer_tag", "consent_record", "campaign_member", "suitability_assessment",
    "investor_classification_record", "product_recommendation", "product_sale", "return_visit", "interaction",
    "service_ticket", "ticket_comment", "complaint", "task", "survey_response", "feedback", "customer_loss",
)  # fmt: skip


def load_demo(
    customers: int = 300,
    seed: int = 20261121,
    today: date | None = None,
    days: int = SNAPSHOT_DAYS,
    progress: bool = False,
) -> list[str]:
    started = time.perf_counter()
    with write_intent():
        snap = snapshot()
        table = snap.tables["customer"].main
        if db.session.execute(sa.select(sa.func.count()).select_from(table)).scalar_one():
            ensure_demo_users(None)
            db.session.commit()
            return ["demo data already present; nothing added"]
        run = Run(snap, seed, today or date.today(), days=days, progress=progress)
        if db.engine.dialect.name == "sqlite":  # index builds sort in memory rather than in temp files
            db.session.execute(sa.text("PRAGMA cache_size=-262144"))
        staff = org.build(run)
        mkt = market.build(run)
        shelf = content.build(run, staff, mkt)
        run.commit()
        run.say("organisation, market, products and knowledge base loaded")
        deferred = DeferredIndexes(run.tables(name) for name in BULK_ENTITIES if name in run.snap.tables)
        deferred.drop()
        snapshots = SnapshotWriter(run, mkt.index)
        generator = CustomerGenerator(run, staff, mkt)
        writers = Writers(run)
        extras = [
            relations.RelationGenerator(run, staff, shelf),
            suitability.SuitabilityGenerator(run, staff, shelf),
            service.ServiceGenerator(run, staff, shelf, mkt),
        ]
        writers.before_write = [extras[1], extras[0], extras[2]]  # assessments, then tags, then contacts
        for start in range(0, customers, BATCH):
            size = min(BATCH, customers - start)
            first = run.allocate("customer", size)
            batch = writers.write_batch(generator, first, start, size)
            snapshots.add_params(generator.params.rows)
            generator.params.rows.clear()
            for extra in extras:
                extra.batch(batch)
            generator.profiles.clear()
            run.commit()
            run.say(f"customers: {start + size:,} of {customers:,}")
        run.add("asset_snapshot", snapshots.write())
        snapshots.drop()
        run.say("building indexes")
        deferred.build()
        writers.finish(snapshots)
        for extra in extras:
            extra.finish()
        reset_sequences(run.snap.tables.values())
        ensure_demo_users(staff)  # each login linked to an employee: the busiest account manager and up
        run.commit()
    analyze()
    if db.engine.dialect.name == "sqlite":
        db.session.execute(sa.text("PRAGMA cache_size=-2000"))  # back to SQLite's default
        db.session.commit()
    elapsed = time.perf_counter() - started
    rows = sum(run.counts.values())
    detail = ", ".join(f"{n:,} {entity}" for entity, n in run.counts.items())
    return [
        f"demo data: {customers:,} customers, {rows:,} rows in {elapsed:.1f} s ({rows / max(elapsed, 1e-9):,.0f} rows/s)",
        f"  {detail}",
    ]
