"""Message templates (``scrm.notify.placeholders``): the logic-less placeholder syntax of task
titles, e-mails and SMS — what renders, what is refused with which code and offset, and that
nothing but the values handed over can be reached."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from scrm.notify.placeholders import TemplateError, parse

VALUES = {
    "record": {
        "name": "欧阳小明",
        "mobile": "13812345678",
        "total_assets": Decimal("6234567.8"),
        "opened_at": date(2019, 3, 8),
        "last_login": datetime(2026, 11, 20, 18, 5, 33),
        "tags": ["高净值", "科技偏好"],
        "vip": True,
        "empty": "",
        "manager": {"name": "张伟", "mobile": "13900001111"},
    },
    "metrics": {"change_pct": Decimal("-0.3153"), "as_text": "-0.25", "bad": "n/a"},
}


@pytest.mark.parametrize(
    "source, expected",
    [
        ("纯文本，无占位符", "纯文本，无占位符"),
        ("{{record.name}}", "欧阳小明"),
        ("{{ record.name | mask_name }}", "欧阳**明"),
        ("【紧急】{{record.name|mask_name}} 下降 {{metrics.change_pct|percent}}", "【紧急】欧阳**明 下降 -31.5%"),
        ("{{metrics.as_text|percent}}", "-25.0%"),
        ("{{record.total_assets|money}} 元", "6,234,567.80 元"),
        ("{{record.mobile|mask_mobile}}", "138****5678"),
        ("{{record.manager.name}} {{record.manager.mobile|mask_mobile}}", "张伟 139****1111"),
        ("{{record.opened_at|date}}", "2019-03-08"),
        ("{{record.last_login|date}} / {{record.last_login|datetime}}", "2026-11-20 / 2026-11-20 18:05"),
        ("{{record.last_login}}", "2026-11-20 18:05"),
        ("{{record.tags}}", "高净值、科技偏好"),
        ("{{record.missing}}|{{record.empty}}|{{nothing.at.all}}", "||"),
        ("{{record.missing|default:未填写}}", "未填写"),
        ("{{record.empty|mask_name|default:—}}", "—"),
        ("{{metrics.bad|percent}} {{metrics.bad|money}} {{metrics.bad|date}}", "n/a n/a n/a"),
        ("{{record.manager}}", ""),  # a mapping is not text
        ("{{record.name.first}}", ""),  # no attribute access on text
        ("\\{{record.name}} 是字面量", "{{record.name}} 是字面量"),
        ("{ 单个花括号 } }}", "{ 单个花括号 } }}"),
    ],
)
def test_renders(source, expected):
    assert parse(source, roots={"record", "metrics", "nothing"}).render(VALUES) == expected


@pytest.mark.parametrize(
    "source, code, offset",
    [
        ("客户 {{record.name", "E-TPL-002", 3),
        ("{{}}", "E-TPL-003", 0),
        ("ab{{ record..name }}", "E-TPL-003", 2),
        ("{{record.name + 1}}", "E-TPL-003", 0),
        ("{{ record.__class__.__mro__ }}", "E-TPL-003", 0),  # no dunder names (a dict would not have them anyway)
        ("{{config.SECRET_KEY}}", "E-TPL-004", 0),
        ("{{ ''.__class__ }}", "E-TPL-003", 0),
        ("{{record.name|upper}}", "E-TPL-005", 0),
        ("x {{record.name|default}}", "E-TPL-005", 2),
        ("{{record.name|money:2}}", "E-TPL-005", 0),
        ("{% for x in record %}{{x}}{% endfor %}", "E-TPL-004", 21),  # no tags: the text stays, x is no root
    ],
)
def test_mistakes_are_refused_with_a_code_and_where(source, code, offset):
    with pytest.raises(TemplateError) as caught:
        parse(source, roots={"record", "metrics"})
    assert (caught.value.code, caught.value.offset) == (code, offset)
    assert caught.value.message


@pytest.mark.parametrize("source", [None, 42, "x" * 10_001])
def test_only_text_of_a_sane_length_is_a_template(source):
    with pytest.raises(TemplateError) as caught:
        parse(source)
    assert caught.value.code == "E-TPL-001"


def test_the_paths_a_template_reads():
    template = parse("{{record.name|mask_name}} {{record.manager.name}} {{metrics.change_pct|percent}} {{record.name}}")
    assert template.paths == {"record.name", "record.manager.name", "metrics.change_pct"}


def test_values_reach_no_further_than_the_mappings_handed_over():
    class Record(dict):
        secret = "never"

        def __getattr__(self, name):
            raise AssertionError(f"attribute {name} read")

    assert parse("{{record.secret}}|{{record.name}}").render({"record": Record(name="王芳")}) == "|王芳"


def test_messages_follow_the_language(app):
    from flask_babel import force_locale

    with app.test_request_context(), force_locale("en"):
        with pytest.raises(TemplateError) as caught:
            parse("{{record.x|shout}}")
    assert caught.value.message.startswith("Unknown filter 'shout'")
