"""The baseline of ``bench/alert_rules.py``: every shipped alert and tagging rule written by hand in SQL.

For each rule in ``schemas/alerts/`` one statement that returns the ids of the records the rule
matches — its ``scope`` (named conditions expanded) and ``condition``, metrics with their windows —
at one evaluation moment: what a developer who knows the tables would write for that rule alone,
for speed (index ranges, ``EXISTS``, aggregates grouped over the window's rows only, the latest
snapshot by ``DISTINCT ON`` on PostgreSQL). Firing dedup (``dedupe``, ``cooldown``) and tags already
held are not part of it: the engine's statement returns every matching record and drops those in
Python, so both sides are compared on the matched set. A tagging rule with ``untag`` (hysteresis:
``tag_hnw``, ``tag_wealth``) is compared on what qualifies for the tag (scope and condition), the
set the engine's statement returns; ``untag`` is a second statement over the tag holders only.

Conventions of the data the statements rely on (as a developer on this schema would):

* soft deletion: a row is live while ``deleted_at IS NULL``;
* money and ratios are ``NUMERIC`` on PostgreSQL and scaled integers on SQLite (money ×10², ratios
  and percents ×10⁶: :func:`Moment.money`, :func:`Moment.ratio`);
* dates are ``DATE`` (ISO text on SQLite); instants are UTC (``timestamptz`` on PostgreSQL,
  naive ISO text with microseconds on SQLite);
* relative dates are local calendar dates in the tenant's time zone, computed in Python; a year
  back from 29 February is 28 February, and a 29 February anniversary falls on 28 February in
  common years;
* a test on a missing value is false, except ``ne``/``not``, which hold for NULL (so
  ``customer_status <> 'closed' OR customer_status IS NULL``).

Event-triggered rules are evaluated over all records, as the bench's end-of-day run does, with the
rule's parameters (``alr_neg_news_holders``: ``event_security``).
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

SERVICEABLE = "c.deleted_at IS NULL AND (c.customer_status <> 'closed' OR c.customer_status IS NULL)"
LIVE_SNAPSHOT = "s.deleted_at IS NULL"


@dataclass(frozen=True)
class Moment:
    """The evaluation moment and the database: bind values for relative dates, instants, money."""

    now: datetime  # aware
    tz: ZoneInfo
    dialect: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def today(self) -> date:
        return self.now.astimezone(self.tz).date()

    @property
    def sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def day(self, days: int = 0, *, years: int = 0) -> Any:
        """today ± days (± years, clamped to the month's end) as a bind value for a DATE column."""
        return self.date_value(shift_years(self.today, years) + timedelta(days=days))

    def date_value(self, value: date) -> Any:
        return value.isoformat() if self.sqlite else value

    def midnight(self, days: int = 0) -> Any:
        """Local midnight of today ± days as an instant."""
        local = datetime.combine(self.today + timedelta(days=days), time(0), self.tz)
        return self.instant(local)

    def instant(self, value: datetime) -> Any:
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None).isoformat(" ", "microseconds") if self.sqlite else utc

    def ago(self, **delta: float) -> Any:
        """now − delta (``now-30d``), or now + delta with negative values."""
        return self.instant(self.now - timedelta(**delta))

    def money(self, value: str) -> Any:
        return self._fixed(value, 2)

    def ratio(self, value: str) -> Any:
        return self._fixed(value, 6)

    def _fixed(self, value: str, scale: int) -> Any:
        number = Decimal(value)
        return int(number.scaleb(scale)) if self.sqlite else number

    def month_days(self, target: date) -> list[str]:
        """``MM-DD`` texts an anniversary on ``target`` matches (29 February → 28 February)."""
        days = [f"{target.month:02d}-{target.day:02d}"]
        if (target.month, target.day) == (2, 28) and not calendar.isleap(target.year):
            days.append("02-29")
        return days

    def scanned(self, column: str) -> str:
        """``column`` kept from SQLite's index choice (``+column``) where a test on it selects most
        rows: a scan in id order then reads the per-customer subqueries' index pages in order."""
        return f"+{column}" if self.sqlite else column

    def month_day(self, column: str) -> str:
        return f"strftime('%m-%d', {column})" if self.sqlite else f"to_char({column}, 'MM-DD')"


