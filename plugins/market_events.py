"""Market events (公告与市场事件): listed companies' announcements, from an exchange or vendor feed.

* **Format**: the importer ``market_announcements`` takes the feed's CSV or Excel file —
  announcement id, security, title and publication time, and where the vendor gives them the
  event type, sentiment (利空/中性/利好) and severity (1–3). Rows are matched on the
  announcement id, so a feed delivered twice creates nothing new and alerts nobody twice.
* **Classification**: what the feed leaves out is derived on save. The event type from the
  title's wording (立案调查, 退市风险, 预亏, 问询函, 减持 …); the sentiment and severity from the
  event type. The entity's check constraints still refuse a positive "investigation".
* **Alerts**: a negative event of severity 2 or more, once created, triggers the rule
  ``alr_neg_news_holders``: a follow-up task for the manager of every large holder.
* **Drop folder**: with ``SCRM_MARKET_EVENTS_DIR`` set, the scheduler imports the files named
  ``announcements_….csv`` (or ``.xlsx``) left there every five minutes, then moves each to
  ``done/`` or ``failed/``.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from scrm.data.importers import Importer
from scrm.plugins import hookimpl

__version__ = "1.0.0"
SCRM_REQUIRES = ">=0.1,<2"

# the wording of a title, most specific first, and the event type it announces
TITLE_TYPES = (
    (r"立案|调查通知书", "regulatory_investigation"),
    (r"终止上市|退市风险|退市", "delisting_risk"),
    (r"实施其他风险警示|风险警示|(?<![A-Za-z])\*?ST(?![A-Za-z])", "st_designation"),
    (r"行政处罚|纪律处分|监管措施|警示函", "regulatory_penalty"),
    (r"问询函|关注函", "inquiry_letter"),
    (r"预亏|预减|业绩亏损|首亏|续亏", "earnings_loss_warning"),
    (r"非标准|保留意见|无法表示意见|否定意见", "non_standard_audit"),
    (r"商誉减值", "goodwill_impairment"),
    (r"质押.*(平仓|风险)|平仓风险", "pledge_risk"),
    (r"重大诉讼|仲裁", "major_litigation"),
    (r"违约|未能按期兑付", "default"),
    (r"停牌", "suspension"),
    (r"减持", "major_shareholder_reduction"),
    (r"解禁|解除限售|限售股.*上市流通", "lockup_expiry"),
    (r"回购", "buyback"),
    (r"增持", "insider_increase"),
    (r"预增|扭亏|超预期", "earnings_beat"),
    (r"分红|派息|权益分派|利润分配", "dividend"),
)
NEGATIVE = {"earnings_loss_warning": 2, "regulatory_investigation": 3, "regulatory_penalty": 2, "inquiry_letter": 1,
            "major_shareholder_reduction": 2, "pledge_risk": 2, "st_designation": 3, "delisting_risk": 3,
            "non_standard_audit": 2, "major_litigation": 2, "goodwill_impairment": 2, "default": 3, "suspension": 2}  # fmt: skip
POSITIVE = {"earnings_beat", "buyback", "insider_increase"}  # dividends and lock-up expiries are neutral

COLUMNS = {
    "announcement_id": ("公告编号", "公告ID", "公告id", "announcement id", "id"),
    "security": ("证券代码", "代码", "证券", "symbol", "security"),
    "title": ("公告标题", "标题", "title"),
    "published_at": ("发布时间", "公告时间", "公告日期", "published at", "time"),
    "event_type": ("事件类型", "公告类型", "event type", "type"),
    "sentiment": ("倾向", "情感", "情绪", "sentiment"),
    "severity": ("严重程度", "重要性", "severity"),
    "source": ("来源", "source"),
    "url": ("链接", "原文链接", "公告链接", "url", "link"),
}


def classify(title: str) -> str | None:
    """The event type a title announces, or None when it says nothing we know."""
    for pattern, event_type in TITLE_TYPES:
        if re.search(pattern, title or ""):
            return event_type
    return None


def sentiment_of(event_type: str | None) -> str | None:
    if event_type is None:
        return None
    return "negative" if event_type in NEGATIVE else "positive" if event_type in POSITIVE else "neutral"


def _pull(config) -> list[Path]:
    folder = config.get("SCRM_MARKET_EVENTS_DIR")
    if not folder or not Path(folder).is_dir():
        return []
    return sorted(p for p in Path(folder).iterdir()
                  if p.is_file() and p.suffix.lower() in (".csv", ".xlsx") and p.name.lower().startswith("announcement"))  # fmt: skip


def _file_away(path: Path, job) -> None:
    outcome = "done" if job is not None and job.status == "done" and not job.failed_rows else "failed"
    (path.parent / outcome).mkdir(exist_ok=True)
    shutil.move(str(path), path.parent / outcome / path.name)


@hookimpl
def scrm_importers(config):
    return [
        Importer(
            name="market_announcements", entity="market_event", columns=COLUMNS, key=("announcement_id",),
            label={"zh-CN": "公告资讯文件", "en": "Announcement feed"}, mode="skip",
schedule="*/5 * * * *", pull=_pull, done=_file_away,
        )
    ]  # fmt: skip


@hookimpl
def scrm_derive_record(entity, record, old):
    if entity.name != "market_event":
        return
    if not record.get("event_type") and old is None:
        record["event_type"] = classify(record.get("title") or "")
    event_type = record.get("event_type")
    if not record.get("sentiment"):
        record["sentiment"] = sentiment_of(event_type)
    if record.get("severity") is None and event_type is not None:
        record["severity"] = NEGATIVE.get(event_type, 1)
