"""Customers with their accounts, permissions, holdings, trades and cash movements.

Generated in batches, each customer as one consistent story: the asset tier follows the
assets, the positions add up to the latest market value, the trades happen in the securities
held, the lifecycle stage and trading-frequency band follow the trades, and the daily asset
curve (written afterwards in SQL, see :mod:`.snapshots`) ends exactly at today's figures and
moves with the market and the recorded fund transfers.
"""

from __future__ import annotations

import math
import random
from bisect import bisect
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from itertools import accumulate

import sqlalchemy as sa

from ..db import db
from .market import Market
from .org import Staff
from .people import CITIES, address, id_number, mobile, person_name
from .run import Run

# tier, share of customers, total assets range (CNY), share of assets in the market
TIERS = (
    ("mass", 0.74, (2_000, 100_000)),
    ("potential", 0.19, (100_000, 1_000_000)),
    ("wealth", 0.055, (1_000_000, 5_000_000)),
    ("hnw", 0.012, (5_000_000, 30_000_000)),
    ("uhnw", 0.003, (30_000_000, 150_000_000)),
)
VIP = {"mass": "standard", "potential": "standard", "wealth": "silver", "hnw": "gold", "uhnw": "platinum"}
FIN_BAND = {"mass": "lt_500k", "potential": "500k_3m", "wealth": "3m_5m", "hnw": "10m_30m", "uhnw": "gt_30m"}
RISK_WEIGHTS = (("C1", 8), ("C2", 20), ("C3", 38), ("C4", 25), ("C5", 9))
BANKS = ("ICBC", "ABC", "BOC", "CCB", "BOCOM", "CMB", "CIB", "SPDB")
# activity class: share of customers, trades over the 90-day window
ACTIVITY = (("inactive", 0.30, (0, 0)), ("low", 0.35, (1, 5)), ("medium", 0.25, (6, 30)), ("high", 0.10, (31, 150)))
TRADE_FIELDS = ["trade_no", "order_no", "account", "customer", "security", "trade_date", "trade_time", "side",
                "quantity", "price", "amount", "commission", "stamp_duty", "transfer_fee", "channel", "realized_pnl"]  # fmt: skip
POSITION_FIELDS = ["account", "customer", "as_of_date", "security", "quantity", "available_quantity", "cost_price",
                   "cost_method", "last_price", "market_value", "unrealized_pnl", "weight_in_portfolio",
                   "first_buy_date", "is_margin_collateral"]  # fmt: skip
TRANSFER_FIELDS = ["transfer_no", "account", "customer", "transfer_type", "amount", "occurred_at", "status", "channel"]
ACCOUNT_FIELDS = ["fund_account_no", "customer", "account_type", "sh_account_no", "sz_account_no", "csdc_unified_no",
                  "custody_bank", "bank_card_no", "currency", "opened_at", "closed_at", "open_branch", "status", "commission_rate",
                  "min_commission", "margin_credit_limit", "financing_rate", "lending_rate",
                  "maintenance_warning_line", "maintenance_liquidation_line", "designated_trading_status"]  # fmt: skip
PERMISSION_FIELDS = ["account", "permission", "status", "opened_at", "eligibility_snapshot"]


@dataclass
class Profile:
    """What later generators (service, suitability, tags) need to know about a customer."""

    id: int
    tier: str
    risk: str
    lowest: bool
    manager: int
    branch: int
    opened: date
    birth: date | None
    stage: str
    assets: float
    last_trade: date | None
    trades_30d: int
    tech_weight: float
    account: int
    professional: bool
    dnd: bool
    holdings: list[int] = field(default_factory=list)
    outflow_alert: bool = False
    tag_codes: list[str] = field(default_factory=list)
    number: str = ""


@dataclass
class SnapshotParams:
    """One row per account for :mod:`.snapshots`: today's figures and the shape of the curve."""

    rows: list[tuple] = field(default_factory=list)


def pick(rng: random.Random, table):
    x, acc = rng.random(), 0.0
    for row in table:
        acc += row[1]
        if x < acc:
            return row
    return table[-1]


