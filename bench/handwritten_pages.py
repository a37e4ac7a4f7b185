"""The baselines of ``bench/pages.py``: five pages written by hand with Flask + Flask-SQLAlchemy.

What a developer would write for exactly these pages of this database, with no metadata at run
time: tables reflected from the database the generated app uses, the statements written out,
labels, colours, titles and the sidebar read once at start-up from the same JSON files (a
developer would type them into dicts; at request time it is the same).

* ``GET /customers/<id>/360`` — the customer 360° page: the session user and roles, the profile
  (manager's and branch's names joined, the mobile decrypted), tags, a year of daily assets, the
  latest day's holdings with their industries, 20 trades, the timeline (15 of each of six kinds,
  newest 30), 10 open tasks, knowledge suggestions, the inbox badge; the same Bootstrap markup,
  and who saw which sensitive values written to the hash-chained audit log, as SCRM does.
* ``POST /customers/<id>/edit`` — the edit form's submission: see :func:`edit` for what it does
  and does not do compared with SCRM.
* ``GET /api/customers`` — a page of customers as JSON, every field as SCRM's API gives it
  (computed fields, multi-valued fields, decrypted personal data, referenced titles), bearer token.
* ``GET /d/<name>`` and ``GET /d/<name>/w/<widget>`` — dashboards D2 and D3: the page and each
  widget's fragment (KPI card, table, ECharts option), one hand-written statement per widget
  (two with the previous period). ``/d/<name>/data`` gives the rows, for checking.

Not done by any of them: per-record scopes, field access and masking (the benchmark signs in as
an administrator, who sees everything), definitions, plugins, caching. On SQLite the connection
gets SCRM's settings (WAL, ``synchronous=NORMAL``, a 64 MB page cache), so that only the code differs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Flask, abort, jsonify, redirect, request, session
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect, generate_csrf
from jinja2 import DictLoader
from markupsafe import Markup

from scrm.security.crypto import Keyring  # AES-GCM with the installation's key: any reader of these columns needs it

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
VALID = 10_000  # a "valid" customer has total assets of at least CNY 10,000
FEES = Decimal("0.0000541")  # handling + regulatory fee rate (D3's net commission)
PALETTE = ["#1f5fa8", "#c8102e", "#2f9e8f", "#e0a100", "#6f42c1", "#5b6b82", "#d63384", "#20c997", "#fd7e14", "#0dcaf0"]
SENSITIVE = ("id_number", "mobile", "phone_alt", "email", "address")  # encrypted at rest, logged when shown
MONEY = {"total_assets", "net_assets", "previous_total_assets", "aum_peak_12m", "assets_month_start",
         "registered_capital", "net_assets_last_year", "financial_assets_last_year"}  # fmt: skip
MULTI = ("intended_varieties", "preferred_sectors", "preferred_product_types", "tags")

BASE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} · SCRM</title><link rel="icon" type="image/svg+xml" href="/static/favicon.svg">
<link rel="stylesheet" href="/static/vendor/bootstrap/bootstrap.min.css">
<link rel="stylesheet" href="/static/vendor/bootstrap-icons/bootstrap-icons.min.css"><link rel="stylesheet" href="/static/scrm.css">
<script src="/static/vendor/htmx/htmx.min.js" defer></script><script src="/static/vendor/bootstrap/bootstrap.bundle.min.js" defer></script>
<script src="/static/scrm.js" defer></script><script src="/static/vendor/echarts/echarts.min.js" defer></script>
{% block head %}{% endblock %}</head>
<body hx-headers='{"X-CSRFToken": "{{ csrf }}"}'>
<nav class="navbar navbar-expand navbar-dark scrm-topbar sticky-top"><div class="container-fluid">
<a class="navbar-brand d-flex align-items-center gap-2" href="/"><span class="scrm-logo">S</span><span class="d-none d-sm-inline">SCRM 证券客户管理系统</span></a>
<div class="ms-auto d-flex align-items-center gap-2"><div class="dropdown"><a class="btn btn-sm btn-outline-light dropdown-toggle" href="#"
 data-bs-toggle="dropdown"><i class="bi bi-translate"></i> 中文</a><ul class="dropdown-menu dropdown-menu-end">
<li><a class="dropdown-item active" href="/lang/zh_CN">中文</a></li><li><a class="dropdown-item" href="/lang/en">English</a></li></ul></div>
<a class="btn btn-sm btn-outline-light position-relative" href="/inbox" title="消息"><i class="bi bi-bell"></i><span id="inbox-badge"
 hx-get="/inbox/badge" hx-trigger="every 60s" hx-swap="outerHTML">{% if user.unread %}<span class="position-absolute top-0 start-100
 translate-middle badge rounded-pill bg-danger">{{ user.unread if user.unread < 100 else '99+' }}</span>{% endif %}</span></a>
<div class="dropdown"><a class="btn btn-sm btn-light dropdown-toggle" href="#" data-bs-toggle="dropdown"><i class="bi bi-person-circle"></i>
 {{ user.name }}</a><ul class="dropdown-menu dropdown-menu-end"><li><span class="dropdown-item-text small text-muted">{{ user.username }} ·
 {{ user.roles|join(', ') }}</span></li><li><a class="dropdown-item" href="/exports">数据导出</a></li><li><a class="dropdown-item" href="/imports">导入记录</a></li>
{% if user.admin %}<li><a class="dropdown-item" href="/design/">设计器</a></li><li><a class="dropdown-item" href="/rules">预警规则</a></li>{% endif %}
<li><form method="post" action="/logout"><input type="hidden" name="csrf_token" value="{{ csrf }}"><button class="dropdown-item">退出登录</button></form></li>
</ul></div></div></div></nav>
<div class="container-fluid"><div class="row"><aside class="col-lg-2 px-0 scrm-sidebar"><div class="offcanvas-lg offcanvas-start" id="sidebar">
<div class="offcanvas-body d-block p-2"><a class="scrm-nav-link" href="/"><i class="bi bi-house"></i> 首页</a>
<a class="scrm-nav-link" href="/d"><i class="bi bi-speedometer2"></i> 看板</a>
{% if user.admin %}<a class="scrm-nav-link" href="/design/"><i class="bi bi-sliders"></i> 设计器</a>{% endif %}
{% for group, items in nav %}<div class="scrm-nav-group">{{ group }}</div>
{% for label, href, icon in items %}<a class="scrm-nav-link" href="{{ href }}"><i class="bi bi-{{ icon }}"></i> {{ label }}</a>{% endfor %}{% endfor %}
</div></div></aside><main class="col-lg-10 px-3 px-md-4 py-3 scrm-main">{% block content %}{% endblock %}</main></div></div></body></html>"""

