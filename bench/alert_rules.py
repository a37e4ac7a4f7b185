"""The nightly rule batch: all shipped alert and tagging rules over the demo generator's data,
against the same rules written by hand in SQL.

    python bench/alert_rules.py                                     # 10,000 customers, SQLite
    python bench/alert_rules.py --customers 100000 --rounds 3 \\
        --database postgresql://postgres@127.0.0.1:5432            # PostgreSQL
    python bench/alert_rules.py --customers 1000000 \\
        --database postgresql://postgres@127.0.0.1:5432            # the issue's target (PostgreSQL)

The dataset is the demo generator's (``scrm init --demo``): per customer about 12 trades and 90
days of asset snapshots per account, positions, transfers, tickets… At 1,000,000 customers that
is about 12 M trades and 93 M snapshots; it is made once (``bench/scale_data.prepare_small``) and
kept (SQLite in ``bench/data/``, PostgreSQL as ``scrm_bench_<size>_demo``).

Each round starts from the data as generated (the engine's tasks, messages, firings, runs and
tag links of earlier rounds are undone) and runs every shipped rule as the scheduler would at
18:30 on the day the data was generated — the first night of the rules on that brokerage:

* ``statement`` — the one evaluating statement of the rule (dry run, median of the rounds);
* ``run`` — the real run: statement, firing inserts, tasks, tags, field values, messages;
* ``baseline`` — one full read of the customer table (``SELECT count(*) … WHERE status …``),
  measured in the same run, so figures compare across noisy machines as ratios;
* ``platform`` / ``hand-written`` — the engine's evaluating statement for the rule, built as the
  engine builds it (metrics, action values, last firing and held tags included, all rows fetched),
  against the rule written by hand in SQL (``bench/handwritten_rules.py``: the matching ids only).
  Both run on one connection right before the rule's real run, interleaved, the first of the two
  alternating by round and rule; the figure is the median over the rounds. Their id sets must be
  equal — the engine's matched set, before firing dedup and cooldown; for tag rules with ``untag``
  what qualifies for the tag — or the run fails naming the rule and some differing ids.

Before the first round every rule is also checked (not timed) at a second moment, 18:30 on the
last day of the data's snapshots, when the windows over transfers, sales and snapshots are full,
with parameters a real triggering record binds (``alr_neg_news_holders``: the latest negative news).

The exit status is 1 when the batch misses ``--target`` seconds or the platform's statements
together take more than ``--sql-target`` times the hand-written ones; 2 when a set differs.

Event-triggered rules are run over all records (as their end-of-day reconcile would), which
costs more than an event, which evaluates one record.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from datetime import time as clock
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from handwritten_rules import Moment, event_params, query  # noqa: E402
from scale_data import _app, database_url, prepare_small  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SHOWN_IDS = 5  # differing ids named in a mismatch


class Mismatch(Exception):
    pass


def clean(db, built_at: str) -> None:
    """Put the data back as generated: forget what earlier rounds fired (firings, runs, tasks,
    messages) and the tag links they added or ended, so every round is the same first night."""
    moment = datetime.fromisoformat(built_at).astimezone(UTC)
    if db.engine.dialect.name == "sqlite":  # stored as naive UTC text, compared as text
        moment = moment.replace(tzinfo=None).isoformat(" ", "microseconds")
    with db.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM crm_task WHERE alert_event IS NOT NULL"))
        conn.execute(sa.text("DELETE FROM crm_customer_tag WHERE created_at > :t"), {"t": moment})
        conn.execute(sa.text("UPDATE crm_customer_tag SET removed_at = NULL WHERE removed_at > :t"), {"t": moment})
        for table in ("scrm_alert_firing", "scrm_alert_run", "scrm_notification", "scrm_outbox", "scrm_alert_event"):
            conn.execute(sa.text(f"DELETE FROM {table}"))


def baseline(db) -> float:
    started = time.perf_counter()
    with db.engine.connect() as conn:
        conn.execute(
            sa.text("SELECT count(*) FROM crm_customer WHERE deleted_at IS NULL AND customer_status <> 'closed'")
        )
    return (time.perf_counter() - started) * 1000


# -- the engine's statement against the hand-written one ----------------------------------------------
def platform_statement(snap, rule, now: datetime, params: dict):
    """The statement ``run_rule`` evaluates (``scrm.alerts.engine._evaluate``): the rule's records
    matching scope and condition, with their last firing and held tags (metrics and action values
    are read afterwards for the records that fire)."""
    from scrm.alerts import actions
    from scrm.alerts.compile import matches, prepare
    from scrm.data.evaluation import environment
    from scrm.data.records import RecordService
    from scrm.db import dialect_name

    env = environment(snap, now=now, params={**rule.params, **params})
    held = rule.held_tags()
    tags = actions.tag_ids(snap, RecordService(snap, None, system=True), held, create=False) if held else {}
    holding = list(tags.values()) if held and len(tags) == len(set(held)) else None
    return matches(prepare(snap, rule), snap, env, dialect_name(), tag_ids=holding)


def timed(execute) -> tuple[set[int], float]:
    started = time.perf_counter()
    rows = execute().all()
    return {row[0] for row in rows}, (time.perf_counter() - started) * 1000


@dataclass
class Pair:
    platform_ms: float
    handwritten_ms: float
    matched: int


def compare(snap, rule, now: datetime, tz: ZoneInfo, params: dict, platform_first: bool = True) -> Pair:
    """Run the engine's statement and the hand-written one for ``rule`` at ``now``; raise
    :class:`Mismatch` unless they return the same ids."""
    from scrm.db import db, dialect_name, run

    stmt = platform_statement(snap, rule, now, params)
    hand = query(rule.name, Moment(now, tz, dialect_name(), {**rule.params, **params}))
    sides = {"platform": lambda: run(stmt), "hand": lambda: run(hand.statement(), hand.params)}
    order = ["platform", "hand"] if platform_first else ["hand", "platform"]
    got = {side: timed(sides[side]) for side in order}
    db.session.rollback()  # a reader's transaction: nothing is held while the rule then writes
    (ours, platform_ms), (theirs, hand_ms) = got["platform"], got["hand"]
    if ours != theirs:
        raise Mismatch(describe(rule.name, now, ours, theirs))
    return Pair(platform_ms, hand_ms, len(ours))


def describe(name: str, now: datetime, platform: set[int], hand: set[int]) -> str:
    only_platform, only_hand = sorted(platform - hand), sorted(hand - platform)
    return (f"{name} at {now.isoformat()}: the engine matched {len(platform):,}, the hand-written SQL {len(hand):,};"
            f" only the engine: {len(only_platform):,} {only_platform[:SHOWN_IDS]},"
            f" only hand-written: {len(only_hand):,} {only_hand[:SHOWN_IDS]}")  # fmt: skip


def verification_moment(db, tz: ZoneInfo) -> datetime:
    """18:30 on the last day of the snapshots: the windows of every rule hold data."""
    with db.engine.connect() as conn:
        last = conn.execute(sa.text("SELECT max(snapshot_date) FROM crm_asset_snapshot")).scalar_one()
    day = datetime.fromisoformat(str(last)).date()
    return datetime.combine(day, clock(18, 30), tz).astimezone(UTC)


def cross_check(db, snap, rules: list, tz: ZoneInfo) -> dict:
    """Every rule's two sets compared at the verification moment (not timed): ``{moment, matched}``."""
    now = verification_moment(db, tz)
    matched = {}
    for rule in rules:
        params = event_params(db.session.connection(), rule.name)
        matched[rule.name] = {"matched": compare(snap, rule, now, tz, params).matched, "params": params}
    counts = ", ".join(f"{name} {entry['matched']:,}" for name, entry in matched.items())
    print(f"cross-check at {now.astimezone(tz).isoformat()}: the two sets agree for {len(rules)} rules;"
          f" matched {counts}", flush=True)  # fmt: skip
    return {"moment": now.isoformat(), "rules": matched}


