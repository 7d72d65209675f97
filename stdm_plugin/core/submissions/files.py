"""Reading the files KoBoToolbox and ODK Central export: CSV and XLSX tables.

Every value comes back as text, whatever the file type, so that the same
export gives the same answers read from CSV or from XLSX. Each row keeps
the number a spreadsheet shows for it (the header is row 1), which is the
number the import report quotes.

The encoding is never guessed: a CSV that is not UTF-8 (with or without a
byte-order mark) is refused with the byte and line where it fails, because
a wrong guess would silently store misspelt names.
"""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from datetime import date, datetime, time

from ..store.errors import SubmissionFileError

UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
DELIMITERS = (",", ";", "\t")
REEXPORT = ("Export it again as UTF-8 (KoBoToolbox and ODK Central do by default; in Excel "
            "use 'Save as > CSV UTF-8'), or use the XLSX export.")


@dataclass
class SourceRow:
    """One data row: its spreadsheet row number and its answers by column."""

    row: int
    values: dict[str, str]
    #: a problem with the row's shape (more cells than the header has), if any
    problem: str | None = None


@dataclass
class SourceTable:
    path: str
    sheet: str | None
    columns: list[str]
    rows: list[SourceRow] = field(default_factory=list)

    @property
    def display_name(self) -> str:
        """The file name as the report shows it, with the sheet for a workbook."""
        name = os.path.basename(self.path)
        return f"{name} [{self.sheet}]" if self.sheet else name


def read_table(path: str, *, sheet: str | None = None,
               delimiter: str | None = None) -> SourceTable:
    """Read one exported table (a CSV file, or one sheet of an XLSX workbook)."""
    lowered = path.lower()
    if lowered.endswith(".xlsx") or lowered.endswith(".xlsm"):
        return _read_xlsx(path, sheet)
    if lowered.endswith(".xls"):
        raise SubmissionFileError(
            f"{os.path.basename(path)} is an old Excel 97 (.xls) workbook; export the "
            "submissions as XLSX or CSV instead.", path=path, kind="unreadable")
    return _read_csv(path, delimiter)


# --- CSV ------------------------------------------------------------------------
def decode_utf8(data: bytes, path: str) -> str:
    """The text of a UTF-8 file (a leading byte-order mark is dropped), or a clear refusal."""
    name = os.path.basename(path)
    if data.startswith(UTF16_BOMS):
        raise SubmissionFileError(
            f"{name} is UTF-16 text, not UTF-8. {REEXPORT}", path=path, kind="encoding",
            line=1, offset=0, value=data[:2].hex(" "))
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM):]
        shift = len(UTF8_BOM)
    else:
        shift = 0
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start:exc.end]
        raise SubmissionFileError(
            f"{name} is not UTF-8 text: byte {bad.hex(' ')} at offset {exc.start + shift} "
            f"(line {line}) cannot be read as UTF-8; the file was probably saved in another "
            f"encoding (such as Windows-1252). {REEXPORT}", path=path, kind="encoding",
            line=line, offset=exc.start + shift, value=bad.hex(" ")) from None


def _pick_delimiter(header_line: str) -> str:
    """KoBoToolbox's CSV export uses ';' by default, ODK Central ','."""
    counts = {d: header_line.count(d) for d in DELIMITERS}
    return max(DELIMITERS, key=lambda d: counts[d]) if any(counts.values()) else ","


def _read_csv(path: str, delimiter: str | None) -> SourceTable:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise SubmissionFileError(f"{path} cannot be read: {exc.strerror}", path=path,
                                  kind="unreadable") from exc
    text = decode_utf8(data, path)
    first_line = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""),
                        delimiter=delimiter or _pick_delimiter(first_line))
    try:
        records = list(reader)
    except csv.Error as exc:
        raise SubmissionFileError(
            f"{os.path.basename(path)} is not a readable CSV table (line {reader.line_num}): "
            f"{exc}", path=path, kind="unreadable", line=reader.line_num) from exc
    if not records or not any(records[0]):
        raise SubmissionFileError(f"{os.path.basename(path)} has no header row",
                                  path=path, kind="unreadable", line=1)
    columns = _checked_header(records[0], path)
    table = SourceTable(path, None, columns)
    for index, cells in enumerate(records[1:]):
        if cells:  # a blank line still counts as a spreadsheet row
            table.rows.append(_row(index + 2, columns, cells))
    return table


def _checked_header(cells: list[str], path: str) -> list[str]:
    columns = [c.strip() for c in cells]
    seen: dict[str, int] = {}
    for position, name in enumerate(columns, 1):
        if name in seen:
            raise SubmissionFileError(
                f"{os.path.basename(path)}: the column {name!r} appears twice in the header "
                f"(columns {seen[name]} and {position}); a mapping could not tell them apart",
                path=path, kind="unreadable", line=1, value=name)
        seen[name] = position
    return columns


def _row(number: int, columns: list[str], cells: list[str]) -> SourceRow:
    problem = None
    if len(cells) > len(columns) and any(c.strip() for c in cells[len(columns):]):
        problem = (f"the row has {len(cells)} cells but the header names {len(columns)} "
                   "columns")
    padded = list(cells[:len(columns)]) + [""] * (len(columns) - len(cells))
    return SourceRow(number, dict(zip(columns, padded)), problem)


# --- XLSX -----------------------------------------------------------------------
def cell_text(value: object) -> str:
    """A cell as the text a CSV export of it would hold."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        if value.time() == time(0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    return str(value)


def _read_xlsx(path: str, sheet: str | None) -> SourceTable:
    name = os.path.basename(path)
    try:
        return _read_workbook(path, sheet)
    except SubmissionFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - see below
        # A damaged workbook fails deep inside openpyxl, zlib or an XML parser, with
        # whatever error the broken part happens to raise (found by fuzzing: XML syntax
        # errors, zlib errors, TypeError from a bad attribute, RecursionError...).
        raise SubmissionFileError(f"{name} is not a readable XLSX workbook: "
                                  f"{type(exc).__name__}: {exc}", path=path,
                                  kind="unreadable") from exc


def _read_workbook(path: str, sheet: str | None) -> SourceTable:
    from openpyxl import load_workbook

    name = os.path.basename(path)
    with open(path, "rb") as handle:  # ours to close, also when openpyxl fails half-way
        workbook = load_workbook(handle, read_only=True, data_only=True)
        try:
            return _read_sheet(workbook, path, name, sheet)
        finally:
            workbook.close()


def _read_sheet(workbook, path: str, name: str, sheet: str | None) -> SourceTable:
    if sheet is not None and sheet not in workbook.sheetnames:
        raise SubmissionFileError(
            f"{name} has no sheet {sheet!r} (its sheets: "
            f"{', '.join(workbook.sheetnames)})", path=path, kind="unreadable",
            value=sheet)
    worksheet = workbook[sheet] if sheet is not None else workbook.worksheets[0]
    rows = worksheet.iter_rows(values_only=True)
    header = next(rows, None)
    if not header or not any(c is not None for c in header):
        raise SubmissionFileError(f"{name} [{worksheet.title}] has no header row",
                                  path=path, kind="unreadable", line=1)
    while header and header[-1] is None:  # trailing empty header cells
        header = header[:-1]
    columns = _checked_header([cell_text(c) for c in header], path)
    table = SourceTable(path, worksheet.title if sheet is not None else None, columns)
    for number, cells in enumerate(rows, start=2):
        texts = [cell_text(c) for c in cells]
        if any(texts):
            table.rows.append(_row(number, columns, texts))
    return table
