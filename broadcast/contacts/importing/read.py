"""Reading spreadsheets as a stream of (row number, cells): CSV in offices' encodings, XLSX/XLS/ODS.

CSV is read here, line by line with bounded lines and fields. Workbooks are parsed in a separate
process with memory and CPU limits (broadcast.sandbox, contacts/sheet_child.py) that streams the rows
back, because the parser is native code that a hostile file can make allocate without bound or abort.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from broadcast.contacts.importing.header import HEADER_SEARCH_ROWS, Header, find_header
from broadcast.exceptions import ServiceBusy, ValidationFailed
from broadcast.humanize import number
from broadcast.sandbox import BUSY_MESSAGE, ChildFailed, ChildLimits, child_lines

if TYPE_CHECKING:
    from broadcast.config import Settings

Row = tuple[int, list[object]]  # (1-based row number as the spreadsheet shows it, cells)

DELIMITERS = (",", ";", "\t")
_SAMPLE_BYTES = 256 * 1024
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .xls
_WORKBOOK_SUFFIXES = {".xlsx", ".xlsm", ".xlsb", ".xls", ".ods"}
_READER = "broadcast.contacts.importing.sheet_child"
_MAX_LINE_BYTES = 4 << 20  # one batch of rows from the reader: a row of 1 M characters, in UTF-8, and more
MAX_CSV_LINE_CHARS = 1 << 20  # one physical line; csv's own field limit (128 K characters) bounds each cell


class ImportFileError(ValidationFailed):
    """The file as a whole cannot be imported (unreadable, empty, no phone column, over a limit)."""


@dataclass(frozen=True)
class ReadLimits:
    """Bounds on reading one file: the reader process's limits, inflated size and declared cells of a workbook."""

    child: ChildLimits
    max_uncompressed_bytes: int
    max_cells: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ReadLimits:
        return cls(ChildLimits.from_settings(settings), settings.import_max_uncompressed_bytes,
                   settings.import_max_cells)

    @classmethod
    def defaults(cls) -> ReadLimits:
        """The settings' built-in defaults (environment not read), for callers without settings."""
        from broadcast.config import Settings

        return cls.from_settings(Settings.model_construct())


def is_workbook(path: Path) -> bool:
    """True for Excel/ODS workbooks (by content, then by name), False for delimited text."""
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic in (_ZIP_MAGIC, _OLE_MAGIC):
        return True
    return path.suffix.lower() in _WORKBOOK_SUFFIXES


def read_rows(path: Path, limits: ReadLimits | None = None, *, name: str | None = None
              ) -> tuple[Iterator[Row], str]:
    """Open the file and stream its rows; the second value describes the format for the report.

    `name` is how messages call the file (the officer's file name; default the path's). Close the
    iterator when stopping early: for a workbook that stops the reader process.
    """
    name = name or path.name
    if not path.is_file():
        raise ImportFileError(f"Không tìm thấy tệp {name}")
    if is_workbook(path):
        return _workbook_rows(path, name, limits or ReadLimits.defaults()), "excel"
    encoding = detect_encoding(path)
    delimiter = sniff_delimiter(path, encoding)
    return _csv_rows(path, name, encoding, delimiter), f"csv ({encoding}, {_delimiter_name(delimiter)})"


def count_rows(path: Path, limits: ReadLimits | None = None) -> int | None:
    """A cheap estimate of the number of rows, for a progress bar (None when unknown)."""
    try:
        if is_workbook(path):
            return _declared_rows(path, limits or ReadLimits.defaults())
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
        try:
            rows = list(csv.reader(lines, delimiter=delimiter))
        except csv.Error:  # e.g. a field over the limit under this delimiter; the import names the row
            continue
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


def _csv_rows(path: Path, name: str, encoding: str, delimiter: str) -> Iterator[Row]:
    number_ = 0
    try:
        with path.open(encoding=encoding, newline="") as handle:
            # A spreadsheet shows one row per record (a quoted line break stays inside its cell).
            for number_, cells in enumerate(csv.reader(_bounded_lines(handle, name), delimiter=delimiter), 1):
                row: list[object] = list(cells)
                yield number_, row
    except csv.Error as exc:
        reason = str(exc)
        if "field limit" in reason:
            reason = f"một ô dài quá {number(csv.field_size_limit())} ký tự"
        raise ImportFileError(f"Không đọc được tệp {name}, dòng {number(number_ + 1)}: {reason}",
                              row=number_ + 1) from None
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"Không đọc được tệp {name}, dòng {number(number_ + 1)}: "
                              f"sai bảng mã ({exc.reason})", row=number_ + 1) from None


def _bounded_lines(handle: TextIO, name: str) -> Iterator[str]:
    """The file's physical lines, refusing one longer than MAX_CSV_LINE_CHARS without reading it whole."""
    for count in range(1, 1 << 62):
        line = handle.readline(MAX_CSV_LINE_CHARS + 1)
        if not line:
            return
        if len(line) > MAX_CSV_LINE_CHARS:
            raise ImportFileError(f"Không đọc được tệp {name}: dòng {number(count)} dài hơn "
                                  f"{number(MAX_CSV_LINE_CHARS)} ký tự (tệp không phải danh sách CSV?)",
                                  row=count)
        yield line


def _workbook_rows(path: Path, name: str, limits: ReadLimits) -> Iterator[Row]:
    """Rows streamed from the reader process; every way it can fail becomes an ImportFileError."""
    args = [str(path), str(limits.max_uncompressed_bytes), str(limits.max_cells)]
    lines = child_lines(_READER, args, limits.child, max_line_bytes=_MAX_LINE_BYTES)
    loads = json.loads
    number_, ended = 0, False
    try:
        for line in lines:
            if line[:1] == b"[":
                for cells in loads(line):
                    number_ += 1
                    yield number_, cells
                continue
            message = loads(line)
            if "end" in message:
                ended = True
                continue
            if message.get("unreadable"):
                raise ImportFileError(f"Không đọc được tệp Excel {name}: {message['error']}")
            raise ImportFileError(f"Tệp {name} bị từ chối: {message['error']}")
    except ChildFailed as exc:
        if exc.reason == "busy":
            raise ServiceBusy(BUSY_MESSAGE) from None
        raise ImportFileError(too_complex(name, exc, limits.child)) from None
    finally:
        lines.close()
    if not ended:
        raise ImportFileError(too_complex(name, ChildFailed("crash"), limits.child))


def too_complex(name: str, failure: ChildFailed, limits: ChildLimits) -> str:
    """What an officer reads when the reader process was stopped by its limits."""
    why = {"memory": f"cần hơn {number(limits.memory_bytes >> 20)} MB bộ nhớ",
           "cpu": f"cần hơn {number(limits.cpu_seconds)} giây xử lý",
           "timeout": f"đọc quá {limits.timeout_seconds:g} giây".replace(".", ","),
           "output": "có dòng quá dài"}.get(failure.reason, "trình đọc dừng giữa chừng")
    return (f"Tệp {name} quá lớn hoặc quá phức tạp để đọc ({why}). Hãy lưu lại chỉ trang danh sách, "
            "xoá các dòng và cột thừa, hoặc lưu thành CSV rồi thử lại.")


def _declared_rows(path: Path, limits: ReadLimits) -> int | None:
    args = [str(path), str(limits.max_uncompressed_bytes), str(limits.max_cells), "--inspect"]
    with closing(child_lines(_READER, args, limits.child, max_line_bytes=_MAX_LINE_BYTES)) as lines:
        rows = json.loads(next(lines, b"{}")).get("rows")
    return int(rows) if isinstance(rows, int) else None