C360 = """{% extends "base" %}{% block head %}<script src="/static/charts.js" defer></script>{% endblock %}
{% macro panel(p, id) %}<section class="card shadow-sm mb-3"><div class="card-header py-2 d-flex justify-content-between align-items-center">
<span class="fw-semibold" id="{{ id }}-title">{{ p.label }}</span><a class="btn btn-sm btn-link" href="{{ p.more }}">全部 <i class="bi bi-arrow-right"></i></a></div>
<div class="table-responsive"><table class="table table-sm mb-0 align-middle scrm-table" id="{{ id }}-table"><thead class="table-light"><tr>
{% for c in p.columns %}<th scope="col">{{ c }}</th>{% endfor %}</tr></thead><tbody>
{% for row in p.rows %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>
{% else %}<tr><td colspan="{{ p.columns|length }}" class="text-muted small">暂无记录。</td></tr>{% endfor %}</tbody></table></div></section>{% endmacro %}
{% block content %}<nav><ol class="breadcrumb small mb-2"><li class="breadcrumb-item"><a href="/e/customer">客户</a></li>
<li class="breadcrumb-item active">{{ c.name }}</li></ol></nav>
<section class="card shadow-sm mb-3 scrm-360-header"><div class="card-body"><div class="d-flex flex-wrap justify-content-between gap-2 align-items-start">
<div><h1 class="h4 mb-1">{{ c.name }} <span class="text-muted small fw-normal">{{ c.customer_no }}</span></h1>
<div class="d-flex flex-wrap gap-1 mb-2" id="customer-tags">{% for t in tags %}<span class="badge scrm-tag">{{ t }}</span>{% endfor %}
{% if risk_expiry == 'expired' %}<span class="badge text-bg-danger" id="risk-expired"><i class="bi bi-exclamation-triangle"></i> 风险测评已过期</span>
{% elif risk_expiry == 'soon' %}<span class="badge text-bg-warning" id="risk-expiring"><i class="bi bi-hourglass-split"></i> 风险测评 30 天内到期</span>{% endif %}</div></div>
<a class="btn btn-outline-secondary btn-sm" href="/e/customer/{{ c.id }}"><i class="bi bi-card-text"></i> 完整档案</a></div>
<dl class="row row-cols-2 row-cols-md-4 row-cols-xl-5 g-2 mb-0 small scrm-facts">{% for name, label, value in facts %}
<div class="col" data-field="{{ name }}"><dt class="text-muted fw-normal">{{ label }}</dt><dd class="mb-0 fw-semibold">{{ value }}</dd></div>{% endfor %}</dl></div></section>
<div class="row g-3 mb-3">{% for name, label, value in figures %}<div class="col-6 col-md-4 col-xl-2"><div class="card shadow-sm h-100"><div class="card-body py-2">
<div class="small text-muted">{{ label }}</div><div class="fs-5 fw-semibold text-nowrap" data-figure="{{ name }}">{{ value }}</div></div></div></div>{% endfor %}</div>
<div class="row g-3"><div class="col-xl-8"><section class="card shadow-sm mb-3"><div class="card-header py-2 fw-semibold"><i class="bi bi-graph-up"></i> 近一年资产走势</div>
<div class="card-body">{% if curve.dates %}<div class="scrm-chart" id="asset-chart" data-chart="line" data-source="asset-data" role="img"></div>
<script type="application/json" id="asset-data">{{ curve|tojson }}</script>{% else %}<p class="text-muted small mb-0">近一年没有资产快照。</p>{% endif %}</div></section>
<div class="row g-3 mb-3">{% if sectors %}<div class="col-lg-5"><section class="card shadow-sm h-100"><div class="card-header py-2 fw-semibold">
<i class="bi bi-pie-chart"></i> 持仓行业分布</div><div class="card-body"><div class="scrm-chart scrm-chart-sm" id="sector-chart" data-chart="pie" data-source="sector-data"></div>
<script type="application/json" id="sector-data">{{ sectors|tojson }}</script></div></section></div>{% endif %}
{% if holdings %}<div class="{{ 'col-lg-7' if sectors else 'col-12' }}">{{ panel(holdings, 'holdings') }}</div>{% endif %}</div>
{{ panel(trades, 'trades') }}
<section class="card shadow-sm mb-3"><div class="card-header py-2 d-flex flex-wrap gap-2 justify-content-between align-items-center">
<span class="fw-semibold"><i class="bi bi-clock-history"></i> 客户时间线</span><form class="d-flex flex-wrap gap-1" method="get" hx-get="/customers/{{ c.id }}/360"
 hx-target="#timeline" hx-trigger="change" hx-push-url="true">{% for kind, label in kinds %}<input type="checkbox" class="btn-check" name="kind" value="{{ kind }}"
 id="kind-{{ kind }}"><label class="btn btn-sm btn-outline-secondary" for="kind-{{ kind }}">{{ label }}</label>{% endfor %}</form></div>
<ol class="list-group list-group-flush scrm-timeline" id="timeline">{% for i in timeline %}<li class="list-group-item d-flex gap-3" data-kind="{{ i.kind }}">
<span class="scrm-timeline-icon scrm-kind-{{ i.kind }}"><i class="bi {{ i.icon }}"></i></span><div class="flex-grow-1 min-w-0">
<div class="d-flex justify-content-between gap-2"><a href="{{ i.url }}" class="fw-semibold text-truncate">{{ i.title }}</a>
<time class="small text-muted text-nowrap">{{ i.when }}</time></div><div class="small text-muted">{{ i.details|join(' · ') }}</div></div></li>
{% else %}<li class="list-group-item text-muted small">暂无记录。</li>{% endfor %}</ol></section></div>
<div class="col-xl-4"><section class="card shadow-sm mb-3"><div class="card-header py-2 fw-semibold"><i class="bi bi-lightning"></i> 快捷操作</div><div class="card-body">
<form method="post" action="/customers/{{ c.id }}/360/call" id="log-call" class="mb-3"><input type="hidden" name="csrf_token" value="{{ csrf }}">
<label class="form-label small fw-semibold" for="call-subject">记录一次通话</label><input class="form-control form-control-sm mb-2" id="call-subject" name="subject"
 maxlength="200"><textarea class="form-control form-control-sm mb-2" name="summary" rows="3" maxlength="4000" hx-post="/customers/{{ c.id }}/360/suggest"
 hx-trigger="input changed delay:400ms" hx-target="#suggestions"></textarea><div class="d-flex gap-2"><select class="form-select form-select-sm" name="outcome">
<option value="reached">已触达</option><option value="not_reached">未触达</option><option value="callback_requested">要求回电</option></select>
<button class="btn btn-sm btn-primary text-nowrap"><i class="bi bi-telephone"></i> 记录</button></div></form><div class="d-grid gap-2">
{% for label, entity, icon in actions %}<a class="btn btn-sm btn-outline-primary text-start" href="/e/{{ entity }}/new?customer={{ c.id }}"><i class="bi {{ icon }}"></i>
 {{ label }}</a>{% endfor %}</div></div></section>
<section class="card shadow-sm mb-3"><div class="card-header py-2 fw-semibold"><i class="bi bi-journal-text"></i> 知识推荐</div><ul class="list-group list-group-flush small"
 id="suggestions">{% for title, url, matched in suggestions %}<li class="list-group-item"><a href="{{ url }}">{{ title }}</a><div>{% for k in matched %}<span
 class="badge scrm-tag me-1">{{ k }}</span>{% endfor %}</div></li>{% else %}<li class="list-group-item text-muted">暂无适合该客户的知识推荐。</li>{% endfor %}</ul></section>
<section class="card shadow-sm mb-3"><div class="card-header py-2 fw-semibold"><i class="bi bi-check2-square"></i> 待办任务</div><ul class="list-group list-group-flush small"
 id="open-tasks">{% for url, title, priority, due, assignee, overdue in tasks %}<li class="list-group-item"><a href="{{ url }}" class="fw-semibold">{{ title }}</a>
<div class="text-muted">{{ priority }} · <span class="{{ 'text-danger fw-semibold' if overdue else '' }}">{{ due }}</span>{% if assignee %} · {{ assignee }}{% endif %}</div></li>
{% else %}<li class="list-group-item text-muted">没有待办任务。</li>{% endfor %}</ul></section></div></div>{% endblock %}"""

DASHBOARD = """{% extends "base" %}{% block head %}<script src="/static/dashboards.js" defer></script>{% endblock %}{% block content %}
<div class="d-flex flex-wrap align-items-end justify-content-between gap-2 mb-2"><div><h1 class="h4 mb-1">{{ doc.label['zh-CN'] }}</h1>
<p class="text-muted small mb-0">{{ doc.description['zh-CN'] }}</p></div><div class="d-flex gap-2"><div class="dropdown"><button class="btn btn-sm
 btn-outline-secondary dropdown-toggle" data-bs-toggle="dropdown"><i class="bi bi-grid"></i> 看板</button><ul class="dropdown-menu dropdown-menu-end">
{% for n, label in menu %}<li><a class="dropdown-item{{ ' active' if n == name }}" href="/d/{{ n }}">{{ label }}</a></li>{% endfor %}</ul></div>
<a class="btn btn-sm btn-outline-secondary" href="/d/{{ name }}/print{{ query }}"><i class="bi bi-printer"></i> 打印</a></div></div>
<form class="card card-body py-2 mb-3 scrm-dash-filters" method="get"><div class="d-flex flex-wrap align-items-end gap-2"><div><label class="form-label small mb-0">周期</label>
<select class="form-select form-select-sm" name="period"><option value="">默认</option>{% for v, label in periods %}<option value="{{ v }}">{{ label }}</option>{% endfor %}</select></div>
<div><label class="form-label small mb-0">开始</label><input class="form-control form-control-sm" type="date" name="from"></div>
<div><label class="form-label small mb-0">结束</label><input class="form-control form-control-sm" type="date" name="to"></div>
<div><label class="form-label small mb-0">机构</label><select class="form-select form-select-sm" name="org"><option value="">全部</option>
{% for id, label in orgs %}<option value="{{ id }}"{{ ' selected' if id == org }}>{{ label }}</option>{% endfor %}</select></div>
{% if tiers %}<div><label class="form-label small mb-0">客户分层</label><select class="form-select form-select-sm" name="tier" multiple size="1">
{% for v, label in tiers %}<option value="{{ v }}">{{ label }}</option>{% endfor %}</select></div>{% endif %}
<div class="d-flex gap-2"><button class="btn btn-sm btn-primary"><i class="bi bi-funnel"></i> 应用</button><a class="btn btn-sm btn-link" href="/d/{{ name }}">重置</a></div></div>
<div class="small text-muted mt-1"><i class="bi bi-calendar3"></i> <span id="dashboard-range">{{ range }}</span></div></form>
<div class="scrm-dash-grid" id="dashboard-grid">{% for w in widgets %}<section class="card shadow-sm scrm-dash-card scrm-dash-w-{{ w.grid.w }}" id="w-{{ w.id }}">
<div class="card-header bg-white d-flex align-items-center justify-content-between gap-2 py-2"><h2 class="h6 mb-0 text-truncate">{{ w.title['zh-CN'] }}</h2>
<a class="small text-muted" href="/d/{{ name }}/w/{{ w.id }}.csv{{ query }}" title="下载数据（CSV）"><i class="bi bi-download"></i></a></div>
<div class="card-body py-2" hx-get="/d/{{ name }}/w/{{ w.id }}{{ query }}" hx-trigger="revealed" hx-swap="innerHTML"><div class="scrm-dash-loading small py-4
 text-center"><span class="spinner-border spinner-border-sm"></span> 加载中…</div></div></section>{% endfor %}</div>{% endblock %}"""

WIDGET = """{% if kind == 'kpi' %}<div class="scrm-kpi" data-widget="{{ id }}"><a class="scrm-kpi-link" href="{{ drill }}" title="查看明细记录">
<div class="scrm-kpi-value{{ ' text-' ~ k.color if k.color }}" data-value="{{ k.raw if k.raw is not none else '' }}">{{ k.value }}</div></a>
{% if k.previous is defined %}<div class="small text-muted">{% if k.delta is not none %}<span class="{{ 'text-success' if k.up else ('text-muted' if k.flat else
 'text-danger') }}"><i class="bi bi-{{ 'arrow-up-right' if k.up else ('dash' if k.flat else 'arrow-down-right') }}"></i> {{ k.delta }}</span>{% endif %}
 上期：{{ k.previous }}</div>{% endif %}{% if k.secondary %}<div class="d-flex flex-wrap gap-3 small mt-1">{% for label, value in k.secondary %}<span><span
 class="text-muted">{{ label }}</span> <strong>{{ value }}</strong></span>{% endfor %}</div>{% endif %}
{% if description %}<div class="small text-muted mt-1">{{ description }}</div>{% endif %}</div>
{% elif kind == 'chart' %}{% if empty %}<p class="text-muted small py-4 text-center mb-0">本期无数据。</p>{% else %}<div class="scrm-dash-chart" id="chart-{{ id }}"
 data-dash-chart="1" data-source="chart-{{ id }}-option"{% if drill %} data-drill="{{ drill }}"{% endif %} role="img" aria-label="{{ title }}"></div>
<script type="application/json" id="chart-{{ id }}-option">{{ option|tojson }}</script>{% endif %}
{% else %}{% if empty %}<p class="text-muted small py-4 text-center mb-0">本期无数据。</p>{% else %}<div class="table-responsive"><table class="table table-sm
 table-hover align-middle mb-0 scrm-dash-table" data-widget="{{ id }}"><thead><tr>{% if kind == 'ranking' %}<th class="text-muted">#</th>{% endif %}
{% for h in headers %}<th scope="col"{% if not loop.first %} class="text-end"{% endif %}>{{ h }}</th>{% endfor %}</tr></thead><tbody>
{% for r in rows %}<tr data-href="{{ r.href }}">{% if kind == 'ranking' %}<td class="text-muted">{{ loop.index }}</td>{% endif %}
<td><a href="{{ r.href }}">{{ r.label }}</a>{% if kind == 'ranking' %}<div class="scrm-rank-bar mt-1"><span class="scrm-rank-w-{{ r.bar }}"></span></div>{% endif %}</td>
{% for cell in r.cells %}<td class="text-end">{{ cell }}</td>{% endfor %}</tr>{% endfor %}</tbody></table></div>{% endif %}{% endif %}
<div class="small text-muted mt-1 text-end">{{ range }}</div>"""


