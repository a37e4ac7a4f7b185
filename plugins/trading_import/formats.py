"""The trading system's end-of-day export files, as importers: which header goes to which field.

The names are those of the counter's (柜台) clearing export; English names are accepted too.
Accounts are given by their fund account number (资金账号), securities by their symbol
(``600519.SH``) or name. A row is matched to a stored record by the entity's natural key, so a
file imported twice updates, never duplicates: a snapshot by account + date, a position by
account + date + security, a trade by its trade number.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from scrm.data.importers import Importer

SCHEDULE = "*/10 * * * *"  # the drop folder is looked at every ten minutes
ACCOUNT = ("资金账号", "资金账户", "fund account", "account no")

SNAPSHOT_COLUMNS = {
    "account": ACCOUNT,
    "snapshot_date": ("日期", "交易日期", "清算日期", "date", "trade date"),
    "total_assets": ("总资产", "资产总值", "total assets"),
    "market_value": ("证券市值", "持仓市值", "market value"),
    "cash_balance": ("资金余额", "cash balance"),
    "available_cash": ("可用资金", "可用余额", "available cash"),
    "withdrawable_cash": ("可取资金", "可取余额", "withdrawable cash"),
    "frozen_cash": ("冻结资金", "冻结金额", "frozen cash"),
    "otc_product_value": ("理财市值", "场外产品市值", "otc value"),
    "financing_debt": ("融资负债", "financing debt"),
    "short_debt_mv": ("融券负债", "融券负债市值", "short debt"),
    "accrued_interest": ("应计利息", "accrued interest"),
    "margin_credit_limit": ("授信额度", "credit limit"),
    "credit_available": ("可用额度", "available credit"),
    "maintenance_ratio": ("维持担保比例", "maintenance ratio"),
    "cash_in": ("银证转入", "cash in"),
    "cash_out": ("银证转出", "cash out"),
    "securities_in_mv": ("转托管转入市值", "证券转入市值", "securities in"),
    "securities_out_mv": ("转托管转出市值", "证券转出市值", "securities out"),
    "daily_pnl": ("当日盈亏", "daily pnl"),
    "daily_return": ("当日收益率", "daily return"),
    "position_count": ("持仓只数", "持仓数", "positions"),
}
POSITION_COLUMNS = {
    "account": ACCOUNT,
    "as_of_date": ("日期", "持仓日期", "交易日期", "date"),
    "security": ("证券代码", "证券", "symbol", "security"),
    "quantity": ("持仓数量", "股份余额", "当前数量", "quantity"),
    "available_quantity": ("可用数量", "可卖数量", "available quantity"),
    "cost_price": ("成本价", "持仓成本价", "cost price"),
    "last_price": ("最新价", "收盘价", "last price"),
    "market_value": ("市值", "证券市值", "market value"),
    "unrealized_pnl": ("浮动盈亏", "持仓盈亏", "unrealized pnl"),
    "weight_in_portfolio": ("持仓占比", "仓位占比", "weight"),
    "first_buy_date": ("首次买入日期", "建仓日期", "first buy date"),
    "is_margin_collateral": ("担保品", "是否担保品", "collateral"),
}
TRADE_COLUMNS = {
    "trade_no": ("成交编号", "成交号", "trade no"),
    "order_no": ("委托编号", "合同序号", "order no"),
    "account": ACCOUNT,
    "security": ("证券代码", "证券", "symbol", "security"),
    "trade_date": ("成交日期", "交易日期", "trade date"),
    "trade_time": ("成交时间", "trade time"),
    "side": ("买卖方向", "买卖标志", "委托方向", "side"),
    "quantity": ("成交数量", "quantity"),
    "price": ("成交价格", "成交均价", "price"),
    "amount": ("成交金额", "amount"),
    "commission": ("佣金", "commission"),
    "stamp_duty": ("印花税", "stamp duty"),
    "transfer_fee": ("过户费", "transfer fee"),
    "handling_fee": ("经手费", "handling fee"),
    "regulatory_fee": ("证管费", "regulatory fee"),
    "channel": ("委托渠道", "委托方式", "channel"),
}
FILE_PREFIXES = {"asset_snapshot": ("asset_snapshot", "assets", "zc"), "position": ("position", "cc"),
                 "trade": ("trade", "cj")}  # fmt: skip
FILE_SUFFIXES = (".csv", ".xlsx")


def drop_folder(config) -> Path | None:
    folder = config.get("SCRM_TRADING_IMPORT_DIR")
    return Path(folder) if folder else None


def waiting(entity: str):
    """The files of the drop folder for ``entity`` (named ``asset_snapshot_20261121.csv``,
    ``position_…``, ``trade_…``), oldest name first, so days go in in order."""

    def pull(config) -> list[Path]:
        folder = drop_folder(config)
        if folder is None or not folder.is_dir():
            return []
        prefix = re.compile(rf"^({'|'.join(FILE_PREFIXES[entity])})[_\-.]", re.IGNORECASE)
        return sorted(p for p in folder.iterdir()
                      if p.is_file() and p.suffix.lower() in FILE_SUFFIXES and prefix.match(p.name))  # fmt: skip

    return pull


def file_away(path: Path, job) -> None:
    """A file imported completely goes to ``done/``, any other to ``failed/`` (its report is on
    the import's page), so that the next look at the folder does not take it again."""
    outcome = "done" if job is not None and job.status == "done" and not job.failed_rows else "failed"
    target = path.parent / outcome
    target.mkdir(exist_ok=True)
    shutil.move(str(path), target / path.name)


def importers() -> list[Importer]:
    def importer(name, entity, label, columns, key):
        return Importer(name=name, entity=entity, label=label, columns=columns, key=key, mode="skip",
                        schedule=SCHEDULE, pull=waiting(entity), done=file_away)  # fmt: skip

    return [
        importer("trading_asset_snapshot", "asset_snapshot", {"zh-CN": "柜台日终资产文件", "en": "Back-office daily assets"},
                 SNAPSHOT_COLUMNS, ("account", "snapshot_date")),
        importer("trading_position", "position", {"zh-CN": "柜台日终持仓文件", "en": "Back-office daily positions"},
                 POSITION_COLUMNS, ("account", "as_of_date", "security")),
        importer("trading_trade", "trade", {"zh-CN": "柜台成交文件", "en": "Back-office trades"},
                 TRADE_COLUMNS, ("trade_no",)),
    ]  # fmt: skip
