"""Calendar field types: date (no time zone) and datetime (stored UTC, shown in SCRM_TIMEZONE)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app, has_app_context

from ..i18n import _
from .base import COMPARE_OPS, FieldType
from .sqltypes import UTCDateTime

DATE_OPS = COMPARE_OPS | {"in_period", "within_last", "within_next", "anniversary_is"}
_date_like = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})$")


def local_zone() -> ZoneInfo:
    name = current_app.config.get("SCRM_TIMEZONE", "Asia/Shanghai") if has_app_context() else "Asia/Shanghai"
    return ZoneInfo(name)


def parse_date(value) -> date:
    if isinstance(value, datetime):
        raise ValueError
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError
    text = value.strip()
    m = _date_like.match(text)
    if m:
        return date(int(m[1]), int(m[2]), int(m[3]))
    if len(text) == 8 and text.isascii() and text.isdigit():
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    raise ValueError


class DateType(FieldType):
    name = "date"
    value_kind = "date"
    operators = DATE_OPS
    widgets = ("date", "text", "display")
    options_schema = {
        "properties": {"min": {"type": "string", "format": "date"}, "max": {"type": "string", "format": "date"}}
    }
    validation_keys = ("min", "max")

    def column_type(self, f):
        return sa.Date()

    def convert(self, value, f):
        try:
            return parse_date(value)
        except (ValueError, TypeError):
            raise self.fail(
                _("Expected a date such as 2026-03-31, got {value}.").format(value=self.show(value))
            ) from None

    def check(self, value, f):
        low, high = f.get("min"), f.get("max")
        if low and value < parse_date(low):
            raise self.fail(_("Must be on or after {limit}.").format(limit=low))
        if high and value > parse_date(high):
            raise self.fail(_("Must be on or before {limit}.").format(limit=high))

    def to_json(self, value, f):
        return None if value is None else value.isoformat()

    def format_input(self, value, f):
        return "" if value is None else value.isoformat()

    def display(self, value, f):
        return "" if value is None else value.isoformat()

    def json_schema(self, f):
        return {"type": "string", "format": "date"}

    def definition_problems(self, f):
        out = []
        for key in ("min", "max"):
            if f.get(key) is not None:
                try:
                    parse_date(f.get(key))
                except (ValueError, TypeError):
                    out.append(
                        (
                            "E-ENTITY-012",
                            key,
                            {
                                "detail": _("Expected a date such as 2026-03-31, got {value}.").format(
                                    value=self.show(f.get(key))
                                )
                            },
                        )
                    )
        return out


class DateTimeType(FieldType):
    name = "datetime"
    value_kind = "datetime"
    operators = DATE_OPS - {"anniversary_is"}
    widgets = ("datetime", "text", "display")

    def column_type(self, f):
        return UTCDateTime()

    def convert(self, value, f):
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, str):
            text = value.strip().replace(" ", "T", 1)
            if text.endswith("Z"):
                text = text[:-1] + "+00:00"
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                raise self.fail(
                    _("Expected a date and time such as 2026-03-31T09:30, got {value}.").format(value=self.show(value))
                ) from None
        else:
            raise self.fail(
                _("Expected a date and time such as 2026-03-31T09:30, got {value}.").format(value=self.show(value))
            )
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=local_zone())
        try:
            moment = moment.astimezone(UTC)
        except OverflowError:
            moment = None
        if moment is None or not 1900 <= moment.year <= 9998:
            raise self.fail(_("The year of {value} is out of range (1900 to 9998).").format(value=self.show(value)))
        return moment

    def from_db(self, value, f):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    def to_json(self, value, f):
        return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")

    def format_input(self, value, f):
        if value is None:
            return ""
        local = value.astimezone(local_zone())
        return local.strftime("%Y-%m-%dT%H:%M:%S" if local.second or local.microsecond else "%Y-%m-%dT%H:%M")

    def display(self, value, f):
        return "" if value is None else value.astimezone(local_zone()).strftime("%Y-%m-%d %H:%M")

    def json_schema(self, f):
        return {"type": "string", "format": "date-time"}
