"""The baseline: the customer list written by hand with Flask + Flask-SQLAlchemy, no metadata.

It does what a developer would do for this one page: check the session's user, run the
filtered, sorted, keyset-paginated query with a join for the manager's and branch's names, load
the tags of the page's rows in one more query, and render a Bootstrap table with formatted
money and labels. Tables are reflected from the same database the generated app uses.
"""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from flask import Flask, abort, request, session
from flask_sqlalchemy import SQLAlchemy

TIERS = {
    "mass": ("大众", "secondary"),
    "potential": ("潜力", "info"),
    "wealth": ("财富", "primary"),
    "hnw": ("高净值", "warning"),
    "uhnw": ("超高净值", "danger"),
}
RISK = {
    "C1": ("C1 保守型", "success"),
    "C2": ("C2 谨慎型", "info"),
    "C3": ("C3 稳健型", "primary"),
    "C4": ("C4 积极型", "warning"),
    "C5": ("C5 激进型", "danger"),
}
STAGE = {
    "prospect": ("潜客", "secondary"),
    "onboarding": ("新开户", "info"),
    "active": ("活跃", "success"),
    "at_risk": ("流失预警", "warning"),
    "dormant": ("休眠", "secondary"),
    "lost": ("已流失", "danger"),
    "closed": ("已销户", "dark"),
}

PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>客户 · SCRM</title>
<link rel="stylesheet" href="/static/bootstrap.min.css"><link rel="stylesheet" href="/static/bootstrap-icons.min.css">
<script src="/static/htmx.min.js" defer></script></head>
<body><nav class="navbar navbar-dark bg-dark"><div class="container-fluid"><a class="navbar-brand" href="/">SCRM</a>
<span class="text-white">{{ user_name }}</span></div></nav>
<div class="container-fluid"><div class="row"><aside class="col-lg-2">
{% for group, links in nav %}<div class="small text-muted px-2 pt-2">{{ group }}</div>
{% for label, href in links %}<a class="d-block p-2" href="{{ href }}">{{ label }}</a>{% endfor %}{% endfor %}</aside>
<main class="col-lg-10 py-3"><h1 class="h4">客户</h1>
<form method="get" class="card card-body mb-3"><div class="row g-2">
<div class="col-md-3"><input class="form-control" name="q" value="{{ q }}" placeholder="客户号, 姓名, 手机号"></div>
{% for name, label, options in filters %}<div class="col-md-2"><label class="form-label small">{{ label }}</label>
<select class="form-select form-select-sm" name="{{ name }}"><option value="">全部</option>
{% for value, text in options %}<option value="{{ value }}"{% if args.get(name) == value|string %} selected{% endif %}>{{ text }}</option>{% endfor %}
</select></div>{% endfor %}
<div class="col-md-3"><label class="form-label small">{{ opened_label }}</label><div class="input-group input-group-sm">
<input class="form-control" type="date" name="opened_at_from" value="{{ args.get('opened_at_from', '') }}">
<input class="form-control" type="date" name="opened_at_to" value="{{ args.get('opened_at_to', '') }}"></div></div>
<div class="col-auto"><button class="btn btn-primary btn-sm">筛选</button>
<div class="dropdown-menu p-2">{% for name, label in columns %}<div class="form-check"><input class="form-check-input" type="checkbox"
 name="cols" value="{{ name }}" id="col-{{ name }}"{% if name in shown %} checked{% endif %}><label class="form-check-label small"
 for="col-{{ name }}">{{ label }}</label></div>{% endfor %}</div></div></div></form>
