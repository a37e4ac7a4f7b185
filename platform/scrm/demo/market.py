"""Securities master data and the price history the demo's positions, trades and asset curves
follow: a market index walk and one price walk per security, seeded and deterministic."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from .run import Run

# symbol, name, exchange, type, board, SW L1 industry, price (CNY), is_st
SECURITIES = (
    ("600519.SH", "贵州茅台", "SSE", "a_share", "main", "食品饮料", 1480.0, False),
    ("000858.SZ", "五粮液", "SZSE", "a_share", "main", "食品饮料", 128.0, False),
    ("601318.SH", "中国平安", "SSE", "a_share", "main", "非银金融", 52.0, False),
    ("600036.SH", "招商银行", "SSE", "a_share", "main", "银行", 41.0, False),
    ("000001.SZ", "平安银行", "SZSE", "a_share", "main", "银行", 11.5, False),
    ("601398.SH", "工商银行", "SSE", "a_share", "main", "银行", 7.1, False),
    ("600030.SH", "中信证券", "SSE", "a_share", "main", "非银金融", 27.0, False),
    ("300750.SZ", "宁德时代", "SZSE", "a_share", "chinext", "电力设备", 265.0, False),
    ("002594.SZ", "比亚迪", "SZSE", "a_share", "main", "汽车", 330.0, False),
    ("601012.SH", "隆基绿能", "SSE", "a_share", "main", "电力设备", 17.5, False),
    ("688981.SH", "中芯国际", "SSE", "a_share", "star", "电子", 88.0, False),
    ("688111.SH", "金山办公", "SSE", "a_share", "star", "计算机", 290.0, False),
    ("688041.SH", "海光信息", "SSE", "a_share", "star", "电子", 150.0, False),
    ("002415.SZ", "海康威视", "SZSE", "a_share", "main", "计算机", 30.0, False),
    ("002230.SZ", "科大讯飞", "SZSE", "a_share", "main", "计算机", 48.0, False),
    ("000063.SZ", "中兴通讯", "SZSE", "a_share", "main", "通信", 35.0, False),
    ("600941.SH", "中国移动", "SSE", "a_share", "main", "通信", 105.0, False),
    ("300059.SZ", "东方财富", "SZSE", "a_share", "chinext", "非银金融", 23.0, False),
    ("603986.SH", "兆易创新", "SSE", "a_share", "main", "电子", 110.0, False),
    ("300418.SZ", "昆仑万维", "SZSE", "a_share", "chinext", "传媒", 38.0, False),
    ("600900.SH", "长江电力", "SSE", "a_share", "main", "公用事业", 29.0, False),
    ("601899.SH", "紫金矿业", "SSE", "a_share", "main", "有色金属", 18.0, False),
    ("000333.SZ", "美的集团", "SZSE", "a_share", "main", "家用电器", 74.0, False),
    ("600276.SH", "恒瑞医药", "SSE", "a_share", "main", "医药生物", 52.0, False),
    ("300760.SZ", "迈瑞医疗", "SZSE", "a_share", "chinext", "医药生物", 245.0, False),
    ("601088.SH", "中国神华", "SSE", "a_share", "main", "煤炭", 39.0, False),
    ("600309.SH", "万华化学", "SSE", "a_share", "main", "基础化工", 72.0, False),
    ("002714.SZ", "牧原股份", "SZSE", "a_share", "main", "农林牧渔", 41.0, False),
    ("600048.SH", "保利发展", "SSE", "a_share", "main", "房地产", 9.2, False),
    ("000725.SZ", "京东方A", "SZSE", "a_share", "main", "电子", 4.3, False),
    ("600745.SH", "闻泰科技", "SSE", "a_share", "main", "电子", 33.0, False),
    ("002131.SZ", "*ST利欧", "SZSE", "a_share", "main", "传媒", 2.1, True),
    ("600242.SH", "ST中昌", "SSE", "a_share", "main", "传媒", 3.4, True),
    ("830799.BJ", "艾融软件", "BSE", "a_share", "bse", "计算机", 36.0, False),
    ("510300.SH", "沪深300ETF", "SSE", "etf", "main", "指数", 3.95, False),
    ("510500.SH", "中证500ETF", "SSE", "etf", "main", "指数", 5.8, False),
    ("588000.SH", "科创50ETF", "SSE", "etf", "star", "指数", 1.05, False),
    ("159915.SZ", "创业板ETF", "SZSE", "etf", "chinext", "指数", 2.2, False),
    ("512880.SH", "证券ETF", "SSE", "etf", "main", "指数", 1.1, False),
    ("508000.SH", "张江REIT", "SSE", "reits", "main", "房地产", 2.6, False),
    ("113050.SH", "南银转债", "SSE", "convertible", "main", "银行", 128.0, False),
    ("127045.SZ", "牧原转债", "SZSE", "convertible", "main", "农林牧渔", 121.0, False),
    ("019733.SH", "24国债02", "SSE", "bond", "main", "国债", 101.2, False),
    ("204001.SH", "GC001", "SSE", "repo", "main", "回购", 100.0, False),
)
TECH_INDUSTRIES = frozenset({"电子", "计算机", "通信", "传媒"})


def security_risk(kind: str, board: str, is_st: bool) -> str:
    """The R-level of trading a security, after the catalogue in the domain reference (§1.5)."""
    if kind in ("repo", "bond"):
        return "R1" if kind == "repo" else "R2"
    if is_st or board in ("star", "chinext", "bse"):
        return "R4"
    return "R3"


@dataclass
class Market:
    ids: list[int] = field(default_factory=list)
    prices: dict[int, list[float]] = field(default_factory=dict)  # security id -> close per trading day
    is_tech: dict[int, bool] = field(default_factory=dict)
    risk: dict[int, str] = field(default_factory=dict)
    index: list[float] = field(default_factory=list)  # market level per trading day, last = 1.0
    equities: list[int] = field(default_factory=list)
    symbol: dict[int, str] = field(default_factory=dict)
    name: dict[int, str] = field(default_factory=dict)

    def last(self, security: int) -> float:
        return self.prices[security][-1]


SECURITY_FIELDS = ["security_code", "symbol", "name", "exchange", "security_type", "board", "sw_industry_l1",
                   "is_tech", "is_st", "listing_date", "status", "risk_level"]  # fmt: skip


def build(run: Run) -> Market:
    rng = run.rng
    market = Market()
    n = len(run.trading)
    # a market index: a random walk with a mild drift, a correction and a rebound
    level, walk = 1.0, []
    for i in range(n):
        shock = rng.gauss(0.0004, 0.011) + (-0.004 if n // 3 <= i < n // 2 else 0.0)
        level *= 1 + shock
        walk.append(level)
    market.index = [v / walk[-1] for v in walk]
    rows = []
    first = run.allocate("security", len(SECURITIES))
    for offset, (symbol, name, exchange, kind, board, industry, price, is_st) in enumerate(SECURITIES):
        sid = first + offset
        tech = industry in TECH_INDUSTRIES or board == "star"
        beta = {"repo": 0.0, "bond": 0.05, "convertible": 0.5}.get(kind, rng.uniform(0.7, 1.4))
        vol = {"repo": 0.0, "bond": 0.001, "convertible": 0.008, "etf": 0.004}.get(kind, 0.014 if not tech else 0.02)
        closes, p = [], 1.0
        for i in range(n):
            market_move = market.index[i] / market.index[i - 1] - 1 if i else 0.0
            p *= 1 + beta * market_move + rng.gauss(0, vol)
            closes.append(p)
        market.prices[sid] = [round(price * c / closes[-1], 2 if kind != "etf" else 3) for c in closes]
        market.is_tech[sid] = tech
        market.risk[sid] = security_risk(kind, board, is_st)
        market.ids.append(sid)
        market.symbol[sid] = symbol
        market.name[sid] = name
        if kind in ("a_share", "etf"):
            market.equities.append(sid)
        listing = date(1995 + offset % 28, 1 + offset % 12, 1 + offset % 27)
        rows.append((sid, symbol.split(".")[0], symbol, name, exchange, kind, board, industry, tech, is_st, listing,
                     "listed", market.risk[sid]))  # fmt: skip
    writer = run.writer("security", SECURITY_FIELDS)
    writer.write(rows)
    run.add("security", writer)
    return market
