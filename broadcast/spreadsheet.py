"""Cells for the CSV and XLSX files officers open in Excel: text never runs as a formula.

Every CSV and XLSX the service writes goes through here (OWASP "CSV injection"): a campaign title
such as `=HYPERLINK(…)` or a resident named `+cmd|' /C calc'!A0` must stay text. In CSV a text cell
starting with = + - @ tab or CR gets a leading apostrophe (phone numbers such as +84… too); in XLSX
every text cell is written with the string type, so it is never a formula. Numbers and dates keep
their types.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any, Protocol

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.worksheet.worksheet import Worksheet

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class _Writable(Protocol):
    def write(self, text: str, /) -> Any: ...


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell: None is empty, text that a spreadsheet would evaluate gets a leading '."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


class CsvWriter:
    """`csv.writer` whose every cell passes through `csv_cell`."""

    def __init__(self, handle: _Writable, **fmt: Any) -> None:
        self._writer = csv.writer(handle, **fmt)

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([csv_cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(handle: _Writable, **fmt: Any) -> CsvWriter:
    """A CSV writer for files people open in a spreadsheet (same arguments as `csv.writer`)."""
    return CsvWriter(handle, **fmt)


def append_row(sheet: Worksheet, row: Iterable[Any]) -> None:
    """Append a row to an openpyxl sheet with every text cell typed as a string, never a formula.

    Control characters XML cannot hold are dropped (openpyxl would refuse the whole workbook).
    """
    values = [ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v for v in row]
    sheet.append(values)
    row_index = sheet.max_row
    for column, value in enumerate(values, start=1):
        if isinstance(value, str):
            sheet.cell(row_index, column).data_type = "s"