# -- helpers --------------------------------------------------------------------------------------
def badge(label: str, color: str | None) -> Markup:
    return Markup('<span class="badge {}">{}</span>').format(f"text-bg-{color}" if color else "scrm-tag", label)


def money_text(value: Decimal | None) -> str:
    return "" if value is None else f"{'-' if value < 0 else ''}¥{abs(value):,.2f}"


def fixed(value: Fraction, places: int) -> str:
    d = (Decimal(value.numerator) / Decimal(value.denominator)).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
    return f"{d:,.{places}f}"


def fmt(value, format: str | None) -> str:
    """A dashboard number as people read it (万 / 亿, percentage points, shares)."""
    if value is None:
        return "—"
    n = Fraction(value)
    if format == "percent":
        return fixed(n, 1) + "%"
    if format == "money":
        if abs(n) >= 10**8:
            return fixed(n / 10**8, 2) + " 亿"
        return fixed(n / 10**4, 1) + " 万" if abs(n) >= 10**4 else fixed(n, 0)
    if format == "0.000%":
        return fixed(n * 100, 3) + "%"
    if format == "0.00":
        return fixed(n, 2)
    return fixed(n, 0)


def plain(value):
    if value is None or isinstance(value, int):
        return value
    value = Fraction(value)
    return value.numerator if value.denominator == 1 else float(value)


def ratio(top, bottom, times: int = 1) -> Fraction | None:
    return None if not bottom else Fraction(times) * Fraction(top) / Fraction(bottom)


def add_months(moment: datetime, n: int) -> datetime:
    month = moment.month - 1 + n
    year, month = moment.year + month // 12, month % 12 + 1
    days = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return moment.replace(year=year, month=month, day=min(moment.day, days))


def load_definitions() -> tuple[dict, dict, list]:
    """Field labels and options (value → (label, colour)) of every entity, and the sidebar."""
    labels, options, groups = {}, {}, {}
    for path in sorted((SCHEMAS / "entities").glob("*.json")):
        doc = json.loads(path.read_text())
        for f in doc["fields"]:
            labels[doc["name"], f["name"]] = f["label"]["zh-CN"]
            if "options" in f:
                options[doc["name"], f["name"]] = {
                    o["value"]: (o["label"]["zh-CN"], o.get("color")) for o in f["options"]
                }
        nav = doc.get("nav", {})
        if not nav.get("hidden"):
            item = (nav.get("order", 1000), doc["plural_label"]["zh-CN"], f"/e/{doc['name']}", doc.get("icon", "table"))
            groups.setdefault(nav.get("group", {}).get("zh-CN", "数据"), []).append(item)
    ordered = sorted(groups.items(), key=lambda kv: min(i[0] for i in kv[1]))
    return labels, options, [(g, [i[1:] for i in sorted(items)]) for g, items in ordered]