# -- the batch -----------------------------------------------------------------------------------------
@dataclass
class Figures:
    statement: list[float] = field(default_factory=list)
    run: list[float] = field(default_factory=list)
    platform: list[float] = field(default_factory=list)
    handwritten: list[float] = field(default_factory=list)
    matched: int = 0
    matched_sql: int = 0
    fired: int = 0

    def as_dict(self) -> dict:
        return {"statement": self.statement, "run": self.run, "platform_ms": self.platform,
                "handwritten_ms": self.handwritten, "matched": self.matched, "matched_sql": self.matched_sql,
                "fired": self.fired}  # fmt: skip


def one_round(snap, rules: list, now: datetime, tz: ZoneInfo, round_no: int, results: dict[str, Figures]) -> float:
    """Every rule once: the dry run, the two statements compared, the real run. The batch's total (ms)."""
    from scrm.alerts.engine import run_rule

    total = 0.0
    for i, rule in enumerate(rules):
        name = rule.name
        dry = run_rule(name, now=now, dry_run=True)
        pair = compare(snap, rule, now, tz, {}, platform_first=(round_no + i) % 2 == 0)
        real = run_rule(name, now=now)
        if real.error or dry.error:
            print(f"{name}: {real.error or dry.error}", file=sys.stderr)
        entry = results.setdefault(name, Figures())
        entry.statement.append(dry.statement_ms)
        entry.run.append(real.duration_ms)
        entry.platform.append(pair.platform_ms)
        entry.handwritten.append(pair.handwritten_ms)
        entry.matched, entry.fired, entry.matched_sql = real.matched, real.fired, pair.matched
        total += real.duration_ms
        print(f"  round {round_no + 1} {name:28} statement {dry.statement_ms:9.0f} ms  run {real.duration_ms:9.0f} ms"
              f"  matched {real.matched:>9,}  fired {real.fired:>7,}"
              f"  | platform {pair.platform_ms:9.1f} ms  hand-written {pair.handwritten_ms:9.1f} ms", flush=True)  # fmt: skip
    return total


