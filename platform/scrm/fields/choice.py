"""Choice field types: enum (one option), multi_enum (several options), tags (free or vocabulary)."""

from __future__ import annotations

import sqlalchemy as sa
from markupsafe import Markup

from ..i18n import _, current_locale, text
from .base import SET_OPS, FieldType, badge

_option_list = {"type": "array", "minItems": 1, "maxItems": 500, "items": {"$ref": "#/$defs/option"}}


def _duplicates(f) -> list:
    seen, out = set(), []
    for i, o in enumerate(f.get("options", ())):
        value = o if isinstance(o, str) else o.get("value")
        if value in seen:
            out.append(("E-ENTITY-015", f"options[{i}]", {"value": value}))
        seen.add(value)
    return out


class EnumType(FieldType):
    name = "enum"
    operators = frozenset({"eq", "ne", "in", "not_in", "is_null", "is_not_null"})
    widgets = ("select", "radio", "radio_group", "display")
    options_schema = {"properties": {"options": _option_list}, "required": ["options"]}
    validation_keys = ("options",)

    def column_type(self, f):
        return sa.String(64)

    def convert(self, value, f):
        if not isinstance(value, str):
            raise self.fail(
                _("Expected one of {allowed}, got {value}.").format(allowed=self.allowed(f), value=self.show(value))
            )
        value = value.strip()
        if value not in f.option_map:
            raise self.fail(
                _("{value} is not one of {allowed}.").format(value=self.show(value), allowed=self.allowed(f))
            )
        return value

    def allowed(self, f) -> str:
        values = [o.value for o in f.options if o.active]
        shown = ", ".join(values[:12])
        return shown + (" …" if len(values) > 12 else "")

    def display(self, value, f):
        if value is None:
            return ""
        cache = f.__dict__.setdefault("_shown", {})  # labels resolved once per field and locale
        key = (value, current_locale())
        shown = cache.get(key)
        if shown is None:
            option = f.option_map.get(value)
            if option is None:
                return value
            label = text(option.label)
            shown = cache[key] = badge(label, option.color) if option.color else label
        return shown

    def json_schema(self, f):
        return {"type": "string", "enum": [o.value for o in f.options]}

    def definition_problems(self, f):
        return _duplicates(f)


class MultiEnumType(EnumType):
    name = "multi_enum"
    value_kind = "set"
    multi = True
    sortable = False
    operators = SET_OPS
    widgets = ("multi_select", "checkbox", "tags", "display")
    options_schema = {
        "properties": {"options": _option_list, "max_items": {"type": "integer", "minimum": 1, "maximum": 200}},
        "required": ["options"],
    }
    validation_keys = ("options", "max_items")

    def column_type(self, f):
        return None

    def items(self, value) -> list:
        if isinstance(value, str):
            value = [v for v in value.replace("，", ",").split(",")]
        if not isinstance(value, list | tuple | set):
            raise self.fail(_("Expected a list of values, got {value}.").format(value=self.show(value)))
        out = []
        for v in value:
            if not isinstance(v, str):
                raise self.fail(_("Expected a list of texts, got {value}.").format(value=self.show(v)))
            v = v.strip()
            if v and v not in out:
                out.append(v)
        return out

    def convert(self, value, f):
        values = self.items(value)
        for v in values:
            if v not in f.option_map:
                raise self.fail(
                    _("{value} is not one of {allowed}.").format(value=self.show(v), allowed=self.allowed(f))
                )
        order = {o.value: i for i, o in enumerate(f.options)}
        return sorted(values, key=order.__getitem__)

    def validate(self, value, f):
        if value is None:
            return []
        values = self.convert(value, f)
        self.check(values, f)
        return values

    def parse_form(self, raw, f):
        if raw is None:
            return []
        if isinstance(raw, list):
            raw = [r for r in raw if r != ""]
        return self.validate(raw, f)

    def check(self, value, f):
        limit = f.get("max_items")
        if limit and len(value) > limit:
            raise self.fail(_("At most {limit} values (this has {n}).").format(limit=limit, n=len(value)))

    def to_json(self, value, f):
        return list(value or [])

    def format_input(self, value, f):
        return ", ".join(value or [])

    def display(self, value, f):
        if not value:
            return ""
        cache = f.__dict__.setdefault("_shown", {})  # a list shows the same few sets on every row
        key = (tuple(value), current_locale())
        shown = cache.get(key)
        if shown is None:
            parts = []
            for v in value:
                o = f.option_map.get(v)
                parts.append(badge(text(o.label) if o else v, o.color if o else None))
            shown = Markup(" ").join(parts)
            if len(cache) < 4096:
                cache[key] = shown
        return shown

    def json_schema(self, f):
        return {"type": "array", "items": {"type": "string", "enum": [o.value for o in f.options]}, "uniqueItems": True}


class TagsType(MultiEnumType):
    name = "tags"
    widgets = ("tags", "tag_picker", "multi_select", "display")
    options_schema = {
        "properties": {
            "options": _option_list,
            "vocabulary": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,62}$"},
            "max_items": {"type": "integer", "minimum": 1, "maximum": 200},
        }
    }
    validation_keys = ("options", "max_items")
    max_tag_length = 32

    def convert(self, value, f):
        values = self.items(value)
        for v in values:
            if "," in v or "，" in v:
                raise self.fail(_("A tag cannot contain a comma: {value}.").format(value=self.show(v)))
            if len(v) > self.max_tag_length:
                raise self.fail(
                    _("A tag has at most {limit} characters: {value}.").format(
                        limit=self.max_tag_length, value=self.show(v)
                    )
                )
            if f.options and v not in f.option_map:
                raise self.fail(
                    _("{value} is not one of {allowed}.").format(value=self.show(v), allowed=self.allowed(f))
                )
        return values

    def check(self, value, f):
        limit = f.get("max_items", 30)
        if len(value) > limit:
            raise self.fail(_("At most {limit} values (this has {n}).").format(limit=limit, n=len(value)))

    def json_schema(self, f):
        items = {"type": "string", "maxLength": self.max_tag_length}
        if f.options:
            items["enum"] = [o.value for o in f.options]
        return {"type": "array", "items": items, "uniqueItems": True}
