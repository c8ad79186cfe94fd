"""The reader process (run under broadcast.sandbox limits): a workbook's first sheet as JSON lines.

argv: PATH MAX_UNCOMPRESSED MAX_CELLS [--inspect]. Each data line is a JSON array of rows in order from
row 1, each row the array of its cells (dates and times as text); the last line is {"end": rows}, or
{"error": message, "unreadable": bool} when the file is refused. With --inspect it only checks the file
and prints {"rows": declared rows or null}.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from broadcast.contacts.importing.workbook import WorkbookRefused, check_workbook
from broadcast.humanize import number

MAX_CELL_CHARS = 32_767  # Excel's own limit: no genuine cell holds more
MAX_ROW_CHARS = 1 << 20  # the JSON of one row; a resident's row is a few hundred characters
BATCH_ROWS, BATCH_CHARS = 200, 1 << 16  # rows go out in batches: fewer lines for the importer to split


def _column(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


def _emit(out: BinaryIO, message: dict[str, object]) -> None:
    out.write(json.dumps(message, ensure_ascii=False).encode() + b"\n")
    out.flush()


def _write_batch(out: BinaryIO, batch: list[str]) -> None:
    if batch:
        out.write(("[" + ",".join(batch) + "]\n").encode())
        batch.clear()


def _too_long(number_: int, cells: Sequence[object]) -> str:
    for index, cell in enumerate(cells):
        if isinstance(cell, str) and len(cell) > MAX_CELL_CHARS:
            return (f"dòng {number(number_)}, cột {_column(index)}: ô dài {number(len(cell))} ký tự "
                    f"(Excel cho phép tối đa {number(MAX_CELL_CHARS)})")
    return f"dòng {number(number_)} dài quá {number(MAX_ROW_CHARS)} ký tự"


def main(argv: list[str]) -> None:
    path, out = Path(argv[1]), sys.stdout.buffer
    try:
        declared = check_workbook(path, max_uncompressed=int(argv[2]), max_cells=int(argv[3]))
    except WorkbookRefused as exc:
        _emit(out, {"error": exc.message, "unreadable": exc.unreadable})
        return
    if "--inspect" in argv:
        _emit(out, {"rows": declared[0] if declared else None})
        return

    from python_calamine import CalamineWorkbook

    try:
        book = CalamineWorkbook.from_path(str(path))
        sheet = book.get_sheet_by_index(0)
    except Exception as exc:  # calamine's format errors (zip, xml, password, no sheet…); MemoryError is not one
        _emit(out, {"error": str(exc), "unreadable": True})
        return
    encode = json.JSONEncoder(ensure_ascii=False, default=str, check_circular=False).encode
    rows, batch, batch_chars = 0, [], 0
    # calamine's iter_rows starts at A1 even when the data starts lower, so the count is the row number.
    for cells in sheet.iter_rows():
        rows += 1
        row = encode(cells)
        if len(row) > MAX_CELL_CHARS and (len(row) > MAX_ROW_CHARS or any(
                isinstance(c, str) and len(c) > MAX_CELL_CHARS for c in cells)):
            _emit(out, {"error": _too_long(rows, cells), "unreadable": False})
            return
        batch.append(row)
        batch_chars += len(row)
        if len(batch) >= BATCH_ROWS or batch_chars >= BATCH_CHARS:
            _write_batch(out, batch)
            batch_chars = 0
    _write_batch(out, batch)
    _emit(out, {"end": rows})


if __name__ == "__main__":
    main(sys.argv)
