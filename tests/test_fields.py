"""Field types convert or fail, like Click's types: a table of good values and a table of errors."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from scrm.fields import ConversionError
from scrm.meta.model import FieldDef
from scrm.plugins.manager import Plugins

TYPES = Plugins(load_entry_points=False).field_types


def field(type_, **spec):
    return FieldDef("probe", {"id": "x", "name": "x", "column": "x", "type": type_, **spec})


@pytest.mark.parametrize(
    "type_, spec, raw, expected",
    [
        ("string", {}, "  hello ", "hello"),
        ("string", {}, 12345, "12345"),
        ("string", {"pattern": "^[A-Z]{2}$"}, "BJ", "BJ"),
        ("text", {}, "line1\r\nline2", "line1\nline2"),
        ("integer", {}, "42", 42),
        ("integer", {}, Decimal("7.0"), 7),
        ("integer", {"min": 0, "max": 10}, 10, 10),
        ("decimal", {"scale": 2}, "12.30", Decimal("12.30")),
        ("decimal", {"scale": 2}, 0.1, Decimal("0.10")),
        ("decimal", {"scale": 2}, "12.3400", Decimal("12.34")),
        ("money", {}, "1234567.89", Decimal("1234567.89")),
        ("percent", {}, "0.25", Decimal("0.250000")),
        ("bool", {}, True, True),
        ("bool", {}, "false", False),
        ("bool", {}, "是", True),
        ("date", {}, "2026-03-31", date(2026, 3, 31)),
        ("date", {}, "2026/3/1", date(2026, 3, 1)),
        ("date", {}, "20260301", date(2026, 3, 1)),
        ("datetime", {}, "2026-03-31T09:30:00+08:00", datetime(2026, 3, 31, 1, 30, tzinfo=UTC)),
        ("datetime", {}, "2026-03-31T09:30Z", datetime(2026, 3, 31, 9, 30, tzinfo=UTC)),
        ("enum", {"options": ["a", "b"]}, "b", "b"),
        ("multi_enum", {"options": ["a", "b", "c"]}, ["c", "a", "a"], ["a", "c"]),
        ("multi_enum", {"options": ["a", "b"]}, "b, a", ["a", "b"]),
        ("tags", {}, ["VIP ", " 高频 "], ["VIP", "高频"]),
        ("ref", {"target": "customer"}, "12", 12),
        ("ref", {"target": "customer"}, {"id": 5}, 5),
        ("email", {}, "Wang.Fang@Example.COM", "Wang.Fang@example.com"),
        ("url", {}, "https://www.sse.com.cn/", "https://www.sse.com.cn/"),
        ("phone", {}, "+86 138-0013-8000", "13800138000"),
        ("phone", {}, "010-88889999", "010-88889999"),
        ("phone", {}, "075588889999", "0755-88889999"),
        ("phone", {"region": "any"}, "+44 20 7946 0958", "+442079460958"),
        ("id_number", {}, "11010519491231002x", "11010519491231002X"),
        ("id_number", {}, "E12345678", "E12345678"),
        ("json", {}, '{"a": [1, 2]}', {"a": [1, 2]}),
    ],
)
def test_good_values_convert(type_, spec, raw, expected):
    assert TYPES[type_].validate(raw, field(type_, **spec)) == expected


@pytest.mark.parametrize(
    "type_, spec, raw, fragment",
    [
        ("string", {"max_length": 3}, "abcd", "At most 3 characters (this has 4)"),
        ("string", {}, "bad\x00byte", "control characters"),
        ("string", {}, True, "Expected text"),
        ("string", {"pattern": "^[A-Z]{2}$"}, "bj", "expected format"),
        ("integer", {}, "4.5", "whole number"),
        ("integer", {}, True, "whole number"),
        ("integer", {}, "9" * 30, "too large"),
        ("integer", {"min": 0}, -1, "at least 0"),
        ("decimal", {"scale": 2}, "1.234", "At most 2 decimal places"),
        ("decimal", {}, "NaN", "Expected a number"),
        ("decimal", {}, "1e400", "too large"),
        ("money", {}, "¥100", "Expected a number"),
        ("bool", {}, "maybe", "true or false"),
        ("date", {}, "2026-02-30", "Expected a date"),
        ("date", {"min": "2000-01-01"}, "1999-12-31", "on or after 2000-01-01"),
        ("datetime", {}, "tomorrow", "date and time"),
        ("datetime", {}, "0001-01-01T00:00:00", "out of range"),
        ("enum", {"options": ["a", "b"]}, "c", "not one of a, b"),
        ("multi_enum", {"options": ["a"]}, ["a", 1], "list of texts"),
        ("tags", {}, ["x" * 40], "at most 32"),
        ("tags", {"max_items": 1}, ["a", "b"], "At most 1 values"),
        ("ref", {"target": "customer"}, "abc", "record id"),
        ("ref", {"target": "customer"}, -3, "record id"),
        ("email", {}, "wang@", "not an e-mail"),
        ("url", {}, "javascript:alert(1)", "http://"),
        ("phone", {}, "12345", "mainland mobile"),
        ("id_number", {}, "110105194912310021", "check digit"),
        ("json", {}, "{bad", "not valid JSON"),
    ],
)
def test_bad_values_fail_with_a_message_that_shows_them(ctx, type_, spec, raw, fragment):
    with pytest.raises(ConversionError) as exc:
        TYPES[type_].validate(raw, field(type_, **spec))
    assert fragment.lower() in exc.value.message.lower()


@pytest.mark.parametrize(
    "type_, raw, shown",
    [
        ("money", Decimal("-1234.5"), "-¥1,234.50"),
        ("percent", Decimal("0.253"), "25.30%"),
        ("integer", 1234567, "1,234,567"),
        ("decimal", Decimal("3.14159"), "3.1416"),
    ],
)
def test_display(ctx, type_, raw, shown):
    assert TYPES[type_].display(raw, field(type_)) == shown


def test_percent_form_input_is_in_percent(ctx):
    f = field("percent")
    assert TYPES["percent"].parse_form("30%", f) == Decimal("0.3")
    assert TYPES["percent"].format_input(Decimal("0.300000"), f) == "30"


def test_money_form_input_accepts_grouping(ctx):
    assert TYPES["money"].parse_form("1,234,567.80", field("money")) == Decimal("1234567.80")


def test_ref_form_input_accepts_lookup_choice():
    assert TYPES["ref"].parse_form("42 · 王芳", field("ref", target="customer")) == 42


@pytest.mark.parametrize(
    "type_, raw, expected",
    [
        ("phone", "１３８ ００１３ ８０００", "13800138000"),
        ("id_number", "１１０１０５１９４９１２３１００２ｘ", "11010519491231002X"),
        ("integer", "１２", 12),
    ],
)
def test_full_width_input_is_normalised(type_, raw, expected):
    assert TYPES[type_].validate(raw, field(type_)) == expected


@pytest.mark.parametrize("type_, raw", [("phone", "١٣٨٠٠١٣٨٠٠٠"), ("ref", "²"), ("integer", "²")])
def test_exotic_digits_fail_cleanly(ctx, type_, raw):
    with pytest.raises(ConversionError):
        TYPES[type_].validate(raw, field(type_, target="customer") if type_ == "ref" else field(type_))
