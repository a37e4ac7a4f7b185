"""The list page's filter builder: rows of (field, operator, value) over any readable field,
turned into a condition of the condition language (``{"all"|"any": [leaf, ...]}``).

The builder is plain GET parameters, so a filtered list is a URL (bookmark it, save it as a
view, send it to a colleague) and works without JavaScript: ``w_m`` (``all`` or ``any``), and
per row ``w<i>_f`` (field), ``w<i>_o`` (operator), ``w<i>_v`` (value, repeated for lists) and
``w<i>_v2`` (the upper bound of ``between``). ``w_add`` adds an empty row and ``w_del=<i>``
removes one; with htmx the builder re-renders itself on a field change, without a reload.
Values are parsed by the field types exactly as form input is, and a value that does not fit
is reported on its row; the row is then left out of the condition instead of failing the page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from werkzeug.datastructures import MultiDict

from ..data.records import RecordService
from ..fields import ConversionError
from ..i18n import _, current_locale, text
from ..meta.model import EntityDef, FieldDef, system_field
from .context import Choice

MAX_ROWS = 10
MAX_REF_CHOICES = 200
LIST_SPLIT = re.compile(r"\s*[,，;；、|]\s*")

NO_VALUE = frozenset({"is_null", "is_not_null", "is_empty", "is_not_empty"})
LIST_VALUE = frozenset({"in", "not_in", "has_any", "has_all", "has_none"})
DAYS_VALUE = frozenset({"within_last", "within_next"})

# the operators the builder offers for each kind of value, in menu order (a subset of what the
# condition language knows: the ones a business user asks for)
KIND_OPERATORS = {
    "string": ("contains", "not_contains", "eq", "ne", "starts_with", "ends_with", "in", "is_empty", "is_not_empty"),
    "integer": ("eq", "ne", "gt", "gte", "lt", "lte", "between", "is_null", "is_not_null"),
    "decimal": ("eq", "ne", "gt", "gte", "lt", "lte", "between", "is_null", "is_not_null"),
    "date": ("eq", "gte", "lte", "between", "within_last", "within_next", "is_null", "is_not_null"),
    "datetime": ("gte", "lt", "within_last", "within_next", "is_null", "is_not_null"),
    "bool": ("eq", "is_null"),
    "enum": ("eq", "ne", "in", "not_in", "is_null", "is_not_null"),
    "ref": ("eq", "ne", "in", "not_in", "is_null", "is_not_null"),
    "set": ("has_any", "has_all", "has_none", "is_empty", "is_not_empty"),
    "encrypted": ("eq", "is_null", "is_not_null"),
}


def operator_label(op: str) -> str:
    return {
        "eq": _("is"),
        "ne": _("is not"),
        "contains": _("contains"),
        "not_contains": _("does not contain"),
        "starts_with": _("starts with"),
        "ends_with": _("ends with"),
        "in": _("is one of"),
        "not_in": _("is none of"),
        "gt": _("greater than"),
        "gte": _("at least"),
        "lt": _("less than"),
        "lte": _("at most"),
        "between": _("between"),
        "within_last": _("in the last … days"),
        "within_next": _("in the next … days"),
        "is_null": _("is empty"),
        "is_not_null": _("is not empty"),
        "is_empty": _("is empty"),
        "is_not_empty": _("is not empty"),
        "has_any": _("has any of"),
        "has_all": _("has all of"),
        "has_none": _("has none of"),
    }.get(op, op)


def date_operator_label(op: str) -> str:
    return {"gte": _("on or after"), "lte": _("on or before"), "lt": _("before"), "eq": _("on")}.get(
        op, operator_label(op)
    )


@dataclass
class BuilderRow:
    index: int
    field: str
    op: str
    values: list[str]
    value2: str = ""
    widget: str = "text"  # text | number | date | select | multi | days | none
    fields: list[Choice] = field(default_factory=list)
    operators: list[Choice] = field(default_factory=list)
    choices: list[Choice] = field(default_factory=list)
    error: str = ""

    @property
    def value(self) -> str:
        return ", ".join(self.values)


@dataclass
class FilterBuilder:
    match: str  # all | any
    rows: list[BuilderRow]
    condition: dict | None
    can_add: bool

    @property
    def active(self) -> int:
        return len(self.condition[self.match]) if self.condition else 0


def kind_of(svc: RecordService, f: FieldDef) -> str:
    if f.encrypted:
        return "encrypted"
    ftype = svc.field_types[f.type]
    if f.type == "enum":
        return "enum"
    kind = ftype.value_kind
    return kind if kind in KIND_OPERATORS else "string"


SYSTEM_FILTERS = ("created_at", "updated_at")


def system_label(name: str) -> str:
    return {"created_at": _("Created"), "updated_at": _("Updated")}[name]


def builder_field(entity: EntityDef, name: str) -> FieldDef | None:
    return entity.field(name) or (system_field(entity, name) if name in SYSTEM_FILTERS else None)


def filterable_fields(svc: RecordService, entity: EntityDef) -> list[FieldDef]:
    """Every field the user may read in full and the condition language can compare, then the
    record's creation and last change."""
    locale = current_locale()

    def build() -> list[str]:
        return [
            f.name
            for f in sorted(entity.active_fields, key=lambda f: text(f.label, locale))
            if f.type not in ("json",) and not f.get("pii") == "hash"
        ]

    names = svc.snapshot.cached(("filterable", entity.name, locale), build)
    fields = [entity.field(n) for n in names if svc.permissions.readable(entity, entity.field(n))]
    return fields + [system_field(entity, n) for n in SYSTEM_FILTERS]


