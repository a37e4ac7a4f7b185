"""Daily asset snapshots, one row per account per trading day, written by the database itself.

Ninety trading days for a million accounts are ninety million rows: too many to build in
Python. The generator leaves one parameter row per account (today's market value and cash, the
account's beta to the market, up to two fund transfers) and a row per trading day (the market
index relative to the last day); one ``INSERT … SELECT`` per slice of accounts then derives
every day's figures with integer-cent arithmetic that both databases evaluate identically:

* market value follows the market through the account's beta, plus a deterministic wobble
  that fades to zero on the last day, so the curve ends exactly at today's positions;
* cash steps by the recorded transfers (a transfer on day *f* is in the balance from day *f*);
* daily P&L is the change in total assets less the day's net inflow (domain reference §4.10).
"""

from __future__ import annotations

import sqlalchemy as sa

from ..db import db
from .run import Run

PARAM_COLUMNS = ("account", "customer", "mv_c", "cash_c", "beta_milli", "vol", "f1_idx", "f1_c", "f2_idx", "f2_c",
                 "debt_c", "limit_c", "position_count", "tech_weight", "top1_weight")  # fmt: skip
SLICE = 50_000


def _tables(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table]:
    big, real = sa.BigInteger, sa.Float
    params = sa.Table(
        "demo_snapshot_params", metadata,
        sa.Column("account", big, primary_key=True, autoincrement=False), sa.Column("customer", big),
        sa.Column("mv_c", big), sa.Column("cash_c", big), sa.Column("beta_milli", big), sa.Column("vol", real),
        sa.Column("f1_idx", big), sa.Column("f1_c", big), sa.Column("f2_idx", big), sa.Column("f2_c", big),
        sa.Column("debt_c", big), sa.Column("limit_c", big), sa.Column("position_count", big),
        sa.Column("tech_weight", real), sa.Column("top1_weight", real),
    )  # fmt: skip
    days = sa.Table(
        "demo_snapshot_days", metadata,
        sa.Column("idx", big, primary_key=True, autoincrement=False), sa.Column("day", sa.Date),
        sa.Column("r", real), sa.Column("r_prev", real),
    )  # fmt: skip
    return params, days


class SnapshotWriter:
    def __init__(self, run: Run, index: list[float]):
        self.run = run
        self.metadata = sa.MetaData()
        self.params, self.days = _tables(self.metadata)
        self.metadata.drop_all(db.session.connection())
        self.metadata.create_all(db.session.connection())
        db.session.execute(
            sa.insert(self.days),
            [
                {"idx": i, "day": day, "r": index[i], "r_prev": index[i - 1] if i else index[0]}
                for i, day in enumerate(run.trading)
            ],
        )

    def add_params(self, rows: list[tuple]) -> None:
        if rows:
            db.session.execute(sa.insert(self.params), [dict(zip(PARAM_COLUMNS, r, strict=True)) for r in rows])

    def write(self) -> int:
        """Generate every snapshot; returns the number of rows."""
        run = self.run
        p = self.params
        bounds = db.session.execute(sa.select(sa.func.min(p.c.account), sa.func.max(p.c.account))).one()
        if bounds[0] is None:
            return 0
        target = run.tables("asset_snapshot").main
        select, columns = self._select(target)
        total = 0
        for low in range(bounds[0], bounds[1] + 1, SLICE):
            stmt = sa.insert(target).from_select(columns, select.where(p.c.account.between(low, low + SLICE - 1)))
            db.session.execute(stmt)
            total += db.session.execute(
                sa.select(sa.func.count()).select_from(p).where(p.c.account.between(low, low + SLICE - 1))
            ).scalar_one() * len(run.trading)  # every account has a row for every trading day
            run.commit()
            run.say(f"asset snapshots: {total:,} rows")
        return total

    def drop(self) -> None:
        self.metadata.drop_all(db.session.connection())

    # -- the SELECT ----------------------------------------------------------------------------------
    def _select(self, target: sa.Table):
        p, d = self.params, self.days
        dialect = db.engine.dialect.name
        last = len(self.run.trading) - 1

        def cents(x):
            return sa.cast(sa.func.round(x), sa.BigInteger)

        def money(c):  # integer cents -> what a money column stores
            return c if dialect == "sqlite" else sa.cast(c, sa.Numeric(20, 2)) / 100

        def ratio(x):  # a float -> what a decimal(9, 6) column stores
            if dialect == "sqlite":
                return sa.cast(sa.func.round(x * 1_000_000), sa.BigInteger)
            return sa.cast(x, sa.Numeric(9, 6))

        def mv(i, r):
            wobble = ((p.c.account * 7919 + i * 104729) % 2003) / 2003.0 - 0.5
            fade = (last - i) * 1.0 / max(last, 1)
            return cents(p.c.mv_c * (1.0 + p.c.beta_milli / 1000.0 * (r - 1.0) + p.c.vol * wobble * fade))

        def cash(i):
            return (
                p.c.cash_c - sa.case((i < p.c.f1_idx, p.c.f1_c), else_=0) - sa.case((i < p.c.f2_idx, p.c.f2_c), else_=0)
            )

        i = d.c.idx
        flow = sa.case((i == p.c.f1_idx, p.c.f1_c), else_=0) + sa.case((i == p.c.f2_idx, p.c.f2_c), else_=0)
        total = mv(i, d.c.r) + cash(i)
        previous = mv(i - 1, d.c.r_prev) + cash(i - 1)
        pnl = sa.case((i == 0, 0), else_=total - previous - flow)
        base = previous + sa.case((flow > 0, flow), else_=0)
        daily_return = sa.case((sa.and_(i > 0, base > 0), pnl * 1.0 / base), else_=0.0)
        credit = p.c.debt_c > 0
        values = {
            "version": sa.literal(1),
            "created_at": sa.literal(self.run.now, target.c.created_at.type),
            "updated_at": sa.literal(self.run.now, target.c.updated_at.type),
            "account": p.c.account,
            "customer": p.c.customer,
            "snapshot_date": d.c.day,
            "total_assets": money(total),
            "market_value": money(mv(i, d.c.r)),
            "cash_balance": money(cash(i)),
            "available_cash": money(cash(i) * 98 / 100),
            "withdrawable_cash": money(cash(i) * 95 / 100),
            "frozen_cash": money(cash(i) - cash(i) * 98 / 100),
            "otc_product_value": money(sa.literal(0)),
            "financing_debt": sa.case((credit, money(p.c.debt_c)), else_=None),
            "margin_credit_limit": sa.case((credit, money(p.c.limit_c)), else_=None),
            "credit_available": sa.case((credit, money(p.c.limit_c - p.c.debt_c)), else_=None),
            "maintenance_ratio": sa.case((credit, ratio(total * 1.0 / p.c.debt_c)), else_=None),
            "net_assets": money(total - p.c.debt_c),
            "cash_in": money(sa.case((flow > 0, flow), else_=0)),
            "cash_out": money(sa.case((flow < 0, -flow), else_=0)),
            "net_inflow": money(flow),
            "daily_pnl": money(pnl),
            "daily_return": ratio(daily_return),
            "tech_weight": ratio(p.c.tech_weight),
            "top1_weight": ratio(p.c.top1_weight),
            "position_count": p.c.position_count,
        }
        fields = self.run.tables("asset_snapshot").entity
        columns, exprs = [], []
        for name, expr in values.items():
            f = fields.field(name)
            column = f.column if f is not None else name
            if column in target.c:
                columns.append(column)
                exprs.append(expr)
        select = sa.select(*exprs).select_from(p).join(d, sa.true())
        return select, columns
