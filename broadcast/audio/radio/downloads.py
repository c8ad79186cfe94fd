"""Clip downloads: Content-Length, ETag, conditional GET and single-range HTTP Range (206/416)."""

from __future__ import annotations

import re

from fastapi import Request
from fastapi.responses import Response
from sqlmodel import Session, select

from broadcast.audio.models import AudioClip, ClipStatus
from broadcast.audio.radio.airing import record_download
from broadcast.audio.radio.feeds import clip_filename
from broadcast.audio.service import clip_path
from broadcast.config import Settings
from broadcast.exceptions import NotFoundError

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_BEYOND = 1 << 62  # any byte position past the largest file; stands for numbers too long to convert


def _position(digits: str) -> int:
    """A byte position from the header's digits, without converting thousands of them (a 500 otherwise)."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= 18 else _BEYOND


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) inclusive for a single byte range; None when the header should be ignored.

    A first position past the end gives first >= size, which the caller answers with 416.
    """
    m = _RANGE.match(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        return None
    if not m.group(1):  # suffix: the last N bytes
        length = _position(m.group(2))
        return (max(0, size - length), size - 1) if length else (size, size - 1)
    first = _position(m.group(1))
    last = min(_position(m.group(2)), size - 1) if m.group(2) else size - 1
    return first, last


def clip_response(request: Request, session: Session, settings: Settings, token: str, filename: str,
                  *, commune_code: str | None = None) -> Response:
    """Serve a ready clip by its download token, honouring If-None-Match and Range."""
    clip = session.exec(select(AudioClip).where(AudioClip.download_token == token)).first()
    if clip is None or clip.status != ClipStatus.ready or not clip.file_path:
        raise NotFoundError("Không tìm thấy tệp âm thanh.")
    path = clip_path(settings, clip)
    if not path.exists():
        raise NotFoundError("Tệp âm thanh chưa sẵn sàng.")
    size = path.stat().st_size
    etag = f'"{clip.content_hash[:32]}-{size}"'
    headers = {"ETag": etag, "Accept-Ranges": "bytes", "Cache-Control": "private, max-age=3600",
               "Content-Disposition": f'inline; filename="{clip_filename(clip)}"'}
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    wanted = request.headers.get("range")
    if_range = request.headers.get("if-range")
    span = parse_range(wanted, size) if wanted and (not if_range or if_range == etag) else None
    if span is not None and (span[0] >= size or span[0] > span[1]):
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    first, last = span if span is not None else (0, size - 1)
    if request.method == "GET" and first == 0:  # players fetch many ranges; count the first one
        record_download(session, clip, commune_code=commune_code, client=request.headers.get("user-agent", ""))
    body = b""
    if request.method == "GET":
        with path.open("rb") as fh:
            fh.seek(first)
            body = fh.read(last - first + 1)
    headers["Content-Length"] = str(last - first + 1)
    if span is None:
        return Response(body, status_code=200, media_type="audio/mpeg", headers=headers)
    headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    return Response(body, status_code=206, media_type="audio/mpeg", headers=headers)
