"""A customer's asset figures from their accounts' daily snapshots (fields ``source: sync:asset_snapshot``).

For the latest snapshot day *D* of any of the customer's accounts: total and net assets are the
sums over the accounts' snapshots of *D*; the previous day's total is the sum on the latest
snapshot day before *D*; the month-start figure the sum on the last day before *D*'s month; the
12-month peak the highest daily sum of the year up to *D*. Written in the snapshot's own
transaction through the system's record service (checks, history and events of an update), and
only what changed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

from scrm.data.records import RecordService
from scrm.db import run
from scrm.security import audit

HISTORY = timedelta(days=400)  # enough for the 12-month peak and the month start


def daily_totals(
    svc: RecordService, customer_id: int, until: date | None = None
) -> list[tuple[date, Decimal, Decimal]]:
    """(day, total assets, net assets) summed over the customer's accounts, newest first."""
    entity = svc.entity("asset_snapshot")
    main = svc.tables(entity).main
    column = {n: main.c[entity.field(n).column] for n in ("customer", "snapshot_date", "total_assets", "net_assets")}
    day = column["snapshot_date"]
    stmt = (
        sa.select(day, sa.func.sum(column["total_assets"]), sa.func.sum(column["net_assets"]))
        .where(column["customer"] == customer_id, main.c.deleted_at.is_(None))
        .group_by(day)
        .order_by(day.desc())
    )
    newest = run(sa.select(sa.func.max(day)).where(column["customer"] == customer_id, main.c.deleted_at.is_(None)))
    latest = newest.scalar()
    if latest is None:
        return []
    if isinstance(latest, str):
        latest = date.fromisoformat(latest)
    stmt = stmt.where(day >= latest - HISTORY)
    return [
        (d if isinstance(d, date) else date.fromisoformat(d), Decimal(t or 0), Decimal(n or 0)) for d, t, n in run(stmt)
    ]


def figures(days: list[tuple[date, Decimal, Decimal]]) -> dict:
    """The customer's synced asset fields from their daily totals (newest first)."""
    if not days:
        return {}
    latest, total, net = days[0]
    month_start = latest.replace(day=1)
    year_ago = latest - timedelta(days=365)
    return {
        "assets_as_of": latest,
        "total_assets": total,
        "net_assets": net,
        "previous_total_assets": days[1][1] if len(days) > 1 else None,
        "assets_month_start": next((t for d, t, _n in days if d < month_start), None),
        "aum_peak_12m": max(t for d, t, _n in days if d > year_ago),
    }


def customer_of(snapshot, snapshot_id: int) -> int | None:
    """The customer of a stored asset snapshot."""
    main = snapshot.tables["asset_snapshot"].main
    column = main.c[snapshot.entity("asset_snapshot").field("customer").column]
    return run(sa.select(column).where(main.c.id == snapshot_id)).scalar()


def roll_up(snapshot, customer_id: int) -> set[str]:
    """Bring one customer's asset fields in line with their snapshots; the fields that changed."""
    svc = RecordService(snapshot, None, system=True)
    entity = svc.entity("customer")
    wanted = {k: v for k, v in figures(daily_totals(svc, customer_id)).items() if entity.field(k) is not None}
    if not wanted:
        return set()
    current = svc.load("customer", customer_id)
    values = {k: _money(v) for k, v in wanted.items() if _money(v) != _money(current.get(k))}
    if not values:
        return set()
    _merged, changed = svc.write_values(entity, current, values)
    return changed


def last_trades(snapshot, since: datetime) -> int:
    """Move customers' last trade date forward to their newest trade created since ``since`` (an
    import's start), in one statement; how many customers moved. (One import brings trades of
    many customers: record by record it would cost more than the import itself.)

    The trades created since then are those above the last id created before: found by walking
    the primary key down from its end, so the cost grows with the import, not with the table
    (a filter on the timestamps would read every trade ever imported). A trade the import only
    changed keeps its customer's date: trade dates are corrected, not moved into the future."""
    trade, customer = snapshot.entity("trade"), snapshot.entity("customer")
    t, c = snapshot.tables["trade"].main, snapshot.tables["customer"].main
    last = c.c[customer.field("last_trade_date").column]
    before = run(sa.select(t.c.id).where(t.c.created_at < since).order_by(t.c.id.desc()).limit(1)).scalar() or 0
    newest = (
        sa.select(t.c[trade.field("customer").column].label("customer"),
                  sa.func.max(t.c[trade.field("trade_date").column]).label("day"))
        .where(t.c.id > before, t.c.deleted_at.is_(None))
        .group_by(t.c[trade.field("customer").column])
        .subquery()
    )  # fmt: skip
    moved = run(
        sa.update(c)
        .where(c.c.id == newest.c.customer, sa.or_(last.is_(None), last < newest.c.day))
        .values({last: newest.c.day, "version": c.c.version + 1, "updated_at": datetime.now(UTC)})
    ).rowcount
    if moved:
        audit.append("update", audit.SYSTEM, entity="customer", fields=["last_trade_date"], row_count=moved,
                     reason="trading_import")  # fmt: skip
    return moved


def _money(value):
    return value.quantize(Decimal("0.01")) if isinstance(value, Decimal) else value
