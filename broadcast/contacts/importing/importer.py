"""Import residents from an officer's CSV or Excel file: streamed, chunked, set-based, idempotent."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from broadcast.communes.models import Commune
from broadcast.contacts.importing.header import HEADER_SEARCH_ROWS, Header, find_header
from broadcast.contacts.importing.read import ImportFileError, ReadLimits, Row, read_rows
from broadcast.contacts.importing.rows import SCALARS, BadRow, CommuneIndex, Record, RowParser, is_blank
from broadcast.contacts.importing.store import ChunkWriter
from broadcast.spreadsheet import csv_writer

__all__ = ["BadRow", "ImportFileError", "ImportReport", "ReadLimits", "import_contacts"]

CHUNK_SIZE = 5000
COMMUNE = Commune.__table__  # type: ignore[attr-defined]
REPORT_COLUMNS = ("row", "column", "value", "reason", "severity")


@dataclass
class ImportReport:
    """What an import did; rows_read = created + updated + unchanged + skipped + duplicates."""

    source_name: str
    file_format: str = ""
    columns: dict[str, str] = field(default_factory=dict)  # field → header as written in the file
    rows_read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    duplicates: int = 0
    bad_rows: list[BadRow] = field(default_factory=list)

    @property
    def errors(self) -> int:
        """Problems that kept a row out."""
        return sum(1 for b in self.bad_rows if b.severity == "error")

    @property
    def warnings(self) -> int:
        """Problems on rows that were still imported."""
        return sum(1 for b in self.bad_rows if b.severity == "warning")

    def write_csv(self, path: Path) -> None:
        """Write the bad rows as CSV with a UTF-8 BOM, so Excel shows Vietnamese correctly."""
        with path.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv_writer(handle)
            writer.writerow(["Dòng", "Cột", "Giá trị", "Lý do", "Mức độ"])
            for bad in self.bad_rows:
                severity = "Lỗi (bỏ qua dòng)" if bad.severity == "error" else "Cảnh báo"
                writer.writerow([bad.row, bad.column, bad.value, bad.reason, severity])

    def to_dict(self, *, max_bad_rows: int | None = None) -> dict[str, Any]:
        """A JSON-ready summary; bad rows may be capped (bad_rows_total keeps the full count)."""
        shown = self.bad_rows if max_bad_rows is None else self.bad_rows[:max_bad_rows]
        return {
            "source_name": self.source_name, "file_format": self.file_format, "columns": self.columns,
            "rows_read": self.rows_read, "created": self.created, "updated": self.updated,
            "unchanged": self.unchanged, "skipped": self.skipped, "duplicates": self.duplicates,
            "errors": self.errors, "warnings": self.warnings, "bad_rows_total": len(self.bad_rows),
            "bad_rows": [asdict(b) for b in shown],
        }


def import_contacts(
    engine: Engine,
    path: Path,
    *,
    source_name: str | None = None,
    progress: Callable[[int], None] | None = None,
    actor_id: int | None = None,
    limits: ReadLimits | None = None,
) -> ImportReport:
    """Import the residents of a CSV/XLSX file; `progress` gets the number of rows read so far.

    `limits` bound the reading (settings IMPORT_MAX_* and PARSER_*; the built-in defaults when None).
    """
    path = Path(path)
    report = ImportReport(source_name=source_name or path.name)
    rows, report.file_format = read_rows(path, limits, name=report.source_name)
    try:
        header, data = _locate_header(rows)
        report.columns = {name: header.label(cols[0]) for name, cols in header.columns.items()}
        with engine.connect() as conn:
            rows_ = conn.execute(select(COMMUNE.c.code, COMMUNE.c.name))
            communes = CommuneIndex((r.code, r.name) for r in rows_)
        parser = RowParser(header, communes)
        writer = ChunkWriter(engine, detail=f"Nhập từ tệp {report.source_name}", actor_id=actor_id)
        _run(report, parser, writer, data, progress)
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()
    return report


def _locate_header(rows: Iterator[Row]) -> tuple[Header, Iterator[Row]]:
    """Find the header among the first rows; return it and the data rows after it."""
    head: list[Row] = []
    for row in rows:
        head.append(row)
        if len(head) >= HEADER_SEARCH_ROWS:
            break
    if not any(not is_blank(cells) for _, cells in head):
        raise ImportFileError("Tệp trống: không có dòng dữ liệu nào")
    header = find_header([cells for _, cells in head])
    if header is None or "phone" not in header.columns:
        found = header.names if header else next(cells for _, cells in head if not is_blank(cells))
        names = ", ".join(f"“{str(c).strip()}”" for c in found if str(c).strip()) or "(không có)"
        raise ImportFileError(
            f"Không tìm thấy cột số điện thoại trong {HEADER_SEARCH_ROWS} dòng đầu "
            "(đặt tên cột là “Số điện thoại”, “SĐT”, “Điện thoại” hoặc “Phone”). "
            f"Các cột tìm thấy: {names}",
            field="phone",
            headers=[str(c).strip() for c in found if str(c).strip()],
        )
    return header, chain(head[header.index + 1:], rows)


def _run(
    report: ImportReport,
    parser: RowParser,
    writer: ChunkWriter,
    data: Iterator[Row],
    progress: Callable[[int], None] | None,
) -> None:
    # The 9 digits after +84 → first row number << 8 | bitmask of the scalar fields set by this file:
    # ints rather than strings and records, so a million-row file costs ~100 MB here, not gigabytes.
    seen: dict[int, int] = {}
    chunk: dict[str, Record] = {}
    phone_label = report.columns["phone"]

    def flush() -> None:
        counts = writer.write(list(chunk.values()))
        report.created += counts.created
        report.updated += counts.updated
        report.unchanged += counts.unchanged
        chunk.clear()
        if progress is not None:
            progress(report.rows_read)

    for number, cells in data:
        if is_blank(cells):
            continue
        report.rows_read += 1
        record, problems = parser.parse(number, cells)
        if problems:
            report.bad_rows.extend(problems)
        if record is None:
            report.skipped += 1
            continue
        key = int(record.phone[3:])
        first = seen.get(key)
        if first is None:
            seen[key] = number << 8 | record.given_mask()
            chunk[record.phone] = record
        else:
            report.duplicates += 1
            reason = f"Trùng số điện thoại với dòng {first >> 8}; đã gộp vào dòng đó"
            report.bad_rows.append(BadRow(number, phone_label, parser.raw_phone(cells), reason, "warning"))
            seen[key] = first >> 8 << 8 | _merge(chunk, record, first & 0xFF)
        if len(chunk) >= CHUNK_SIZE:
            flush()
    flush()


def _merge(chunk: dict[str, Record], later: Record, already_set: int) -> int:
    """Fold a later row of the same phone in: it fills only fields no earlier row set; lists are merged."""
    target = chunk.get(later.phone)
    if target is None:  # the first row went out with an earlier chunk: send the fill-in on its own
        target = Record(later.row, later.phone, duplicate=True)
        chunk[later.phone] = target
    for bit, name in enumerate(SCALARS):
        if not already_set & 1 << bit and getattr(later, name):
            setattr(target, name, getattr(later, name))
            already_set |= 1 << bit
    target.groups.extend(g for g in later.groups if g.casefold() not in {x.casefold() for x in target.groups})
    target.tags.extend(t for t in later.tags if t.casefold() not in {x.casefold() for x in target.tags})
    return already_set

