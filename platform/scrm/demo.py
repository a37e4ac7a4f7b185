"""Believable demo data for the shipped CRM: an org tree, staff, securities, customers,
accounts and trades. Deterministic (seeded), written through the record service.

The full, scalable generator with snapshots and positions belongs to the shipped-CRM work;
this one gives every page something real to show.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import sqlalchemy as sa

from .data.records import RecordService
from .db import db, write_intent
from .runtime import snapshot
from .security.users import ADMIN_ROLE, create_user, find_user, set_password

DEMO_PASSWORD = "demo12345"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥建文辉力鹏飞宇浩然子涵思远欣怡梓萱博文嘉怡晨曦雨桐俊杰志强海燕文静晓东建国永红立新"
AREAS = ["110101", "110105", "110108", "310101", "310104", "310115", "440303", "440304", "440305", "330106", "320102"]
SECURITIES = [
    ("600519.SH", "贵州茅台", "SSE", "a_share", "main", "食品饮料", False),
    ("000858.SZ", "五粮液", "SZSE", "a_share", "main", "食品饮料", False),
    ("601318.SH", "中国平安", "SSE", "a_share", "main", "非银金融", False),
    ("600036.SH", "招商银行", "SSE", "a_share", "main", "银行", False),
    ("000001.SZ", "平安银行", "SZSE", "a_share", "main", "银行", False),
    ("300750.SZ", "宁德时代", "SZSE", "a_share", "chinext", "电力设备", True),
    ("002594.SZ", "比亚迪", "SZSE", "a_share", "main", "汽车", False),
    ("688981.SH", "中芯国际", "SSE", "a_share", "star", "电子", True),
    ("688111.SH", "金山办公", "SSE", "a_share", "star", "计算机", True),
    ("002415.SZ", "海康威视", "SZSE", "a_share", "main", "计算机", True),
    ("000063.SZ", "中兴通讯", "SZSE", "a_share", "main", "通信", True),
    ("600941.SH", "中国移动", "SSE", "a_share", "main", "通信", True),
    ("300059.SZ", "东方财富", "SZSE", "a_share", "chinext", "非银金融", True),
    ("601012.SH", "隆基绿能", "SSE", "a_share", "main", "电力设备", False),
    ("600900.SH", "长江电力", "SSE", "a_share", "main", "公用事业", False),
    ("601899.SH", "紫金矿业", "SSE", "a_share", "main", "有色金属", False),
    ("000333.SZ", "美的集团", "SZSE", "a_share", "main", "家用电器", False),
    ("600276.SH", "恒瑞医药", "SSE", "a_share", "main", "医药生物", False),
    ("300760.SZ", "迈瑞医疗", "SZSE", "a_share", "chinext", "医药生物", False),
    ("002230.SZ", "科大讯飞", "SZSE", "a_share", "main", "计算机", True),
    ("510300.SH", "沪深300ETF", "SSE", "etf", "main", "指数", False),
    ("510500.SH", "中证500ETF", "SSE", "etf", "main", "指数", False),
    ("588000.SH", "科创50ETF", "SSE", "etf", "star", "指数", True),
    ("159915.SZ", "创业板ETF", "SZSE", "etf", "chinext", "指数", True),
    ("113050.SH", "南银转债", "SSE", "convertible", "main", "银行", False),
    ("601398.SH", "工商银行", "SSE", "a_share", "main", "银行", False),
]
TIERS = [
    ("mass", 0.70, (5_000, 100_000)),
    ("potential", 0.18, (100_000, 1_000_000)),
    ("wealth", 0.08, (1_000_000, 5_000_000)),
    ("hnw", 0.035, (5_000_000, 30_000_000)),
    ("uhnw", 0.005, (30_000_000, 120_000_000)),
]
TAGS = [
    "高频交易",
    "科技股偏好",
    "价值投资",
    "两融客户",
    "ETF偏好",
    "新开户",
    "生日关怀",
    "资产流出观察",
    "长期未联系",
    "港股通",
]
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number(rng: random.Random, birth: date, male: bool) -> str:
    body = f"{rng.choice(AREAS)}{birth:%Y%m%d}{rng.randint(0, 99):02d}{rng.choice('13579' if male else '02468')}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, WEIGHTS, strict=True)) % 11]


def person_name(rng: random.Random) -> str:
    given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.7 else "")
    return rng.choice(SURNAMES) + given


def mobile(rng: random.Random) -> str:
    return f"1{rng.choice('35789')}{rng.randint(0, 9)}{rng.randint(0, 99_999_999):08d}"


def demo_logins() -> list[str]:
    return [f"demo logins: demo / {DEMO_PASSWORD} (administrator), am_demo / {DEMO_PASSWORD} (account manager)"]


def ensure_demo_users() -> None:
    for username, role, name in (("demo", ADMIN_ROLE, "演示管理员"), ("am_demo", "account_manager", "演示客户经理")):
        user = find_user(username)
        if user is None:
            create_user(username, DEMO_PASSWORD, [role], display_name=name)
        else:
            set_password(user, DEMO_PASSWORD)


def load_demo(customers: int = 300, seed: int = 20261121) -> list[str]:
    with write_intent():
        ensure_demo_users()
        snap = snapshot()
        svc = RecordService(snap, None, system=True)
        table = snap.tables["customer"].main
        if db.session.execute(sa.select(sa.func.count()).select_from(table)).scalar_one():
            return ["demo data already present; nothing added"]
        rng = random.Random(seed)
        orgs = _org_tree(svc)
        staff = _staff(svc, rng, orgs)
        securities = _securities(svc)
        count = _customers(svc, rng, customers, staff, securities)
    return [
        f"demo data: {len(orgs)} org units, {len(staff['managers'])} account managers, "
        f"{len(securities)} securities, {count['customers']} customers, {count['accounts']} accounts, "
        f"{count['trades']} trades"
    ]


def _org_tree(svc: RecordService) -> dict[str, int]:
    ids: dict[str, int] = {}

    def add(code, name, kind, parent, level, path):
        rows = [
            {
                "code": code,
                "name": name,
                "unit_type": kind,
                "parent": ids.get(parent),
                "level": level,
                "path": path,
                "status": "active",
                "opened_on": "2008-06-18",
            }
        ]
        svc.bulk_create("org_unit", rows)
        ids[code] = db.session.execute(
            sa.select(svc.tables(svc.entity("org_unit")).main.c.id).where(
                svc.tables(svc.entity("org_unit")).main.c.code == code
            )
        ).scalar_one()

    add("HQ", "总部", "hq", None, 0, "/HQ")
    add("HQ-CS", "客户服务中心", "dept", "HQ", 1, "/HQ/HQ-CS")
    add("HQ-CO", "合规部", "dept", "HQ", 1, "/HQ/HQ-CO")
    regions = [
        ("BJ", "北京分公司", [("BJ01", "北京建国门外大街证券营业部"), ("BJ02", "北京中关村大街证券营业部")]),
        ("SH", "上海分公司", [("SH01", "上海陆家嘴环路证券营业部"), ("SH02", "上海淮海中路证券营业部")]),
        ("SZ", "深圳分公司", [("SZ01", "深圳福田中心区证券营业部"), ("SZ02", "深圳南山科技园证券营业部")]),
    ]
    for code, name, branches in regions:
        add(code, name, "region", "HQ", 1, f"/HQ/{code}")
        for bcode, bname in branches:
            add(bcode, bname, "branch", code, 2, f"/HQ/{code}/{bcode}")
            for t in (1, 2):
                add(f"{bcode}-T{t}", f"财富{'一二'[t - 1]}组", "team", bcode, 3, f"/HQ/{code}/{bcode}/{bcode}-T{t}")
    return ids


def _staff(svc: RecordService, rng: random.Random, orgs: dict[str, int]) -> dict:
    employee = svc.tables(svc.entity("employee")).main
    managers: list[tuple[int, int]] = []  # (employee id, branch org id)
    n = 0

    def add(org_code, role, supervisor=None):
        nonlocal n
        n += 1
        svc.bulk_create(
            "employee",
            [
                {
                    "employee_no": f"E{n:05d}",
                    "name": person_name(rng),
                    "org_unit": orgs[org_code],
                    "role": role,
                    "supervisor": supervisor,
                    "mobile": mobile(rng),
                    "email": f"e{n:05d}@example-securities.cn",
                    "hire_date": (date(2012, 1, 1) + timedelta(days=rng.randint(0, 4000))).isoformat(),
                    "status": "active",
                    "sac_registration_no": f"S{rng.randint(1_000_000_000, 9_999_999_999)}",
                    "qualifications": ["general_securities"] + (["investment_advisor"] if rng.random() < 0.4 else []),
                }
            ],
        )
        return db.session.execute(sa.select(employee.c.id).where(employee.c.employee_no == f"E{n:05d}")).scalar_one()

    for code in orgs:
        if len(code) == 4 and code[:2] in ("BJ", "SH", "SZ"):
            boss = add(code, "branch_manager")
            for t in (1, 2):
                lead = add(f"{code}-T{t}", "team_leader", boss)
                for _ in range(3):
                    managers.append((add(f"{code}-T{t}", "account_manager", lead), orgs[code]))
    for _ in range(4):
        add("HQ-CS", "service_agent")
    add("HQ-CO", "compliance_officer")
    return {"managers": managers}


def _securities(svc: RecordService) -> list[int]:
    svc.bulk_create(
        "security",
        [
            {
                "symbol": s,
                "name": name,
                "exchange": ex,
                "security_type": kind,
                "board": board,
                "sw_industry_l1": ind,
                "is_tech": tech or board == "star",
                "risk_level": "R4" if board in ("star", "chinext") else "R3",
                "status": "listed",
            }
            for s, name, ex, kind, board, ind, tech in SECURITIES
        ],
    )
    table = svc.tables(svc.entity("security")).main
    return list(db.session.execute(sa.select(table.c.id).order_by(table.c.id)).scalars())


def _customers(svc: RecordService, rng: random.Random, total: int, staff: dict, securities: list[int]) -> dict:
    counts = {"customers": 0, "accounts": 0, "trades": 0}
    used_ids: set[str] = set()
    customer_t = svc.tables(svc.entity("customer")).main
    account_t = svc.tables(svc.entity("account")).main
    today = date.today()
    batch = 2000
    for start in range(0, total, batch):
        rows = []
        for i in range(start, min(total, start + batch)):
            tier = rng.choices([t[0] for t in TIERS], [t[1] for t in TIERS])[0]
            low, high = next(t[2] for t in TIERS if t[0] == tier)
            assets = Decimal(rng.randint(low * 100, high * 100)) / 100
            male = rng.random() < 0.52
            birth = date(1950, 1, 1) + timedelta(days=rng.randint(0, 365 * 52))
            number = id_number(rng, birth, male)
            while number in used_ids:  # identity numbers are unique per document type
                number = id_number(rng, birth, male)
            used_ids.add(number)
            opened = today - timedelta(days=rng.randint(5, 3650))
            manager, branch = rng.choice(staff["managers"])
            stage = rng.choices(["onboarding", "active", "at_risk", "dormant", "lost"], [6, 62, 10, 18, 4])[0]
            if (today - opened).days <= 30:
                stage = "onboarding"
            risk = rng.choices(["C1", "C2", "C3", "C4", "C5"], [8, 22, 38, 24, 8])[0]
            tags = rng.sample(TAGS, rng.choice([0, 0, 1, 1, 2, 3]))
            professional = tier in ("hnw", "uhnw") and rng.random() < 0.3
            rows.append(
                {
                    "customer_no": f"{310000000000 + i * 7 + 3:012d}",
                    "customer_type": "individual",
                    "name": person_name(rng),
                    "id_type": "cn_id",
                    "id_number": number,
                    "gender": "male" if male else "female",
                    "birth_date": birth.isoformat(),
                    "mobile": mobile(rng),
                    "email": f"c{i:07d}@example.com" if rng.random() < 0.4 else None,
                    "address": rng.choice(
                        [
                            "北京市朝阳区建国路88号",
                            "上海市浦东新区世纪大道100号",
                            "深圳市南山区科技园路1号",
                            "杭州市西湖区文三路90号",
                            "南京市鼓楼区中山路18号",
                        ]
                    ),
                    "occupation": rng.choice(
                        ["enterprise_manager", "professional", "clerk", "business_owner", "retired", "freelancer"]
                    ),
                    "annual_income_band": rng.choice(["lt_100k", "100k_300k", "300k_500k", "500k_1m", "gt_1m"]),
                    "investor_category": "professional_1" if professional else "ordinary",
                    "professional_valid_until": (today + timedelta(days=rng.randint(30, 700))).isoformat()
                    if professional
                    else None,
                    "risk_level": risk,
                    "risk_valid_until": (today + timedelta(days=rng.randint(-60, 730))).isoformat(),
                    "asset_tier": tier,
                    "lifecycle_stage": stage,
                    "vip_level": {
                        "mass": "standard",
                        "potential": "standard",
                        "wealth": "silver",
                        "hnw": "gold",
                        "uhnw": "platinum",
                    }[tier],
                    "primary_manager": manager,
                    "servicing_org": branch,
                    "opened_at": opened.isoformat(),
                    "open_channel": rng.choice(["counter", "witness", "online", "online", "online", "third_party"]),
                    "total_assets": str(assets),
                    "last_trade_date": (
                        today - timedelta(days=rng.randint(0, 20 if stage == "active" else 200))
                    ).isoformat(),
                    "last_contact_at": datetime.combine(
                        today - timedelta(days=rng.randint(0, 120)), time(rng.randint(1, 10)), tzinfo=UTC
                    ).isoformat(),
                    "preferred_channel": rng.choice(["phone", "wechat", "sms", "app"]),
                    "marketing_dnd": rng.random() < 0.05,
                    "tags": tags,
                }
            )
        svc.bulk_create("customer", rows)
        counts["customers"] += len(rows)
        numbers = [r["customer_no"] for r in rows]
        ids = dict(
            db.session.execute(
                sa.select(customer_t.c.customer_no, customer_t.c.id).where(customer_t.c.customer_no.in_(numbers))
            ).all()
        )
        accounts = []
        for r in rows:
            cid = ids[r["customer_no"]]
            accounts.append(
                {
                    "fund_account_no": f"{10_000_000 + cid:08d}",
                    "customer": cid,
                    "account_type": "normal",
                    "custody_bank": rng.choice(["ICBC", "ABC", "BOC", "CCB", "BOCOM", "CMB"]),
                    "commission_rate": str(rng.choice(["0.00025", "0.0002", "0.00015", "0.0003"])),
                    "opened_at": r["opened_at"],
                    "status": "normal",
                }
            )
            if r["asset_tier"] in ("wealth", "hnw", "uhnw") and rng.random() < 0.35:
                accounts.append(
                    {
                        "fund_account_no": f"{60_000_000 + cid:08d}",
                        "customer": cid,
                        "account_type": "credit",
                        "custody_bank": accounts[-1]["custody_bank"],
                        "opened_at": r["opened_at"],
                        "status": "normal",
                    }
                )
        svc.bulk_create("account", accounts)
        counts["accounts"] += len(accounts)
        acc_ids = dict(
            db.session.execute(
                sa.select(account_t.c.fund_account_no, account_t.c.id).where(
                    account_t.c.fund_account_no.in_([a["fund_account_no"] for a in accounts])
                )
            ).all()
        )
        trades = []
        per_customer = 8 if total <= 5000 else 2
        for a in accounts:
            if a["account_type"] != "normal":
                continue
            for _ in range(rng.randint(0, per_customer)):
                price = Decimal(rng.randint(300, 200_000)) / 100
                qty = Decimal(rng.randint(1, 50) * 100)
                moment = datetime.combine(
                    today - timedelta(days=rng.randint(0, 90)), time(rng.randint(1, 6), rng.randint(0, 59)), tzinfo=UTC
                )
                amount = (price * qty).quantize(Decimal("0.01"))
                trades.append(
                    {
                        "trade_no": f"T{len(trades) + counts['trades'] + 1:010d}",
                        "account": acc_ids[a["fund_account_no"]],
                        "customer": a["customer"],
                        "security": rng.choice(securities),
                        "trade_date": moment.date().isoformat(),
                        "trade_time": moment.isoformat(),
                        "side": rng.choice(["buy", "buy", "sell", "sell", "margin_buy"]),
                        "quantity": str(qty),
                        "price": str(price),
                        "amount": str(amount),
                        "commission": str(
                            max(Decimal("5.00"), (amount * Decimal("0.00025")).quantize(Decimal("0.01")))
                        ),
                        "channel": rng.choice(["app", "app", "app", "pc", "web", "phone"]),
                    }
                )
        if trades:
            svc.bulk_create("trade", trades)
        counts["trades"] += len(trades)
    return counts
