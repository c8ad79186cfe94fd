"""Reading spreadsheets as a stream of (row number, cells): CSV in offices' encodings, XLSX/XLS/ODS."""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator, Sequence
from contextlib import suppress
from pathlib import Path

from python_calamine import CalamineSheet, CalamineWorkbook

from broadcast.contacts.import_header import HEADER_SEARCH_ROWS, Header, find_header
from broadcast.exceptions import ValidationFailed

Row = tuple[int, list[object]]  # (1-based row number as the spreadsheet shows it, cells)

DELIMITERS = (",", ";", "\t")
_SAMPLE_BYTES = 256 * 1024
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .xls
_WORKBOOK_SUFFIXES = {".xlsx", ".xlsm", ".xlsb", ".xls", ".ods"}


class ImportFileError(ValidationFailed):
    """The file as a whole cannot be imported (unreadable, empty, no phone column)."""


def is_workbook(path: Path) -> bool:
    """True for Excel/ODS workbooks (by content, then by name), False for delimited text."""
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic in (_ZIP_MAGIC, _OLE_MAGIC):
        return True
    return path.suffix.lower() in _WORKBOOK_SUFFIXES


def read_rows(path: Path) -> tuple[Iterator[Row], str]:
    """Open the file and stream its rows; the second value describes the format for the report."""
    if not path.is_file():
        raise ImportFileError(f"Không tìm thấy tệp {path.name}")
    if is_workbook(path):
        return _workbook_rows(path), "excel"
    encoding = detect_encoding(path)
    delimiter = sniff_delimiter(path, encoding)
    return _csv_rows(path, encoding, delimiter), f"csv ({encoding}, {_delimiter_name(delimiter)})"


def count_rows(path: Path) -> int | None:
    """A cheap estimate of the number of rows, for a progress bar (None when unknown)."""
    try:
        if is_workbook(path):
            with CalamineWorkbook.from_path(str(path)) as book:
                sheet = book.get_sheet_by_index(0)
                end = sheet.end
                return end[0] + 1 if end else 0
        lines = 0
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                lines += block.count(b"\n")
        return lines + 1
    except Exception:  # an estimate must never stop an import; the import reports the real error
        return None


def detect_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) or UTF-16 when marked; otherwise Windows-1258, then Latin-1."""
    with path.open("rb") as handle:
        head = handle.read(4)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"  # Excel's "Unicode text" export
    for encoding in ("utf-8", "cp1258"):
        if _decodes(path, encoding):
            return "utf-8-sig" if encoding == "utf-8" else encoding
    return "latin-1"


def _decodes(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def sniff_delimiter(path: Path, encoding: str) -> str:
    """Pick the delimiter under which a header row is recognised best; else the most consistent one."""
    with path.open(encoding=encoding, errors="replace", newline="") as handle:
        sample = handle.read(_SAMPLE_BYTES)
    lines = sample.splitlines()[: HEADER_SEARCH_ROWS * 3]
    best, best_score = ",", (-1, -1, -1)
    for delimiter in DELIMITERS:
        rows = list(csv.reader(lines, delimiter=delimiter))
        header = find_header(rows)
        score = (_header_score(header), _consistency(rows), -DELIMITERS.index(delimiter))
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _header_score(header: Header | None) -> int:
    if header is None:
        return 0
    return len(header.columns) * 2 + int("phone" in header.columns)


def _consistency(rows: Sequence[Sequence[str]]) -> int:
    """How many rows share the most common width (above one column)."""
    widths: dict[int, int] = {}
    for row in rows:
        if len(row) > 1:
            widths[len(row)] = widths.get(len(row), 0) + 1
    return max(widths.values(), default=0)


def _delimiter_name(delimiter: str) -> str:
    return {",": "dấu phẩy", ";": "dấu chấm phẩy", "\t": "tab"}[delimiter]


def _csv_rows(path: Path, encoding: str, delimiter: str) -> Iterator[Row]:
    with path.open(encoding=encoding, newline="") as handle:
        # A spreadsheet shows one row per record (a quoted line break stays inside its cell).
        for number, cells in enumerate(csv.reader(handle, delimiter=delimiter), start=1):
            yield number, list(cells)


def _workbook_rows(path: Path) -> Iterator[Row]:
    try:
        book = CalamineWorkbook.from_path(str(path))
        sheet = book.get_sheet_by_index(0)
    except Exception as exc:  # calamine raises format-specific errors (zip, xml, password, no sheet…)
        raise ImportFileError(f"Không đọc được tệp Excel {path.name}: {exc}") from None
    return _sheet_rows(book, sheet)


def _sheet_rows(book: CalamineWorkbook, sheet: CalamineSheet) -> Iterator[Row]:
    try:
        # calamine's iter_rows starts at A1 even when the data starts lower, so the index is the row number.
        for number, cells in enumerate(sheet.iter_rows(), start=1):
            yield number, list(cells)
    finally:
        with suppress(Exception):
            book.close()