def print_batch(names: list[str], results: dict[str, Figures], base: float, total_s: float, target: float) -> None:
    print(f"{'rule':28} {'statement ms':>12} {'run ms':>10} {'× base':>8} {'matched':>10} {'fired':>8}")
    for name in names:
        r = results[name]
        statement, run_ms = statistics.median(r.statement), statistics.median(r.run)
        print(f"{name:28} {statement:12.0f} {run_ms:10.0f} {run_ms / base:8.1f} {r.matched:10,} {r.fired:8,}")
    verdict = "meets" if total_s <= target else "MISSES"
    print(f"{'total':28} {sum(statistics.median(r.statement) for r in results.values()):12.0f}"
          f" {total_s * 1000:10.0f} {total_s * 1000 / base:8.1f}   -> {total_s:.1f} s, {verdict} the {target:.0f} s budget")  # fmt: skip


def sql_summary(names: list[str], results: dict[str, Figures], sql_target: float) -> dict:
    """Print the platform-vs-hand-written table; the totals (sums of the medians) and their ratio."""
    print(f"{'rule':28} {'platform ms':>12} {'hand-written ms':>16} {'ratio':>7} {'matched':>10}")
    platform_total = handwritten_total = 0.0
    for name in names:
        r = results[name]
        ours, theirs = statistics.median(r.platform), statistics.median(r.handwritten)
        platform_total, handwritten_total = platform_total + ours, handwritten_total + theirs
        print(f"{name:28} {ours:12.1f} {theirs:16.1f} {ours / theirs:7.2f} {r.matched_sql:10,}")
    ratio = platform_total / handwritten_total
    verdict = "meets" if ratio <= sql_target else "MISSES"
    print(f"{'total':28} {platform_total:12.1f} {handwritten_total:16.1f} {ratio:7.2f}"
          f"   -> {verdict} the {sql_target:.2f}× target")  # fmt: skip
    return {"platform_ms": platform_total, "handwritten_ms": handwritten_total, "ratio": ratio, "target": sql_target}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--database", help="a postgresql:// server URL (default: SQLite in bench/data/)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of the whole batch (default 1)")
    parser.add_argument("--rules", help="comma-separated rule names (default: all shipped)")
    parser.add_argument("--prepare-only", action="store_true")
    parser.add_argument("--target", type=float, default=300.0, help="the batch's budget in seconds (default 300)")
    parser.add_argument("--sql-target", type=float, default=1.3,
                        help="the platform's statements over the hand-written ones, in total (default 1.3)")  # fmt: skip
    parser.add_argument("--json", type=Path, help="where to write the results (default bench/results/)")
    args = parser.parse_args()

    url = database_url(args.database, args.customers, "_demo")
    info = prepare_small(url, args.customers)
    if args.prepare_only:
        return 0
    app = _app(url)
    from scrm.alerts.model import rules_of
    from scrm.db import db
    from scrm.runtime import snapshot

    tz = ZoneInfo(app.config["SCRM_TIMEZONE"])
    built = datetime.fromisoformat(info["built_at"]).astimezone(tz).date()
    now = datetime.combine(built, clock(18, 30), tz).astimezone(UTC)
    results: dict[str, Figures] = {}
    checked: dict = {}
    bases: list[float] = []
    batch_totals: list[float] = []
    with app.app_context():
        from scrm.installation import initialise

        initialise()  # the shipped rules as they are now (the dataset may be older than an edit)
        db.session.remove()
        snap = snapshot()
        shipped = rules_of(snap)
        names = sorted(shipped)
        if args.rules:
            names = [n for n in names if n in set(args.rules.split(","))]
        rules = [shipped[n] for n in names]
        try:
            for round_no in range(args.rounds):
                db.session.remove()  # no transaction open while the round is reset (SQLite locks)
                clean(db, info["built_at"])
                if round_no == 0:
                    checked = cross_check(db, snap, rules, tz)
                bases.append(baseline(db))
                batch_totals.append(one_round(snap, rules, now, tz, round_no, results))
        except Mismatch as exc:
            print(f"MISMATCH: {exc}", file=sys.stderr)
            return 2
        base = statistics.median(bases)
        dialect = db.engine.dialect.name
    total_s = statistics.median(batch_totals) / 1000
    print()
    print(f"{args.customers:,} customers on {dialect}; baseline (one read of the customer table) {base:.0f} ms")
    print_batch(names, results, base, total_s, args.target)
    print()
    print(f"the engine's evaluating statement against the hand-written SQL (median of {args.rounds} rounds)")
    sql = sql_summary(names, results, args.sql_target)
    RESULTS.mkdir(exist_ok=True)
    out = args.json or RESULTS / f"alert_rules_{dialect}_{args.customers}.json"
    out.write_text(json.dumps({"customers": args.customers, "database": dialect, "baseline_ms": base,
                               "total_s": total_s, "rules": {n: r.as_dict() for n, r in results.items()},
                               "sql": sql, "cross_check": checked,
                               "measured_at": datetime.now(UTC).isoformat()}, indent=2, default=str))  # fmt: skip
    return 0 if total_s <= args.target and sql["ratio"] <= args.sql_target else 1


if __name__ == "__main__":
    sys.exit(main())