<div class="card"><div class="table-responsive"><table class="table table-hover align-middle mb-0">
<div class="d-flex gap-2 mb-2"><div class="dropdown"><button class="btn btn-sm btn-outline-primary dropdown-toggle">视图</button>
<div class="dropdown-menu">{% for v in views %}<a class="dropdown-item" href="/views/{{ v.id }}">{{ v.name }} {{ v.owner or '' }}</a>{% endfor %}
<form method="post" action="/views"><input name="name" maxlength="60"><button>保存视图</button></form></div></div>
<form id="bulk" method="post" action="/bulk"><select name="action"><option value="assign">分配</option><option value="tag_add">添加标签</option>
<option value="tag_remove">移除标签</option><option value="export">导出所选</option></select><input name="_label_manager">
<input name="tag"><button>应用到所选</button></form></div>
<thead class="table-light"><tr><th><input type="checkbox" id="all"></th><th>客户号</th><th>姓名/名称</th><th>资产层级</th><th>风险承受能力</th>
<th class="text-end">最新总资产</th><th>主服务客户经理</th><th>生命周期</th><th>客户状态</th><th>标签</th></tr></thead>
<tbody>{% for r in rows %}<tr>
<td><input type="checkbox" name="ids" value="{{ r.id }}" form="bulk"></td><td data-f="customer_no">{{ r.customer_no }}</td><td><a class="fw-semibold" href="/customers/{{ r.id }}">{{ r.name }}</a></td>
<td>{% if r.asset_tier %}<span class="badge text-bg-{{ tiers[r.asset_tier][1] }}">{{ tiers[r.asset_tier][0] }}</span>{% endif %}</td>
<td>{% if r.risk_level %}<span class="badge text-bg-{{ risk[r.risk_level][1] }}">{{ risk[r.risk_level][0] }}</span>{% endif %}</td>
<td class="text-end text-nowrap">{{ money(r.total_assets) }}</td>
<td>{% if r.manager_id %}<a href="/employees/{{ r.manager_id }}">{{ r.manager_name }}</a>{% endif %}</td>
<td>{% if r.lifecycle_stage %}<span class="badge text-bg-{{ stage[r.lifecycle_stage][1] }}">{{ stage[r.lifecycle_stage][0] }}</span>{% endif %}</td>
<td>{% if r.customer_status %}<span class="badge text-bg-secondary">{{ status[r.customer_status] }}</span>{% endif %}</td>
<td>{% for t in tags.get(r.id, []) %}<span class="badge text-bg-secondary">{{ t }}</span> {% endfor %}</td>
</tr>{% endfor %}
{% if next %}<tr><td colspan="9" class="text-center"><a class="btn btn-sm btn-outline-primary" href="?after={{ next }}">更多</a></td></tr>{% endif %}
</tbody></table></div></div></main></div></div></body></html>"""
SHOWN = [
    "customer_no",
    "name",
    "asset_tier",
    "risk_level",
    "total_assets",
    "primary_manager",
    "lifecycle_stage",
    "customer_status",
    "tags",
]


def money(value: Decimal | None) -> str:
    if value is None:
        return ""
    return f"{'-' if value < 0 else ''}¥{abs(value):,.2f}"


def create_handwritten_app(url: str) -> Flask:
    app = Flask("handwritten")
    app.config.update(SQLALCHEMY_DATABASE_URI=url, SECRET_KEY="bench")
    db = SQLAlchemy(app)
    with app.app_context():
        meta = sa.MetaData()
        meta.reflect(
            db.engine,
            only=["crm_customer", "crm_employee", "crm_customer__tags", "scrm_user", "crm_org_unit", "scrm_saved_view"],
        )
    customer, employee = meta.tables["crm_customer"], meta.tables["crm_employee"]
    tags, users = meta.tables["crm_customer__tags"], meta.tables["scrm_user"]
    sqlite = url.startswith("sqlite")
    spec = json.loads((Path(__file__).parents[1] / "schemas" / "entities" / "customer.json").read_text())
    labels = {f["name"]: f["label"]["zh-CN"] for f in spec["fields"]}
    options = {
        f["name"]: [(o["value"], o["label"]["zh-CN"]) for o in f["options"]] for f in spec["fields"] if "options" in f
    }
    columns = [(f["name"], labels[f["name"]]) for f in spec["fields"]]
    # the same navigation the generated page shows: every shipped entity, by group
    groups: dict[str, list] = {}
    for path in sorted((Path(__file__).parents[1] / "schemas" / "entities").glob("*.json")):
        doc = json.loads(path.read_text())
        group = doc.get("nav", {}).get("group", {}).get("zh-CN", "")
        groups.setdefault(group, []).append((doc["plural_label"]["zh-CN"], f"/{doc['name']}"))
    nav = list(groups.items())
    org = meta.tables.get("crm_org_unit")
    template = app.jinja_env.from_string(PAGE)  # compiled once, like a template file

    def assets(value):  # the same exact-decimal storage the platform uses on SQLite (scaled integer)
        if value is None:
            return None
        return Decimal(int(value)).scaleb(-2) if sqlite else value

    @app.get("/customers")
    def customers():
        user = db.session.execute(sa.select(users.c.display_name).where(users.c.id == session.get("user_id"))).first()
        if user is None:
            abort(401)
        q = (
            sa.select(
                customer.c.id,
                customer.c.customer_no,
                customer.c.name,
                customer.c.asset_tier,
                customer.c.risk_level,
                customer.c.total_assets,
                customer.c.lifecycle_stage,
                customer.c.customer_status,
                customer.c.primary_manager_id.label("manager_id"),
                employee.c.name.label("manager_name"),
            )
            .select_from(customer.outerjoin(employee, employee.c.id == customer.c.primary_manager_id))
            .where(customer.c.deleted_at.is_(None))
        )
        if request.args.get("asset_tier"):
            q = q.where(customer.c.asset_tier == request.args["asset_tier"])
        text = request.args.get("q", "")
        if text:
            like = f"%{text.lower()}%"
            q = q.where(
                sa.or_(
                    sa.func.lower(customer.c.customer_no).like(like),
                    sa.func.lower(customer.c.name).like(like),
                    sa.func.lower(customer.c.mobile).like(like),
                )
            )
        if request.args.get("after"):
            value, last_id = json.loads(base64.urlsafe_b64decode(request.args["after"] + "=="))
            stored = (
                int(Decimal(value) * 100) if (sqlite and value is not None) else (Decimal(value) if value else None)
            )
            if stored is None:
                q = q.where(
                    sa.or_(
                        customer.c.total_assets.is_not(None),
                        sa.and_(customer.c.total_assets.is_(None), customer.c.id < last_id),
                    )
                )
            else:
                q = q.where(
                    sa.or_(
                        customer.c.total_assets < stored,
                        sa.and_(customer.c.total_assets == stored, customer.c.id < last_id),
                    )
                )
        q = q.order_by(customer.c.total_assets.desc().nulls_first(), customer.c.id.desc()).limit(51)
        rows = [r._asdict() for r in db.session.execute(q)]
        for r in rows:
            r["total_assets"] = assets(r["total_assets"])
        more = len(rows) > 50
        rows = rows[:50]
        found: dict[int, list[str]] = {}
        if rows:
            for rid, value in db.session.execute(
                sa.select(tags.c.record_id, tags.c.value).where(tags.c.record_id.in_([r["id"] for r in rows]))
            ):
                found.setdefault(rid, []).append(value)
        nxt = None
        if more:
            last = rows[-1]
            payload = json.dumps([str(last["total_assets"]) if last["total_assets"] is not None else None, last["id"]])
            nxt = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
        managers = db.session.execute(
            sa.select(employee.c.id, employee.c.name)
            .where(employee.c.deleted_at.is_(None))
            .order_by(employee.c.name, employee.c.id)
            .limit(201)
        ).all()
        saved = meta.tables["scrm_saved_view"]  # the views menu: the user's own and the shared ones
        views = db.session.execute(
            sa.select(saved.c.id, saved.c.name, users.c.display_name.label("owner"))
            .join(users, users.c.id == saved.c.owner_id, isouter=True)
            .where(saved.c.entity == "customer")
            .where(sa.or_(saved.c.owner_id == session.get("user_id"), saved.c.shared.is_(True)))
            .order_by(saved.c.name)
        ).all()
        branches = db.session.execute(
            sa.select(org.c.id, org.c.name).where(org.c.deleted_at.is_(None)).order_by(org.c.name, org.c.id).limit(201)
        ).all()
        filters = [
            ("asset_tier", labels["asset_tier"], options["asset_tier"]),
            ("risk_level", labels["risk_level"], options["risk_level"]),
            ("lifecycle_stage", labels["lifecycle_stage"], options["lifecycle_stage"]),
            ("customer_type", labels["customer_type"], options["customer_type"]),
            ("servicing_org", labels["servicing_org"], branches),
            ("primary_manager", labels["primary_manager"], managers),
            ("tags", labels["tags"], []),
            *((name, labels[name], options[name]) for name in ("customer_status", "investor_category", "vip_level",
                                                                "aml_risk_level")),
        ]  # fmt: skip
        html = template.render(
            rows=rows,
            tags=found,
            next=nxt,
            q=text,
            user_name=user.display_name,
            tiers=TIERS,
            risk=RISK,
            stage=STAGE,
            status=dict(options["customer_status"]),
            opened_label=labels["opened_at"],
            money=money,
            nav=nav,
            filters=filters,
            columns=columns,
            shown=SHOWN,
            args=request.args,
            views=views,
        )
        return html, 200, {"X-Next": nxt or ""}

    return app
