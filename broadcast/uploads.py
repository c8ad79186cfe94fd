"""Receiving one uploaded file: refused on its declared size before a byte is read, else streamed to disk
with a running byte count that stops at the limit. Shared by the API and the web pages.

Routes that take uploads read their body through `receive_upload` rather than FastAPI's File() parameters:
FastAPI parses a form before the route's dependencies run, so an anonymous caller could make the server
spool gigabytes before being told to log in, and the limit could only be checked afterwards.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from broadcast.exceptions import ContentTooLarge, ValidationFailed
from broadcast.humanize import size

FORM_SLACK = 64 * 1024  # multipart boundaries, part headers and the few text fields sent with the file
MAX_FIELDS = 16
# Lifts REQUEST_MAX_BYTES (every other route's limit) on the upload routes: their limits, IMPORT_MAX_BYTES and
# AUDIO_UPLOAD_MAX_BYTES, are enforced by receive_upload, which names the file and the limit in its 413.
UPLOAD_ROUTE_MAX_BYTES = 1 << 62
MAX_FIELD_BYTES = 8 * 1024


@dataclass(frozen=True)
class Upload:
    """The received file (at `path`), its name as sent (no directories), its size and the form's text fields."""

    path: Path
    filename: str
    size: int
    fields: dict[str, str]


def openapi_body(**fields: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI description of a multipart body with a `file` and these text fields."""
    properties = {"file": {"type": "string", "format": "binary"}, **fields}
    schema = {"type": "object", "required": ["file"], "properties": properties}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


async def receive_upload(request: Request, destination: Path, *, max_bytes: int, field: str = "file") -> Upload:
    """Write the multipart part `field` to `destination`; ContentTooLarge (413) when it is over max_bytes.

    A Content-Length over the limit is refused before the body is read; a body without one (chunked) is
    read only up to the limit. `destination` exists only if an Upload is returned.
    """
    declared = _content_length(request)
    if declared is not None and declared > max_bytes + FORM_SLACK:
        raise ContentTooLarge(f"Tệp gửi lên {size(declared)}, vượt giới hạn (tối đa {size(max_bytes)}).",
                              field=field)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ValidationFailed(f"Hãy gửi tệp dạng multipart/form-data, trong trường “{field}”.", field=field)
    parser = MultiPartParser(request.headers, _counted(request.stream(), max_bytes, field), max_files=1,
                             max_fields=MAX_FIELDS, max_part_size=MAX_FIELD_BYTES)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise ValidationFailed(f"Dữ liệu tải lên không hợp lệ: {exc.message}", field=field) from None
    try:
        upload = form.get(field)
        if not isinstance(upload, UploadFile):
            raise ValidationFailed(f"Chưa có tệp trong trường “{field}”.", field=field)
        name = Path((upload.filename or "").replace("\\", "/")).name
        if upload.size is not None and upload.size > max_bytes:
            raise ContentTooLarge(f"Tệp {name} nặng {size(upload.size)}, vượt giới hạn (tối đa {size(max_bytes)}).",
                                  field=field)
        written = await run_in_threadpool(_save, upload.file, destination)
        fields = {key: value for key, value in form.multi_items() if isinstance(value, str)}
    finally:
        await form.close()
    return Upload(destination, name, written, fields)


def _content_length(request: Request) -> int | None:
    value = request.headers.get("content-length", "")
    return int(value) if value.isdigit() and len(value) < 20 else None


async def _counted(stream: AsyncIterator[bytes], max_bytes: int, field: str) -> AsyncGenerator[bytes, None]:
    received = 0
    async for chunk in stream:
        received += len(chunk)
        if received > max_bytes + FORM_SLACK:
            raise ContentTooLarge(f"Tệp gửi lên quá lớn (tối đa {size(max_bytes)}).", field=field)
        yield chunk


def _save(source: BinaryIO, destination: Path) -> int:
    try:
        with destination.open("wb") as out:
            shutil.copyfileobj(source, out, 1 << 20)
            return out.tell()
    except BaseException:
        destination.unlink(missing_ok=True)
        raise
