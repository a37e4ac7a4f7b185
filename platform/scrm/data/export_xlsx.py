"""The Excel (xlsx) form of an export: the same rows, masking, stamp and watermark as the CSV.

Numbers stay numbers (money with grouping and two decimals, so a sheet can sum them), dates
and times are real dates in the local time zone, and text is always stored as text: a value
that starts with ``=`` never becomes a formula. The stamp is the first row and the workbook's
description; the watermark id is hidden in the ID header as in the CSV, and kept in the
workbook's keywords too.
"""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

from ..fields.temporal import local_zone
from ..i18n import text
from ..meta.model import EntityDef
from .exporting import FORMULA_START, NUMBERS, Column, TitleMasks, cell_text, export_batches, header_row
from .records import RecordService

SHEET_TITLE_BAD = str.maketrans({c: " " for c in "[]:*?/\\"})
NUMBER_FORMATS = {"money": "#,##0.00", "decimal": "#,##0.########", "integer": "0", "percent": "0.00"}


def write_xlsx(
    svc: RecordService, entity: EntityDef, columns: list[Column], *, filter=None, search=None,
    stamp: str, watermark: str, limit: int | None = None, author: str = "",
) -> tuple[bytes, int]:  # fmt: skip
    """The workbook's bytes and the number of rows written."""
    book = Workbook(write_only=True)
    book.properties.creator = author or "SCRM"
    book.properties.title = stamp[:255]
    book.properties.description = stamp
    book.properties.keywords = f"watermark {watermark}"
    sheet = book.create_sheet((text(entity.plural_label) or entity.name).translate(SHEET_TITLE_BAD)[:31])
    sheet.freeze_panes = "B3"
    for i, c in enumerate(columns, start=2):
        sheet.column_dimensions[_letter(i)].width = max(10, min(40, len(text(c.field.label) or c.field.name) * 2 + 4))
    sheet.append([_text_cell(sheet, stamp, italic=True)])
    sheet.append([_text_cell(sheet, name, bold=True) for name in header_row(columns, watermark)])
    titles = TitleMasks(svc, entity)
    count = 0
    for batch in export_batches(svc, entity, columns, filter, search, limit):
        for record in batch:
            sheet.append([record["id"], *(_value_cell(sheet, svc, c, record, titles) for c in columns)])
        count += len(batch)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue(), count


def _value_cell(sheet, svc: RecordService, column: Column, record: dict, titles: TitleMasks):
    f = column.field
    value = record.get(f.name)
    plain = column.mode != "masked" and not f.options and f.type != "ref"
    if plain and value is not None and not isinstance(value, bool):
        if f.type in NUMBERS and isinstance(value, int | Decimal):
            cell = WriteOnlyCell(sheet, value=value)
            cell.number_format = NUMBER_FORMATS.get(f.type, "General")
            return cell
        if isinstance(value, datetime):
            cell = WriteOnlyCell(sheet, value=value.astimezone(local_zone()).replace(tzinfo=None))
            cell.number_format = "yyyy-mm-dd hh:mm:ss"
            return cell
        if isinstance(value, date):
            cell = WriteOnlyCell(sheet, value=value)
            cell.number_format = "yyyy-mm-dd"
            return cell
    shown = cell_text(svc, column, record, titles)
    if shown.startswith("'") and shown[1:].startswith(FORMULA_START):
        shown = shown[1:]  # the CSV's guard; here the cell is typed as text instead
    return _text_cell(sheet, shown)


def _text_cell(sheet, value: str, bold: bool = False, italic: bool = False):
    cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value))
    cell.data_type = "s"  # text, even when it starts with "=": never a formula
    if bold or italic:
        cell.font = Font(bold=bold, italic=italic, color="666666" if italic else None)
    return cell


def _letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index)
