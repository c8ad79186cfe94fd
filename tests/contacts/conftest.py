"""Fixtures for the residents import tests: communes, and writers of messy officers' files."""

from __future__ import annotations

import csv
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from broadcast.communes.models import Commune

COMMUNES = [("32248", "Xã Đất Mũi", "xa"), ("31825", "Phường Bạc Liêu", "phuong"),
            ("32002", "Phường An Xuyên", "phuong")]

Cells = Sequence[object]


@pytest.fixture
def communes(engine: Engine) -> list[str]:
    with Session(engine) as session:
        for code, name, kind in COMMUNES:
            session.add(Commune(code=code, province_code="96", name=name, division_type=kind))
        session.commit()
    return [code for code, _, _ in COMMUNES]


def to_cp1258(text: str) -> bytes:
    """Windows-1258 as Vietnamese Windows writes it: base letters precomposed, tone marks combining."""
    out = []
    for ch in unicodedata.normalize("NFC", text):
        try:
            ch.encode("cp1258")
        except UnicodeEncodeError:
            decomposed = unicodedata.normalize("NFD", ch)
            tones = "".join(c for c in decomposed if c in "\u0300\u0301\u0303\u0309\u0323")
            base = unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in tones))
            out.append(base + tones)
        else:
            out.append(ch)
    return "".join(out).encode("cp1258")


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[..., Path]:
    def write(rows: Sequence[Cells], *, name: str = "residents.csv", encoding: str = "utf-8-sig",
              delimiter: str = ",") -> Path:
        path = tmp_path / name
        lines: list[str] = []

        class _Sink:
            def write(self, text: str) -> None:
                lines.append(text)

        writer = csv.writer(_Sink(), delimiter=delimiter, lineterminator="\r\n")
        for row in rows:
            writer.writerow(row)
        text = "".join(lines)
        path.write_bytes(to_cp1258(text) if encoding == "cp1258" else text.encode(encoding))
        return path

    return write


@pytest.fixture
def write_xlsx(tmp_path: Path) -> Callable[..., Path]:
    from openpyxl import Workbook

    def write(rows: Sequence[Cells], *, name: str = "residents.xlsx", merge_title: bool = False) -> Path:
        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.title = "Danh sách"
        for row in rows:
            sheet.append(list(row))
        if merge_title:
            sheet.merge_cells("A1:F1")
        book.create_sheet("Trang 2").append(["Số điện thoại", "Họ tên"])  # only the first sheet is read
        path = tmp_path / name
        book.save(path)
        return path

    return write