def operators_for(svc: RecordService, f: FieldDef) -> tuple[str, ...]:
    kind = kind_of(svc, f)
    allowed = svc.field_types[f.type].operators
    return tuple(op for op in KIND_OPERATORS[kind] if op in allowed or kind == "encrypted")


def read_builder(svc: RecordService, entity: EntityDef, args: MultiDict) -> FilterBuilder:
    """The builder's rows from the request parameters, and the condition they make."""
    if not args.get("w_add") and not any(ROW_FIELD.match(k) for k in args):
        return FilterBuilder("all", [], None, True)  # the usual list: nothing to work out
    fields = filterable_fields(svc, entity)
    field_choices = [(f.name, system_label(f.name) if f.name in SYSTEM_FILTERS else text(f.label)) for f in fields]
    by_name = {f.name: f for f in fields}
    removed = args.get("w_del", "")
    rows: list[BuilderRow] = []
    for i in range(MAX_ROWS):
        name = args.get(f"w{i}_f", "")
        if not name or str(i) == removed:
            continue
        f = builder_field(entity, name)
        if f is None or f.name not in by_name:
            continue
        rows.append(_row(svc, f, len(rows), args.get(f"w{i}_o", ""), args.getlist(f"w{i}_v"), args.get(f"w{i}_v2", "")))
    if args.get("w_add") and len(rows) < MAX_ROWS and fields:
        first = fields[0]
        rows.append(_row(svc, first, len(rows), "", [], ""))
    for row in rows:
        row.fields = [Choice(n, label, n == row.field) for n, label in field_choices]
    match = "any" if args.get("w_m") == "any" else "all"
    leaves = [leaf for row in rows if (leaf := _leaf(svc, by_name[row.field], row)) is not None]
    condition = {match: leaves} if leaves else None
    return FilterBuilder(match, rows, condition, len(rows) < MAX_ROWS and bool(fields))


def _row(svc: RecordService, f: FieldDef, index: int, op: str, values: list[str], value2: str) -> BuilderRow:
    ops = operators_for(svc, f)
    if op not in ops:
        op = ops[0]
    values = [v.strip() for v in values if v.strip()][:100]
    row = BuilderRow(index, f.name, op, values, value2.strip())
    label = date_operator_label if f.type in ("date", "datetime") else operator_label
    row.operators = [Choice(o, label(o), o == op) for o in ops]
    row.widget, row.choices = value_widget(svc, f, op, row.values)
    return row


