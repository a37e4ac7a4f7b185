"""The entity editor's edits, as pure functions from a body (and the submitted form) to a new body.

A field's settings come from its type's ``options_schema``: :func:`option_inputs` turns each
property into an input kind (number, text, select, checkbox, a Chinese/English pair, the option
table), so a plugin's field type gets an editor too, and :func:`read_field` reads them back
(an empty input removes the key; a bad number is refused at its input). Renames keep the
published field's id, so its column and every old reference stay (``previous_names``).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from ..errors import ValidationFailed
from ..i18n import _
from ..meta.model import RESERVED_NAMES
from .edits import NAME, field_names, refuse

COLORS = ("primary", "secondary", "success", "danger", "warning", "info", "dark")
FLAGS = ("required", "unique", "indexed", "readonly")
TEXTS = ("label", "help", "placeholder")
NEW_ROWS = 3
MAX_INDEX_FIELDS = 8
INDEX_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


# -- the settings of one field ------------------------------------------------------------------
@dataclass(frozen=True)
class OptionInput:
    """One type-specific key as the field panel shows it."""

    key: str
    kind: str  # integer, number, decimal, text, date, select, checkbox, i18n, choices, entity, other
    required: bool = False
    choices: tuple = ()
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None


def _kind(spec: dict) -> str:
    ref = spec.get("$ref", "")
    if ref.endswith("/i18nText"):
        return "i18n"
    if ref.endswith("/number"):
        return "decimal"
    if ref.endswith("/identifier"):
        return "text"
    if "enum" in spec:
        return "select"
    if spec.get("type") == "array" and str((spec.get("items") or {}).get("$ref", "")).endswith("/option"):
        return "choices"
    kind = spec.get("type")
    if kind == "string":
        return "date" if spec.get("format") == "date" else "text"
    return {"integer": "integer", "number": "number", "boolean": "checkbox"}.get(kind, "other")


def option_inputs(schema: dict) -> list[OptionInput]:
    """The inputs of a field type's ``options_schema`` (JSON-schema ``properties``)."""
    required = set(schema.get("required", ()))
    out = []
    for key, spec in (schema.get("properties") or {}).items():
        kind = "entity" if key == "target" and _kind(spec) == "text" else _kind(spec)
        pattern = spec.get("pattern") or (
            r"^[a-z][a-z0-9_]{0,62}$" if spec.get("$ref", "").endswith("/identifier") else None
        )
        out.append(OptionInput(key, kind, key in required, tuple(spec.get("enum", ())), spec.get("minimum"),
                               spec.get("maximum"), pattern))  # fmt: skip
    return out


def i18n_pair(zh: str, en: str) -> dict | None:
    """A Chinese/English pair as an i18n text (one falls back to the other); None when both are empty."""
    zh, en = (zh or "").strip(), (en or "").strip()
    return {"zh-CN": zh or en, "en": en or zh} if zh or en else None


def i18n_parts(value) -> tuple[str, str]:
    if isinstance(value, str):
        return value, value
    if isinstance(value, dict):
        return value.get("zh-CN") or value.get("zh") or "", value.get("en") or ""
    return "", ""


def field_values(f: dict, inputs: list[OptionInput]) -> dict[str, str]:
    """The panel's inputs filled from the field (the names :func:`read_field` reads)."""
    values: dict[str, str] = {}
    for key in TEXTS:
        values[f"{key}_zh"], values[f"{key}_en"] = i18n_parts(f.get(key))
    values.update({flag: "1" for flag in FLAGS if f.get(flag)})
    for inp in inputs:
        value = f.get(inp.key)
        if inp.kind == "i18n":
            values[f"opt:{inp.key}:zh"], values[f"opt:{inp.key}:en"] = i18n_parts(value)
        elif inp.kind == "choices":
            for i, option in enumerate(as_options(value)):
                zh, en = i18n_parts(option.get("label"))
                values.update({f"{inp.key}:{i}:zh": zh, f"{inp.key}:{i}:en": en,
                               f"{inp.key}:{i}:color": option.get("color", "")})  # fmt: skip
                if option.get("active", True):
                    values[f"{inp.key}:{i}:active"] = "1"
        elif inp.kind == "checkbox":
            if value:
                values[f"opt:{inp.key}"] = "1"
        elif value is not None and inp.kind != "other":
            values[f"opt:{inp.key}"] = str(value)
    return values


def as_options(value) -> list[dict]:
    return [{"value": o} if isinstance(o, str) else o for o in value or [] if isinstance(o, str | dict)]


def _number(inp: OptionInput, raw: str):
    try:
        number = Decimal(raw.replace(",", "").replace("，", ""))
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise refuse(inp.key, _("Enter a number, such as 100 or 0.5."))
    if inp.kind == "integer" and number != number.to_integral_value():
        raise refuse(inp.key, _("Enter a whole number."))
    if (inp.minimum is not None and number < Decimal(str(inp.minimum))) or (
        inp.maximum is not None and number > Decimal(str(inp.maximum))
    ):
        low = "…" if inp.minimum is None else inp.minimum
        high = "…" if inp.maximum is None else inp.maximum
        raise refuse(inp.key, _("Enter a number from {low} to {high}.").format(low=low, high=high))
    if inp.kind == "integer" or (inp.kind == "number" and number == number.to_integral_value()):
        return int(number)
    if inp.kind == "number":
        return float(number)
    return f"{number:f}"  # a decimal string: exact, as the schema writes decimals


