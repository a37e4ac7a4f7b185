"""Cells into field values, the way the form turns what a user types into values.

Every cell goes through its field type's ``parse_form``, after the spreadsheet's habits are
undone: choices given by their label in either language (or their code), several choices in
one cell separated by ``, ; 、 |``, dates written ``2026/11/21`` or ``2026年11月21日`` (Excel's
date cells arrive as dates), booleans as 是/否, yes/no, true/false, 1/0, and a ``'`` that an
export put before a formula-like text. References are given by the target's title, one of its
unique text fields (an employee number, a branch code) or its id (``#123``), and are looked
up in batches — one query per column for the distinct new texts of a chunk of rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from ..db import run
from ..fields import ConversionError
from ..i18n import _, text
from ..meta.model import FieldDef
from ..security.crypto import keyring
from .exporting import FORMULA_START
from .import_files import Row, cell_text, header_key
from .records import RecordService
from .tables import equality_column

SEPARATORS = re.compile(r"[,;、|，；]")
DATE_TEXT = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:(?:\s+|T)(\d{1,2})[:：](\d{1,2})(?:[:：](\d{1,2}(?:\.\d+)?))?)?$"
)
RECORD_ID = re.compile(r"^#?(\d{1,18})$")
SCIENTIFIC = re.compile(r"^\d(\.\d+)?[eE]\+\d+$")
LOOKUP_BATCH = 500


@dataclass(frozen=True)
class Column:
    """One mapped column of the file: where it is, what it is called, which field it fills."""

    index: int
    header: str
    field: FieldDef


class References:
    """Reference cells of one field resolved to record ids, within what the user may see."""

    def __init__(self, svc: RecordService, f: FieldDef):
        self.svc = svc
        self.target = svc.snapshot.entity(f.target or "")
        self.readable = self.target is not None and svc.permissions.can(self.target, "read")
        self.fields = self._match_fields() if self.readable else []
        self.ids: dict[str, int] = {}
        self.problems: dict[str, str] = {}

    def _match_fields(self) -> list[FieldDef]:
        """The title and unique text fields of the target that the user sees in plain."""
        table = self.svc.tables(self.target).main
        title = self.target.title_field
        candidates = [title] if title is not None else []
        candidates += [f for f in self.target.active_fields if f.unique and f not in candidates]
        return [
            f
            for f in candidates
            if self.svc.field_types[f.type].value_kind == "string"
            and not self.svc.field_types[f.type].multi
            and f.column in table.c
            and self.svc.permissions.field(self.target, f).view == "plain"
        ]

    def prefetch(self, texts: Iterable[str]) -> None:
        """Look up the texts not seen before: one query per batch of them."""
        wanted = sorted({t for t in texts if t not in self.ids and t not in self.problems})
        for start in range(0, len(wanted), LOOKUP_BATCH):
            batch = wanted[start : start + LOOKUP_BATCH]
            found = self._find(batch)
            for value in batch:
                self._decide(value, found.get(value, set()))

    def _find(self, values: list[str]) -> dict[str, set[int]]:
        if not self.fields:
            return {}
        et = self.svc.tables(self.target)
        columns, clauses, back = [], [], []
        for f in self.fields:
            column = equality_column(et.main, f)
            keys = {keyring().blind(v): v for v in values} if column.name != f.column else {v: v for v in values}
            columns.append(column)
            clauses.append(column.in_(list(keys)))
            back.append(keys)
        stmt = sa.select(et.main.c.id, *columns).where(et.main.c.deleted_at.is_(None), sa.or_(*clauses))
        stmt = self.svc.scoped(stmt, self.target, self.svc.environment())
        found: dict[str, set[int]] = {}
        for row in run(stmt):
            for keys, stored in zip(back, row[1:], strict=True):
                if stored in keys:
                    found.setdefault(keys[stored], set()).add(row[0])
        return found

    def _decide(self, value: str, ids: set[int]) -> None:
        label = text(self.target.label) if self.target is not None else ""
        if len(ids) == 1:
            self.ids[value] = next(iter(ids))
        elif ids:
            self.problems[value] = _("{count} {target} records match “{value}”; give the record id (#123).").format(
                count=len(ids), target=label, value=value
            )
        elif RECORD_ID.match(value):
            self.ids[value] = int(RECORD_ID.match(value).group(1))  # the service checks it exists
        elif not self.readable:
            self.problems[value] = _("You may not choose {target} records.").format(target=label)
        elif not self.fields:
            self.problems[value] = _("Give the {target} record's id (#123).").format(target=label)
        else:
            self.problems[value] = _("There is no {target} “{value}”.").format(target=label, value=value)

    def resolve(self, value: str) -> int:
        if value not in self.ids and value not in self.problems:
            self.prefetch([value])
        if value in self.problems:
            raise ConversionError(self.problems[value])
        return self.ids[value]


class CellReader:
    """Turns the cells of one field into its values (or a ConversionError with the message)."""

    def __init__(self, svc: RecordService, f: FieldDef):
        self.field = f
        self.ftype = svc.field_types[f.type]
        self.references = References(svc, f) if f.type == "ref" else None
        self.choices = _choice_index(f) if f.options else {}

    def value(self, cell) -> Any:
        kind, f, ftype = self.ftype.value_kind, self.field, self.ftype
        if self.references is not None:
            return ftype.parse_form(str(self.references.resolve(cell_text(cell).strip())), f)
        if ftype.multi:
            parts = [p.strip() for p in SEPARATORS.split(cell_text(cell)) if p.strip()]
            return ftype.parse_form([self._choice(p) for p in parts] if self.choices else parts, f)
        if self.choices:
            return ftype.parse_form(self._choice(cell_text(cell).strip()), f)
        if kind == "bool" and isinstance(cell, bool | int):
            return ftype.parse_form(cell, f)
        if kind == "date":
            return ftype.parse_form(_date_value(cell), f)
        if kind == "datetime":
            return ftype.parse_form(_datetime_value(cell), f)
        if kind == "string" and _lost_digits(cell):
            raise ConversionError(
                _("Excel took {value} for a number and kept only 15 digits of it; format the column as text in "
                  "Excel and enter the numbers again.").format(value=ftype.show(cell_text(cell)))
            )  # fmt: skip
        return ftype.parse_form(_unguard(cell_text(cell)), f)

    def _choice(self, raw: str) -> str:
        """An option by its code or by its label in either language; unknown text gets the
        message listing the labels the user knows."""
        found = self.choices.get(header_key(raw))
        if found is not None:
            return found
        allowed = [text(o.label) or o.value for o in self.field.options if o.active]
        shown = ", ".join(allowed[:12]) + (" …" if len(allowed) > 12 else "")
        raise ConversionError(_("{value} is not one of {allowed}.").format(value=self.ftype.show(raw), allowed=shown))


class RowReader:
    """The mapped cells of a row into field values, with one problem per bad cell."""

    def __init__(self, svc: RecordService, columns: list[Column]):
        self.columns = columns
        self.readers = {c.index: CellReader(svc, c.field) for c in columns}

    def prefetch(self, rows: list[Row]) -> None:
        """Resolve the references of a chunk of rows in one go."""
        for c in self.columns:
            refs = self.readers[c.index].references
            if refs is not None:
                refs.prefetch(cell_text(cell).strip() for _n, cells in rows if not _blank(cell := _at(cells, c.index)))

    def key_value(self, key: Column, cells: list):
        """The row's key as the field stores it, or None (empty, or not a valid value)."""
        cell = _at(cells, key.index)
        if _blank(cell):
            return None
        try:
            return self.readers[key.index].value(cell)
        except ConversionError:
            return None

    def read(self, cells: list) -> tuple[dict, list[tuple[str, str]]]:
        """(field values, [(column header, message)]); empty cells are left out, so a record
        being updated keeps its value and a new one gets the default."""
        values, problems = {}, []
        for c in self.columns:
            cell = _at(cells, c.index)
            if _blank(cell):
                continue
            try:
                values[c.field.name] = self.readers[c.index].value(cell)
            except ConversionError as exc:
                problems.append((c.header, exc.message))
        return values, problems