def shift_years(day: date, years: int) -> date:
    year = day.year + years
    return day.replace(year=year, day=min(day.day, calendar.monthrange(year, day.month)[1]))


@dataclass(frozen=True)
class Query:
    sql: str
    params: dict[str, Any]
    expanding: tuple[str, ...] = ()  # list-valued parameters (``IN :names``)

    def statement(self) -> sa.TextClause:
        clause = sa.text(self.sql)
        if self.expanding:
            clause = clause.bindparams(*(sa.bindparam(n, expanding=True) for n in self.expanding))
        return clause


RULES: dict[str, Callable[[Moment], Query]] = {}


def rule(fn: Callable[[Moment], Query]) -> Callable[[Moment], Query]:
    RULES[fn.__name__] = fn
    return fn


def query(name: str, moment: Moment) -> Query:
    return RULES[name](moment)


def matched_ids(conn, name: str, moment: Moment) -> set[int]:
    q = query(name, moment)
    return {row[0] for row in conn.execute(q.statement(), q.params)}


# -- record fields only ------------------------------------------------------------------------
@rule
def alr_assessment_expired(m: Moment) -> Query:
    return Query(f"SELECT c.id FROM crm_customer c WHERE {SERVICEABLE} AND c.risk_valid_until < :today",
                 {"today": m.day()})  # fmt: skip


@rule
def alr_assessment_expiring(m: Moment) -> Query:
    return Query(f"SELECT c.id FROM crm_customer c WHERE {SERVICEABLE} AND c.risk_valid_until IN (:d30, :d7)",
                 {"d30": m.day(30), "d7": m.day(7)})  # fmt: skip


@rule
def alr_id_expiring(m: Moment) -> Query:
    sql = f"""SELECT c.id FROM crm_customer c WHERE {SERVICEABLE}
              AND (c.id_valid_until IN (:d30, :d7) OR c.id_valid_until < :today)"""
    return Query(sql, {"d30": m.day(30), "d7": m.day(7), "today": m.day()})


@rule
def alr_birthday(m: Moment) -> Query:
    sql = f"""SELECT c.id FROM crm_customer c WHERE {SERVICEABLE}
              AND (c.asset_tier <> 'mass' OR c.asset_tier IS NULL)
              AND {m.month_day("c.birth_date")} IN :days"""
    return Query(sql, {"days": m.month_days(m.today + timedelta(days=3))}, ("days",))


@rule
def alr_open_anniversary(m: Moment) -> Query:
    sql = f"""SELECT c.id FROM crm_customer c WHERE {SERVICEABLE}
              AND c.opened_at <= :year_ago AND {m.month_day("c.opened_at")} IN :days"""
    return Query(sql, {"year_ago": m.day(years=-1), "days": m.month_days(m.today + timedelta(days=3))}, ("days",))


@rule
def alr_hnw_asset_drop(m: Moment) -> Query:
    # total_assets_day_change = (total − previous) / previous, ≤ −30%  ⇔  total ≤ 0.7 × previous
    sql = f"""SELECT c.id FROM crm_customer c WHERE {SERVICEABLE}
              AND c.asset_tier IN ('hnw', 'uhnw') AND c.previous_total_assets > 0 AND c.assets_as_of >= :week_ago
              AND c.total_assets * 10 <= c.previous_total_assets * 7"""
    return Query(sql, {"week_ago": m.day(-7)})


@rule
def alr_no_trade_30d(m: Moment) -> Query:
    sql = f"""SELECT c.id FROM crm_customer c WHERE {SERVICEABLE}
              AND c.last_trade_date < :d30 AND c.last_trade_date >= :d90 AND c.total_assets >= :valid"""
    return Query(sql, {"d30": m.day(-30), "d90": m.day(-90), "valid": m.money("10000")})


@rule
def tag_dormant(m: Moment) -> Query:
    sql = f"""SELECT c.id FROM crm_customer c WHERE {SERVICEABLE}
              AND (c.last_trade_date < :d90 OR c.last_trade_date IS NULL) AND c.opened_at < :d90
              AND c.total_assets > 0"""
    return Query(sql, {"d90": m.day(-90)})


