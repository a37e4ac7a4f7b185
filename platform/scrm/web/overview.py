"""The customer 360° page: who the customer is, what they hold and do, and everything the firm did
with them, on one screen; with the quick actions an account manager takes from there.

Everything is read through the record service, so the user's scope, field access and masking
apply to every panel: a panel on an entity the user may not read is left out, a chart of values
the user sees masked is not drawn. Each panel is one or two bounded statements (latest N, one
year of daily totals, one day of positions), so the page costs the same for a customer with
five trades as for one with five thousand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from flask import Blueprint, flash, redirect, request, url_for

from ..data.reading import MAX_LIMIT
from ..errors import NotFound, ValidationFailed
from ..i18n import _, text
from ..meta.model import EntityDef
from ..runtime import runtime, snapshot
from .forms import LayoutBuilder
from .pages import check_id, record_title, require_login, service
from .render import render
from .times import local_time

bp = Blueprint("overview", __name__)
bp.before_request(require_login)

HEADER = ["asset_tier", "vip_level", "investor_category", "risk_level", "risk_valid_until", "primary_manager",
          "servicing_org", "customer_status", "lifecycle_stage", "mobile"]  # fmt: skip
FIGURES = ["total_assets", "net_assets", "assets_change_pct", "last_trade_date", "days_since_trade", "last_contact_at"]
SHOWN = [*HEADER, *FIGURES, "customer_no", "tags", "is_lowest_category"]  # read (and audited as seen): no more
TRADE_COLUMNS = ["trade_time", "security", "side", "quantity", "price", "amount"]
OPEN_TASK = {"field": "status", "op": "in", "value": ["open", "in_progress"]}


@dataclass(frozen=True)
class Source:
    """One kind of event on the timeline: an entity related to the customer, its date field, the
    fields that make its line, and its icon."""

    kind: str
    entity: str
    at: str
    title: str
    detail: tuple[str, ...]
    icon: str


TIMELINE = (
    Source("interaction", "interaction", "started_at", "subject", ("channel", "purpose", "outcome", "employee"),
           "bi-telephone"),
    Source("ticket", "service_ticket", "created_at", "subject", ("category", "priority", "status", "assignee"),
           "bi-life-preserver"),
    Source("task", "task", "created_at", "title", ("type", "priority", "status", "assignee"), "bi-check2-square"),
    Source("alert", "task", "created_at", "title", ("priority", "status", "assignee"), "bi-bell"),
    Source("recommendation", "product_recommendation", "recommended_at", "product",
           ("match_result", "outcome", "recommended_by"), "bi-lightbulb"),
    Source("complaint", "complaint", "received_at", "complaint_no", ("type", "severity", "status"), "bi-megaphone"),
)  # fmt: skip
KIND_LABELS = {
    "interaction": ("接触", "Contacts"),
    "ticket": ("工单", "Tickets"),
    "task": ("任务", "Tasks"),
    "alert": ("预警", "Alerts"),
    "recommendation": ("推荐", "Recommendations"),
    "complaint": ("投诉", "Complaints"),
}
TIMELINE_SIZE = 30


@dataclass
class Item:
    kind: str
    icon: str
    at: datetime | date
    when: str
    title: str
    details: list[str]
    url: str


@dataclass
class Panel:
    label: str
    columns: list[str] = field(default_factory=list)
    rows: list[list] = field(default_factory=list)
    more_url: str = ""


def kind_label(kind: str) -> str:
    zh, en = KIND_LABELS[kind]
    return text({"zh-CN": zh, "en": en})


class CustomerOverview:
    def __init__(self, svc, record_id: int):
        self.svc = svc
        self.entity: EntityDef = svc.entity("customer")
        title = self.entity.title_field
        self.record = svc.get("customer", record_id, fields=[*SHOWN, *([title.name] if title else [])])
        self.id = record_id
        self.about = {"field": "customer", "op": "eq", "value": record_id}

    def can_read(self, entity: str) -> bool:
        definition = self.svc.snapshot.entity(entity)
        return definition is not None and self.svc.permissions.can(definition, "read")

    def shown(self, entity: EntityDef, record: dict, name: str) -> str:
        f = entity.field(name)
        if f is None or not self.svc.permissions.visible(entity, f):
            return ""
        value = record.get(f.name)
        if value in (None, "", []):
            return ""
        if f.type == "ref":
            return record.get("_titles", {}).get(f.name) or f"#{value}"
        return LayoutBuilder(self.svc, entity, "view", record).display(f, value)

    @staticmethod
    def when(at: datetime | date) -> str:
        """A system column's instant (created_at), in local time like the fields' own."""
        return local_time(at) if isinstance(at, datetime) else at.isoformat()

    def facts(self, names: list[str]) -> list[tuple[str, str, str]]:
        """(field, label, shown value) of the header fields the user may see."""
        out = []
        for name in names:
            f = self.entity.field(name)
            if f is not None and self.svc.permissions.visible(self.entity, f):
                out.append((name, text(f.label), self.shown(self.entity, self.record, name) or "—"))
        return out

    def risk_expiry(self) -> str:
        """``expired``, ``soon`` (within 30 days) or ``""`` for the risk assessment's validity."""
        f = self.entity.field("risk_valid_until")
        until = self.record.get("risk_valid_until")
        if f is None or until is None or not self.svc.permissions.readable(self.entity, f):
            return ""
        today = date.today()
        return "expired" if until < today else "soon" if until <= today + timedelta(days=30) else ""

    # -- assets ---------------------------------------------------------------------------
    def curve(self) -> dict | None:
        """A year of daily total and net assets (summed over the customer's accounts)."""
        entity = self.svc.snapshot.entity("asset_snapshot")
        if entity is None or not self.can_read("asset_snapshot"):
            return None
        if not all(self.svc.permissions.readable(entity, entity.field(n)) for n in ("total_assets", "net_assets")):
            return None
        rows = self.svc.aggregate(
            "asset_snapshot",
            group_by=["snapshot_date"],
            measures={"total": ("sum", "total_assets"), "net": ("sum", "net_assets")},
            filter={"all": [self.about, {"field": "snapshot_date", "op": "within_last", "value": "365d"}]},
            limit=400,
        )
        return {
            "dates": [r["snapshot_date"].isoformat() for r in rows],
            "total": [_number(r["total"]) for r in rows],
            "net": [_number(r["net"]) for r in rows],
            "labels": [_("Total assets"), _("Net assets")],
        }

    def holdings(self) -> tuple[list[dict], Panel | None]:
        """The latest day's positions: market value by industry, and the largest holdings."""
        position = self.svc.snapshot.entity("position")
        if position is None or not self.can_read("position"):
            return [], None
        if not self.svc.permissions.readable(position, position.field("market_value")):
            return [], None
        latest = self.svc.aggregate(
            "position", group_by=[], measures={"day": ("max", "as_of_date")}, filter=self.about, limit=1
        )
        day = latest[0]["day"] if latest else None
        if day is None:
            return [], None
        page = self.svc.list(
            "position",
            filter={"all": [self.about, {"field": "as_of_date", "op": "eq", "value": _iso(day)}]},
            sort="-market_value",
            fields=["security", "quantity", "market_value", "unrealized_pnl", "weight_in_portfolio"],
            limit=200,
        )
        industries: dict[int, str] = {}
        ids = sorted({r["security"] for r in page.items if r.get("security")})
        if ids and self.can_read("security"):
            found = self.svc.list(
                "security", filter={"field": "id", "op": "in", "value": ids}, fields=["sw_industry_l1"], limit=200
            )
            industries = {r["id"]: r.get("sw_industry_l1") or _("Other") for r in found.items}
        sectors: dict[str, Decimal] = {}
        for r in page.items:
            sector = industries.get(r.get("security"), _("Other"))
            sectors[sector] = sectors.get(sector, Decimal(0)) + (r.get("market_value") or Decimal(0))
        pie = [{"name": k, "value": _number(v)} for k, v in sorted(sectors.items(), key=lambda kv: -kv[1])]
        columns = ["security", "quantity", "market_value", "unrealized_pnl", "weight_in_portfolio"]
        panel = Panel(
            _("Largest holdings on {day}").format(day=_iso(day)),
            [text(position.field(c).label) for c in columns],
            [[self.shown(position, r, c) for c in columns] for r in page.items[:10]],
            url_for("pages.list_records", entity="position", f_customer=self.id),
        )
        return pie, panel

    def trades(self) -> Panel | None:
        trade = self.svc.snapshot.entity("trade")
        if trade is None or not self.can_read("trade"):
            return None
        columns = [c for c in TRADE_COLUMNS if trade.field(c) and self.svc.permissions.visible(trade, trade.field(c))]
        page = self.svc.list("trade", filter=self.about, sort="-trade_time", fields=columns, limit=20)
        return Panel(
            _("Recent trades"),
            [text(trade.field(c).label) for c in columns],
            [[self.shown(trade, r, c) for c in columns] for r in page.items],
            url_for("pages.list_records", entity="trade", f_customer=self.id),
        )

    # -- service ----------------------------------------------------------------------------
    def timeline(self, kinds: set[str] | None = None) -> list[Item]:
        """Interactions, tickets, tasks, alerts, recommendations and complaints, newest first."""
        items: list[Item] = []
        for source in TIMELINE:
            if kinds and source.kind not in kinds:
                continue
            entity = self.svc.snapshot.entity(source.entity)
            if entity is None or not self.can_read(source.entity) or entity.field(source.title) is None:
                continue
            condition = self.about
            if source.entity == "task" and entity.field("type") is not None:
                alert = {"field": "type", "op": "eq", "value": "alert_followup"}
                condition = {"all": [self.about, alert if source.kind == "alert" else {"not": alert}]}
            fields = [source.at, source.title, *[d for d in source.detail if entity.field(d)]]
            page = self.svc.list(source.entity, filter=condition, sort=f"-{source.at}", fields=fields, limit=15)
            for r in page.items:
                at = r.get(source.at)
                if at is None:
                    continue
                items.append(
                    Item(
                        source.kind,
                        source.icon,
                        at,
                        self.shown(entity, r, source.at) or self.when(at),
                        self.shown(entity, r, source.title) or f"{text(entity.label)} #{r['id']}",
                        [v for v in (self.shown(entity, r, d) for d in source.detail) if v],
                        url_for("pages.detail", entity=source.entity, record_id=r["id"]),
                    )
                )
        items.sort(key=lambda i: _moment(i.at), reverse=True)
        return items[:TIMELINE_SIZE]

    def open_tasks(self) -> Panel | None:
        task = self.svc.snapshot.entity("task")
        if task is None or not self.can_read("task"):
            return None
        columns = ["title", "priority", "due_at", "assignee"]
        page = self.svc.list(
            "task", filter={"all": [self.about, OPEN_TASK]}, sort="due_at", fields=columns + ["status"], limit=10
        )
        rows = [
            [
                url_for("pages.detail", entity="task", record_id=r["id"]),
                *[self.shown(task, r, c) for c in columns],
                bool(r.get("due_at") and r["due_at"] < datetime.now(r["due_at"].tzinfo)),
            ]
            for r in page.items
        ]
        return Panel(_("Open tasks"), [text(task.field(c).label) for c in columns], rows)

    # -- knowledge ----------------------------------------------------------------------------
    def topics(self, held: list[dict]) -> list[str]:
        """What the customer's situation is about, in the words articles are tagged with."""
        out = [row["name"] for row in held[:5]]
        category = self.record.get("investor_category") or ""
        if category.startswith("professional"):
            out.append("专业投资者")
        if self.risk_expiry() == "expired":
            out += ["测评过期", "风险测评"]
        if self.record.get("is_lowest_category"):
            out.append("适当性")
        return out

    def suggestions(self, topics: list[str], note: str = "") -> list[tuple[str, str, list[str]]]:
        return suggest(self.svc, topics, note)