def create_pages_app(url: str, encryption_key: str, timezone: str) -> Flask:
    app = Flask("handwritten_pages")
    app.config.update(SQLALCHEMY_DATABASE_URI=url, SECRET_KEY="bench")
    app.jinja_loader = DictLoader({"base": BASE, "c360": C360, "dashboard": DASHBOARD, "widget": WIDGET})
    CSRFProtect(app)
    db = SQLAlchemy(app)
    names = ["crm_customer", "crm_employee", "crm_org_unit", "crm_campaign", "scrm_user", "scrm_user_role", "scrm_audit",
             "scrm_change", "scrm_api_token", "scrm_notification", "crm_asset_snapshot", "crm_position", "crm_security",
             "crm_trade", "crm_interaction", "crm_service_ticket", "crm_task", "crm_product_recommendation", "crm_product",
             "crm_complaint", "crm_knowledge_article", "crm_knowledge_article__keywords", *(f"crm_customer__{m}" for m in MULTI)]  # fmt: skip
    meta = sa.MetaData()
    with app.app_context():
        if url.startswith("sqlite"):  # SCRM's connection settings, so that only the code differs

            @sa.event.listens_for(db.engine, "connect")
            def pragmas(dbapi_conn, _record):
                for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000", "cache_size=-65536",
                               "foreign_keys=ON"):  # fmt: skip
                    dbapi_conn.execute(f"PRAGMA {pragma}")

        meta.reflect(db.engine, only=names)
    t = meta.tables
    customer, employee, org_unit, users = t["crm_customer"], t["crm_employee"], t["crm_org_unit"], t["scrm_user"]
    sqlite = url.startswith("sqlite")
    tz, keys = ZoneInfo(timezone), Keyring(encryption_key)
    labels, options, nav = load_definitions()
    dashboards = {
        n: json.loads((SCHEMAS / "dashboards" / f"{n}.json").read_text()) for n in ("customers_aum", "performance")
    }
    pages = {n: app.jinja_env.get_template(n) for n in ("c360", "dashboard", "widget")}  # compiled once

    def dec(value, scale: int = 2) -> Decimal | None:  # SQLite keeps exact decimals as scaled integers
        if value is None:
            return None
        return Decimal(int(value)).scaleb(-scale) if sqlite else Decimal(value)

    def stored(value: Decimal, scale: int = 2):
        return int(value.scaleb(scale)) if sqlite else value

    def utc(value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value

    def local(value: datetime | None) -> str:
        return "" if value is None else utc(value).astimezone(tz).strftime("%Y-%m-%d %H:%M")

    def shown(entity: str, field: str, value):  # an option's label, as a badge when it has a colour
        if value is None:
            return ""
        label, color = options[entity, field].get(value, (value, None))
        return badge(label, color) if color else label

    def run(stmt, **params):
        return db.session.execute(stmt, params)

    def current_user(need_unread: bool = True) -> dict:
        rows = run(
            sa.select(users.c.id, users.c.username, users.c.display_name, t["scrm_user_role"].c.role)
            .select_from(users.outerjoin(t["scrm_user_role"], t["scrm_user_role"].c.user_id == users.c.id))
            .where(users.c.id == session.get("user_id"), users.c.active.is_(True))
        ).all()
        if not rows:
            abort(401)
        roles = sorted(r.role for r in rows if r.role)
        user = {"id": rows[0].id, "username": rows[0].username, "name": rows[0].display_name or rows[0].username,
                "roles": roles, "admin": "admin" in roles, "unread": 0}  # fmt: skip
        if need_unread:
            note = t["scrm_notification"]
            user["unread"] = run(
                sa.select(sa.func.count()).where(note.c.user_id == user["id"], note.c.read_at.is_(None))
            ).scalar()
        return user

    def audit(user: dict, entries: list[dict]) -> None:
        """Entries of the hash-chained audit log (the same chain SCRM keeps), in one transaction."""
        log = t["scrm_audit"]
        if not sqlite:
            run(sa.text("SELECT pg_advisory_xact_lock(7302114501)"))
        prev = run(sa.select(log.c.hash).order_by(log.c.id.desc()).limit(1)).scalar() or "0" * 64
        for entry in entries:
            values = {"at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "user_id": user["id"],
                      "username": user["username"], "roles": ",".join(user["roles"]), "ip": request.remote_addr,
                      "row_count": None, "reason": None, "result": "ok", "detail": None, "record_id": None, **entry}  # fmt: skip
            content = [values[k] for k in ("at", "user_id", "username", "roles", "ip", "action", "entity", "record_id",
                                           "fields", "row_count", "reason", "result", "detail")]  # fmt: skip
            body = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
            values.update(prev_hash=prev, hash=hashlib.sha256(f"{prev}\n{body}".encode()).hexdigest())
            run(sa.insert(log).values(**values))
            prev = values["hash"]
        db.session.commit()

    # -- the customer 360° page ---------------------------------------------------------------------
    def by_customer(table, cid: int):
        return sa.and_(table.c.customer_id == cid, table.c.deleted_at.is_(None))

    @app.get("/customers/<int:cid>/360")
    def customer_360(cid: int):
        user = current_user()
        today = datetime.now(tz).date()
        manager, branch = employee.alias("manager"), org_unit.alias("branch")
        c = run(
            sa.select(customer, manager.c.name.label("manager_name"), branch.c.name.label("branch_name"))
            .select_from(customer.outerjoin(manager, manager.c.id == customer.c.primary_manager_id)
                         .outerjoin(branch, branch.c.id == customer.c.servicing_org_id))
            .where(customer.c.id == cid, customer.c.deleted_at.is_(None))
        ).first()  # fmt: skip
        if c is None:
            abort(404)
        link = t["crm_customer__tags"]
        tags = sorted(run(sa.select(link.c.value).where(link.c.record_id == cid)).scalars())
        mobile = keys.open(c.mobile, "customer.mobile") if c.mobile else None
        total, month_start = dec(c.total_assets), dec(c.assets_month_start)
        change = None
        if total is not None and month_start:
            change = ((total - month_start) / month_start).quantize(Decimal("0.000001"), ROUND_HALF_UP)

        def fact(name, value):
            return name, labels["customer", name], value or "—"

        facts = [
            fact("asset_tier", shown("customer", "asset_tier", c.asset_tier)),
            fact("vip_level", shown("customer", "vip_level", c.vip_level)),
            fact("investor_category", shown("customer", "investor_category", c.investor_category)),
            fact("risk_level", shown("customer", "risk_level", c.risk_level)),
            fact("risk_valid_until", c.risk_valid_until and c.risk_valid_until.isoformat()),
            fact("primary_manager", c.manager_name),
            fact("servicing_org", c.branch_name),
            fact("customer_status", shown("customer", "customer_status", c.customer_status)),
            fact("lifecycle_stage", shown("customer", "lifecycle_stage", c.lifecycle_stage)),
            fact("mobile", mobile),
        ]
        figures = [fact("total_assets", money_text(total)), fact("net_assets", money_text(dec(c.net_assets))),
                   fact("assets_change_pct", "" if change is None else f"{change * 100:,.2f}%"),
                   fact("last_trade_date", c.last_trade_date and c.last_trade_date.isoformat()),
                   fact("days_since_trade", c.last_trade_date and str((today - c.last_trade_date).days)),
                   fact("last_contact_at", local(c.last_contact_at))]  # fmt: skip
        until = c.risk_valid_until
        risk_expiry = (
            "" if until is None else "expired" if until < today else "soon" if until <= today + timedelta(30) else ""
        )

        snap = t["crm_asset_snapshot"]
        curve_rows = run(
            sa.select(snap.c.snapshot_date, sa.func.sum(snap.c.total_assets), sa.func.sum(snap.c.net_assets))
            .where(by_customer(snap, cid), snap.c.snapshot_date >= today - timedelta(365),
                   snap.c.snapshot_date < today + timedelta(1))
            .group_by(snap.c.snapshot_date).order_by(snap.c.snapshot_date).limit(400)
        ).all()  # fmt: skip
        curve = {"dates": [r[0].isoformat() for r in curve_rows], "labels": ["总资产", "净资产"],
                 "net": [float(dec(r[2])) for r in curve_rows], "total": [float(dec(r[1])) for r in curve_rows]}  # fmt: skip

        pos, sec = t["crm_position"], t["crm_security"]
        day = run(sa.select(sa.func.max(pos.c.as_of_date)).where(by_customer(pos, cid))).scalar()
        sectors, holdings = [], None
        if day is not None:
            held = run(
                sa.select(pos.c.quantity, pos.c.market_value, pos.c.unrealized_pnl, pos.c.weight_in_portfolio,
                          sec.c.name, sec.c.sw_industry_l1)
                .select_from(pos.outerjoin(sec, sec.c.id == pos.c.security_id))
                .where(by_customer(pos, cid), pos.c.as_of_date == day)
                .order_by(pos.c.market_value.desc().nulls_first(), pos.c.id.desc()).limit(200)
            ).all()  # fmt: skip
            by_sector: dict[str, Decimal] = {}
            for r in held:
                sector = r.sw_industry_l1 or "其他"
                by_sector[sector] = by_sector.get(sector, Decimal(0)) + (dec(r.market_value) or 0)
            sectors = [{"name": k, "value": float(v)} for k, v in sorted(by_sector.items(), key=lambda kv: -kv[1])]
            columns = [labels["position", n] for n in ("security", "quantity", "market_value", "unrealized_pnl",
                                                       "weight_in_portfolio")]  # fmt: skip
            rows = [[r.name or "", f"{dec(r.quantity):,.2f}", money_text(dec(r.market_value)),
                     money_text(dec(r.unrealized_pnl)), "" if r.weight_in_portfolio is None
                     else f"{dec(r.weight_in_portfolio, 6) * 100:,.2f}%"] for r in held[:10]]  # fmt: skip
            holdings = {"label": f"{day.isoformat()} 主要持仓", "columns": columns, "rows": rows,
                        "more": f"/e/position?f_customer={cid}"}  # fmt: skip

        trade = t["crm_trade"]
        trade_rows = run(
            sa.select(trade.c.trade_time, sec.c.name, trade.c.side, trade.c.quantity, trade.c.price, trade.c.amount)
            .select_from(trade.outerjoin(sec, sec.c.id == trade.c.security_id)).where(by_customer(trade, cid))
            .order_by(trade.c.trade_time.desc().nulls_first(), trade.c.id.desc()).limit(20)
        ).all()  # fmt: skip
        trades = {"label": "最近成交", "more": f"/e/trade?f_customer={cid}",
                  "columns": [labels["trade", n] for n in ("trade_time", "security", "side", "quantity", "price", "amount")],
                  "rows": [[local(r.trade_time), r.name or "", shown("trade", "side", r.side), f"{dec(r.quantity):,.2f}",
                            f"{dec(r.price, 4):,.4f}", money_text(dec(r.amount))] for r in trade_rows]}  # fmt: skip

        timeline, seen_tickets = [], []
        task, person = t["crm_task"], employee.alias("person")
        sources = [  # kind, table, date column, title, detail columns (option fields, then the person), icon
            ("interaction", t["crm_interaction"], "started_at", "subject", ("channel", "purpose", "outcome"), "employee_id",
             "bi-telephone", None),
            ("ticket", t["crm_service_ticket"], "created_at", "subject", ("category", "priority", "status"), "assignee_id",
             "bi-life-preserver", None),
            ("task", task, "created_at", "title", ("type", "priority", "status"), "assignee_id", "bi-check2-square",
             sa.or_(task.c.type != "alert_followup", task.c.type.is_(None))),
            ("alert", task, "created_at", "title", ("priority", "status"), "assignee_id", "bi-bell",
             task.c.type == "alert_followup"),
        ]  # fmt: skip
        entity_of = {"interaction": "interaction", "ticket": "service_ticket", "task": "task", "alert": "task"}
        for kind, table, at, title, details, who, icon, extra in sources:
            query = (
                sa.select(table.c.id, table.c[at], table.c[title], *(table.c[d] for d in details), person.c.name)
                .select_from(table.outerjoin(person, person.c.id == table.c[who])).where(by_customer(table, cid))
                .order_by(table.c[at].desc().nulls_first(), table.c.id.desc()).limit(15)
            )  # fmt: skip
            for r in run(query.where(extra) if extra is not None else query):
                if kind == "ticket":
                    seen_tickets.append(r.id)
                parts = [shown(entity_of[kind], d, r[i + 3]) for i, d in enumerate(details)] + [r[-1]]
                timeline.append({"kind": kind, "icon": icon, "at": utc(r[1]), "when": local(r[1]), "title": r[2],
                                 "details": [p for p in parts if p], "url": f"/e/{entity_of[kind]}/{r.id}"})  # fmt: skip
        rec, product, by = t["crm_product_recommendation"], t["crm_product"], employee.alias("by")
        for r in run(
            sa.select(rec.c.id, rec.c.recommended_at, product.c.name, rec.c.match_result, rec.c.outcome, by.c.name)
            .select_from(rec.outerjoin(product, product.c.id == rec.c.product_id).outerjoin(by, by.c.id == rec.c.recommended_by_id))
            .where(by_customer(rec, cid)).order_by(rec.c.recommended_at.desc().nulls_first(), rec.c.id.desc()).limit(15)
        ):  # fmt: skip
            parts = [
                shown("product_recommendation", "match_result", r[3]),
                shown("product_recommendation", "outcome", r[4]),
                r[5],
            ]
            timeline.append({"kind": "recommendation", "icon": "bi-lightbulb", "at": utc(r[1]), "when": local(r[1]),
                             "title": r[2] or f"产品推荐 #{r.id}", "details": [p for p in parts if p],
                             "url": f"/e/product_recommendation/{r.id}"})  # fmt: skip
        comp = t["crm_complaint"]
        for r in run(
            sa.select(comp.c.id, comp.c.received_at, comp.c.complaint_no, comp.c.type, comp.c.severity, comp.c.status)
            .where(by_customer(comp, cid)).order_by(comp.c.received_at.desc().nulls_first(), comp.c.id.desc()).limit(15)
        ):  # fmt: skip
            parts = [shown("complaint", f, r[i + 3]) for i, f in enumerate(("type", "severity", "status"))]
            timeline.append({"kind": "complaint", "icon": "bi-megaphone", "at": utc(r[1]), "when": local(r[1]),
                             "title": r[2], "details": [p for p in parts if p], "url": f"/e/complaint/{r.id}"})  # fmt: skip
        timeline = sorted((i for i in timeline if i["at"] is not None), key=lambda i: i["at"], reverse=True)[:30]

        assignee = employee.alias("assignee")
        now = datetime.now(UTC)
        tasks = [
            (f"/e/task/{r.id}", r.title, shown("task", "priority", r.priority), local(r.due_at), r.name or "",
             bool(r.due_at and utc(r.due_at) < now))
            for r in run(
                sa.select(task.c.id, task.c.title, task.c.priority, task.c.due_at, assignee.c.name)
                .select_from(task.outerjoin(assignee, assignee.c.id == task.c.assignee_id))
                .where(by_customer(task, cid), task.c.status.in_(["open", "in_progress"]))
                .order_by(task.c.due_at.asc().nulls_last(), task.c.id).limit(10)
            )
        ]  # fmt: skip

        topics = [s["name"] for s in sectors[:5]]
        if (c.investor_category or "").startswith("professional"):
            topics.append("专业投资者")
        if risk_expiry == "expired":
            topics += ["测评过期", "风险测评"]
        if c.is_lowest_category:
            topics.append("适当性")
        topics = list(dict.fromkeys(topics))
        suggestions = []
        if topics:
            art, kw = t["crm_knowledge_article"], t["crm_knowledge_article__keywords"]
            found = run(
                sa.select(art.c.id, art.c.title).where(art.c.deleted_at.is_(None), art.c.status == "published",
                    sa.exists().where(kw.c.record_id == art.c.id, kw.c.value.in_(topics[:50])))
                .order_by(art.c.effective_from.desc().nulls_first(), art.c.id.desc()).limit(5)
            ).all()  # fmt: skip
            words: dict[int, list[str]] = {}
            if found:
                for rid, value in run(
                    sa.select(kw.c.record_id, kw.c.value).where(kw.c.record_id.in_([f.id for f in found]))
                ):
                    words.setdefault(rid, []).append(value)
            suggestions = [(f.title, f"/e/knowledge_article/{f.id}", [k for k in topics if k in words.get(f.id, [])][:4])
                           for f in found]  # fmt: skip

        html = pages["c360"].render(
            title=f"{c.name} · 客户360°", user=user, nav=nav, csrf=generate_csrf(), c=c, tags=tags, facts=facts,
            figures=figures, risk_expiry=risk_expiry, curve=curve, sectors=sectors, holdings=holdings, trades=trades,
            timeline=timeline, tasks=tasks, suggestions=suggestions, kinds=[("interaction", "接触"), ("ticket", "工单"),
            ("task", "任务"), ("alert", "预警"), ("recommendation", "推荐"), ("complaint", "投诉")],
            actions=[("新建服务工单", "service_ticket", "bi-life-preserver"), ("推荐产品", "product_recommendation", "bi-lightbulb"),
                     ("新建任务", "task", "bi-check2-square"), ("记录拜访或消息", "interaction", "bi-chat-dots")],
        )  # fmt: skip
        # who saw which personal data, as SCRM logs it (SCRM also names fields the page does not show)
        seen = [
            {"action": "view_sensitive", "entity": "customer", "record_id": cid, "fields": "mobile", "row_count": 1}
        ]
        seen = seen if mobile else []
        if seen_tickets:
            one = len(seen_tickets) == 1
            seen.append({"action": "view_sensitive", "entity": "service_ticket", "fields": "subject",
                         "record_id": seen_tickets[0] if one else None, "row_count": len(seen_tickets),
                         "detail": None if one else json.dumps({"ids": seen_tickets}, sort_keys=True)})  # fmt: skip
        if seen:
            audit(user, seen)
        return html

    # -- the edit form's submission -------------------------------------------------------------
    email_pattern = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

    @app.post("/customers/<int:cid>/edit")
    def edit(cid: int):
        """Three fields of the customer form: notes (free text up to 4,000 characters), email
        (format; encrypted with its blind index), service level (one of its options), with the
        optimistic lock of ``_version``. It checks the session user and the CSRF token, reads the
        current values, validates the submitted fields, UPDATEs the changed ones (version + 1,
        updated at/by), writes one field-history row per changed field and one audit entry, and
        redirects (303). It does not do what SCRM does on top: check the role's permission to
        update this record and each field, parse and compare every field the form places, run
        the entity's constraints and validation rules, compute derived fields, queue rule and
        workflow events, log the sensitive values it read."""
        user = current_user(need_unread=False)
        row = run(
            sa.select(customer.c.version, customer.c.notes, customer.c.email, customer.c.vip_level)
            .where(customer.c.id == cid, customer.c.deleted_at.is_(None))
        ).first()  # fmt: skip
        if row is None:
            abort(404)
        form = request.form
        current = {"notes": row.notes, "email": keys.open(row.email, "customer.email") if row.email else None,
                   "vip_level": row.vip_level}  # fmt: skip
        values, errors = {}, {}
        for name in ("notes", "email", "vip_level"):
            if name not in form:
                continue
            value = form[name].strip() or None
            if name == "notes" and value and len(value) > 4000:
                errors[name] = "最多 4000 个字符"
            elif name == "email" and value and not email_pattern.match(value):
                errors[name] = "电子邮箱格式不正确"
            elif name == "vip_level" and value and value not in options["customer", "vip_level"]:
                errors[name] = "不是可选的值"
            elif value != current[name]:
                values[name] = value
        if errors:
            return jsonify(errors), 422
        if values:
            now = datetime.now(UTC)
            columns = dict(values)
            if "email" in values:
                columns["email"] = values["email"] and keys.seal(values["email"], "customer.email")
                columns["email__bidx"] = values["email"] and keys.blind(values["email"])
            version = int(form.get("_version") or row.version)
            done = run(
                sa.update(customer).where(customer.c.id == cid, customer.c.version == version, customer.c.deleted_at.is_(None))
                .values(version=version + 1, updated_at=now, updated_by=user["id"], **columns)
            ).rowcount  # fmt: skip
            if not done:
                db.session.rollback()
                return "changed by someone else", 409
            db.session.execute(sa.insert(t["scrm_change"]), [
                {"entity": "customer", "record_id": cid, "version": version + 1, "action": "update", "field_id": name,
                 "field_name": name, "old_value": current[name], "new_value": value, "user_id": user["id"], "changed_at": now}
                for name, value in values.items()])  # fmt: skip
            audit(user, [{"action": "update", "entity": "customer", "record_id": cid, "fields": ",".join(values)}])
        return redirect(f"/customers/{cid}", 303)

    # -- the API's customer list --------------------------------------------------------------------
    tokens = t["scrm_api_token"]

    def pct_change(before: Decimal | None, after: Decimal | None) -> str | None:
        if before is None or after is None or before <= 0:
            return None
        return str(((after - before) / before).quantize(Decimal("0.000001"), ROUND_HALF_UP))

    def years(since: date | None, today: date) -> int | None:
        return (
            None if since is None else today.year - since.year - ((today.month, today.day) < (since.month, since.day))
        )

    def iso(value) -> str | None:
        if isinstance(value, datetime):
            return utc(value).astimezone(UTC).isoformat().replace("+00:00", "Z")
        return value.isoformat() if isinstance(value, date) else value

    def in_options(entity: str, field: str):
        """Sort key: a choice in its options' order, then unknown values, then none."""
        known = {value: i for i, value in enumerate(options.get((entity, field), {}))}
        return lambda value: (known.get(value, len(known)), value is None, value or "")

    def option_order(field: str):  # multi-valued fields in their options' order, as SCRM gives them
        known = {value: i for i, value in enumerate(options.get(("customer", field), {}))}
        return lambda value: (known.get(value, len(known)), value)

    in_order = {m: option_order(m) for m in MULTI}

    @app.get("/api/customers")
    def api_customers():
        header = request.headers.get("Authorization", "")
        digest = hashlib.sha256(header[7:].strip().encode()).hexdigest()
        who = run(
            sa.select(users.c.id, users.c.username)
            .select_from(tokens.join(users, users.c.id == tokens.c.user_id))
            .where(tokens.c.digest == digest, tokens.c.revoked_at.is_(None), users.c.active.is_(True),
                   sa.or_(tokens.c.expires_at.is_(None), tokens.c.expires_at > datetime.now(UTC)))
        ).first()  # fmt: skip
        if who is None:
            abort(401)
        roles = (
            run(sa.select(t["scrm_user_role"].c.role).where(t["scrm_user_role"].c.user_id == who.id)).scalars().all()
        )
        manager, branch, campaign = employee.alias("m"), org_unit.alias("o"), t["crm_campaign"].alias("k")
        limit = min(int(request.args.get("limit", 50)), 500)
        query = (
            sa.select(customer, manager.c.name.label("_manager"), branch.c.name.label("_branch"), campaign.c.name.label("_campaign"))
            .select_from(customer.outerjoin(manager, manager.c.id == customer.c.primary_manager_id)
                         .outerjoin(branch, branch.c.id == customer.c.servicing_org_id)
                         .outerjoin(campaign, campaign.c.id == customer.c.source_campaign_id))
            .where(customer.c.deleted_at.is_(None))
        )  # fmt: skip
        if request.args.get("asset_tier"):
            query = query.where(customer.c.asset_tier == request.args["asset_tier"])
        if request.args.get("after"):
            value, last = json.loads(base64.urlsafe_b64decode(request.args["after"] + "=="))["v"]
            bound = stored(Decimal(value))
            query = query.where(sa.or_(customer.c.total_assets < bound,
                                       sa.and_(customer.c.total_assets == bound, customer.c.id < last)))  # fmt: skip
        query = query.order_by(customer.c.total_assets.desc().nulls_first(), customer.c.id.desc()).limit(limit + 1)
        rows = run(query).mappings().all()
        more, rows = len(rows) > limit, rows[:limit]
        ids = [r["id"] for r in rows]
        multi: dict[str, dict[int, list]] = {m: {} for m in MULTI}
        for m in MULTI:
            link = t[f"crm_customer__{m}"]
            for rid, value in run(sa.select(link.c.record_id, link.c.value).where(link.c.record_id.in_(ids))):
                multi[m].setdefault(rid, []).append(value)
        today = datetime.now(tz).date()
        items, shown_fields = [], set()
        skip = {
            "deleted_at",
            "primary_manager_id",
            "servicing_org_id",
            "source_campaign_id",
            "_manager",
            "_branch",
            "_campaign",
        }
        for r in rows:
            item = {k: iso(v) for k, v in r.items() if k not in skip and not k.endswith("__bidx")}
            for name in SENSITIVE:
                if r[name]:
                    item[name] = keys.open(r[name], f"customer.{name}")
                    shown_fields.add(name)
            for name in MONEY:
                item[name] = None if r[name] is None else str(dec(r[name]))
            total = dec(r["total_assets"])
            item.update(primary_manager=r["primary_manager_id"], servicing_org=r["servicing_org_id"],
                        source_campaign=r["source_campaign_id"],
                        total_assets_day_change=pct_change(dec(r["previous_total_assets"]), total),
                        assets_change_pct=pct_change(dec(r["assets_month_start"]), total),
                        age=years(r["birth_date"], today), tenure_years=years(r["opened_at"], today),
                        days_since_trade=None if r["last_trade_date"] is None else (today - r["last_trade_date"]).days,
                        **{m: sorted(multi[m].get(r["id"], []), key=in_order[m]) for m in MULTI})  # fmt: skip
            titles = {k: v for k, v in (("primary_manager", r["_manager"]), ("servicing_org", r["_branch"]),
                                        ("source_campaign", r["_campaign"])) if v is not None}  # fmt: skip
            if titles:
                item["_titles"] = titles
            items.append(item)
        nxt = None
        if more:
            last = items[-1]
            cursor = {"s": "-total_assets,-id", "v": [last["total_assets"], last["id"]]}
            nxt = base64.urlsafe_b64encode(json.dumps(cursor, separators=(",", ":")).encode()).decode().rstrip("=")
        if shown_fields:
            fields = ",".join(f for f in SENSITIVE if f in shown_fields)
            audit({"id": who.id, "username": who.username, "roles": roles},
                  [{"action": "view_sensitive", "entity": "customer", "fields": fields, "row_count": len(ids),
                    "record_id": ids[0] if len(ids) == 1 else None,
                    "detail": json.dumps({"ids": ids[:200]}, sort_keys=True) if len(ids) > 1 else None}])  # fmt: skip
        return jsonify({"items": items, "next": nxt})

    # -- dashboards D2 and D3 -------------------------------------------------------------------------
    def org_tree() -> tuple[dict[int, int | None], dict[int, str]]:
        rows = run(
            sa.select(org_unit.c.id, org_unit.c.parent_id, org_unit.c.name).where(org_unit.c.deleted_at.is_(None))
        ).all()
        return {r.id: r.parent_id for r in rows}, {r.id: r.name for r in rows}

    def subtree(parent: dict, top: int) -> set[int]:
        out, stack = set(), [top]
        while stack:
            node = stack.pop()
            out.add(node)
            stack += [u for u, p in parent.items() if p == node and u not in out]
        return out

    def under(parent: dict, selected: int | None) -> dict[int, int]:
        """Each unit → the group it counts under: the selected unit's children (with their subtrees)
        and the unit itself (the root when none is selected)."""
        if selected is None:
            selected = next(u for u, p in parent.items() if p is None or p not in parent)
        out = {selected: selected}
        for child in (u for u, p in parent.items() if p == selected):
            out.update(dict.fromkeys(subtree(parent, child), child))
        return out

    class Period:
        """The dashboard's period in local time: this month until now (a KPI's comparison: one month
        earlier; a trend: the last 12 months), as dates and as instants for the statements."""

        def __init__(self, start: datetime, end: datetime):
            self.start, self.end = start, end  # local, naive

        def days(self) -> tuple:
            last = self.end.date() + timedelta(days=1 if self.end.time() != datetime.min.time() else 0)
            return (self.start.date(), last) if not sqlite else (self.start.date().isoformat(), last.isoformat())

        def instants(self) -> tuple:
            edges = [m.replace(tzinfo=tz).astimezone(UTC) for m in (self.start, self.end)]
            return tuple(e.replace(tzinfo=None).isoformat(" ", "microseconds") if sqlite else e for e in edges)

        def shifted(self) -> Period:
            return Period(add_months(self.start, -1), add_months(self.end, -1))

        def text(self) -> str:
            last = self.end - timedelta(days=1) if self.end.time() == datetime.min.time() else self.end
            return f"{self.start:%Y-%m-%d} — {last:%Y-%m-%d}"

        def months(self) -> list[str]:
            out, m = [], self.start.replace(day=1)
            while m < self.end:
                out.append(m.strftime("%Y-%m-01"))
                m = add_months(m, 1)
            return out

        def each_day(self) -> list[str]:
            out, d = [], self.start
            while d < self.end:
                out.append(d.strftime("%Y-%m-%d"))
                d += timedelta(days=1)
            return out

    month = "strftime('%Y-%m-01', {})" if sqlite else "to_char({}, 'YYYY-MM-01')"
    cents = 100 if sqlite else 1
    not_closed = "(c.customer_status IS NULL OR c.customer_status <> 'closed')"

    def sql(text: str, expanding: tuple = (), **params):
        stmt = sa.text(text)
        if expanding:
            stmt = stmt.bindparams(*(sa.bindparam(n, expanding=True) for n in expanding))
        return run(stmt, **params).all()

    def money(value) -> Fraction:
        return Fraction(dec(value) if value is not None else 0)

    def d2(wid: str, q: dict) -> dict:
        """D2 (customers, AUM and churn) for every customer (no org or tier chosen)."""
        p, year = q["period"], q["year"]
        if wid == "customers":
            r = sql(f"SELECT count(*) FILTER (WHERE {not_closed}), count(*) FILTER (WHERE {not_closed} AND c.total_assets >= :v), "
                    "count(*) FILTER (WHERE c.asset_tier IN ('hnw', 'uhnw')) FROM crm_customer c WHERE c.deleted_at IS NULL",
                    v=VALID * cents)[0]  # fmt: skip
            return {"rows": [{"customers": r[0], "valid": r[1], "hnw": r[2]}]}
        if wid == "aum":
            r = sql(
                "SELECT sum(net_assets), sum(total_assets), sum(assets_month_start) FROM crm_customer WHERE deleted_at IS NULL"
            )[0]
            return {"rows": [{"aum": money(r[0]), "total": money(r[1]), "month_start": money(r[2])}]}
        if wid == "new_accounts":

            def opened(period):
                d0, d1 = period.days()
                n, valid = sql("SELECT count(*), count(*) FILTER (WHERE total_assets >= :v) FROM crm_customer "
                               "WHERE deleted_at IS NULL AND opened_at >= :d0 AND opened_at < :d1", v=VALID * cents, d0=d0, d1=d1)[0]  # fmt: skip
                return [{"opened": n, "valid": valid, "activation": ratio(valid, n, 100)}]

            return {"rows": opened(p), "compare": opened(p.shifted())}
        if wid == "churn_rate":
            m0, d90 = p.start.date(), q["today"] - timedelta(days=90)
            r = sql("SELECT count(*) FILTER (WHERE c.assets_month_start >= :v AND EXISTS (SELECT 1 FROM crm_customer_loss l WHERE "
                    "l.customer_id = c.id AND l.deleted_at IS NULL AND l.detected_on >= :m0 AND (l.loss_type IS NULL OR "
                    "l.loss_type <> 'dormant'))), count(*) FILTER (WHERE c.assets_month_start >= :v), count(*) FILTER (WHERE "
                    "c.total_assets >= :v AND (c.last_trade_date IS NULL OR c.last_trade_date < :d90)), count(*) FILTER "
                    "(WHERE c.total_assets >= :v) FROM crm_customer c WHERE c.deleted_at IS NULL", v=VALID * cents,
                    m0=m0.isoformat() if sqlite else m0, d90=d90.isoformat() if sqlite else d90)[0]  # fmt: skip
            return {"rows": [{"churn": ratio(r[0], r[1], 100), "dormancy": ratio(r[2], r[3], 100)}]}
        if wid == "aum_trend":
            d0, d1 = year.days()
            found = {r[0]: r for r in sql(
                f"SELECT {month.format('snapshot_date')}, sum(net_assets), count(DISTINCT snapshot_date), sum(net_inflow) "
                "FROM crm_asset_snapshot WHERE deleted_at IS NULL AND snapshot_date >= :d0 AND snapshot_date < :d1 "
                "GROUP BY 1 ORDER BY 1", d0=d0, d1=d1)}  # fmt: skip
            return {"rows": [{"month": m, "aum": ratio(money(found[m][1]), found[m][2]) if m in found else None,
                              "inflow": money(found[m][3]) if m in found else 0} for m in year.months()]}  # fmt: skip
        if wid == "inflow_by_org":
            d0, d1 = p.days()
            parent, names = org_tree()
            group, sums = under(parent, None), {}
            for org, inflow in sql("SELECT c.servicing_org_id, sum(s.net_inflow) FROM crm_asset_snapshot s LEFT JOIN crm_customer c "
                                   "ON c.id = s.customer_id AND c.deleted_at IS NULL WHERE s.deleted_at IS NULL AND "
                                   "s.snapshot_date >= :d0 AND s.snapshot_date < :d1 GROUP BY 1", d0=d0, d1=d1):  # fmt: skip
                key = group.get(org)
                sums[key] = sums.get(key, 0) + money(inflow)
            ordered = sorted(sums.items(), key=lambda kv: (-kv[1], kv[0] is None, kv[0] or 0))
            return {"rows": [{"unit": k, "inflow": v} for k, v in ordered], "labels": names}
        if wid == "tiers":  # in the tiers' order (mass … uhnw), as the options list them
            rows = sql("SELECT asset_tier, count(*), sum(total_assets) FROM crm_customer WHERE deleted_at IS NULL "
                       "GROUP BY asset_tier")  # fmt: skip
            tier = in_options("customer", "asset_tier")
            return {"rows": [{"tier": r[0], "customers": r[1], "assets": money(r[2])}
                             for r in sorted(rows, key=lambda r: tier(r[0]))]}  # fmt: skip
        if wid in ("churn_monthly", "churn_reasons"):
            d0, d1 = year.days()
            if wid == "churn_reasons":  # the most frequent first; ties in the reasons' order
                reason = in_options("customer_loss", "loss_reason")
                return {"rows": [{"reason": r[0], "lost": r[1]} for r in sorted(sql(
                    "SELECT loss_reason, count(*) FROM crm_customer_loss WHERE deleted_at IS NULL AND detected_on >= :d0 "
                    "AND detected_on < :d1 GROUP BY loss_reason", d0=d0, d1=d1),
                    key=lambda r: (-r[1], reason(r[0])))]}  # fmt: skip
            found = {(r[0], r[1]): r for r in sql(
                f"SELECT {month.format('detected_on')}, loss_type, count(*), sum(assets_before) FROM crm_customer_loss "
                "WHERE deleted_at IS NULL AND detected_on >= :d0 AND detected_on < :d1 GROUP BY 1, 2", d0=d0, d1=d1)}  # fmt: skip
            types = sorted({k[1] for k in found}, key=str)
            return {"rows": [{"month": m, "loss_type": k, "lost": found[m, k][2] if (m, k) in found else 0,
                              "assets_before": money(found[m, k][3]) if (m, k) in found else 0}
                             for m in year.months() for k in types]}  # fmt: skip
        if wid == "lifecycle":
            return {"rows": [{"stage": r[0], "customers": r[1]} for r in sql(
                "SELECT lifecycle_stage, count(*) FROM crm_customer WHERE deleted_at IS NULL GROUP BY lifecycle_stage "
                "ORDER BY count(*) DESC, lifecycle_stage")]}  # fmt: skip
        if wid == "suitability":
            today = q["today"]
            days = [(today + timedelta(days=n)).isoformat() if sqlite else today + timedelta(days=n) for n in (0, 31)]
            r = sql("SELECT count(*) FILTER (WHERE risk_valid_until >= :t), count(*) FILTER (WHERE risk_valid_until >= :t AND "
                    "risk_valid_until < :t31), count(*) FILTER (WHERE risk_valid_until < :t), count(*) FROM crm_customer "
                    "WHERE deleted_at IS NULL", t=days[0], t31=days[1])[0]  # fmt: skip
            return {"rows": [{"valid_assessment": ratio(r[0], r[3], 100), "expiring": r[1], "expired": r[2]}]}
        if wid == "mismatch_sales":

            def sales(period):
                t0, t1 = period.instants()
                bad, n = sql("SELECT count(*) FILTER (WHERE match_result IS NULL OR match_result <> 'match'), count(*) FROM "
                             "crm_product_sale WHERE deleted_at IS NULL AND created_at >= :t0 AND created_at < :t1", t0=t0, t1=t1)[0]  # fmt: skip
                return [{"rate": ratio(bad, n, 100), "sales": n}]

            return {"rows": sales(p), "compare": sales(p.shifted())}
        abort(404)

    def net(commission, amount) -> Fraction:
        return money(commission) - money(amount) * Fraction(FEES)

    def d3(wid: str, q: dict) -> dict:
        """D3 (org and broker performance) for the chosen unit's subtree."""
        p, orgs = q["period"], sorted(q["subtree"])
        d0, d1 = p.days()
        trades = ("FROM crm_trade t LEFT JOIN crm_customer c ON c.id = t.customer_id AND c.deleted_at IS NULL WHERE "
                  "t.deleted_at IS NULL AND c.servicing_org_id IN :orgs AND t.trade_date >= :d0 AND t.trade_date < :d1")  # fmt: skip
        if wid in ("volume", "commission"):

            def kpi(period):
                a, b = period.days()
                r = sql(f"SELECT sum(t.amount), count(*), count(DISTINCT t.customer_id), sum(t.commission) {trades}",
                        ("orgs",), orgs=orgs, d0=a, d1=b)[0]  # fmt: skip
                if wid == "volume":
                    return [{"volume": money(r[0]), "trades": r[1], "traders": r[2]}]
                return [{"net": net(r[3], r[0]), "gross": money(r[3]), "rate": ratio(money(r[3]), money(r[0]))}]

            return {"rows": kpi(p), "compare": kpi(p.shifted())}
        if wid == "book":
            r = sql("SELECT sum(c.net_assets), count(*), count(*) FILTER (WHERE EXISTS (SELECT 1 FROM crm_account a WHERE "
                    "a.customer_id = c.id AND a.deleted_at IS NULL AND a.account_type = 'credit')) FROM crm_customer c "
                    f"WHERE c.deleted_at IS NULL AND c.servicing_org_id IN :orgs AND {not_closed}", ("orgs",), orgs=orgs)[0]  # fmt: skip
            return {"rows": [{"aum": money(r[0]), "customers": r[1], "margin": r[2]}]}
        if wid in ("org_ranking", "aum_by_org"):
            parent, names = q["tree"]
            group, sums = under(parent, q["org"]), {}
            if wid == "org_ranking":
                found = sql(f"SELECT c.servicing_org_id, sum(t.amount), sum(t.commission), count(DISTINCT t.customer_id) {trades} "
                            "GROUP BY 1", ("orgs",), orgs=orgs, d0=d0, d1=d1)  # fmt: skip
            else:
                found = sql("SELECT c.servicing_org_id, count(*), count(*) FILTER (WHERE c.total_assets >= :v), sum(c.net_assets) "
                            f"FROM crm_customer c WHERE c.deleted_at IS NULL AND c.servicing_org_id IN :orgs AND {not_closed} "
                            "GROUP BY 1", ("orgs",), orgs=orgs, v=VALID * cents)  # fmt: skip
            kinds = (money, money, int) if wid == "org_ranking" else (int, int, money)
            for org, *values in found:  # a customer has one unit: the distinct counts add up
                total = sums.setdefault(group.get(org), [0, 0, 0])
                for i, (kind, value) in enumerate(zip(kinds, values, strict=True)):
                    total[i] += kind(value or 0)
            rows = []
            for k, v in sums.items():
                if wid == "org_ranking":
                    rows.append({"unit": k, "volume": v[0], "gross": v[1], "net": v[1] - v[0] * Fraction(FEES),
                                 "rate": ratio(v[1], v[0]), "traders": v[2]})  # fmt: skip
                else:
                    rows.append(
                        {"unit": k, "customers": v[0], "valid": v[1], "aum": v[2], "per_customer": ratio(v[2], v[0])}
                    )
            best = "net" if wid == "org_ranking" else "aum"
            return {"rows": sorted(rows, key=lambda r: (-r[best], r["unit"] is None, r["unit"] or 0)), "labels": names}
        if wid in ("managers", "top_customers"):
            key, join, limit = (("c.primary_manager_id", "LEFT JOIN crm_employee e ON e.id = c.primary_manager_id", 20)
                                if wid == "managers" else ("t.customer_id", "", 50))  # fmt: skip
            name = "e.name" if wid == "managers" else "c.name"
            order = ("sum(t.commission) - sum(t.amount) * 0.0000541" if not sqlite
                     else "sum(t.commission) * 10000000 - sum(t.amount) * 541")  # fmt: skip
            found = sql(f"SELECT {key}, {name}, sum(t.commission), sum(t.amount), count(DISTINCT t.customer_id), count(*) "
                        f"{trades.replace('WHERE', join + ' WHERE', 1)} GROUP BY {key}, {name} ORDER BY {order} DESC, {key} "
                        f"LIMIT {limit}", ("orgs",), orgs=orgs, d0=d0, d1=d1)  # fmt: skip
            alias, last = ("manager", "traders") if wid == "managers" else ("customer", "trades")
            return {"rows": [{alias: r[0], "net": net(r[2], r[3]), "volume": money(r[3]), last: r[4] if wid == "managers" else r[5]}
                             for r in found], "labels": {r[0]: r[1] for r in found}}  # fmt: skip
        if wid == "volume_trend":
            found = {str(r[0]): r for r in sql(f"SELECT t.trade_date, sum(t.amount), count(*) {trades} GROUP BY t.trade_date",
                                               ("orgs",), orgs=orgs, d0=d0, d1=d1)}  # fmt: skip
            return {"rows": [{"day": d, "volume": money(found[d][1]) if d in found else 0,
                              "trades": found[d][2] if d in found else 0} for d in p.each_day()]}  # fmt: skip
        if wid == "sales_mix":
            t0, t1 = p.instants()
            risk, kind = in_options("product", "risk_level"), in_options("product", "product_type")
            return {"rows": [{"risk": r[0], "type": r[1], "amount": money(r[2])} for r in sorted(sql(
                "SELECT p.risk_level, p.product_type, sum(s.amount) FROM crm_product_sale s LEFT JOIN crm_customer c ON "
                "c.id = s.customer_id AND c.deleted_at IS NULL LEFT JOIN crm_product p ON p.id = s.product_id AND "
                "p.deleted_at IS NULL WHERE s.deleted_at IS NULL AND (s.status IS NULL OR s.status NOT IN ('cancelled', "
                "'blocked')) AND c.servicing_org_id IN :orgs AND s.created_at >= :t0 AND s.created_at < :t1 GROUP BY 1, 2",
                ("orgs",), orgs=orgs, t0=t0, t1=t1), key=lambda r: (risk(r[0]), kind(r[1])))]}  # fmt: skip
        abort(404)

    def context(name: str, user: dict) -> dict:
        now = datetime.now(tz).replace(tzinfo=None)
        first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = now.replace(second=0, microsecond=0) + timedelta(minutes=1)  # "now": the end of this minute
        q = {
            "today": now.date(),
            "period": Period(first, end),
            "year": Period(add_months(first, -11), end),
            "org": None,
        }
        if name == "performance":
            q["tree"] = org_tree()
            org = request.args.get("org", type=int)
            if org is None:  # the default: the user's own unit
                org = run(sa.select(employee.c.org_unit_id).where(employee.c.login == user["username"], employee.c.deleted_at
                          .is_(None)).order_by(employee.c.id).limit(1)).scalar()  # fmt: skip
            q["org"], q["subtree"] = org, subtree(q["tree"][0], org) if org else set(q["tree"][0])
        return q

    def widget_data(name: str, w: dict, q: dict) -> dict:
        return (d2 if name == "customers_aum" else d3)(w["id"], q)

    def key_text(value) -> str:
        return "" if value is None else str(value)

    def group_labels(name: str, w: dict, alias: str, data: dict) -> dict:
        group = next(g for g in w["group_by"] if g["as"] == alias)
        if "time_bucket" in group:
            return {k: k[:7] if group["time_bucket"] == "month" else k for k in (r[alias] for r in data["rows"])}
        if group.get("tree") or group["field"] in ("customer.primary_manager", "customer"):
            return data.get("labels", {})
        entity = {"customers": "customer", "losses": "customer_loss", "sales": "product"}[w["dataset"]]
        return {k: v[0] for k, v in options[entity, group["field"].split(".")[-1]].items()}

    def chart_option(w: dict, rows: list[dict], label: dict, formats: dict, titles: dict) -> dict:
        """The ECharts option (built on the server, like SCRM's): categories on x, one series per
        measure or per series value; a funnel's data as name/value pairs."""
        enc, opts = w.get("encoding", {}), w.get("options", {})
        x = enc.get("x") or w["group_by"][0]["as"]
        split = enc.get("series")
        if split is None and w["type"] == "stacked_bar" and len(w["group_by"]) > 1:
            split = next(g["as"] for g in w["group_by"] if g["as"] != x)
        ys = [enc["y"]] if enc.get("y") else list(formats)
        ys = ys[:1] if split or w["type"] == "funnel" else ys
        xkeys = list(dict.fromkeys(r[x] for r in rows))
        xlabels = [label[x].get(k, key_text(k)) if k is not None else "(无)" for k in xkeys]
        meta = {"format": formats[ys[0]], "x": x, "xkeys": [key_text(k) for k in xkeys], "series": split, "skeys": None}
        legend = opts.get("legend", "bottom")
        option: dict = {"color": PALETTE, "tooltip": {"trigger": "axis"}}
        if w["type"] == "funnel":
            option.update(tooltip={"trigger": "item"}, legend={legend: 0, "type": "scroll"}, scrm=meta, series=[{
                "type": "funnel", "name": titles[ys[0]], "sort": "descending", "left": "10%", "width": "80%",
                "data": [{"name": n, "value": plain(r[ys[0]])} for n, r in zip(xlabels, rows, strict=True)],
                "label": {"show": opts.get("labels", True)}}])  # fmt: skip
            return option
        kind, series = ("line" if w["type"] == "line" else "bar"), []
        if split:
            skeys = list(dict.fromkeys(r[split] for r in rows))
            cells = {(r[x], r[split]): r[ys[0]] for r in rows}
            series = [{"type": kind, "name": label[split].get(s, key_text(s)), "data": [plain(cells.get((k, s))) for k in xkeys]}
                      for s in skeys]  # fmt: skip
            meta["skeys"] = [key_text(s) for s in skeys]
        else:
            series = [{"type": kind, "name": titles[m], "data": [plain(r[m]) for r in rows]} for m in ys]
        for s in series:
            if w["type"] == "stacked_bar":
                s["stack"] = "total"
            if kind == "line":
                s.update(showSymbol=len(xkeys) <= 40, connectNulls=False, smooth=False)
                if opts.get("area"):
                    s["areaStyle"] = {"opacity": 0.12}
            if opts.get("labels"):
                s["label"] = {"show": True, "position": "top"}
        category = {"type": "category", "data": xlabels, "axisLabel": {"hideOverlap": True}}
        value_axis: dict | list = {"type": "value", "scale": kind == "line"}
        if opts.get("cumulative"):
            values = [float(r[ys[0]] or 0) for r in rows]
            running, cumulative = 0.0, []
            for v in values:
                running += v
                cumulative.append(round(running / (sum(values) or 1.0) * 100, 1))
            series.append(
                {"type": "line", "name": "累计占比", "yAxisIndex": 1, "data": cumulative, "scrmFormat": "percent"}
            )
            value_axis = [value_axis, {"type": "value", "max": 100, "axisLabel": {"formatter": "{value}%"}}]
        horizontal = opts.get("horizontal") and kind == "bar"
        option.update(grid={"left": 8, "right": 16, "top": 24, "bottom": 40 if legend == "bottom" else 16, "containLabel": True},
                      xAxis=value_axis if horizontal else category, yAxis=category if horizontal else value_axis, series=series)  # fmt: skip
        if horizontal:
            category["inverse"] = True
        if len(series) > 1 and legend != "none":
            option["legend"] = {legend: 0, "type": "scroll"}
        if len(xkeys) > 31 and not horizontal:
            option["dataZoom"] = [{"type": "inside"}]
        option["scrm"] = meta
        return option

    def present(name: str, w: dict, data: dict, q: dict) -> dict:
        """The fragment's context: a KPI card, a chart's option or a table's formatted cells."""
        query = f"?{request.query_string.decode()}" if request.query_string else ""
        period = q["year"] if w.get("time") else q["period"]
        drill = f"/d/{name}/w/{w['id']}/drill{query}" if w["type"] == "kpi" or w.get("drilldown") else None
        formats = {m["name"]: m.get("format") for m in w["measures"]}
        groups = {g["as"]: g.get("label", {}).get("zh-CN", g["as"]) for g in w.get("group_by", [])}
        titles = {n: w.get("labels", {}).get(n, {}).get("zh-CN") or groups.get(n, n) for n in (*groups, *formats)}
        out = {"id": w["id"], "title": w["title"]["zh-CN"], "description": w.get("description", {}).get("zh-CN", ""),
               "range": period.text(), "drill": drill, "rows": data["rows"], "empty": not data["rows"]}  # fmt: skip
        rows, names = data["rows"], list(formats)
        if w["type"] == "kpi":
            row, main = rows[0], names[0]
            value = row[main]
            color = None
            for rule in w.get("thresholds", []):
                tests = {"lt": lambda b: value < b, "gt": lambda b: value > b}
                if value is not None and all(tests[k](Fraction(v)) for k, v in rule.items() if k in tests):
                    color = rule["color"]
                    break
            k = {"value": fmt(value, formats[main]), "raw": plain(value), "color": color,
                 "secondary": [(titles[m], fmt(row[m], formats[m])) for m in names[1:]]}  # fmt: skip
            if "compare" in data:
                before = data["compare"][0][main]
                k.update(previous=fmt(before, formats[main]), delta=None)
                if value is not None and before is not None:
                    delta = Fraction(value) - Fraction(before)
                    percent = w["compare"].get("show") == "percent" and before
                    k.update(delta=fmt(delta / abs(Fraction(before)) * 100, "percent") if percent else fmt(abs(delta), formats[main]),
                             up=delta > 0, flat=delta == 0)  # fmt: skip
            return out | {"kind": "kpi", "k": k}
        label = {alias: group_labels(name, w, alias, data) for alias in groups}
        if w["type"] not in ("table", "ranking"):
            return out | {"kind": "chart", "option": chart_option(w, rows, label, formats, titles)}
        alias = w["group_by"][0]["as"]
        top = max((abs(r[names[0]]) for r in rows if r[names[0]] is not None), default=None)
        shown = []
        for r in rows:
            share = float(abs(r[names[0]]) / top * 100) if top and r[names[0]] is not None else 0
            shown.append({"label": label[alias].get(r[alias], key_text(r[alias])) if r[alias] is not None else "(无)",
                          "href": f"{drill}{'&' if '?' in drill else '?'}g_{alias}={key_text(r[alias])}",
                          "cells": [fmt(r[m], formats[m]) for m in names], "bar": int(-(-round(share, 1) // 5) * 5)})  # fmt: skip
        return out | {"kind": w["type"], "headers": [titles[alias]] + [titles[m] for m in names], "rows": shown}

    def find(name: str, wid: str | None = None):
        doc = dashboards.get(name) or abort(404)
        if wid is None:
            return doc
        return next((w for w in doc["widgets"] if w["id"] == wid), None) or abort(404)

    @app.get("/d/<name>")
    def dashboard(name: str):
        user = current_user()
        doc = find(name)
        q = context(name, user)
        orgs = run(sa.select(org_unit.c.id, org_unit.c.name).where(org_unit.c.deleted_at.is_(None))
                   .order_by(org_unit.c.name.asc().nulls_last(), org_unit.c.id).limit(500)).all()  # fmt: skip
        periods = [("today", "今天"), ("7d", "近 7 天"), ("30d", "近 30 天"), ("90d", "近 90 天"), ("mtd", "本月"), ("last_month", "上月"),
                   ("qtd", "本季度"), ("last_quarter", "上季度"), ("ytd", "今年"), ("12m", "近 12 个月")]  # fmt: skip
        tiers = [(k, v[0]) for k, v in options["customer", "asset_tier"].items()] if name == "customers_aum" else []
        return pages["dashboard"].render(
            title=doc["label"]["zh-CN"], user=user, nav=nav, csrf=generate_csrf(), doc=doc, name=name, orgs=orgs,
            org=request.args.get("org", type=int), tiers=tiers, periods=periods, range=q["period"].text(),
            query=f"?{request.query_string.decode()}" if request.query_string else "",
            menu=[("service_quality", "服务质量看板"), *((n, d["label"]["zh-CN"]) for n, d in dashboards.items())],
            widgets=sorted(doc["widgets"], key=lambda w: (w["grid"]["y"], w["grid"]["x"])),
        )  # fmt: skip

    @app.get("/d/<name>/w/<wid>")
    def widget(name: str, wid: str):
        user = current_user(need_unread=False)  # a fragment shows no inbox badge
        w = find(name, wid)
        q = context(name, user)
        return pages["widget"].render(**present(name, w, widget_data(name, w, q), q))

    @app.get("/d/<name>/data")
    def rows_for_checking(name: str):
        """Every widget's rows as plain values (keys as text), to compare with SCRM's data API."""
        user = current_user(need_unread=False)
        q = context(name, user)
        out = {}
        for w in find(name)["widgets"]:
            data = widget_data(name, w, q)
            keys = {g["as"] for g in w.get("group_by", [])}
            out[w["id"]] = {part: [{k: key_text(v) if k in keys else plain(v) for k, v in r.items()} for r in data[part]]
                            for part in ("rows", "compare") if part in data}  # fmt: skip
        return jsonify(out)

    return app