def _at(cells: list, index: int):
    return cells[index] if index < len(cells) else None


def _blank(cell) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def _choice_index(f: FieldDef) -> dict[str, str]:
    """Option codes and labels (every language), compared as column names are."""
    index: dict[str, str] = {}
    for o in f.options:
        labels = o.label.values() if isinstance(o.label, dict) else [o.label]
        for name in (*labels, o.value):
            if isinstance(name, str) and name.strip():
                index.setdefault(header_key(name), o.value)
    for o in f.options:
        index[header_key(o.value)] = o.value  # a code always means itself
    return index


def _lost_digits(cell) -> bool:
    """A long number (an ID or account number) that Excel stored as a number: in a workbook a
    number of 16 digits or more, in a CSV the scientific notation Excel saved (``1.10105E+17``)."""
    if isinstance(cell, int | Decimal) and not isinstance(cell, bool):
        return abs(cell) >= 10**15
    return isinstance(cell, str) and bool(SCIENTIFIC.match(cell.strip()))


def _unguard(raw: str) -> str:
    """Text an export protected from spreadsheets (``'=…``) back to what it was."""
    return raw[1:] if raw.startswith("'") and raw[1:2] and raw[1] in FORMULA_START else raw


def _date_value(cell):
    if isinstance(cell, datetime):
        return cell.date()
    if isinstance(cell, date):
        return cell
    raw = cell_text(cell).strip()
    match = DATE_TEXT.match(raw)
    if not match:
        return raw
    year, month, day, hour, minute, second = match.groups()
    if hour is not None and (int(hour), int(minute), float(second or 0)) != (0, 0, 0):
        return raw  # a time of day in a date field: refused with the field's own message
    return f"{int(year):04d}-{int(month):02d}-{int(day):02d}"


def _datetime_value(cell):
    if isinstance(cell, datetime):
        return cell
    if isinstance(cell, date):
        return datetime.combine(cell, time())
    raw = cell_text(cell).strip()
    match = DATE_TEXT.match(raw)
    if not match:
        return raw
    year, month, day, hour, minute, second = match.groups()
    out = f"{int(year):04d}-{int(month):02d}-{int(day):02d}T{int(hour or 0):02d}:{int(minute or 0):02d}"
    if second:
        whole, _dot, fraction = second.partition(".")
        out += f":{int(whole):02d}" + (f".{fraction}" if fraction else "")
    return out
