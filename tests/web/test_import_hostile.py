"""The web import (/residents/import) against hostile files: a 4xx page naming the problem, the service still
up, nothing imported, and no upload left on disk; abandoned previews are removed."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from broadcast.app import create_app
from broadcast.config import Settings
from broadcast.contacts.models import Contact
from tests.support.hostile import leftovers, one_big_cell_xlsx, sparse_xlsx
from tests.web.conftest import Seeded, csrf_of, login


@pytest.fixture
def small_limit_client(settings: Settings, seeded: Seeded) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"import_max_bytes": 20_000}))) as client:
        yield client


def imports_dir(settings: Settings) -> Path:
    return Path(settings.media_dir) / "imports"


def residents(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(Contact)).one())


def upload(client: Any, name: str, data: bytes, *, token: str | None = None) -> Any:
    token = token if token is not None else csrf_of(client, "/residents/import")
    return client.post("/residents/import", data={"csrf_token": token},
                       files={"file": (name, data, "application/octet-stream")}, follow_redirects=False)


def assert_unharmed(client: Any, engine: Engine, settings: Settings, scratch: Path, count: int) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    assert residents(engine) == count
    assert leftovers(imports_dir(settings)) == []
    assert leftovers(scratch) == []


@pytest.mark.parametrize(
    ("data", "fragment"),
    [(sparse_xlsx(), "1.048.576 dòng × 16.384 cột"),
     (sparse_xlsx(dimension=None), "quá lớn hoặc quá phức tạp"),
     (one_big_cell_xlsx(20), "xl/sharedStrings.xml")],
    ids=["declared-grid", "hidden-grid", "inflating-cell"],
)
def test_hostile_workbook_gets_a_4xx_page_and_leaves_nothing(
    anonymous_client: Any, seeded: Seeded, engine: Engine, settings: Settings, scratch: Path,
    data: bytes, fragment: str,
) -> None:
    before = residents(engine)
    login(anonymous_client, "officer")
    response = upload(anonymous_client, "danh-sach.xlsx", data)

    assert response.status_code == 422
    assert fragment in response.text and 'role="alert"' in response.text
    assert 'name="file"' in response.text  # the upload form again, to choose another file
    assert_unharmed(anonymous_client, engine, settings, scratch, before)


def test_csv_with_a_giant_field_names_the_row_in_the_preview(
    anonymous_client: Any, seeded: Seeded, engine: Engine, settings: Settings, scratch: Path
) -> None:
    before = residents(engine)
    login(anonymous_client, "officer")
    body = ("Họ tên,Số điện thoại\nAn,0912345678\nBình,\"" + "x" * 200_000 + "\"\n").encode()
    response = upload(anonymous_client, "ds.csv", body)

    assert response.status_code == 422 and "dòng 3" in response.text
    assert_unharmed(anonymous_client, engine, settings, scratch, before)


def test_file_over_the_size_limit_is_a_413_page(
    small_limit_client: TestClient, engine: Engine, settings: Settings, scratch: Path
) -> None:
    before = residents(engine)
    login(small_limit_client, "officer")
    response = upload(small_limit_client, "ds.csv", b"So dien thoai\n" + b"0912345678\n" * 5000)

    assert response.status_code == 413
    assert "ds.csv" in response.text and "tối đa 19,5 KB" in response.text
    assert_unharmed(small_limit_client, engine, settings, scratch, before)


def test_upload_without_the_csrf_token_is_refused_and_not_kept(
    anonymous_client: Any, seeded: Seeded, engine: Engine, settings: Settings, scratch: Path
) -> None:
    login(anonymous_client, "officer")
    response = upload(anonymous_client, "ds.csv", b"So dien thoai\n0912345678\n", token="forged" * 8)

    assert response.status_code == 403
    assert leftovers(imports_dir(settings)) == [] and leftovers(scratch) == []


def test_abandoned_previews_are_removed_on_the_next_upload(
    anonymous_client: Any, seeded: Seeded, engine: Engine, settings: Settings
) -> None:
    directory = imports_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    stale = [directory / "0123456789abcdef0123456789abcdef.xlsx", directory / "fedcba98-bad-rows.csv"]
    two_hours_ago = time.time() - 2 * 3600
    for path in stale:
        path.write_bytes(b"left by an officer who never confirmed")
        os.utime(path, (two_hours_ago, two_hours_ago))
    login(anonymous_client, "officer")

    first = upload(anonymous_client, "ds.csv", b"Ho ten,So dien thoai\nAn,0912345678\n")
    assert first.status_code == 200 and "0912345678" in first.text
    kept = leftovers(directory)
    assert len(kept) == 1 and kept[0].endswith(".csv")  # the stale ones are gone, this preview stays

    second = upload(anonymous_client, "ds2.csv", b"Ho ten,So dien thoai\nBinh,0987654321\n")
    assert second.status_code == 200
    assert len(leftovers(directory)) == 1 and leftovers(directory) != kept  # the session's earlier preview went

    token = csrf_of(anonymous_client, "/residents/import")
    done = anonymous_client.post("/residents/import/confirm", data={"csrf_token": token})
    assert done.status_code == 200
    assert [name for name in leftovers(directory) if not name.endswith("-bad-rows.csv")] == []