def value_widget(svc: RecordService, f: FieldDef, op: str, values: list[str]) -> tuple[str, list[Choice]]:
    if op in NO_VALUE:
        return "none", []
    if op in DAYS_VALUE:
        return "days", []
    options: list[tuple[str, str]] | None = None
    if f.type == "bool":
        options = [("true", _("Yes")), ("false", _("No"))]
    elif f.options:
        options = [(o.value, text(o.label)) for o in f.options]
    elif f.type == "ref" and svc.snapshot.entity(f.target) is not None:
        options = [(str(i), t) for i, t in svc.lookup(f.target, limit=MAX_REF_CHOICES)]
    if options is not None:
        chosen = set(values)
        widget = "multi" if op in LIST_VALUE else "select"
        return widget, [Choice(v, label, v in chosen) for v, label in options]
    kind = svc.field_types[f.type].value_kind
    if kind in ("date", "datetime"):
        return "date", []
    if kind in ("integer", "decimal") and op not in LIST_VALUE:
        return "number", []
    return "text", []


def _leaf(svc: RecordService, f: FieldDef, row: BuilderRow) -> dict | None:
    op = row.op
    if op in NO_VALUE:
        return {"field": f.name, "op": op}
    try:
        if op in DAYS_VALUE:
            value = _days(row.values)
        elif op in LIST_VALUE:
            parts = row.values if row.widget == "multi" else LIST_SPLIT.split(row.value)
            value = [json_value(svc, f, p) for p in parts if p]
            if not value:
                return None
        elif op == "between":
            if not (row.values and row.value2):
                return _incomplete(row)
            value = [json_value(svc, f, row.values[0]), json_value(svc, f, row.value2)]
        elif not row.values:
            return None
        elif op in ("contains", "not_contains", "starts_with", "ends_with"):
            value = row.values[0][:100]
        else:
            value = json_value(svc, f, row.values[0])
    except ConversionError as exc:
        row.error = exc.message
        return None
    return {"field": f.name, "op": op, "value": value}


def _incomplete(row: BuilderRow) -> None:
    if row.values or row.value2:
        row.error = _("Give both ends of the range.")
    return None


def _days(values: list[str]) -> str:
    raw = values[0] if values else ""
    if not raw.isdigit() or not 1 <= int(raw) <= 3660:
        raise ConversionError(_("Give a number of days between 1 and 3660."))
    return f"{int(raw)}d"


def json_value(svc: RecordService, f: FieldDef, raw: str):
    """One value as the condition language wants it (the field type's JSON form)."""
    ftype = svc.field_types[f.type]
    if f.type == "datetime":  # the builder asks for days: that day at 00:00, local time
        day = svc.field_types["date"].convert(raw, f)
        return f"{day.isoformat()}T00:00"
    if ftype.multi:
        value = ftype.parse_form([raw], f)
        return value[0] if value else raw
    if f.type in ("string", "text", "email", "url", "phone", "id_number") and not f.encrypted:
        return raw[:255]
    value = ftype.parse_form(raw, f)
    if value is None:
        raise ConversionError(_("Give a value."))
    return ftype.to_json(value, f)


def builder_params(builder: FilterBuilder) -> list[tuple[str, str]]:
    """The builder as canonical URL parameters (rows numbered from 0, no add/remove requests)."""
    out: list[tuple[str, str]] = []
    if builder.rows and builder.match == "any":
        out.append(("w_m", "any"))
    for i, row in enumerate(builder.rows):
        out += [(f"w{i}_f", row.field), (f"w{i}_o", row.op)]
        out += [(f"w{i}_v", v) for v in row.values]
        if row.value2:
            out.append((f"w{i}_v2", row.value2))
    return out


def is_builder_param(key: str) -> bool:
    return bool(BUILDER_KEY.match(key))


BUILDER_KEY = re.compile(r"^w(\d+_(f|o|v|v2)|_m|_add|_del)$")
ROW_FIELD = re.compile(r"^w\d+_f$")