def _matches(pattern: str, raw: str) -> bool:
    try:
        return re.search(pattern, raw) is not None
    except re.error:  # a pattern Python does not read: the checker judges the value
        return True


def _scalar(inp: OptionInput, form):
    raw = (form.get(f"opt:{inp.key}") or "").strip()
    if inp.kind == "checkbox":
        return True if raw else None
    if inp.kind == "i18n":
        return i18n_pair(form.get(f"opt:{inp.key}:zh", ""), form.get(f"opt:{inp.key}:en", ""))
    if not raw:
        return None
    if inp.kind in ("integer", "number", "decimal"):
        return _number(inp, raw)
    if inp.kind == "select":
        chosen = [c for c in inp.choices if str(c) == raw]
        if not chosen:
            raise refuse(inp.key, _("Choose one of the listed values."))
        return chosen[0]  # as the schema lists it (a number stays a number)
    if inp.kind == "date":
        try:
            date.fromisoformat(raw)
        except ValueError:
            raise refuse(inp.key, _("Enter a date such as 2026-03-31.")) from None
    if inp.pattern and inp.kind in ("text", "entity") and not _matches(inp.pattern, raw):
        raise refuse(inp.key, _("This value does not have the expected form ({pattern}).").format(pattern=inp.pattern))
    return raw


def _option_row(value: str, prefix: str, form) -> dict:
    entry: dict = {"value": value}
    label = i18n_pair(form.get(f"{prefix}zh", ""), form.get(f"{prefix}en", ""))
    color = form.get(f"{prefix}color", "")
    if label:
        entry["label"] = label
    if color in COLORS:
        entry["color"] = color
    return entry


def read_choices(key: str, current: list[dict], published: set[str], form) -> list[dict]:
    """The option table: existing options keep their value (labels, colour and ``active``
    change; one that was never published may be removed), new rows are appended."""
    out = []
    for i, option in enumerate(as_options(current)):
        if form.get(f"{key}:{i}:remove") and option.get("value") not in published:
            continue
        entry = _option_row(option["value"], f"{key}:{i}:", form)
        if not form.get(f"{key}:{i}:active"):
            entry["active"] = False
        out.append(entry)
    for j in range(NEW_ROWS):
        value = (form.get(f"{key}:new{j}:value") or "").strip()
        if not value:
            continue
        if not NAME.match(value):
            raise refuse(key, _("An option's value is lower-case letters, digits and _, starting with a letter."))
        if any(o["value"] == value for o in out):
            raise refuse(key, _("The option {value!r} is listed already.").format(value=value))
        out.append(_option_row(value, f"{key}:new{j}:", form))
    return out


def read_field(f: dict, inputs: list[OptionInput], form, published_options: set[str]) -> tuple[dict, dict]:
    """The changes the panel asks for (a value of None removes the key) and the refusals by key."""
    changes: dict = {key: i18n_pair(form.get(f"{key}_zh", ""), form.get(f"{key}_en", "")) for key in TEXTS}
    changes.update({flag: True if form.get(flag) else None for flag in FLAGS})
    errors: dict[str, str] = {}
    for inp in inputs:
        if inp.kind == "other":
            continue
        try:
            if inp.kind == "choices":
                value = read_choices(inp.key, f.get(inp.key) or [], published_options, form) or None
            else:
                value = _scalar(inp, form)
        except ValidationFailed as exc:  # shown at its input
            errors[inp.key] = exc.message
            continue
        if value is None and inp.required:
            errors[inp.key] = _("This setting is required.")
        changes[inp.key] = value
    return changes, errors


# -- renames ------------------------------------------------------------------------------------
def taken_names(body: dict, published: dict | None, *, but: dict | None = None, but_published: dict | None = None):
    """Every name a field or relation of the entity has or had (except the field ``but``)."""
    names: set[str] = set()
    for f in [*(body.get("fields") or []), *((published or {}).get("fields") or [])]:
        if isinstance(f, dict) and f is not but and f is not but_published:
            names.update([f.get("name"), *(f.get("previous_names") or [])])
    names.update(r.get("name") for r in body.get("relations") or [] if isinstance(r, dict))
    return names


def published_field(f: dict, published: dict | None) -> dict | None:
    """The published field the draft's field ``f`` is (by id, else by name)."""
    fields = [p for p in (published or {}).get("fields") or [] if isinstance(p, dict)]
    if f.get("id"):
        match = next((p for p in fields if p.get("id") == f["id"]), None)
        if match is not None:
            return match
    return next((p for p in fields if p.get("name") == f.get("name")), None)


