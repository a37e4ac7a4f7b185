"""Believable Chinese people and places: names, identity numbers with a valid check digit,
mobile numbers, addresses; and the exchange calendar the demo's market data follows."""

from __future__ import annotations

import random
from datetime import date, timedelta

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范"
    "金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "东方")
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华玉萍红娥建文辉力鹏飞宇浩然涵思远欣怡梓萱博嘉晨曦雨桐俊志海燕晓东国永立新"
CITIES = (
    # (GB/T 2260 district code, province/city/district prefix, streets)
    ("110105", "北京市朝阳区", ("建国路", "朝阳北路", "望京街", "东三环中路")),
    ("110108", "北京市海淀区", ("中关村大街", "学院路", "知春路")),
    ("310115", "上海市浦东新区", ("世纪大道", "陆家嘴环路", "张杨路", "浦东南路")),
    ("310104", "上海市徐汇区", ("漕溪北路", "肇嘉浜路", "衡山路")),
    ("440305", "广东省深圳市南山区", ("科技园路", "深南大道", "后海大道")),
    ("440304", "广东省深圳市福田区", ("福华路", "益田路", "金田路")),
    ("330106", "浙江省杭州市西湖区", ("文三路", "天目山路", "教工路")),
    ("320102", "江苏省南京市玄武区", ("中山路", "珠江路", "北京东路")),
    ("510107", "四川省成都市武侯区", ("人民南路", "天府大道", "科华北路")),
    ("420106", "湖北省武汉市武昌区", ("中北路", "武珞路", "中南路")),
)
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def person_name(rng: random.Random) -> str:
    surname = rng.choice(COMPOUND_SURNAMES) if rng.random() < 0.01 else rng.choice(SURNAMES)
    given = rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.72 else "")
    return surname + given


def id_number(rng: random.Random, area: str, birth: date, male: bool) -> str:
    """An 18-digit resident ID (GB 11643) with a correct check digit."""
    body = f"{area}{birth:%Y%m%d}{rng.randint(0, 99):02d}{rng.choice('13579' if male else '02468')}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, ID_WEIGHTS, strict=True)) % 11]


def mobile(rng: random.Random) -> str:
    prefix = rng.choice(
        ("130", "131", "135", "136", "137", "138", "139", "150", "151", "158", "159", "186", "188", "199")
    )
    return f"{prefix}{rng.randint(0, 99_999_999):08d}"


def address(rng: random.Random, city: tuple) -> str:
    return f"{city[1]}{rng.choice(city[2])}{rng.randint(1, 399)}号{rng.randint(1, 30)}栋{rng.randint(101, 2808)}室"


# Exchange holidays (SSE/SZSE closures on weekdays) for the window the demo covers. Weekends are
# always closed; make-up working Saturdays are not trading days either.
HOLIDAYS = {
    *(date(2025, 1, 1) + timedelta(days=i) for i in range(1)),
    *(date(2025, 1, 28) + timedelta(days=i) for i in range(8)),
    date(2025, 4, 4),
    *(date(2025, 5, 1) + timedelta(days=i) for i in range(5)),
    date(2025, 6, 2),
    *(date(2025, 10, 1) + timedelta(days=i) for i in range(8)),
    date(2026, 1, 1),
    date(2026, 1, 2),
    *(date(2026, 2, 16) + timedelta(days=i) for i in range(8)),
    date(2026, 4, 6),
    *(date(2026, 5, 1) + timedelta(days=i) for i in range(5)),
    date(2026, 6, 19),
    date(2026, 9, 25),
    *(date(2026, 10, 1) + timedelta(days=i) for i in range(8)),
}


def is_trading_day(day: date) -> bool:
    return day.weekday() < 5 and day not in HOLIDAYS


def trading_days(until: date, count: int) -> list[date]:
    """The ``count`` trading days up to and including ``until`` (or the last one before it), oldest first."""
    days, day = [], until
    while len(days) < count:
        if is_trading_day(day):
            days.append(day)
        day -= timedelta(days=1)
    return days[::-1]
