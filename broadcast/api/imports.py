"""JSON routes for importing residents from an uploaded CSV/Excel file, and a template to fill in."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from broadcast.contacts.importing.importer import ReadLimits, import_contacts
from broadcast.deps import EngineDep, SettingsDep
from broadcast.exceptions import file_response
from broadcast.spreadsheet import csv_writer
from broadcast.uploads import UPLOAD_ROUTE_MAX_BYTES, openapi_body, receive_upload

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


@router.post("/contacts/import", summary="Import residents from a CSV or Excel file", response_model=ImportResult,
             max_body_size=UPLOAD_ROUTE_MAX_BYTES,
             openapi_extra=openapi_body())
async def import_file(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    max_bad_rows: Annotated[int, Query(ge=0, le=100_000, description="Bad rows listed in the answer")] = 1000,
) -> ImportResult:
    """Stream the upload (at most IMPORT_MAX_BYTES) to a temporary file, import it, answer counts and bad rows."""
    with tempfile.TemporaryDirectory(prefix="broadcast-import-") as tmp:
        upload = await receive_upload(request, Path(tmp) / "upload", max_bytes=settings.import_max_bytes)
        name = upload.filename or "upload.csv"
        suffix = Path(name).suffix.lower()
        path = upload.path.rename(upload.path.with_suffix(suffix if suffix in _SUFFIXES else ".csv"))
        report = await run_in_threadpool(import_contacts, engine, path, source_name=name,
                                         limits=ReadLimits.from_settings(settings))
    return ImportResult.model_validate(report.to_dict(max_bad_rows=max_bad_rows))


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