def rename_field(body: dict, old: str, new: str, published: dict | None) -> dict:
    """``body`` with the field ``old`` named ``new``: a published field keeps its id (so its
    column and old name stay: the old name keeps working), a field never published starts over."""
    if not NAME.match(new) or new in RESERVED_NAMES:
        raise refuse("name", _("Use lower-case letters, digits and _, starting with a letter (not a system name)."))
    out = copy.deepcopy(body)
    f = next((x for x in out.get("fields") or [] if isinstance(x, dict) and x.get("name") == old
              and x.get("active", True)), None)  # fmt: skip
    if f is None:
        raise refuse("field", _("There is no field {field!r}.").format(field=old))
    if new == old:
        raise refuse("name", _("The field is called {name!r} already.").format(name=new))
    before = published_field(f, published)
    if new in taken_names(out, published, but=f, but_published=before):
        raise refuse("name", _("{name!r} is taken: another field or relation has or had that name.").format(name=new))
    if before is not None:
        f["id"] = before["id"]
    else:
        f.pop("id", None)
        f.pop("column", None)
    f["name"] = new
    kept = [n for n in f.get("previous_names") or [] if n != new]
    if kept:
        f["previous_names"] = kept
    else:
        f.pop("previous_names", None)
    return out


# -- relations, indexes, unique keys ------------------------------------------------------------
def add_relation(body: dict, relation: dict, published: dict | None = None) -> dict:
    name = relation.get("name", "")
    if not NAME.match(name):
        raise refuse("name", _("Use lower-case letters, digits and _, starting with a letter."))
    if name in taken_names(body, published):
        raise refuse("name", _("{name!r} is taken: another field or relation has or had that name.").format(name=name))
    if len(body.get("relations") or []) >= 100:
        raise refuse("relations", _("An entity has at most {n} of these.").format(n=100))
    out = copy.deepcopy(body)
    out.setdefault("relations", []).append({k: v for k, v in relation.items() if v})
    return out


def add_index(body: dict, keys: list[tuple[str, bool]], unique: bool, name: str, allowed: set[str]) -> dict:
    """``body`` with an index over ``keys`` (field, descending) in order."""
    names = [k for k, _desc in keys]
    if not 1 <= len(names) <= MAX_INDEX_FIELDS:
        raise refuse("fields", _("Choose 1 to {n} fields.").format(n=MAX_INDEX_FIELDS))
    if len(set(names)) != len(names):
        raise refuse("fields", _("Each field can appear once."))
    if not set(names) <= allowed:
        raise refuse("fields", _("Choose fields of this entity that have a column (not multi-valued)."))
    if name and not INDEX_NAME.match(name):
        raise refuse("name", _("Use lower-case letters, digits and _, starting with a letter."))
    indexes = [x for x in body.get("indexes") or [] if isinstance(x, dict)]
    fields = [f"-{k}" if desc else k for k, desc in keys]
    if name and any(x.get("name") == name for x in indexes):
        raise refuse("name", _("There is an index {name} already.").format(name=name))
    if any(x.get("fields") == fields and bool(x.get("unique")) == unique for x in indexes):
        raise refuse("fields", _("There is such an index already."))
    if len(indexes) >= 30:
        raise refuse("indexes", _("An entity has at most {n} of these.").format(n=30))
    index: dict = {"fields": fields}
    if name:
        index["name"] = name
    if unique:
        index["unique"] = True
    out = copy.deepcopy(body)
    out.setdefault("indexes", []).append(index)
    return out


def remove_index(body: dict, position: int) -> dict:
    indexes = body.get("indexes") or []
    if not 0 <= position < len(indexes):
        raise refuse("indexes", _("There is no such index."))
    out = copy.deepcopy(body)
    del out["indexes"][position]
    if not out["indexes"]:
        out.pop("indexes")
    return out


def add_unique_key(body: dict, name: str, fields: list[str], message: dict | None, allowed: set[str]) -> dict:
    if not NAME.match(name):
        raise refuse("name", _("Use lower-case letters, digits and _, starting with a letter."))
    constraints = [c for c in body.get("constraints") or [] if isinstance(c, dict)]
    if any(c.get("name") == name for c in constraints):
        raise refuse("name", _("There is a rule {name} already.").format(name=name))
    if not 1 <= len(fields) <= MAX_INDEX_FIELDS or len(set(fields)) != len(fields):
        raise refuse("fields", _("Choose 1 to {n} fields.").format(n=MAX_INDEX_FIELDS))
    if not set(fields) <= allowed or not set(fields) <= set(field_names(body)):
        raise refuse("fields", _("Choose fields of this entity that have a column (not multi-valued)."))
    if len(constraints) >= 50:
        raise refuse("constraints", _("An entity has at most {n} of these.").format(n=50))
    key: dict = {"name": name, "type": "unique", "fields": fields}
    if message:
        key["message"] = message
    out = copy.deepcopy(body)
    out.setdefault("constraints", []).append(key)
    return out
