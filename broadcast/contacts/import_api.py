"""JSON routes for importing residents from an uploaded CSV/Excel file, and a template to fill in."""

from __future__ import annotations

import io
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, UploadFile
from pydantic import BaseModel

from broadcast.contacts.importer import import_contacts
from broadcast.deps import EngineDep
from broadcast.exceptions import file_response
from broadcast.spreadsheet import csv_writer

router = APIRouter(tags=["contacts"])

_SUFFIXES = {".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".xls", ".ods"}
_TEMPLATE_HEADER = ["Họ và tên", "Số điện thoại", "Xã/Phường", "Địa chỉ", "Nhóm", "Nhãn", "Ngôn ngữ", "Ghi chú"]
_TEMPLATE_EXAMPLE = ["Nguyễn Văn An", "0912 345 678", "Xã Đất Mũi", "Ấp Mũi", "Ngư dân; Hộ nghèo", "", "Tiếng Việt", ""]


class BadRowOut(BaseModel):
    row: int
    column: str
    value: str
    reason: str
    severity: str


class ImportResult(BaseModel):
    source_name: str
    file_format: str
    columns: dict[str, str]
    rows_read: int
    created: int
    updated: int
    unchanged: int
    skipped: int
    duplicates: int
    errors: int
    warnings: int
    bad_rows_total: int
    bad_rows: list[BadRowOut]


@router.post("/contacts/import", summary="Import residents from a CSV or Excel file", response_model=ImportResult)
def import_file(
    engine: EngineDep,
    file: UploadFile,
    max_bad_rows: Annotated[int, Query(ge=0, le=100_000, description="Bad rows listed in the answer")] = 1000,
) -> dict[str, Any]:
    """Stream the upload to a temporary file, import it, and answer the counts and the bad rows."""
    name = Path(file.filename or "upload.csv").name
    suffix = Path(name).suffix.lower()
    with tempfile.TemporaryDirectory(prefix="broadcast-import-") as tmp:
        path = Path(tmp) / f"upload{suffix if suffix in _SUFFIXES else '.csv'}"
        with path.open("wb") as out:
            shutil.copyfileobj(file.file, out, length=1 << 20)
        report = import_contacts(engine, path, source_name=name)
    return report.to_dict(max_bad_rows=max_bad_rows)


@router.get("/contacts/import/template.csv", summary="A CSV template with the recognised columns",
            response_class=Response, responses=file_response("text/csv", "The template"))
def import_template() -> Response:
    """An empty list officers can fill in (UTF-8 with BOM so Excel shows Vietnamese)."""
    buffer = io.StringIO()
    writer = csv_writer(buffer)
    writer.writerows([_TEMPLATE_HEADER, _TEMPLATE_EXAMPLE])
    return Response(
        ("\ufeff" + buffer.getvalue()).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="mau-danh-sach-nguoi-dan.csv"'},
    )