def log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


class CustomerGenerator:
    def __init__(self, run: Run, staff: Staff, market: Market):
        self.run, self.staff, self.market = run, staff, market
        self.today = run.today
        self.last_day = run.trading[-1]
        self.window_start = run.trading[0]
        self.used_ids: set[str] = set()
        self.profiles: list[Profile] = []
        self.params = SnapshotParams()
        self.trade_seq = 0

    # -- one customer -------------------------------------------------------------------------------
    def customer(self, cid: int, n: int) -> tuple[dict, list[dict], list[tuple], list[tuple], list[tuple], list[tuple]]:
        rng, run, today = self.run.rng, self.run, self.today
        tier, _share, (low, high) = pick(rng, TIERS)
        kind = "individual"
        x = rng.random()
        if x < 0.004:
            kind = "institution"
        elif x < 0.005:
            kind = "product"
        opened = today - timedelta(days=int(log_uniform(rng, 3, 7000)))
        city = rng.choice(CITIES)
        male = rng.random() < 0.53
        age = min(88, max(18, int(rng.gauss(46 if tier in ("mass", "potential") else 54, 13))))
        birth = today - timedelta(days=age * 365 + rng.randint(0, 364))
        if kind == "individual":
            number = id_number(rng, city[0], birth, male)
            while number in self.used_ids:
                number = id_number(rng, city[0], birth, male)
            self.used_ids.add(number)
            name = person_name(rng)
        else:
            number = f"91{city[0]}{rng.randint(10**9, 10**10 - 1)}{rng.choice('0123456789ABCDEFGHJKLMNPQRTUWXY')}"
            name = (
                f"{city[1][:2]}{rng.choice(('瀚海', '恒信', '嘉禾', '远景', '华拓'))}"
                f"{rng.choice(('投资', '实业', '科技'))}有限公司"
            )
            if kind == "product":
                name = f"{rng.choice(('瀚海', '鼎泰', '云帆'))}价值{rng.randint(1, 9)}号私募证券投资基金"
        hnw = tier in ("hnw", "uhnw", "wealth")
        manager, branch = rng.choice(self.staff.hnw_servicers if hnw and rng.random() < 0.7 else self.staff.servicers)
        risk = pick_weighted(rng, RISK_WEIGHTS)
        lowest = risk == "C1" and rng.random() < 0.12
        professional = kind != "individual" or (tier in ("hnw", "uhnw") and rng.random() < 0.35)
        target = log_uniform(rng, low, high)
        closed = rng.random() < 0.015 and (today - opened).days > 400
        if closed:
            target = rng.uniform(0, 800)
        activity = pick(rng, ACTIVITY) if not closed else ACTIVITY[0]
        dnd = rng.random() < 0.06

        # accounts ----------------------------------------------------------------------------
        aid = run.allocate("account", 1)
        credit = (hnw and rng.random() < 0.35) or (tier == "potential" and rng.random() < 0.03)
        accounts = [self._account(aid, cid, "normal", opened, branch, closed)]
        equity_share = 0.0 if closed else min(0.97, max(0.0, rng.gauss(0.72 if risk >= "C3" else 0.45, 0.2)))
        # positions (today) ---------------------------------------------------------------------
        positions, holdings, mv_cents, tech_mv, top = [], [], 0, 0, 0
        mv_target = target * equity_share
        if mv_target > 2_000:
            k = min(len(self.market.equities), max(1, int(rng.gauss(4, 1.5))))
            picks = rng.sample(self.market.equities, k)
            weights = [rng.expovariate(1.0) for _ in picks]
            total_w = sum(weights)
            for sec, w in zip(picks, weights, strict=True):
                price = self.market.last(sec)
                lots = max(1, int(mv_target * w / total_w / price / 100))
                qty = lots * 100
                value = round(qty * price * 100)
                mv_cents += value
                tech_mv += value if self.market.is_tech[sec] else 0
                top = max(top, value)
                holdings.append((sec, qty, price, value))
        cash_cents = max(0, round(target * 100) - mv_cents)
        if closed:
            cash_cents = round(target * 100)
        for sec, qty, price, value in holdings:
            cost = round(price * rng.uniform(0.7, 1.25), 3)
            first_buy = self.last_day - timedelta(days=rng.randint(3, 900))
            positions.append((
                run.allocate("position", 1), aid, cid, self.last_day, sec, qty, qty, Decimal(str(cost)), "weighted_avg",
                Decimal(str(price)),
                value / 100, round((price - cost) * qty, 2), round(value / mv_cents, 6) if mv_cents else 0,
                first_buy, False,
            ))  # fmt: skip
        # fund transfers: up to two movements in the window (inflows need enough cash left)
        flows = []
        for _ in range(rng.choice((0, 0, 1, 1, 2))):
            idx = rng.randint(1, len(run.trading) - 1)
            if rng.random() < 0.55 and cash_cents > 1000:
                amount = rng.randint(1, max(1, cash_cents // 3))
            else:
                amount = -rng.randint(1, max(1, int(target * 100 * 0.15) + 100))
            flows.append((idx, amount))
        outflow_alert = False
        if tier in ("hnw", "uhnw") and rng.random() < 0.04:
            # a large outflow on the last trading day: over 30% of the previous day's assets
            amount = -int((mv_cents + cash_cents) * rng.uniform(0.32, 0.6))
            flows = [f for f in flows if f[0] != len(run.trading) - 1][:1] + [(len(run.trading) - 1, amount)]
            outflow_alert = True
        flows = flows[:2]
        transfers = []
        for idx, amount in flows:
            day = run.trading[idx]
            tfid = run.allocate("fund_transfer", 1)
            transfers.append((tfid, f"ZZ{day:%Y%m%d}{tfid:08d}", aid, cid,
                              "bank_to_sec" if amount > 0 else "sec_to_bank", abs(amount) / 100,
                              run.moment(day, rng, 9, 16), "succeeded", rng.choice(("app", "app", "pc", "bank"))))  # fmt: skip
        debt_cents, limit_cents = 0, 0
        if credit:
            caid = run.allocate("account", 1)
            limit_cents = round(target * 100 * rng.uniform(0.3, 0.8))
            accounts.append(self._account(caid, cid, "credit", opened + timedelta(days=400), branch, closed))
            accounts[-1]["margin_credit_limit"] = Decimal(limit_cents) / 100
            debt_cents = round(limit_cents * rng.uniform(0.0, 0.6))
            collateral = round(debt_cents * rng.uniform(1.45, 3.2))
            self.params.rows.append(
                (caid, cid, collateral, 0, rng.randint(800, 1300), 0.04, -1, 0, -1, 0, debt_cents, limit_cents, 0, 0, 0)
            )
        beta = rng.randint(600, 1400)
        f1 = flows[0] if flows else (-1, 0)
        f2 = flows[1] if len(flows) > 1 else (-1, 0)
        self.params.rows.append(
            (aid, cid, mv_cents, cash_cents, beta, 0.05, f1[0], f1[1], f2[0], f2[1], 0, 0, len(holdings),
             round(tech_mv / mv_cents, 6) if mv_cents else 0, round(top / mv_cents, 6) if mv_cents else 0)
        )  # fmt: skip
        assets_cents = mv_cents + cash_cents
        if credit:
            assets_cents += self.params.rows[-2][2]
        # trades ---------------------------------------------------------------------------------
        trades = self._trades(rng, aid, cid, activity, holdings, accounts[0]["commission_rate"])
        trade_days = [t[6] for t in trades]
        last_trade = max(trade_days) if trade_days else None
        if last_trade is None and not closed and rng.random() < 0.9:
            last_trade = self.window_start - timedelta(days=rng.randint(1, 700))
            last_trade = max(last_trade, opened) if opened < self.window_start else None
        trades_30d = sum(1 for d in trade_days if (self.last_day - d).days <= 30)
        stage = self._stage(opened, last_trade, closed, assets_cents, trades_30d)
        tier = tier_of(assets_cents / 100) if not closed else "mass"
        permissions = self._permissions(rng, aid, opened, tier, risk, credit, holdings)

        row = {
            "id": cid,
            "customer_no": f"{310000000000 + n * 7 + 3:012d}",
            "customer_type": kind,
            "name": name,
            "id_type": "cn_id" if kind == "individual" else ("uscc" if kind == "institution" else "product_filing"),
            "id_number": number,
            "id_valid_until": date(9999, 12, 31) if age > 45 else today + timedelta(days=rng.randint(-40, 3650)),
            "gender": ("male" if male else "female") if kind == "individual" else None,
            "birth_date": birth if kind == "individual" else None,
            "nationality": "CHN",
            "mobile": mobile(rng),
            "phone_alt": f"0{rng.randint(10, 99)}-{rng.randint(10_000_000, 99_999_999)}"
            if rng.random() < 0.15
            else None,
            "email": f"c{n:07d}@example.com" if rng.random() < 0.45 else None,
            "address": address(rng, city),
            "postal_code": f"{city[0][:4]}00",
            "occupation": rng.choice(OCCUPATIONS) if kind == "individual" else None,
            "employer": rng.choice(EMPLOYERS) if kind == "individual" and rng.random() < 0.6 else None,
            "education": rng.choice(("high_school", "college", "bachelor", "bachelor", "master", "doctorate")),
            "annual_income_band": income_band(rng, tier),
            "financial_assets_band": FIN_BAND[tier],
            "debt_band": rng.choice(("none", "none", "low", "low", "medium", "high")),
            "investment_experience_years": max(0, min(30, (today - opened).days // 365 + rng.randint(0, 8))),
            "investor_category": ("professional_1" if kind != "individual" else "professional_2")
            if professional
            else "ordinary",
            "professional_valid_until": today + timedelta(days=rng.randint(-30, 700)) if professional else None,
            "professional_cert_no": f"ZY{opened.year}{n:07d}" if professional else None,
            "risk_level": risk,
            "is_lowest_category": lowest,
            "risk_assessed_at": None,  # filled from the latest assessment by the suitability generator
            "risk_valid_until": None,
            "intended_horizon": rng.choice(("short", "medium", "medium", "long")),
            "intended_varieties": varieties(rng, risk),
            "expected_return": {"C1": "preserve", "C2": "stable", "C3": "stable", "C4": "growth", "C5": "aggressive"}[
                risk
            ],
            "investment_style": style(rng, activity[0], tech_mv, mv_cents),
            "asset_tier": tier,
            "lifecycle_stage": stage,
            "trading_frequency_band": "high"
            if trades_30d >= 11
            else "medium"
            if trades_30d >= 3
            else "low"
            if trades_30d
            else "inactive",
            "avg_holding_period_band": {"high": "intraday_t1", "medium": "swing", "low": "medium"}.get(
                activity[0], "long"
            ),
            "preferred_sectors": top_sectors(self.market, holdings),
            "preferred_product_types": product_types(rng, holdings, credit),
            "aml_risk_level": rng.choices(("low", "medium_low", "medium", "high"), (70, 20, 8, 2))[0],
            "aml_next_review_on": today + timedelta(days=rng.randint(10, 1000)),
            "beneficial_owner_same": kind == "individual" or rng.random() < 0.5,
            "integrity_flag": rng.choices(("none", "minor", "serious"), (97, 2.5, 0.5))[0],
            "is_related_party": rng.random() < 0.01,
            "is_employee": rng.random() < 0.003,
            "opened_at": opened,
            "open_channel": rng.choices(("counter", "witness", "online", "third_party"), (12, 8, 65, 15))[0],
            "primary_manager": manager,
            "servicing_org": branch,
            "app_user_id": f"U{cid:09d}" if rng.random() < 0.85 else None,
            "last_login_at": run.moment(self.today - timedelta(days=int(log_uniform(rng, 1, 400))), rng, 7, 23)
            if not closed
            else None,
            "app_login_days_30d": 0 if closed else min(30, int(rng.expovariate(1 / (3 + trades_30d)))),
            "last_trade_date": last_trade,
            "last_contact_at": None,  # set from the interactions
            "total_assets": Decimal(assets_cents) / 100,
            "net_assets": Decimal(assets_cents - debt_cents) / 100,
            "customer_status": "closed" if closed else rng.choices(("normal", "restricted", "frozen"), (990, 8, 2))[0],
            "marketing_dnd": dnd,
            "preferred_channel": rng.choice(("phone", "wechat", "sms", "app", "visit", "email")),
            "preferred_contact_time": rng.choice(("morning", "noon", "afternoon", "evening", "any")),
            "vip_level": VIP[tier],
            "elderly_flag": kind == "individual" and age >= 65,
            "tags": [],
        }
        profile = Profile(
            cid, tier, risk, lowest, manager, branch, opened, row["birth_date"], stage, assets_cents / 100, last_trade,
            trades_30d, tech_mv / mv_cents if mv_cents else 0.0, aid, professional, dnd, [h[0] for h in holdings],
            outflow_alert,
        )  # fmt: skip
        profile.number = row["customer_no"]
        self.profiles.append(profile)
        return row, accounts, positions, trades, transfers, permissions

    def _account(self, aid: int, cid: int, kind: str, opened: date, branch: int, closed: bool) -> dict:
        rng = self.run.rng
        credit = kind == "credit"
        return {
            "id": aid,
            "fund_account_no": f"{(60 if credit else 10) * 10**8 + aid:010d}",
            "customer": cid,
            "account_type": kind,
            "sh_account_no": f"A{rng.randint(10**8, 10**9 - 1)}" if not credit else f"E{rng.randint(10**8, 10**9 - 1)}",
            "sz_account_no": f"0{rng.randint(10**8, 10**9 - 1)}",
            "csdc_unified_no": f"18{rng.randint(10**9, 10**10 - 1)}",
            "custody_bank": rng.choice(BANKS),
            "bank_card_no": f"622{rng.randint(10**15, 10**16 - 1)}",
            "currency": "CNY",
            "opened_at": min(opened, self.today),
            "closed_at": self.today - timedelta(days=self.run.rng.randint(1, 300)) if closed else None,
            "open_branch": branch,
            "status": "closed" if closed else "normal",
            "commission_rate": Decimal(rng.choice(("0.00025", "0.0002", "0.00015", "0.0001", "0.0003"))),
            "min_commission": Decimal(rng.choice(("5.00", "5.00", "0.00"))),
            "margin_credit_limit": None,
            "financing_rate": Decimal("0.0635") if credit else None,
            "lending_rate": Decimal("0.0835") if credit else None,
            "maintenance_warning_line": Decimal("1.5") if credit else None,
            "maintenance_liquidation_line": Decimal("1.3") if credit else None,
            "designated_trading_status": "withdrawn" if closed else "designated",
        }

    def _trades(self, rng, aid, cid, activity, holdings, rate) -> list[tuple]:
        low, high = activity[2]
        if high == 0:
            return []
        count = min(high, int(log_uniform(rng, max(low, 1), high + 1)))
        days = self.run.trading
        rate = float(rate)
        out = []
        held = [h[0] for h in holdings] or self.market.equities
        for _ in range(count):
            idx = rng.randrange(len(days))
            sec = rng.choice(held) if rng.random() < 0.7 else rng.choice(self.market.equities)
            price = round(self.market.prices[sec][idx] * rng.uniform(0.985, 1.015), 3)
            qty = 100 * max(1, int(log_uniform(rng, 1, 60)))
            amount = round(price * qty, 2)
            side = SIDES[bisect(SIDE_CUM, rng.random() * SIDE_CUM[-1])]
            self.trade_seq += 1
            moment = self.run.moment(days[idx], rng, 9, 15)
            commission = max(5.0, round(amount * rate, 2))
            out.append((
                self.run.allocate("trade", 1), f"T{days[idx]:%Y%m%d}{self.trade_seq:09d}", f"O{self.trade_seq:011d}",
                aid, cid, sec, days[idx], moment, side, qty, price, amount, commission,
                round(amount * 0.0005, 2) if side == "sell" else 0.0, round(amount * 0.00001, 2),
                CHANNELS[bisect(CHANNEL_CUM, rng.random() * CHANNEL_CUM[-1])],
                round(amount * rng.gauss(0.01, 0.08), 2) if side == "sell" else None,
            ))  # fmt: skip
        return out

    def _stage(self, opened, last_trade, closed, assets_cents, trades_30d) -> str:
        if closed:
            return "closed"
        if (self.today - opened).days <= 30:
            return "onboarding"
        if last_trade is None or (self.last_day - last_trade).days > 180:
            return "lost" if assets_cents < 100_000 else "dormant"
        if (self.last_day - last_trade).days > 90:
            return "dormant"
        if (self.last_day - last_trade).days > 30:
            return "at_risk"
        return "active"

    def _permissions(self, rng, aid, opened, tier, risk, credit, holdings) -> list[tuple]:
        out = []
        boards = {self.market.symbol[h[0]][-2:] for h in holdings}
        wanted = []
        if tier != "mass" and risk >= "C4":
            wanted += ["chinext", "star"]
        elif tier != "mass" or "SZ" in boards:
            wanted.append("chinext")
        if tier in ("wealth", "hnw", "uhnw") and rng.random() < 0.4:
            wanted.append("hk_connect_sh")
        if credit:
            wanted.append("margin")
        if risk >= "C3" and rng.random() < 0.2:
            wanted.append("convertible_bond")
        for perm in wanted:
            when = min(self.today, opened + timedelta(days=rng.randint(30, 900)))
            out.append((self.run.allocate("account_permission", 1), aid, perm, "open", when,
                        {"avg_assets_20d": tier, "experience_months": max(24, (when - opened).days // 30)}))  # fmt: skip
        return out


SIDES = ("buy", "sell", "margin_buy", "ipo_subscribe", "repo_lend")
SIDE_CUM = tuple(accumulate((48, 44, 3, 3, 2)))
CHANNELS = ("app", "pc", "web", "phone", "counter", "api")
CHANNEL_CUM = tuple(accumulate((70, 15, 6, 4, 3, 2)))
OCCUPATIONS = (
    "civil_servant", "enterprise_manager", "professional", "professional", "financial_practitioner", "clerk", "clerk",
    "business_owner", "worker", "retired", "retired", "freelancer", "student", "other",
)  # fmt: skip
EMPLOYERS = (
    "某科技有限公司",
    "某制造集团",
    "某三甲医院",
    "某市第一中学",
    "某会计师事务所",
    "某律师事务所",
    "某国有银行支行",
)


def pick_weighted(rng: random.Random, table) -> str:
    return rng.choices([t[0] for t in table], [t[1] for t in table])[0]


def tier_of(assets: float) -> str:
    if assets >= 30_000_000:
        return "uhnw"
    if assets >= 5_000_000:
        return "hnw"
    if assets >= 1_000_000:
        return "wealth"
    if assets >= 100_000:
        return "potential"
    return "mass"


def income_band(rng: random.Random, tier: str) -> str:
    bands = ("lt_100k", "100k_300k", "300k_500k", "500k_1m", "gt_1m")
    base = {"mass": 0, "potential": 1, "wealth": 2, "hnw": 3, "uhnw": 4}[tier]
    return bands[max(0, min(4, base + rng.choice((-1, 0, 0, 1))))]


def varieties(rng: random.Random, risk: str) -> list[str]:
    out = ["fixed_income"]
    if risk >= "C2":
        out.append("equity")
    if risk >= "C4" and rng.random() < 0.6:
        out.append("derivatives_leverage")
    if risk == "C5" and rng.random() < 0.5:
        out.append("complex")
    return out


def style(rng: random.Random, activity: str, tech_mv: int, mv: int) -> str:
    if not mv:
        return "fixed_income" if rng.random() < 0.5 else "unknown"
    if activity == "high":
        return rng.choice(("momentum_short_term", "quant"))
    if tech_mv / mv > 0.6:
        return "growth"
    return rng.choice(("value", "growth", "index_passive", "balanced"))


def top_sectors(market: Market, holdings) -> list[str]:
    from .market import SECURITIES

    by_symbol = {s[0]: s[5] for s in SECURITIES}
    weights: dict[str, int] = {}
    for sec, _qty, _price, value in holdings:
        industry = by_symbol[market.symbol[sec]]
        weights[industry] = weights.get(industry, 0) + value
    return [k for k, _ in sorted(weights.items(), key=lambda kv: -kv[1])[:3]]


def product_types(rng: random.Random, holdings, credit: bool) -> list[str]:
    out = ["a_share"] if holdings else []
    if rng.random() < 0.3:
        out.append("etf")
    if rng.random() < 0.25:
        out.append("public_fund")
    if rng.random() < 0.1:
        out.append("repo")
    if credit:
        out.append("margin")
    return out


class Writers:
    """The bulk writers of the customer batch, and the updates that need the snapshots."""

    def __init__(self, run: Run):
        self.run = run
        self.customer_fields: list[str] | None = None
        self.accounts = run.writer("account", ACCOUNT_FIELDS)
        self.positions = run.writer("position", POSITION_FIELDS)
        self.trades = run.writer("trade", TRADE_FIELDS)
        self.transfers = run.writer("fund_transfer", TRANSFER_FIELDS)
        self.permissions = run.writer("account_permission", PERMISSION_FIELDS)
        self.customers = None
        self.before_write: list = []

    def write_batch(self, generator: CustomerGenerator, first: int, start: int, size: int) -> list[Profile]:
        rows, accounts, positions, trades, transfers, permissions = [], [], [], [], [], []
        for offset in range(size):
            row, acc, pos, tr, tf, perm = generator.customer(first + offset, start + offset)
            rows.append(row)
            accounts += acc
            positions += pos
            trades += tr
            transfers += tf
            permissions += perm
        for extra in self.before_write:
            extra.prepare(rows, generator.profiles)
        if self.customers is None:
            entity = self.run.tables("customer").entity
            names = [k for k in rows[0] if k != "id" and entity.field(k) is not None]
            self.customers = self.run.writer("customer", names)
        self.customers.write_dicts(rows)
        self.accounts.write_dicts(accounts)
        self.positions.write(positions)
        self.trades.write(trades)
        self.transfers.write(transfers)
        self.permissions.write(permissions)
        return list(generator.profiles)

    def finish(self, snapshots) -> None:
        """Customer figures that come from the asset curve: last month's closing assets and the
        90-day peak, both read from the snapshots just written."""
        run = self.run
        for name, writer in (("customer", self.customers), ("account", self.accounts), ("position", self.positions),
                             ("trade", self.trades), ("fund_transfer", self.transfers),
                             ("account_permission", self.permissions)):  # fmt: skip
            if writer is not None:
                run.add(name, writer)
        month_end = max((d for d in run.trading if d.month != run.trading[-1].month), default=run.trading[0])
        customer = run.tables("customer").main
        snap = run.tables("asset_snapshot")
        total, owner, day = (
            snap.main.c[run.column("asset_snapshot", n)] for n in ("total_assets", "customer", "snapshot_date")
        )
        figures = {
            "assets_month_start": sa.select(sa.func.sum(total)).where(owner == customer.c.id, day == month_end),
            "aum_peak_12m": sa.select(sa.func.max(total)).where(owner == customer.c.id),
        }
        for name, query in figures.items():
            if run.tables("customer").entity.field(name) is not None:
                db.session.execute(sa.update(customer).values({run.column("customer", name): query.scalar_subquery()}))
        run.commit()