@rule
def tag_onboarding(m: Moment) -> Query:
    return Query(f"SELECT c.id FROM crm_customer c WHERE {SERVICEABLE} AND c.opened_at >= :d30",
                 {"d30": m.day(-30)})  # fmt: skip


@rule
def tag_hnw(m: Moment) -> Query:
    return Query(f"SELECT c.id FROM crm_customer c WHERE {SERVICEABLE} AND c.total_assets > :hnw",
                 {"hnw": m.money("5000000")})  # fmt: skip


@rule
def tag_wealth(m: Moment) -> Query:
    return Query(f"SELECT c.id FROM crm_customer c WHERE {SERVICEABLE} AND c.total_assets BETWEEN :low AND :high",
                 {"low": m.money("1000000"), "high": m.money("5000000")})  # fmt: skip


@rule
def alr_manager_leaving(m: Moment) -> Query:
    # ``changed_to`` over all records (no old values): the employees whose status is now resigning
    return Query("SELECT e.id FROM crm_employee e WHERE e.deleted_at IS NULL AND e.status = 'resigning'", {})


@rule
def alr_new_account_revisit(m: Moment) -> Query:
    sql = """SELECT a.id FROM crm_account a WHERE a.deleted_at IS NULL AND a.opened_at = :yesterday
             AND (a.status <> 'closed' OR a.status IS NULL)"""
    return Query(sql, {"yesterday": m.day(-1)})


# -- child rows: driven from the (few) rows in the window ---------------------------------------
@rule
def alr_elderly_high_risk(m: Moment) -> Query:
    # age ≥ 70 ⇔ born on or before today 70 years ago
    sql = f"""SELECT c.id FROM crm_customer c WHERE {SERVICEABLE} AND c.birth_date <= :born_by
              AND c.id IN (SELECT ps.customer_id FROM crm_product_sale ps
                           WHERE ps.deleted_at IS NULL AND ps.product_level_at_sale IN ('R4', 'R5')
                             AND ps.created_at >= :since AND ps.created_at < :until)"""
    return Query(sql, {"born_by": m.day(years=-70), "since": m.ago(days=1), "until": m.ago(minutes=-1)})


@rule
def alr_holding_unsuitable(m: Moment) -> Query:
    # a live sale of a product above the customer's risk tolerance (C1 < R2, C2 < R3, C3 < R4, C4 < R5)
    sql = f"""SELECT DISTINCT c.id FROM crm_product_sale ps
              JOIN crm_product p ON p.id = ps.product_id AND p.deleted_at IS NULL
              JOIN crm_customer c ON c.id = ps.customer_id
              WHERE ps.deleted_at IS NULL AND ps.status IN ('paid', 'cooling_off', 'revisit', 'confirmed')
                AND {SERVICEABLE}
                AND ((c.risk_level = 'C1' AND p.risk_level IN ('R2', 'R3', 'R4', 'R5'))
                  OR (c.risk_level = 'C2' AND p.risk_level IN ('R3', 'R4', 'R5'))
                  OR (c.risk_level = 'C3' AND p.risk_level IN ('R4', 'R5'))
                  OR (c.risk_level = 'C4' AND p.risk_level = 'R5'))"""
    return Query(sql, {})


@rule
def alr_hnw_outflow(m: Moment) -> Query:
    # outflow today / total assets > 30%  ⇔  outflow × 10 > total × 3 (total > 0)
    sql = f"""SELECT c.id FROM crm_customer c
              JOIN (SELECT t.customer_id, sum(t.amount) AS outflow FROM crm_fund_transfer t
                    WHERE t.deleted_at IS NULL AND t.occurred_at >= :start AND t.occurred_at < :end
                      AND t.transfer_type IN ('sec_to_bank', 'custody_out', 'designated_withdraw')
                      AND (t.status <> 'failed' OR t.status IS NULL)
                    GROUP BY t.customer_id) o ON o.customer_id = c.id
              WHERE {SERVICEABLE} AND c.asset_tier IN ('hnw', 'uhnw') AND c.total_assets > 0
                AND o.outflow * 10 > c.total_assets * 3"""
    return Query(sql, {"start": m.midnight(0), "end": m.midnight(1)})


