"""Message templates: the logic-less placeholder syntax of the texts business admins write —
task titles, e-mail subjects and bodies, SMS parameters, inbox messages::

    【紧急】{{record.name|mask_name}} 总资产单日下降 {{metrics.change_pct|percent}}

A placeholder is a dotted path into the values the caller hands over (``record``, ``metrics``,
``rule``…) followed by filters from a fixed set. There are no expressions, conditions, loops,
calls or attribute access: a template reaches nothing but the plain values it is given, so an
admin-edited text is no template-injection surface (reference formats §7.2). ``\\{{`` writes
``{{`` itself.

Filters:

- ``percent`` — a ratio as a percentage, one decimal (``-0.315`` → ``-31.5%``);
- ``money`` — grouping separators and two decimals (``1234567.8`` → ``1,234,567.80``);
- ``date`` / ``datetime`` — ``2026-11-21`` / ``2026-11-21 18:05``;
- ``mask_<rule>`` — any masking rule of :mod:`scrm.security.masking` (``mask_name``,
  ``mask_mobile``, ``mask_id_number``…): SMS and e-mail are stored in plain text by carriers and
  mail servers, so personal data leaves masked;
- ``default:<text>`` — shown when the value is empty.

Templates are parsed once (:func:`parse`): a mistake is a :class:`TemplateError` with a code and
the character offset, for the checker to report at the right JSON path. Rendering never fails:
a missing value renders empty, a value a filter cannot format renders as it is. The result is
text; HTML contexts escape it like any other text.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ..i18n import _
from ..security.masking import RULES as MASKS
from ..security.masking import mask

OPEN, CLOSE, ESCAPED_OPEN = "{{", "}}", "\\{{"
SEGMENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")  # no _private or __dunder__ names
FILTERS = ("percent", "money", "date", "datetime", "default", *(f"mask_{rule}" for rule in MASKS))
LIST_SEPARATOR = "、"
MAX_LENGTH = 10_000


class TemplateError(ValueError):
    """A template that cannot be used: ``code`` (``E-TPL-…``), a message and where it went wrong."""

    def __init__(self, code: str, message: str, offset: int):
        super().__init__(message)
        self.code, self.message, self.offset = code, message, offset


@dataclass(frozen=True)
class Placeholder:
    path: tuple[str, ...]
    filters: tuple[tuple[str, str | None], ...]
    offset: int

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class MessageTemplate:
    source: str
    parts: tuple[str | Placeholder, ...]

    @property
    def placeholders(self) -> list[Placeholder]:
        return [p for p in self.parts if isinstance(p, Placeholder)]

    @property
    def paths(self) -> set[str]:
        """The dotted paths the template reads (a rule selects these fields with its matches)."""
        return {p.dotted for p in self.placeholders}

    def render(self, values: Mapping[str, Any]) -> str:
        out = []
        for part in self.parts:
            out.append(part if isinstance(part, str) else _render(part, values))
        return "".join(out)


def parse(source: str, roots: Collection[str] | None = None) -> MessageTemplate:
    """``source`` as a template; ``roots`` limits the first segment of every path (``record``,
    ``metrics``…) so a typo is found when the rule is checked, not when the SMS goes out."""
    if not isinstance(source, str):
        raise TemplateError("E-TPL-001", _("A message template must be text."), 0)
    if len(source) > MAX_LENGTH:
        raise TemplateError(
            "E-TPL-001", _("A message template may be at most {n} characters long.").format(n=MAX_LENGTH), MAX_LENGTH
        )
    parts: list[str | Placeholder] = []
    literal: list[str] = []
    i = 0
    while i < len(source):
        if source.startswith(ESCAPED_OPEN, i):
            literal.append(OPEN)
            i += len(ESCAPED_OPEN)
            continue
        if source.startswith(OPEN, i):
            end = source.find(CLOSE, i + len(OPEN))
            if end < 0:
                raise TemplateError("E-TPL-002", _("A placeholder opened with {{ is never closed."), i)
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(_placeholder(source[i + len(OPEN) : end], i, roots))
            i = end + len(CLOSE)
            continue
        literal.append(source[i])
        i += 1
    if literal:
        parts.append("".join(literal))
    return MessageTemplate(source, tuple(parts))


def _placeholder(body: str, offset: int, roots: Collection[str] | None) -> Placeholder:
    pieces = [p.strip() for p in body.split("|")]
    path = tuple(pieces[0].split("."))
    if not pieces[0] or not all(SEGMENT.match(s) for s in path):
        raise TemplateError(
            "E-TPL-003",
            _("{{{{ {body} }}}} is not a placeholder: write a dotted name such as record.name.").format(
                body=body.strip()
            ),
            offset,
        )
    if roots is not None and path[0] not in roots:
        raise TemplateError(
            "E-TPL-004",
            _("Unknown name {name!r} in a placeholder; this template can use: {names}.").format(
                name=path[0], names=", ".join(sorted(roots))
            ),
            offset,
        )
    filters = []
    for raw in pieces[1:]:
        name, colon, arg = raw.partition(":")
        name = name.strip()
        if name not in FILTERS:
            raise TemplateError(
                "E-TPL-005",
                _("Unknown filter {name!r}; the filters are: {names}.").format(name=name, names=", ".join(FILTERS)),
                offset,
            )
        if (name == "default") != bool(colon):
            raise TemplateError(
                "E-TPL-005",
                _("The filter default takes a text (default:无); no other filter takes one."),
                offset,
            )
        filters.append((name, arg if colon else None))
    return Placeholder(path, tuple(filters), offset)


def _lookup(values: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = values
    for segment in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(segment)
    return value


def _render(p: Placeholder, values: Mapping[str, Any]) -> str:
    value = _lookup(values, p.path)
    for name, arg in p.filters:
        value = _apply(name, arg, value)
    return _text(value)


def _apply(name: str, arg: str | None, value: Any) -> Any:
    if name == "default":
        return arg if value is None or value == "" or value == [] else value
    if value is None or value == "":
        return value
    if name.startswith("mask_"):
        return mask(name[len("mask_") :], value)
    if name in ("percent", "money"):
        number = _decimal(value)
        if number is None:
            return value
        if name == "percent":
            return f"{(number * 100).quantize(Decimal('0.1'))}%"
        return f"{number.quantize(Decimal('0.01')):,}"
    moment = _moment(value)
    if moment is None:
        return value
    if name == "date":
        return moment.date().isoformat() if isinstance(moment, datetime) else moment.isoformat()
    if isinstance(moment, datetime):
        return moment.strftime("%Y-%m-%d %H:%M")
    return moment.isoformat()


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _moment(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value) if "T" in value or " " in value else date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _text(value: Any) -> str:
    if value is None or isinstance(value, Mapping):
        return ""
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, list | tuple):
        return LIST_SEPARATOR.join(_text(v) for v in value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)
