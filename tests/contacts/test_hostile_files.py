"""Hostile spreadsheets through POST /api/v1/contacts/import: a 4xx naming the problem, the service still up,
nothing imported and no temporary file left behind."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from broadcast.contacts.importing.importer import ImportFileError, import_contacts
from broadcast.contacts.importing.read import ReadLimits, count_rows, read_rows
from broadcast.contacts.models import Contact
from broadcast.sandbox import ChildLimits, child_lines
from tests.support.hostile import counted_chunks, leftovers, one_big_cell_xlsx, sparse_xlsx

IMPORT = "/api/v1/contacts/import"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def residents(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(Contact)).one())


def assert_refused(response: Any, status: int, *fragments: str) -> None:
    assert response.status_code == status, response.text
    message = response.json()["message"]
    for fragment in fragments:
        assert fragment in message, message
    assert "object at 0x" not in response.text


def assert_unharmed(client: TestClient, engine: Engine, scratch: Path) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    assert residents(engine) == 0
    assert leftovers(scratch) == []


def test_sparse_sheet_declaring_the_whole_grid_is_refused_by_its_dimension(
    client: TestClient, engine: Engine, scratch: Path
) -> None:
    data = sparse_xlsx()
    assert len(data) < 2000  # the review's 1.6 KB file, read with the real default limits
    response = client.post(IMPORT, files={"file": ("ds.xlsx", data, XLSX)})

    assert_refused(response, 422, "1.048.576 dòng × 16.384 cột")
    assert_unharmed(client, engine, scratch)


def test_sparse_sheet_hiding_its_size_is_stopped_by_the_reader_limits(
    client: TestClient, engine: Engine, scratch: Path
) -> None:
    # No <dimension>: only parsing finds the 17-billion-cell grid; the reader process dies, not the service.
    response = client.post(IMPORT, files={"file": ("ds.xlsx", sparse_xlsx(dimension=None), XLSX)})

    assert_refused(response, 422, "ds.xlsx", "quá lớn hoặc quá phức tạp")
    assert_unharmed(client, engine, scratch)


def test_a_cell_that_inflates_a_thousandfold_is_refused_before_parsing(
    client: TestClient, engine: Engine, scratch: Path
) -> None:
    data = one_big_cell_xlsx(20)
    assert len(data) < 100_000
    response = client.post(IMPORT, files={"file": ("ds.xlsx", data, XLSX)})

    assert_refused(response, 422, "xl/sharedStrings.xml", "tỉ lệ")
    assert_unharmed(client, engine, scratch)


def test_uncompressed_size_over_the_setting_is_refused(
    client_with: Callable[..., TestClient], engine: Engine, scratch: Path, tmp_path: Path
) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Họ tên", "Số điện thoại"])
    for i in range(3000):
        sheet.append([f"Người dân số {i} ở ấp {i * 7919 % 101}", f"09{i * 104729 % 10**8:08d}"])
    path = tmp_path / "ds.xlsx"
    book.save(path)
    client = client_with(import_max_uncompressed_bytes=100 << 10)

    response = client.post(IMPORT, files={"file": ("ds.xlsx", path.read_bytes(), XLSX)})

    assert_refused(response, 422, "giải nén", "100 KB")
    assert_unharmed(client, engine, scratch)


def test_a_reader_out_of_time_is_killed_and_reported(
    client_with: Callable[..., TestClient], engine: Engine, scratch: Path, write_xlsx: Callable[..., Path]
) -> None:
    path = write_xlsx([["Số điện thoại"], ["0912345678"]])
    client = client_with(parser_timeout_seconds=0.001)  # no interpreter starts that fast

    response = client.post(IMPORT, files={"file": ("ds.xlsx", path.read_bytes(), XLSX)})

    assert_refused(response, 422, "quá lớn hoặc quá phức tạp", "giây")
    assert_unharmed(client, engine, scratch)


def test_csv_field_over_the_csv_limit_names_the_row(
    client: TestClient, engine: Engine, scratch: Path
) -> None:
    body = "Họ tên,Số điện thoại\nAn,0912345678\nBình,\"" + "x" * 200_000 + "\"\n"
    response = client.post(IMPORT, files={"file": ("ds.csv", body.encode(), "text/csv")})

    assert_refused(response, 422, "dòng 3", "131.072 ký tự")
    assert client.get("/healthz").json()["status"] == "ok"
    assert leftovers(scratch) == []


def test_csv_line_without_end_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "ds.csv"
    path.write_bytes(b"So dien thoai\n" + b"0912345678;" * 300_000)  # 3.3 MB on one line
    rows, _ = read_rows(path)
    with pytest.raises(ImportFileError, match="dòng 2"):
        list(rows)


def test_file_over_the_size_limit_is_refused_before_it_is_read(
    client_with: Callable[..., TestClient], engine: Engine, scratch: Path
) -> None:
    client = client_with(import_max_bytes=100_000)
    pulled: list[int] = []
    headers = {"Content-Type": "multipart/form-data; boundary=xyz", "Content-Length": str(50 << 20)}
    response = client.post(IMPORT, content=counted_chunks(50 << 20, pulled), headers=headers)

    assert_refused(response, 413, "50 MB", "tối đa 97,7 KB")
    assert pulled == []  # refused on its declared length: not one byte was read
    assert_unharmed(client, engine, scratch)


def test_chunked_body_over_the_limit_stops_at_the_limit(
    client_with: Callable[..., TestClient], engine: Engine, scratch: Path
) -> None:
    client = client_with(import_max_bytes=100_000)
    boundary = "xyz"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"ds.csv\"\r\n"
            "Content-Type: text/csv\r\n\r\nSo dien thoai\n").encode()

    def body() -> Iterator[bytes]:
        yield head
        for _ in range(40):
            yield b"0912345678\n" * 10_000  # 110 KB a chunk, 4.4 MB in all

    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    response = client.post(IMPORT, content=body(), headers=headers)

    assert_refused(response, 413, "tối đa 97,7 KB")
    assert_unharmed(client, engine, scratch)


def test_exact_file_size_over_the_limit_names_the_file(
    client_with: Callable[..., TestClient], engine: Engine, scratch: Path
) -> None:
    client = client_with(import_max_bytes=10_000)
    response = client.post(IMPORT, files={"file": ("ds.csv", b"So dien thoai\n" + b"0912345678\n" * 1000, "text/csv")})

    assert_refused(response, 413, "ds.csv", "tối đa 9,8 KB")
    assert_unharmed(client, engine, scratch)


def test_normal_workbook_still_imports_through_the_reader_process(
    client: TestClient, engine: Engine, communes: list[str], scratch: Path, write_xlsx: Callable[..., Path]
) -> None:
    path = write_xlsx([["Họ tên", "Số điện thoại", "Xã/Phường", "Ngày sinh"],
                       ["Trần Thị Mai", "0912 345 678", "Xã Đất Mũi", "1980-05-01"],
                       ["Lê Văn Tư", 912000111.0, "Đất Mũi", None]])
    response = client.post(IMPORT, files={"file": ("ds.xlsx", path.read_bytes(), XLSX)})

    assert response.status_code == 200, response.text
    assert (response.json()["created"], response.json()["errors"]) == (2, 0)
    assert residents(engine) == 2
    assert leftovers(scratch) == []


def child_processes() -> set[str]:
    return {pid for task in Path("/proc/self/task").iterdir() for pid in (task / "children").read_text().split()}


def test_closing_the_rows_early_stops_the_reader(write_xlsx: Callable[..., Path]) -> None:
    path = write_xlsx([["Số điện thoại"], *[[f"09{i:08d}"] for i in range(20_000)]])
    before = child_processes()
    rows, file_format = read_rows(path, ReadLimits.defaults())
    first = next(iter(rows))
    assert len(child_processes() - before) == 1  # the reader, blocked on its full pipe
    rows.close()  # type: ignore[attr-defined]
    assert file_format == "excel" and first == (1, ["Số điện thoại"])
    assert child_processes() == before


def test_import_contacts_reports_a_broken_workbook(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "ds.xlsx"
    path.write_bytes(sparse_xlsx()[:700])  # cut short: the zip directory is gone
    with pytest.raises(ImportFileError, match="Không đọc được tệp Excel"):
        import_contacts(engine, path)


def test_when_every_reader_slot_is_busy_the_import_is_a_503_to_retry(
    client_with: Callable[..., TestClient], engine: Engine, scratch: Path, write_xlsx: Callable[..., Path]
) -> None:
    client = client_with(parser_processes=1, parser_timeout_seconds=0.5)
    held = child_lines("tests.support.greedy_child", ["sleep"], ChildLimits(512 << 20, 60, 60, processes=1),
                       max_line_bytes=64)
    next(held)  # another import's reader holds the only slot
    try:
        response = client.post(IMPORT, files={"file": ("ds.xlsx", write_xlsx([["SĐT"], ["0912345678"]]).read_bytes(),
                                                        XLSX)})
    finally:
        held.close()
    assert_refused(response, 503, "thử lại")
    assert_unharmed(client, engine, scratch)


def test_the_first_sheets_declared_size_gives_the_progress_total(write_xlsx: Callable[..., Path]) -> None:
    path = write_xlsx([["Họ tên", "SĐT", "Xã", "Ghi chú"], *[["An", f"09{i:08d}", "", ""] for i in range(41)]])
    assert count_rows(path, ReadLimits.defaults()) == 42  # the second sheet, with 1 row, is not the one read