def suggest(svc, topics: list[str], note: str = "", limit: int = 5) -> list[tuple[str, str, list[str]]]:
    """Published knowledge articles tagged with one of ``topics`` or with a keyword that occurs in
    ``note``: (title, url, matching keywords)."""
    article = svc.snapshot.entity("knowledge_article")
    if article is None or not svc.permissions.can(article, "read") or article.field("keywords") is None:
        return []
    wanted = [t for t in dict.fromkeys(topics) if t]
    note = note.strip()[:2000]
    if note:
        published = {"field": "status", "op": "eq", "value": "published"}
        known = svc.list("knowledge_article", filter=published, fields=["keywords"], sort="id", limit=MAX_LIMIT)
        keywords = {k for r in known.items for k in (r.get("keywords") or [])}
        wanted = sorted((k for k in keywords if k in note), key=len, reverse=True) + wanted
    if not wanted:
        return []
    page = svc.list(
        "knowledge_article",
        filter={
            "all": [
                {"field": "keywords", "op": "has_any", "value": wanted[:50]},
                {"field": "status", "op": "eq", "value": "published"},
            ]
        },
        sort="-effective_from",
        fields=["title", "keywords"],
        limit=limit,
    )
    return [
        (
            r.get("title") or f"#{r['id']}",
            url_for("pages.detail", entity="knowledge_article", record_id=r["id"]),
            [k for k in wanted if k in (r.get("keywords") or [])][:4],
        )
        for r in page.items
    ]


