"""Reading the files users import: CSV and Excel workbooks, checked before anything is stored.

The type is decided by the content, never by the name alone: an XLSX is a zip archive holding
``xl/workbook.xml`` (its first sheet is read, in openpyxl's read-only mode); anything else must
be text — UTF-8 with or without a BOM, UTF-16 with a BOM (Excel's "Unicode text"), or GB18030,
what Chinese Excel writes — with its delimiter sniffed among comma, semicolon and tab. Old
``.xls`` workbooks, web pages saved as ``.xls`` and other binaries are refused with a sentence
that says what to do.

Every problem is a :class:`~scrm.errors.BadRequest` with a localized message (the upload page
shows it): too large, empty, a zip that would unpack to far more than it weighs, no header, a
blank or repeated column name, values under a column without a name, too many rows.

Rows are numbered as the user sees them in Excel: the header is row 1, blank rows are skipped
but keep their number. A cell is ``None`` (empty), ``str``, ``int``, ``Decimal``, ``bool``,
``date`` or ``datetime``; a number Excel shows as a percentage arrives as text such as ``"30%"``.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal

from flask import current_app

from ..errors import BadRequest, Detail
from ..i18n import _

CSV, XLSX = "csv", "xlsx"
DELIMITERS = (",", ";", "\t")
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls, and password-protected workbooks
BINARY_MAGIC = (b"%PDF", b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"\x1f\x8b", b"7z\xbc\xaf", b"Rar!", b"MZ")
UNZIP_FACTOR = 20  # a workbook may unpack to at most this many times the upload limit
MB = 1024 * 1024
Row = tuple[int, list]


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_rows: int

    @property
    def max_unzipped(self) -> int:
        return self.max_bytes * UNZIP_FACTOR

    @classmethod
    def from_config(cls) -> Limits:
        config = current_app.config
        return cls(config["SCRM_IMPORT_MAX_MB"] * MB, config["SCRM_IMPORT_MAX_ROWS"])


@dataclass
class Table:
    """An opened file: its format, the column names of row 1 and its data rows."""

    format: str
    header: list[str]
    _read: Callable[[], Iterator[Row]]
    total: int | None = None  # data rows, once measured

    def rows(self) -> Iterator[Row]:
        """The data rows as (row number in the file, cells), blank rows left out."""
        for number, cells in self._read():
            if number > 1 and any(not _blank(c) for c in cells):
                yield number, cells


def problem(message: str, code: str) -> BadRequest:
    return BadRequest(message, [Detail("file", message, code)], code)


# -- the upload ---------------------------------------------------------------------------
def read_upload(data: bytes, filename: str, limits: Limits) -> Table:
    """Check an uploaded file completely (size, type, header, every row) and open it."""
    if len(data) > limits.max_bytes:
        raise problem(
            _("The file is larger than {limit} MB; split it into smaller files.").format(limit=limits.max_bytes // MB),
            "too_large",
        )
    if not data.strip():
        raise problem(_("The file is empty."), "empty_file")
    table = open_table(data, filename, limits)
    measure(table, limits)
    return table


def open_table(data: bytes, filename: str, limits: Limits) -> Table:
    """Open a file for reading and check its header (without reading every row)."""
    fmt = detect_format(data, filename)
    if fmt == XLSX:
        check_workbook(data, limits)
        read = lambda: _xlsx_rows(data)  # noqa: E731
    else:
        text = decode_text(data)
        delimiter = sniff_delimiter(text)
        read = lambda: _csv_rows(text, delimiter)  # noqa: E731
    return Table(fmt, read_header(read), read)


def detect_format(data: bytes, filename: str) -> str:
    name = filename.lower()
    if data.startswith(ZIP_MAGIC):
        return XLSX
    if data.startswith(OLE_MAGIC):
        raise problem(
            _(
                "This is an old Excel .xls workbook or a password-protected one; open it in Excel and save it "
                "as .xlsx (without a password) or as CSV."
            ),
            "old_excel",
        )
    if name.endswith((".xlsx", ".xlsm")):
        raise problem(_("This file is not a real Excel workbook (.xlsx); save it again from Excel."), "not_xlsx")
    head = data[:512].lstrip(codecs.BOM_UTF8).lstrip().lower()
    if head.startswith((b"<html", b"<!doctype", b"<?xml", b"<table")):
        raise problem(
            _("This is a web page, not a table file; open it in Excel and save it as .xlsx or CSV."), "not_a_table"
        )
    if data.startswith(BINARY_MAGIC):
        raise problem(_("This is neither a CSV file nor an Excel workbook (.xlsx)."), "not_a_table")
    return CSV


def check_workbook(data: bytes, limits: Limits) -> None:
    """A real workbook, which does not unpack to far more than it weighs (a zip bomb)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise damaged() from None
    if "xl/workbook.xml" not in {e.filename for e in entries}:
        raise problem(_("This zip archive is not an Excel workbook (.xlsx); upload the workbook itself."), "not_xlsx")
    if sum(e.file_size for e in entries) > limits.max_unzipped:
        raise problem(
            _("The workbook unpacks to more than {limit} MB; it cannot be imported.").format(
                limit=limits.max_unzipped // MB
            ),
            "zip_bomb",
        )


