"""Turning one spreadsheet row into a resident record, reporting each problem with its row and column."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from broadcast.contacts.importing.header import FIELD_ALIASES, Header, cell_text, fold
from broadcast.phones import PhoneError, normalize_vn_phone

Severity = Literal["error", "warning"]
# Scalar fields an import may set; an empty cell never overwrites what the database holds.
SCALARS = ("full_name", "commune_code", "address", "language", "note")
MAX_LENGTHS = {"full_name": 200, "address": 300, "note": 500, "groups": 120, "tags": 60}

_LIST_SPLIT = re.compile(r"[;,\n]+")
_SPACES = re.compile(r"\s+")
_ODD_SPACE = re.compile(r"\s\s|[^\S ]")  # two spaces in a row, or a tab/newline/NBSP
_PHONE_SPLIT = re.compile(r"[/;,|\n]+|\s+(?:-|hoặc|hoac|or)\s+")
_COMMUNE_PREFIXES = ("dac khu ", "thi tran ", "phuong ", "xa ", "tt ", "p ", "x ")
_LANGUAGES = {
    "vi": ("vi", "vn", "viet", "tieng viet", "vietnamese", "kinh", "viet nam"),
    "km": ("km", "kh", "khm", "khmer", "tieng khmer", "kho me", "khome", "tieng kho me", "tieng khome"),
}
_LANGUAGE_BY_FOLD = {alias: code for code, aliases in _LANGUAGES.items() for alias in aliases}
_PHONE_HEADERS = frozenset(FIELD_ALIASES["phone"])


@dataclass(slots=True, frozen=True)
class BadRow:
    """A problem on one row: the row number and header as the officer sees them in the spreadsheet."""

    row: int
    column: str
    value: str
    reason: str
    severity: Severity = "error"


@dataclass(slots=True)
class Record:
    """One resident as read from the file; empty strings / None mean "not given"."""

    row: int
    phone: str
    full_name: str = ""
    commune_code: str | None = None
    address: str = ""
    language: str | None = None
    note: str = ""
    groups: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    duplicate: bool = False  # a later row of a phone already seen in this file (merged, not counted)

    def given_mask(self) -> int:
        """The scalar fields this row sets, as bits in SCALARS order."""
        return (
            (1 if self.full_name else 0) | (2 if self.commune_code else 0) | (4 if self.address else 0)
            | (8 if self.language else 0) | (16 if self.note else 0)
        )


class CommuneIndex:
    """Resolve a commune cell (5-digit code, "Xã Đất Mũi", "dat mui", "P. Bạc Liêu") to its code."""

    def __init__(self, communes: Iterable[tuple[str, str]]) -> None:
        self._by_key: dict[str, str | None] = {}
        full: dict[str, str] = {}
        bare: dict[str, str | None] = {}
        for code, name in communes:
            self._by_key[code] = code
            full[fold(name)] = code
            key = _strip_prefix(fold(name))
            bare[key] = None if key in bare and bare[key] != code else code  # None: ambiguous
        self._by_key.update({k: v for k, v in bare.items() if k not in self._by_key})
        self._by_key.update(full)
        self._cache: dict[str, str | None] = {}

    def resolve(self, text: str) -> str | None:
        """The commune code, or None when unknown or ambiguous."""
        if text in self._cache:
            return self._cache[text]
        if text.isascii() and text.isdigit():
            code = self._by_key.get(text.zfill(5))
        else:
            key = fold(text)
            code = self._by_key.get(key) or self._by_key.get(_strip_prefix(key))
        self._cache[text] = code
        return code


def _strip_prefix(key: str) -> str:
    for prefix in _COMMUNE_PREFIXES:
        if key.startswith(prefix):
            return key[len(prefix):]
    return key


def is_blank(cells: Sequence[object]) -> bool:
    """True when every cell is empty or whitespace."""
    try:
        return not "".join(cells).strip()  # type: ignore[arg-type]
    except TypeError:  # Excel cells may be numbers or dates
        return all(c is None or c == "" or (isinstance(c, str) and not c.strip()) for c in cells)


def _text_of(value: object) -> str:
    return value.strip() if type(value) is str else cell_text(value)


def clean_text(text: str) -> str:
    """NFC (cp1258 files carry combining tone marks) with runs of whitespace collapsed."""
    text = text.strip()
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    if _ODD_SPACE.search(text):
        text = _SPACES.sub(" ", text)
    return text


class RowParser:
    """Parses data rows under a recognised header."""

    def __init__(self, header: Header, communes: CommuneIndex) -> None:
        self.header = header
        self.communes = communes
        self._cols = header.columns
        self._phone_col = header.columns["phone"][0]
        self._split_cache: dict[str, list[str]] = {}
        self._width = max(c for cols in header.columns.values() for c in cols) + 1

    def parse(self, number: int, cells: Sequence[object]) -> tuple[Record | None, list[BadRow]]:
        """The record of a non-blank row (None when the row must be skipped) and its problems."""
        problems: list[BadRow] = []
        if len(cells) < self._width:
            cells = [*cells, *[""] * (self._width - len(cells))]
        record = self._phone(number, cells, problems)
        if record is None:
            return None, problems
        cols = self._cols
        if "full_name" in cols:
            record.full_name = self._text(number, cells, "full_name", problems)
        if "address" in cols:
            record.address = self._text(number, cells, "address", problems)
        if "note" in cols:
            record.note = self._text(number, cells, "note", problems)
        if "groups" in cols:
            record.groups = self._names(number, cells, "groups", problems)
        if "tags" in cols:
            record.tags = self._names(number, cells, "tags", problems)
        if "commune" in cols:
            record.commune_code = self._commune(number, cells, problems)
        if "language" in cols:
            record.language = self._language(number, cells, problems)
        return record, problems

    def raw_phone(self, cells: Sequence[object]) -> str:
        """The phone cell as text, as the file has it."""
        return _text_of(cells[self._phone_col]) if self._phone_col < len(cells) else ""

    def _phone(self, number: int, cells: Sequence[object], problems: list[BadRow]) -> Record | None:
        raw = cells[self._phone_col]
        column = self.header.label(self._phone_col)
        try:
            return Record(number, normalize_vn_phone(raw))
        except PhoneError as exc:
            first_error = exc
        text = cell_text(raw)
        if fold(text) in _PHONE_HEADERS:
            problems.append(BadRow(number, column, text, "Dòng tiêu đề lặp lại, đã bỏ qua", "warning"))
            return None
        parts = [p for p in _PHONE_SPLIT.split(text) if p.strip()] if isinstance(raw, str) else []
        if len(parts) > 1:
            try:
                record = Record(number, normalize_vn_phone(parts[0]))
            except PhoneError:
                pass
            else:
                reason = "Ô có nhiều số; chỉ lấy số đầu tiên"
                problems.append(BadRow(number, column, text, reason, "warning"))
                return record
        problems.append(BadRow(number, column, text, first_error.reason))
        return None

    def _text(self, number: int, cells: Sequence[object], name: str, problems: list[BadRow]) -> str:
        columns = self._cols[name]
        if len(columns) == 1:
            text = clean_text(_text_of(cells[columns[0]]))
        else:
            parts = [clean_text(_text_of(cells[c])) for c in columns]
            text = ", ".join(p for p in parts if p)
        limit = MAX_LENGTHS[name]
        if len(text) > limit:
            column = self.header.label(columns[0])
            problems.append(BadRow(number, column, text, f"Quá dài, đã cắt còn {limit} ký tự", "warning"))
            text = text[:limit].rstrip()
        return text

    def _names(self, number: int, cells: Sequence[object], name: str, problems: list[BadRow]) -> list[str]:
        limit = MAX_LENGTHS[name]
        names: dict[str, str] = {}
        for column in self._cols[name]:
            raw = _text_of(cells[column])
            if not raw:
                continue
            cached = self._split_cache.get(raw)
            if cached is None:
                cached = [clean_text(part) for part in _LIST_SPLIT.split(raw)]
                if len(self._split_cache) < 10_000:  # the same few group cells repeat down a sheet
                    self._split_cache[raw] = cached
            for item in cached:
                if len(item) > limit:
                    label = self.header.label(column)
                    reason = f"Tên quá dài (tối đa {limit} ký tự), đã bỏ qua"
                    problems.append(BadRow(number, label, item, reason, "warning"))
                elif item:
                    names.setdefault(item.casefold(), item)
        return list(names.values())

    def _commune(self, number: int, cells: Sequence[object], problems: list[BadRow]) -> str | None:
        column = self._cols["commune"][0]
        text = clean_text(_text_of(cells[column]))
        if not text:
            return None
        code = self.communes.resolve(text)
        if code is None:
            reason = "Không tìm thấy xã/phường trong danh mục; vẫn nhập người dân nhưng chưa gán xã/phường"
            problems.append(BadRow(number, self.header.label(column), text, reason, "warning"))
        return code

    def _language(self, number: int, cells: Sequence[object], problems: list[BadRow]) -> str | None:
        column = self._cols["language"][0]
        text = _text_of(cells[column])
        if not text:
            return None
        code = _LANGUAGE_BY_FOLD.get(fold(text))
        if code is None:
            reason = "Ngôn ngữ không rõ (dùng: Tiếng Việt hoặc Khmer); đã bỏ qua ô này"
            problems.append(BadRow(number, self.header.label(column), text, reason, "warning"))
        return code
