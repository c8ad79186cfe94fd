"""Finding the header row of an officer's spreadsheet and mapping its columns to contact fields."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

HEADER_SEARCH_ROWS = 20

# Folded header names (see fold) → field. Vietnamese and English, as officers actually write them.
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "phone": (
        "so dien thoai", "sdt", "so dt", "dien thoai", "dt", "dtdd", "so di dong", "di dong",
        "dien thoai di dong", "so dien thoai di dong", "so dien thoai lien he", "phone", "phone number",
        "mobile", "mobile phone", "mobile number", "tel", "telephone",
    ),
    "full_name": (
        "ho ten", "ho va ten", "ten", "ho ten nguoi dan", "ten nguoi dan", "ho va ten nguoi dan",
        "ho ten chu ho", "ho va ten chu ho", "chu ho", "name", "full name", "fullname",
    ),
    "commune": (
        "xa phuong", "xa", "phuong", "phuong xa", "xa phuong dac khu", "don vi", "don vi hanh chinh",
        "commune", "ward", "commune ward", "ma xa", "ma xa phuong",
    ),
    "address": ("dia chi", "ap khom", "ap", "khom", "ap khom dia chi", "address", "hamlet"),
    "groups": ("nhom", "nhom doi tuong", "doi tuong", "group", "groups", "group s"),
    "tags": ("nhan", "the", "tags", "tag", "labels", "label"),
    "language": ("ngon ngu", "language", "lang", "tieng"),
    "note": ("ghi chu", "note", "notes", "chu thich"),
}
_ALIAS_TO_FIELD = {alias: name for name, aliases in FIELD_ALIASES.items() for alias in aliases}
FIELD_LABELS = {
    "phone": "Số điện thoại", "full_name": "Họ tên", "commune": "Xã/Phường", "address": "Địa chỉ",
    "groups": "Nhóm", "tags": "Nhãn", "language": "Ngôn ngữ", "note": "Ghi chú",
}

_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_PARENTHESISED = re.compile(r"\([^)]*\)|\[[^\]]*\]")


@lru_cache(maxsize=4096)
def fold(text: str) -> str:
    """Lower-case ASCII with diacritics, đ and punctuation removed: "Xã/Phường" → "xa phuong"."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()
    return _NON_ALNUM.sub(" ", bare).strip()


def cell_text(value: object) -> str:
    """A cell as trimmed text; whole floats (Excel numbers) lose their ".0"."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def header_field(value: object) -> str | None:
    """The contact field a header cell names, or None."""
    text = cell_text(value).lstrip("*").rstrip("*: ")
    if not text:
        return None
    found = _ALIAS_TO_FIELD.get(fold(text)) or _ALIAS_TO_FIELD.get(fold(_PARENTHESISED.sub(" ", text)))
    if found is None and "/" in text:  # "Số ĐT/Zalo", "Điện thoại / Phone"
        found = next((f for part in text.split("/") if (f := _ALIAS_TO_FIELD.get(fold(part)))), None)
    return found


@dataclass(frozen=True)
class Header:
    """Where the header is (0-based index in the rows searched) and which columns hold which field."""

    index: int
    columns: dict[str, list[int]]  # field → column indexes, in file order
    names: list[str]  # every header cell as written in the file

    def label(self, column: int) -> str:
        """The header text of a column as written in the file."""
        return self.names[column] if column < len(self.names) and self.names[column] else f"Cột {column + 1}"


def match_header(cells: Sequence[object]) -> dict[str, list[int]]:
    """Map the fields this row names to their column indexes."""
    columns: dict[str, list[int]] = {}
    for index, cell in enumerate(cells):
        name = header_field(cell)
        if name is not None:
            columns.setdefault(name, []).append(index)
    return columns


def find_header(rows: Sequence[Sequence[object]]) -> Header | None:
    """The row (among the first ones) naming the most known fields; ties go to the earliest row."""
    best: Header | None = None
    for index, cells in enumerate(rows[:HEADER_SEARCH_ROWS]):
        columns = match_header(cells)
        if columns and (best is None or _score(columns) > _score(best.columns)):
            best = Header(index, columns, [cell_text(c) for c in cells])
    return best


def _score(columns: dict[str, list[int]]) -> tuple[int, int]:
    return len(columns), int("phone" in columns)