def _number(value) -> float | None:
    return None if value is None else float(value)


def _iso(value) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _moment(value) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    return datetime(value.year, value.month, value.day)


def plugin_panels(svc, record_id: int) -> list[Panel]:
    """The panels plugins add (``scrm_customer_360_panels``, given the whole customer as the viewer
    sees it); a panel without a label or with rows that are not lists is left out, and a link goes
    only to a page of this site or an http(s) one."""
    plugins = runtime().plugins
    if not plugins.implemented("scrm_customer_360_panels"):
        return []
    out = []
    record = svc.get("customer", record_id)
    for panels in plugins.call("scrm_customer_360_panels", svc=svc, record=record):
        for p in panels if isinstance(panels, list | tuple) else ():
            try:
                more = str(p.get("more_url") or "")
                out.append(Panel(
                    str(p["label"]), [str(c) for c in p.get("columns", [])],
                    [[str(c) for c in row] for row in p.get("rows", [])],
                    more if more.startswith(("/", "https://", "http://")) and not more.startswith("//") else "",
                ))  # fmt: skip
            except (KeyError, TypeError, AttributeError):
                continue
    return out


@bp.get("/e/customer/<int:record_id>/360")
def customer_360(record_id: int):
    svc = service()
    if snapshot().entity("customer") is None:
        raise NotFound(_("This page does not exist."))
    view = CustomerOverview(svc, check_id(record_id))
    kinds = {k for k in request.args.getlist("kind") if k in KIND_LABELS}
    timeline = view.timeline(kinds or None)
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "timeline":
        return render("customer360", {"timeline": timeline}, entity="customer", block="timeline")
    pie, holdings = view.holdings()
    context = {
        "title": record_title(view.entity, view.record),
        "record": view.record,
        "record_id": record_id,
        "facts": view.facts(HEADER),
        "figures": view.facts(FIGURES),
        "tags": view.record.get("tags") or [],
        "risk_expiry": view.risk_expiry(),
        "curve": view.curve(),
        "sectors": pie,
        "holdings": holdings,
        "trades": view.trades(),
        "plugin_panels": plugin_panels(svc, record_id),
        "timeline": timeline,
        "kinds": [(k, kind_label(k), k in kinds) for k in KIND_LABELS],
        "tasks": view.open_tasks(),
        "suggestions": view.suggestions(view.topics(pie)),
        "actions": quick_actions(svc, record_id),
        "detail_url": url_for("pages.detail", entity="customer", record_id=record_id),
    }
    return render("customer360", context, entity="customer")


