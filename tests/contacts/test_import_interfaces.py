"""The import as officers reach it: `broadcast contacts import` and POST /api/v1/contacts/import."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from broadcast.config import get_settings
from broadcast.contacts.cli import contacts_app
from broadcast.contacts.models import Contact
from tests.conftest import BOTH
from tests.contacts.test_import import EXPECTED_BAD_ROWS, IMPORTED, MESSY_ROWS

pytestmark = BOTH  # the database matters here: SQL, locking or types differ


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def phones(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return sorted(p for p in session.exec(select(Contact.phone)).all() if p)


def test_cli_imports_prints_a_summary_and_writes_the_report(
    cli_env: None, engine: Engine, communes: list[str], write_csv: Callable[..., Path], tmp_path: Path
) -> None:
    report = tmp_path / "dong-loi.csv"
    result = CliRunner().invoke(contacts_app, ["import", str(write_csv(MESSY_ROWS)), "--report", str(report)])

    assert result.exit_code == 0, result.output
    assert "Người dân mới" in result.output and "Dòng bị bỏ qua (lỗi)" in result.output
    assert "Số điện thoại không hợp lệ" in result.output and "12345" in result.output
    assert phones(engine) == sorted(IMPORTED)
    lines = report.read_text(encoding="utf-8-sig").splitlines()
    assert len(lines) == 1 + len(EXPECTED_BAD_ROWS)
    assert lines[1].startswith("9,Số điện thoại,12345,")


@pytest.mark.parametrize(
    ("rows", "expected"),
    [(None, "Không tìm thấy tệp"), ([["Họ tên", "Địa chỉ"], ["An", "Ấp 1"]], "Không tìm thấy cột số điện thoại")],
)
def test_cli_fails_with_one_line_when_the_file_cannot_be_read(
    cli_env: None, engine: Engine, write_csv: Callable[..., Path], tmp_path: Path,
    rows: list[list[str]] | None, expected: str,
) -> None:
    path = write_csv(rows) if rows else tmp_path / "khong-co.csv"
    result = CliRunner().invoke(contacts_app, ["import", str(path)])

    assert result.exit_code == 1
    assert expected in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert phones(engine) == []


def test_api_import_answers_counts_and_bad_rows(
    client: TestClient, engine: Engine, communes: list[str], write_csv: Callable[..., Path]
) -> None:
    content = write_csv(MESSY_ROWS).read_bytes()
    response = client.post("/api/v1/contacts/import", files={"file": ("xa-dat-mui.csv", content, "text/csv")})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["source_name"] == "xa-dat-mui.csv"
    assert (body["rows_read"], body["created"], body["updated"], body["unchanged"]) == (11, 7, 0, 0)
    assert (body["skipped"], body["duplicates"], body["errors"], body["warnings"]) == (3, 1, 3, 4)
    assert body["bad_rows"] == [asdict(b) for b in EXPECTED_BAD_ROWS]
    assert phones(engine) == sorted(IMPORTED)

    capped = client.post("/api/v1/contacts/import?max_bad_rows=2",
                         files={"file": ("xa-dat-mui.csv", content, "text/csv")}).json()
    assert (capped["unchanged"], capped["bad_rows_total"], len(capped["bad_rows"])) == (7, 7, 2)


def test_api_import_rejects_a_file_without_a_phone_column(
    client: TestClient, engine: Engine, write_csv: Callable[..., Path]
) -> None:
    content = write_csv([["Họ tên", "Địa chỉ"], ["An", "Ấp 1"]]).read_bytes()
    response = client.post("/api/v1/contacts/import", files={"file": ("sai.csv", content, "text/csv")})

    assert response.status_code == 422
    assert response.json()["error"] == "ImportFileError"
    assert "Không tìm thấy cột số điện thoại" in response.json()["message"]


def test_api_template_is_excel_friendly_and_imports_as_is(
    client: TestClient, engine: Engine, communes: list[str]
) -> None:
    template = client.get("/api/v1/contacts/import/template.csv")
    assert template.status_code == 200
    assert template.content.startswith(b"\xef\xbb\xbf")
    assert template.headers["content-type"].startswith("text/csv")

    response = client.post("/api/v1/contacts/import", files={"file": ("mau.xlsx.csv", template.content, "text/csv")})
    body = response.json()
    assert (body["created"], body["bad_rows"]) == (1, [])
    with Session(engine) as session:
        person = session.exec(select(Contact)).one()
    assert (person.phone, person.commune_code, person.full_name) == ("+84912345678", "32248", "Nguyễn Văn An")


def test_the_bad_rows_report_writes_formulas_as_text(
    cli_env: None, engine: Engine, communes: list[str], write_csv: Callable[..., Path], tmp_path: Path
) -> None:
    """Cells an officer's file carried back into the report never run in Excel (a leading ')."""
    hostile = ['=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "@SUM(A1)", "-2+3", "\t=1", "\r=1"]
    rows = [["Họ tên", "Số điện thoại", "Xã/Phường"], *[["An", value, "Đất Mũi"] for value in hostile],
            ["Bình", "0912345678", hostile[2]]]
    report = tmp_path / "dong-loi.csv"
    result = CliRunner().invoke(contacts_app, ["import", str(write_csv(rows)), "--report", str(report)])

    assert result.exit_code == 0, result.output
    with report.open(encoding="utf-8-sig", newline="") as handle:
        written = list(csv.reader(handle))
    values = [row[2] for row in written[1:]]
    # The import trims cells, so the tab and CR cells are reported as "=1", still escaped.
    assert sorted(values) == sorted("'" + v.strip() for v in [*hostile, hostile[2]])
    assert all(row[0].isdigit() for row in written[1:])  # row numbers stay numbers
