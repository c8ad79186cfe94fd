"""The one place CSV and XLSX cells are made safe: text is never a formula, numbers and dates keep their type."""

from __future__ import annotations

import io
from datetime import date

import pytest
from openpyxl import Workbook, load_workbook

from broadcast.spreadsheet import append_row, csv_cell, csv_writer


@pytest.mark.parametrize(("value", "cell"), [
    ("=1+1", "'=1+1"), ("+84912345678", "'+84912345678"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"), ("\r=1", "'\r=1"), ("Nguyễn Văn An", "Nguyễn Văn An"), ("a=1", "a=1"), ("", ""),
    (None, ""), (-5, -5), (2.5, 2.5), (0, 0),
])
def test_csv_cells(value: object, cell: object) -> None:
    assert csv_cell(value) == cell


def test_csv_writer_escapes_every_cell() -> None:
    out = io.StringIO()
    csv_writer(out, lineterminator="\n").writerows([["=A1", 3, None], ["ok", -1.5, "@x"]])
    assert out.getvalue() == "'=A1,3,\nok,-1.5,'@x\n"


def test_xlsx_text_is_a_string_cell_and_xml_control_characters_are_dropped() -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    append_row(sheet, ['=HYPERLINK("http://x","y")', "tên\x01lạ", 12, -3.5, date(2026, 1, 2), None])
    out = io.BytesIO()
    book.save(out)  # a control character would make openpyxl refuse the whole workbook
    cells = next(load_workbook(io.BytesIO(out.getvalue())).active.iter_rows())
    assert [c.data_type for c in cells[:4]] == ["s", "s", "n", "n"]
    assert [c.value for c in cells[:4]] == ['=HYPERLINK("http://x","y")', "tênlạ", 12, -3.5]
    assert cells[4].is_date and cells[4].value.date() == date(2026, 1, 2)
