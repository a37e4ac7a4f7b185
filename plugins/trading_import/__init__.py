"""Trading-system import (交易系统数据导入): trades, positions and daily asset snapshots from the
counter's end-of-day export files, CSV or Excel.

* **Formats** (:mod:`.formats`): three importers the import page recognises by the header
  (``scrm import --format trading_asset_snapshot`` names one). Rows are matched on the natural
  key, so importing a file again updates and never duplicates; bad rows are rejected with a
  report while the good ones are saved in chunks.
* **Drop folder**: with ``SCRM_TRADING_IMPORT_DIR`` set, the scheduler imports the files the
  trading system leaves there (``asset_snapshot_20261121.csv``, ``position_…``, ``trade_…``)
  every ten minutes, then moves each to ``done/`` or ``failed/``.
* **Derived**: a snapshot, position or trade gets its customer from its account.
* **Roll-up** (:mod:`.rollup`): each snapshot written brings its customer's total and net
  assets, previous day's total, month-start and 12-month peak in line; each trade import moves
  its customers' last trade date forward (in one statement, when it ends). The rules listening to ``import.asset_snapshot.completed``
  (the HNW asset drop, the large loss care call, the tier tags) then run on fresh figures.
"""

from __future__ import annotations

from scrm.plugins import hookimpl

from .formats import importers
from .rollup import customer_of, last_trades, roll_up

__version__ = "1.0.0"
SCRM_REQUIRES = ">=0.1,<2"

FROM_ACCOUNT = frozenset({"asset_snapshot", "position", "trade"})
ROLLED_UP = frozenset({"customer", "snapshot_date", "total_assets", "net_assets", "deleted_at"})


@hookimpl
def scrm_importers(config):
    return importers()


@hookimpl
def scrm_derive_record(entity, record, lookup):
    if entity.name in FROM_ACCOUNT and record.get("account") and not record.get("customer"):
        account = lookup("account", record["account"])
        if account is not None:
            record["customer"] = account.get("customer")


@hookimpl
def scrm_record_written(snapshot, entity, record_id, created, changed, old):
    if entity.name == "asset_snapshot" and (created or ROLLED_UP & set(changed)):
        customers = {customer_of(snapshot, record_id)}
        if old is not None and old.get("customer"):
            customers.add(old["customer"])  # (a snapshot moved to another customer leaves the first)
        for customer_id in customers - {None}:
            roll_up(snapshot, customer_id)


@hookimpl
def scrm_import_finished(snapshot, entity, job_id, status):
    if entity == "trade" and status == "done":
        from datetime import datetime

        from scrm.data.importing import ImportJob
        from scrm.db import db

        started = db.session.get(ImportJob, job_id).started_at
        last_trades(snapshot, datetime.fromisoformat(started.replace("Z", "+00:00")))