@rule
def alr_neg_news_holders(m: Moment) -> Query:
    sql = f"""SELECT c.id FROM crm_customer c WHERE {SERVICEABLE}
              AND c.id IN (SELECT po.customer_id FROM crm_position po
                           WHERE po.security_id = :security AND po.as_of_date >= :since AND po.as_of_date < :until
                             AND po.deleted_at IS NULL
                             AND (po.weight_in_portfolio >= :weight OR po.market_value >= :value))"""
    params = {"security": m.params.get("event_security"), "since": m.day(-7), "until": m.day(1),
              "weight": m.ratio("0.20"), "value": m.money("1000000")}  # fmt: skip
    return Query(sql, params)


@rule
def alr_service_risk(m: Moment) -> Query:
    sql = f"""SELECT c.id FROM crm_customer c WHERE {SERVICEABLE}
              AND c.id IN (SELECT st.customer_id FROM crm_service_ticket st
                           WHERE st.deleted_at IS NULL AND st.created_at >= :since AND st.created_at < :until
                           GROUP BY st.customer_id HAVING count(*) >= 2
                           UNION
                           SELECT sr.customer_id FROM crm_survey_response sr
                           WHERE sr.deleted_at IS NULL AND sr.responded_at >= :since AND sr.responded_at < :until
                             AND (sr.csat_score <= 2 OR sr.nps_group = 'detractor'))"""
    return Query(sql, {"since": m.ago(days=30), "until": m.ago(minutes=-1)})


@rule
def tag_high_freq(m: Moment) -> Query:
    sql = f"""SELECT c.id FROM crm_customer c
              JOIN (SELECT t.customer_id FROM crm_trade t
                    WHERE t.deleted_at IS NULL AND t.trade_date >= :since AND t.trade_date < :until
                    GROUP BY t.customer_id HAVING count(DISTINCT t.order_no) > 10) f ON f.customer_id = c.id
              WHERE {SERVICEABLE}"""
    return Query(sql, {"since": m.day(-29), "until": m.day(1)})


@rule
def alr_idle_cash(m: Moment) -> Query:
    # snapshots in 14 days with available cash ≥ 500k and ≥ half the snapshot's total assets: ≥ 10
    sql = f"""SELECT c.id FROM crm_customer c
              JOIN (SELECT s.customer_id FROM crm_asset_snapshot s
                    WHERE {LIVE_SNAPSHOT} AND s.snapshot_date >= :since AND s.snapshot_date < :until
                      AND s.available_cash >= :cash AND s.available_cash * 2 >= s.total_assets
                    GROUP BY s.customer_id HAVING count(*) >= 10) i ON i.customer_id = c.id
              WHERE {SERVICEABLE}"""
    return Query(sql, {"since": m.day(-13), "until": m.day(1), "cash": m.money("500000")})


# -- averages over windows of snapshots -----------------------------------------------------------
@rule
def alr_tier_upgrade(m: Moment) -> Query:
    # both crossings need the recent average ≥ 1M: that window first, the one before only for the
    # customers it leaves. Averages compared exactly (sum ≥ limit × count; an empty window's sum is
    # NULL: no match). PostgreSQL: grouped; SQLite: per customer through the (customer, date) index.
    crossed = " OR ".join(f"(r.total >= :{x} * r.n AND b.total < :{x} * b.n)" for x in ("m1", "m5"))
    totals = "sum(s.total_assets) AS total, count(s.total_assets) AS n"
    recent = f"{LIVE_SNAPSHOT} AND s.snapshot_date >= :mid AND s.snapshot_date < :until"
    before = f"{LIVE_SNAPSHOT} AND s.snapshot_date >= :since AND s.snapshot_date < :mid"
    if m.sqlite:
        sql = f"""SELECT c.id FROM crm_customer c WHERE {SERVICEABLE}
                  AND (SELECT sum(s.total_assets) >= :m1 * count(s.total_assets) FROM crm_asset_snapshot s
                       WHERE s.customer_id = c.id AND {recent}) = 1
                  AND (SELECT {crossed}
                       FROM (SELECT {totals} FROM crm_asset_snapshot s WHERE s.customer_id = c.id AND {recent}) r,
                            (SELECT {totals} FROM crm_asset_snapshot s WHERE s.customer_id = c.id AND {before}) b) = 1"""
    else:
        sql = f"""WITH r AS (SELECT s.customer_id, {totals} FROM crm_asset_snapshot s WHERE {recent}
                             GROUP BY s.customer_id HAVING sum(s.total_assets) >= :m1 * count(s.total_assets)),
                       b AS (SELECT s.customer_id, {totals} FROM crm_asset_snapshot s
                             WHERE {before} AND s.customer_id IN (SELECT customer_id FROM r) GROUP BY s.customer_id)
                  SELECT c.id FROM crm_customer c JOIN r ON r.customer_id = c.id JOIN b ON b.customer_id = c.id
                  WHERE {SERVICEABLE} AND ({crossed})"""
    params = {"since": m.day(-56), "mid": m.day(-28), "until": m.day(1),
              "m1": m.money("1000000"), "m5": m.money("5000000")}  # fmt: skip
    return Query(sql, params)


