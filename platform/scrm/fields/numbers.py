"""Numeric and boolean field types: integer, decimal, money, percent, bool."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal, InvalidOperation

import sqlalchemy as sa
from markupsafe import Markup

from ..i18n import _
from .base import COMPARE_OPS, FieldType
from .sqltypes import ExactDecimal

_range_props = {"min": {"$ref": "common.json#/$defs/number"}, "max": {"$ref": "common.json#/$defs/number"}}
BIGINT = 2**63 - 1


def _strip_grouping(raw: str) -> str:
    return raw.replace(",", "").replace("，", "").replace(" ", "").replace("¥", "").replace("￥", "")


class IntegerType(FieldType):
    name = "integer"
    value_kind = "integer"
    widgets = ("number", "text", "display")
    options_schema = {"properties": {"min": {"type": "integer"}, "max": {"type": "integer"}}}
    validation_keys = ("min", "max")

    def column_type(self, f):
        return sa.BigInteger()

    def convert(self, value, f):
        if isinstance(value, bool):
            raise self.fail(_("Expected a whole number, got {value}.").format(value=self.show(value)))
        if isinstance(value, int):
            number = value
        else:
            try:
                d = Decimal(value.strip() if isinstance(value, str) else value)
            except (InvalidOperation, TypeError, ValueError, AttributeError):
                raise self.fail(_("Expected a whole number, got {value}.").format(value=self.show(value))) from None
            if not d.is_finite() or d != d.to_integral_value():
                raise self.fail(_("Expected a whole number, got {value}.").format(value=self.show(value)))
            number = int(d)
        if abs(number) > BIGINT:
            raise self.fail(_("The number {value} is too large.").format(value=number))
        return number

    def parse_form(self, raw, f):
        return super().parse_form(_strip_grouping(raw) if isinstance(raw, str) else raw, f)

    def check(self, value, f):
        _check_range(self, value, f)

    def json_schema(self, f):
        out = {"type": "integer"}
        if f.get("min") is not None:
            out["minimum"] = f.get("min")
        if f.get("max") is not None:
            out["maximum"] = f.get("max")
        return out

    def definition_problems(self, f):
        return _range_problems(f)

    def display(self, value, f):
        return "" if value is None else f"{value:,}"


class DecimalType(FieldType):
    name = "decimal"
    value_kind = "decimal"
    widgets = ("number", "text", "display")
    default_precision = 18
    default_scale = 4
    options_schema = {
        "properties": {
            "precision": {"type": "integer", "minimum": 1, "maximum": 18},
            "scale": {"type": "integer", "minimum": 0, "maximum": 10},
            **_range_props,
        }
    }
    validation_keys = ("min", "max", "precision", "scale")
    storage_keys = ("precision", "scale")

    def precision(self, f) -> int:
        return f.get("precision", self.default_precision)

    def scale(self, f) -> int:
        return f.get("scale", self.default_scale)

    def column_type(self, f):
        return ExactDecimal(self.precision(f), self.scale(f))

    def to_decimal(self, value) -> Decimal:
        if isinstance(value, bool):
            raise InvalidOperation
        if isinstance(value, float):
            value = repr(value)
        if isinstance(value, str):
            value = value.strip()
        return Decimal(value)

    def convert(self, value, f):
        try:
            d = self.to_decimal(value)
        except (InvalidOperation, TypeError, ValueError):
            raise self.fail(_("Expected a number, got {value}.").format(value=self.show(value))) from None
        if not d.is_finite():
            raise self.fail(_("Expected a number, got {value}.").format(value=self.show(value)))
        scale = self.scale(f)
        if d and d.adjusted() >= self.precision(f) - scale:
            raise self.fail(_("The number {value} is too large.").format(value=self.show(value)))
        step = Decimal(1).scaleb(-scale)
        if d.as_tuple().exponent < -scale and d != d.quantize(step, rounding=ROUND_DOWN):
            raise self.fail(_("At most {scale} decimal places, got {value}.").format(scale=scale, value=d))
        return d.quantize(step)

    def parse_form(self, raw, f):
        return super().parse_form(_strip_grouping(raw) if isinstance(raw, str) else raw, f)

    def check(self, value, f):
        _check_range(self, value, f)

    def to_json(self, value, f):
        return None if value is None else str(value)

    def json_schema(self, f):
        return {
            "type": "string",
            "format": "decimal",
            "pattern": r"^-?\d+(\.\d+)?$",
            "description": f"exact decimal, {self.scale(f)} decimal places, as a string",
        }

    def definition_problems(self, f):
        problems = _range_problems(f)
        if self.scale(f) > self.precision(f):
            problems.append(("E-ENTITY-021", "scale", {"scale": self.scale(f), "precision": self.precision(f)}))
        return problems

    def display(self, value, f):
        return "" if value is None else f"{value:,.{self.scale(f)}f}"


class MoneyType(DecimalType):
    name = "money"
    widgets = ("money", "number", "text", "display")
    default_scale = 2
    options_schema = {
        "properties": {
            "precision": {"type": "integer", "minimum": 4, "maximum": 18},
            "scale": {"type": "integer", "minimum": 0, "maximum": 4},
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
            **_range_props,
        }
    }
    symbols = {"CNY": "¥", "USD": "$", "HKD": "HK$", "EUR": "€"}

    def display(self, value, f):
        if value is None:
            return ""
        symbol = self.symbols.get(f.get("currency", "CNY"), f.get("currency", "") + " ")
        sign = "-" if value < 0 else ""
        return f"{sign}{symbol}{abs(value):,.{self.scale(f)}f}"

    def format_input(self, value, f):
        return "" if value is None else f"{value:,.{self.scale(f)}f}"


class PercentType(DecimalType):
    """Stored as a ratio (0.30 = 30 %); the API speaks ratios, forms speak percent."""

    name = "percent"
    widgets = ("percent", "number", "display")
    default_precision = 12
    default_scale = 6
    options_schema = {"properties": {**_range_props}}
    validation_keys = ("min", "max")
    storage_keys = ()

    def parse_form(self, raw, f):
        if isinstance(raw, str):
            raw = raw.strip().rstrip("%").strip()
            if raw:
                try:
                    raw = str(Decimal(_strip_grouping(raw)) / 100)
                except InvalidOperation:
                    raise self.fail(_("Expected a number, got {value}.").format(value=self.show(raw))) from None
        return super().parse_form(raw, f)

    def format_input(self, value, f):
        return "" if value is None else f"{(value * 100).normalize():f}"

    def display(self, value, f):
        return "" if value is None else f"{value * 100:,.2f}%"


class BoolType(FieldType):
    name = "bool"
    value_kind = "bool"
    operators = frozenset({"eq", "ne", "is_null", "is_not_null"})
    widgets = ("switch", "checkbox", "select", "display")
    truthy = {"true", "1", "yes", "on", "y", "是"}
    falsy = {"false", "0", "no", "off", "n", "否"}

    def column_type(self, f):
        return sa.Boolean()

    def convert(self, value, f):
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str):
            low = value.strip().lower()
            if low in self.truthy:
                return True
            if low in self.falsy:
                return False
        raise self.fail(_("Expected true or false, got {value}.").format(value=self.show(value)))

    def parse_form(self, raw, f):
        if isinstance(raw, list):
            raw = raw[-1] if raw else None
        return super().parse_form(raw, f)

    def display(self, value, f):
        if value is None:
            return ""
        return Markup('<span class="text-success">✔ {}</span>').format(_("Yes")) if value else _("No")

    def json_schema(self, f):
        return {"type": "boolean"}


def _check_range(ftype: FieldType, value, f) -> None:
    low, high = f.get("min"), f.get("max")
    if low is not None and value < Decimal(str(low)):
        raise ftype.fail(_("Must be at least {limit}.").format(limit=low))
    if high is not None and value > Decimal(str(high)):
        raise ftype.fail(_("Must be at most {limit}.").format(limit=high))


def _range_problems(f) -> list:
    low, high = f.get("min"), f.get("max")
    if low is not None and high is not None and Decimal(str(low)) > Decimal(str(high)):
        return [("E-ENTITY-013", "min", {"min": low, "max": high})]
    return []


__all__ = ["IntegerType", "DecimalType", "MoneyType", "PercentType", "BoolType", "COMPARE_OPS"]