@bp.post("/e/customer/<int:record_id>/360/suggest")
def suggestions_for_note(record_id: int):
    """Knowledge articles for the note being typed (htmx, as the user types)."""
    svc = service()
    view = CustomerOverview(svc, check_id(record_id))
    found = view.suggestions(view.topics([]), request.form.get("summary", ""))
    return render("customer360", {"suggestions": found}, entity="customer", block="suggestions")


@bp.post("/e/customer/<int:record_id>/360/call")
def log_call(record_id: int):
    """Log a call from the 360° page: an outbound phone interaction, now, by the user."""
    svc = service()
    check_id(record_id)
    values = {
        "customer": record_id,
        "channel": "phone_outbound",
        "direction": "outbound",
        "started_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        "subject": request.form.get("subject", "").strip()[:200] or _("Phone call"),
        "summary": request.form.get("summary", "").strip() or None,
        "outcome": request.form.get("outcome") or None,
        "purpose": request.form.get("purpose") or None,
    }
    if svc.principal.employee:
        values["employee"] = svc.principal.employee
    try:
        svc.create("interaction", {k: v for k, v in values.items() if v is not None})
    except ValidationFailed as exc:
        problems = "; ".join(f"{d.path}: {d.message}" for d in exc.details) or exc.message
        flash(_("The call was not logged: {problems}").format(problems=problems), "danger")
    else:
        flash(_("The call was logged."), "success")
    return redirect(url_for("overview.customer_360", record_id=record_id), 303)


def quick_actions(svc, record_id: int) -> list[tuple[str, str, str]]:
    """(label, url, icon) of the records the user may start for this customer."""
    out = []
    for entity, label, icon, extra in (
        ("service_ticket", _("Open a ticket"), "bi-life-preserver", {}),
        ("product_recommendation", _("Recommend a product"), "bi-lightbulb", {}),
        ("task", _("New task"), "bi-check2-square", {}),
        ("interaction", _("Record a visit or message"), "bi-chat-dots", {}),
    ):
        definition = svc.snapshot.entity(entity)
        if definition is not None and svc.permissions.can(definition, "create"):
            out.append((label, url_for("pages.create", entity=entity, customer=record_id, **extra), icon))
    return out