@rule
def tag_loyal(m: Moment) -> Query:
    # the year-ago window first (customers without it cannot qualify), then the recent one for them
    sql = f"""WITH past AS (
                SELECT s.customer_id, sum(s.net_assets) AS total, count(s.net_assets) AS n
                FROM crm_asset_snapshot s
                WHERE {LIVE_SNAPSHOT} AND s.snapshot_date >= :past_from AND s.snapshot_date < :past_to
                GROUP BY s.customer_id HAVING count(s.net_assets) > 0),
              recent AS (
                SELECT s.customer_id, sum(s.net_assets) AS total, count(s.net_assets) AS n
                FROM crm_asset_snapshot s
                WHERE {LIVE_SNAPSHOT} AND s.snapshot_date >= :recent_from AND s.snapshot_date < :recent_to
                  AND s.customer_id IN (SELECT customer_id FROM past)
                GROUP BY s.customer_id HAVING count(s.net_assets) > 0)
              SELECT c.id FROM crm_customer c
              JOIN past ON past.customer_id = c.id JOIN recent ON recent.customer_id = c.id
              WHERE {SERVICEABLE} AND c.opened_at <= :five_years_ago
                AND recent.total * past.n > past.total * recent.n"""
    params = {"past_from": m.day(-455), "past_to": m.day(-364), "recent_from": m.day(-90), "recent_to": m.day(1),
              "five_years_ago": m.day(years=-5)}  # fmt: skip
    return Query(sql, params)


# -- the latest / earliest snapshot in a window ----------------------------------------------------
def picked(m: Moment, columns: str, back: int, *, where: str = "", first: bool = False) -> str:
    """A join of ``l``: each customer's latest (``first``: earliest) live snapshot dated in
    [today−back, today+1) (``first``: [today−back, today)), ties broken by id, with ``columns``.
    PostgreSQL: one ``DISTINCT ON`` pass over the window; SQLite: the snapshot's id found through
    the (customer, date) index per customer, then read by its key."""
    direction = "ASC" if first else "DESC"
    until = ":today" if first else ":tomorrow"
    filters = f"{LIVE_SNAPSHOT} AND s.snapshot_date >= :back{back} AND s.snapshot_date < {until} {where}"
    order = f"s.snapshot_date {direction}, s.id {direction}"
    if m.sqlite:
        return f"""JOIN crm_asset_snapshot l ON l.id = (
                     SELECT s.id FROM crm_asset_snapshot s WHERE s.customer_id = c.id AND {filters}
                     ORDER BY {order} LIMIT 1)"""
    return f"""JOIN (SELECT DISTINCT ON (s.customer_id) s.customer_id, {columns} FROM crm_asset_snapshot s
                    WHERE {filters} ORDER BY s.customer_id, {order}) l ON l.customer_id = c.id"""


def window_params(m: Moment, back: int) -> dict[str, Any]:
    return {f"back{back}": m.day(-back), "today": m.day(), "tomorrow": m.day(1)}


@rule
def alr_drawdown_care(m: Moment) -> Query:
    sql = f"""SELECT c.id FROM crm_customer c {picked(m, "s.daily_return", 7)}
              WHERE {SERVICEABLE} AND {m.scanned("c.total_assets")} >= :valid AND l.daily_return <= :drop"""
    return Query(sql, {**window_params(m, 7), "valid": m.money("10000"), "drop": m.ratio("-0.10")})