def decode_text(data: bytes) -> str:
    """UTF-8 (BOM or not), UTF-16 with a BOM, else GB18030 (Chinese Excel's "CSV")."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = _decode(data, "utf-16")
    elif data.startswith(codecs.BOM_UTF8):
        text = _decode(data[len(codecs.BOM_UTF8) :], "utf-8")
    else:
        text = _decode(data, "utf-8")
        if text is None:
            text = _decode(data, "gb18030")
    if text is None:
        raise problem(
            _("The file's text is neither UTF-8 nor GBK/GB18030; save it from Excel as “CSV UTF-8”."), "bad_encoding"
        )
    if "\x00" in text or _control_share(text[:4096]) > 0.05:
        raise problem(_("This is neither a CSV file nor an Excel workbook (.xlsx)."), "not_a_table")
    return text


def _decode(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return None


def _control_share(sample: str) -> float:
    controls = sum(1 for ch in sample if unicodedata.category(ch) == "Cc" and ch not in "\t\r\n\f")
    return controls / max(1, len(sample))


def sniff_delimiter(text: str) -> str:
    """The delimiter of the header line: the most frequent of comma, semicolon and tab."""
    first = text.lstrip("\ufeff").split("\n", 1)[0]
    counts = {d: first.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_header(read: Callable[[], Iterator[Row]]) -> list[str]:
    """Row 1's column names, trailing empty cells dropped; refused when missing or repeated."""
    rows = read()
    try:
        first = next(rows, None)
    finally:
        rows.close()
    if first is None:
        raise problem(_("The file is empty."), "empty_file")
    number, cells = first
    names = [_header_text(c) for c in cells] if number == 1 else []
    while names and not names[-1]:
        names.pop()
    if not names:
        raise problem(_("Row 1 is empty: it must hold the column names."), "no_header")
    seen: dict[str, int] = {}
    for index, name in enumerate(names):
        key = header_key(name)
        if not key:
            continue
        if key in seen:
            raise problem(
                _("Columns {first} and {second} have the same name “{name}”; column names must differ.").format(
                    first=column_letter(seen[key]), second=column_letter(index), name=name
                ),
                "duplicate_header",
            )
        seen[key] = index
    return names


def measure(table: Table, limits: Limits) -> None:
    """Read every row once: count them (within the limit) and refuse values under columns
    without a name, which would otherwise be lost silently."""
    named = [bool(header_key(n)) for n in table.header]
    total = 0
    for number, cells in table.rows():
        total += 1
        if total > limits.max_rows:
            raise problem(
                _("The file has more than {limit} rows; split it into smaller files.").format(
                    limit=f"{limits.max_rows:,}"
                ),
                "too_many_rows",
            )
        for index, cell in enumerate(cells):
            if not _blank(cell) and (index >= len(named) or not named[index]):
                raise problem(
                    _("Column {column} has values (row {row}) but no name in row 1; name it or delete it.").format(
                        column=column_letter(index), row=number
                    ),
                    "blank_header",
                )
    if not total:
        raise problem(_("The file has column names but no rows to import."), "no_rows")
    table.total = total


# -- names --------------------------------------------------------------------------------
def header_key(name: str) -> str:
    """How column names, field names and labels are compared: width, case, spaces, ``_ - .``
    and a required-marker ``*`` do not matter (“Customer No.” is ``customer_no``)."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    return re.sub(r"[\s_\-.·]+", "", folded).strip("*")


def column_letter(index: int) -> str:
    """A 0-based column index as Excel names it: A … Z, AA …"""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _header_text(cell) -> str:
    return "" if cell is None else cell_text(cell).strip()


def _blank(cell) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def cell_text(cell) -> str:
    """A cell as the text Excel would show (numbers without a trailing ``.0``, ISO dates)."""
    if isinstance(cell, str):
        return cell
    if isinstance(cell, bool):
        return "TRUE" if cell else "FALSE"
    if isinstance(cell, Decimal):
        return format(cell, "f")
    if isinstance(cell, datetime):
        return cell.isoformat(sep=" ") if cell.time() != time() else cell.date().isoformat()
    if isinstance(cell, date):
        return cell.isoformat()
    return "" if cell is None else str(cell)


# -- readers ------------------------------------------------------------------------------
def _csv_rows(text: str, delimiter: str) -> Iterator[Row]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    number = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error:
            raise problem(
                _("Row {row} cannot be read: a quote is not closed or a cell is too long.").format(row=number + 1),
                "bad_csv",
            ) from None
        number += 1
        yield number, [c if c.strip() else None for c in cells]


def _xlsx_rows(data: bytes) -> Iterator[Row]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl fails in many ways on a damaged file; the user needs one sentence
        raise damaged() from None
    try:
        if not book.worksheets:
            return
        sheet = book.worksheets[0]
        sheet.reset_dimensions()  # some programs write wrong dimensions; read what is there
        number = 0
        cells_of = sheet.iter_rows()
        while True:
            try:
                cells = next(cells_of, None)
            except Exception:  # a sheet's XML is parsed as it is read
                raise damaged() from None
            if cells is None:
                return
            number = next((c.row for c in cells if getattr(c, "row", None)), number + 1)
            yield number, [_xlsx_cell(c) for c in cells]
    finally:
        book.close()


def damaged() -> BadRequest:
    return problem(_("The workbook is damaged and cannot be read."), "damaged_file")


def _xlsx_cell(cell):
    value = cell.value
    if isinstance(value, float):
        if "%" in (getattr(cell, "number_format", None) or ""):
            return format(Decimal(format(value, ".15g")) * 100, "f") + "%"
        if value.is_integer() and abs(value) < 1e15:
            return int(value)
        return Decimal(format(value, ".15g"))  # what Excel shows, not the binary fraction
    if isinstance(value, int) and not isinstance(value, bool) and "%" in (getattr(cell, "number_format", "") or ""):
        return f"{value * 100}%"
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, str) and not value.strip():
        return None
    return value
