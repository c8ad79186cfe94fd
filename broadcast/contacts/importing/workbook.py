"""Cheap checks of a zipped workbook (XLSX/XLSM/XLSB/ODS) before a parser reads it.

A workbook is a zip of XML parts: a tiny file can inflate to gigabytes, and a sheet can declare (and
hold) a cell at XFD1048576, which a dense reader turns into 17 billion cells. The zip directory gives
every part's sizes, and an XLSX sheet declares its area in a <dimension ref="A1:…"> element at the start
of its XML, so both are checked without parsing the file. A file that omits or understates its dimension
still meets the reader process's memory and CPU limits (broadcast.sandbox). Standard library only:
this runs in that process before the parser is imported.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree

from broadcast.humanize import number, size

MAX_ENTRIES = 10_000
MAX_RATIO = 100  # uncompressed : compressed; office XML deflates 5–30×, a zip bomb a thousandfold
RATIO_FROM_BYTES = 1 << 20  # small parts may compress absurdly well without harm
MAX_INDEX_PART = 8 << 20  # workbook.xml and relationship parts: names and ids only
HEAD_BYTES = 64 << 10  # the <dimension> element comes before any row
_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
_R_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\b[^>]*?\bref\s*=\s*[\"']([^\"']{1,40})[\"']")
_CELL = re.compile(r"\$?([A-Za-z]{1,3})\$?(\d{1,7})")


class WorkbookRefused(Exception):
    """The workbook is over a limit (message says which and by how much) or is not a readable zip."""

    def __init__(self, message: str, *, unreadable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.unreadable = unreadable


def check_workbook(path: Path, *, max_uncompressed: int, max_cells: int) -> tuple[int, int] | None:
    """Refuse a zipped workbook over the limits; return the first sheet's declared (rows, columns) if known.

    Files that are not zips (legacy .xls) pass through: only the reader process's limits apply to them.
    """
    with path.open("rb") as handle:
        if handle.read(4) != b"PK\x03\x04":
            return None
    try:
        with zipfile.ZipFile(path) as package:
            _check_sizes(package.infolist(), max_uncompressed)
            area = _declared_area(package)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, ValueError) as exc:
        raise WorkbookRefused(f"tệp nén hỏng hoặc không đúng định dạng ({exc})", unreadable=True) from None
    if area is not None and area[0] * area[1] > max_cells:
        rows, cols = area
        raise WorkbookRefused(f"trang tính khai báo {number(rows)} dòng × {number(cols)} cột "
                              f"({number(rows * cols)} ô; tối đa {number(max_cells)} ô)")
    return area


def _check_sizes(entries: list[zipfile.ZipInfo], max_uncompressed: int) -> None:
    if len(entries) > MAX_ENTRIES:
        raise WorkbookRefused(f"tệp nén chứa {number(len(entries))} phần (tối đa {number(MAX_ENTRIES)})")
    total = 0
    for entry in entries:
        total += entry.file_size
        ratio = entry.file_size / max(entry.compress_size, 1)
        if entry.file_size > RATIO_FROM_BYTES and ratio > MAX_RATIO:
            raise WorkbookRefused(
                f"phần {entry.filename} giải nén từ {size(entry.compress_size)} ra {size(entry.file_size)} "
                f"(tỉ lệ {number(ratio)}:1; tối đa {MAX_RATIO}:1)")
    if total > max_uncompressed:
        raise WorkbookRefused(f"giải nén ra {size(total)} (tối đa {size(max_uncompressed)})")


def _declared_area(package: zipfile.ZipFile) -> tuple[int, int] | None:
    """(last row, last column) of the first sheet's <dimension>, counted from A1; None if not declared."""
    sheet = _first_sheet(package)
    if sheet is None:
        return None
    with package.open(sheet) as stream:
        head = stream.read(HEAD_BYTES)
    found = _DIMENSION.search(head)
    if found is None:
        return None
    last = _CELL.fullmatch(found.group(1).decode("ascii", "replace").split(":")[-1])
    if last is None:
        return None
    column = 0
    for letter in last.group(1).upper():
        column = column * 26 + ord(letter) - 64
    return int(last.group(2)), column


def _first_sheet(package: zipfile.ZipFile) -> str | None:
    """The part name of the workbook's first sheet (the one the import reads), found through the relationships."""
    names = set(package.namelist())
    workbook = next((t for t in _targets(package, "_rels/.rels", "") if t.endswith("workbook.xml")), None)
    if workbook is None or workbook not in names:
        return None
    root = _parse(package, workbook)
    first = next((el for el in root.iter() if el.tag.endswith("}sheet")), None) if root is not None else None
    if first is None:
        return None
    folder = posixpath.dirname(workbook)
    rels = _targets(package, f"{folder}/_rels/{posixpath.basename(workbook)}.rels", folder,
                    wanted=first.get(_R_ID))
    return rels[0] if rels and rels[0] in names else None


def _targets(package: zipfile.ZipFile, rels_part: str, folder: str, *, wanted: str | None = None) -> list[str]:
    root = _parse(package, rels_part)
    if root is None:
        return []
    found = []
    for rel in root.iter(_REL):
        target = rel.get("Target", "")
        if wanted is not None and rel.get("Id") != wanted:
            continue
        path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
        found.append(path)
    return found


def _parse(package: zipfile.ZipFile, part: str) -> ElementTree.Element | None:
    try:
        info = package.getinfo(part)
    except KeyError:
        return None
    if info.file_size > MAX_INDEX_PART:
        raise WorkbookRefused(f"phần {part} lớn bất thường ({size(info.file_size)})")
    try:
        return ElementTree.fromstring(package.read(part))
    except ElementTree.ParseError:
        return None