@rule
def alr_margin_ratio(m: Moment) -> Query:
    latest = picked(m, "s.maintenance_ratio", 7, where="AND s.maintenance_ratio IS NOT NULL")
    sql = f"""SELECT c.id FROM crm_customer c {latest}
              WHERE {SERVICEABLE} AND l.maintenance_ratio < :ratio"""
    return Query(sql, {**window_params(m, 7), "ratio": m.ratio("1.50")})


@rule
def tag_tech_pref(m: Moment) -> Query:
    sql = f"""SELECT c.id FROM crm_customer c {picked(m, "s.tech_weight, s.market_value", 7)}
              WHERE {SERVICEABLE} AND l.tech_weight > :weight AND l.market_value >= :value"""
    return Query(sql, {**window_params(m, 7), "weight": m.ratio("0.60"), "value": m.money("10000")})


@rule
def alr_churn_risk(m: Moment) -> Query:
    # a custody transfer out / designation withdrawn since yesterday, or bank transfers out over the
    # week ≥ 80% of the assets on the first snapshot day of the 8 days before (sum × 5 ≥ before × 4;
    # no transfers count as 0)
    exits = """EXISTS (SELECT 1 FROM crm_fund_transfer t
                       WHERE t.customer_id = c.id AND t.deleted_at IS NULL
                         AND t.occurred_at >= :day_from AND t.occurred_at < :end
                         AND t.transfer_type IN ('custody_out', 'designated_withdraw'))"""
    out = """SELECT {key} sum(t.amount) AS amount FROM crm_fund_transfer t
             WHERE {correlated} t.deleted_at IS NULL AND t.occurred_at >= :week_from AND t.occurred_at < :end
               AND t.transfer_type = 'sec_to_bank' AND (t.status <> 'failed' OR t.status IS NULL)"""
    if m.sqlite:  # per customer through the (customer, date) indexes, the cheap test first
        first = """SELECT s.total_assets FROM crm_asset_snapshot s
                   WHERE s.customer_id = c.id AND s.deleted_at IS NULL AND s.snapshot_date >= :back8
                     AND s.snapshot_date < :today ORDER BY s.snapshot_date, s.id LIMIT 1"""
        sql = f"""SELECT c.id FROM crm_customer c WHERE {SERVICEABLE} AND +c.total_assets >= :valid
                  AND ({exits} OR COALESCE(({out.format(key="", correlated="t.customer_id = c.id AND")}), 0) * 5
                                  >= ({first}) * 4)"""
    else:
        sql = f"""SELECT c.id FROM crm_customer c
                  LEFT {picked(m, "s.total_assets", 8, first=True)}
                  LEFT JOIN ({out.format(key="t.customer_id,", correlated="")} GROUP BY t.customer_id) o
                    ON o.customer_id = c.id
                  WHERE {SERVICEABLE} AND c.total_assets >= :valid
                    AND ({exits} OR COALESCE(o.amount, 0) * 5 >= l.total_assets * 4)"""
    params = {**window_params(m, 8), "week_from": m.midnight(-7), "day_from": m.midnight(-1), "end": m.midnight(1),
              "valid": m.money("10000")}  # fmt: skip
    return Query(sql, params)


# -- event parameters for the cross-check ---------------------------------------------------------
EVENT_PARAMS: dict[str, str] = {
    # the latest negative market news of severity ≥ 2, as the trigger would bind it
    "alr_neg_news_holders": """SELECT id AS event_id, security_id AS event_security, title AS event_title
                               FROM crm_market_event WHERE deleted_at IS NULL AND sentiment = 'negative'
                                 AND severity >= 2 ORDER BY id DESC LIMIT 1""",
}


def event_params(conn, name: str) -> dict[str, Any]:
    """Parameters a real triggering record would bind for rule ``name`` ({} if it has none)."""
    sql = EVENT_PARAMS.get(name)
    if sql is None:
        return {}
    row = conn.execute(sa.text(sql)).mappings().first()
    return dict(row) if row else {}
