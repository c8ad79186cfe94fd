"""Residents: search and filters, opt-out state, and the import (upload → mapping preview → confirm → report)."""

from __future__ import annotations

import secrets
import time
from itertools import islice
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Form, Request
from fastapi.responses import FileResponse, Response
from starlette.concurrency import run_in_threadpool

from broadcast.accounts.models import User
from broadcast.bounds import MAX_ID, DbId, PageNumber, parse_count
from broadcast.communes.service import list_communes
from broadcast.contacts import service as contacts
from broadcast.contacts.importing.header import FIELD_LABELS, HEADER_SEARCH_ROWS, Header, find_header
from broadcast.contacts.importing.importer import import_contacts
from broadcast.contacts.importing.read import ReadLimits, read_rows
from broadcast.contacts.models import ConsentSource
from broadcast.deps import SessionDep
from broadcast.exceptions import ValidationFailed
from broadcast.uploads import UPLOAD_ROUTE_MAX_BYTES, receive_upload
from broadcast.web.core import (
    CSRF_FIELD,
    EDITORS,
    READERS,
    PageNotFound,
    flash,
    form_route,
    page_router,
    page_user,
    redirect,
    render,
    settings_of,
    t,
    verify_csrf,
)

router = page_router()
# The upload reads its own body within IMPORT_MAX_BYTES, then checks the CSRF token it carries:
# the router-wide csrf_protect would parse a form of any size first.
upload_router = page_router(dependencies=[], route_class=form_route("import.html", step="upload"))
PAGE_SIZE = 50
SUFFIXES = {".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".xls", ".ods"}
PREVIEW_ROWS = 5
COUNT_CAP = contacts.COUNT_CAP
SHOWN_BAD_ROWS = 200


@router.get("/residents")
def residents(request: Request, session: SessionDep, q: str = "", commune: str = "", group: str = "",
              state: str = "", page: PageNumber = 1, user: User = Depends(page_user(READERS))) -> Response:
    settings = settings_of(request)
    page = max(page, 1)
    filters = contacts.ContactFilter(
        q=q.strip() or None, commune_code=commune or None,
        group_id=parse_count(group, maximum=MAX_ID),
        opted_out={"out": True, "in": False}.get(state))
    rows, total = contacts.list_contacts(session, filters, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    names = {c.code: c.name for c in list_communes(session, settings.province_code)}
    return render(request, "residents.html", {
        "rows": rows, "total": total, "capped": total > COUNT_CAP, "cap": COUNT_CAP, "page": page,
        "pages": max(1, -(-total // PAGE_SIZE)), "more": len(rows) == PAGE_SIZE,
        "member": contacts.memberships(session, [r.id for r in rows if r.id is not None]),
        "communes": names, "groups": contacts.group_choices(session),
        "q": q, "commune": commune, "group": group, "state": state,
    })


@router.post("/residents/{contact_id}/opt-out")
def set_opt_out(contact_id: DbId, request: Request, session: SessionDep, opted_out: Annotated[str, Form()] = "1",
                back: Annotated[str, Form()] = "/residents", user: User = Depends(page_user(EDITORS))) -> Response:
    contact = contacts.get_contact(session, contact_id)
    out = opted_out == "1"
    contacts.set_opt_out(session, contact, channel="all", opted_out=out, source=ConsentSource.officer,
                         detail=f"web:{user.username}", actor_id=user.id)
    flash(request, t(request, "residents.opted_out" if out else "residents.opted_in", name=contact.full_name))
    return redirect(back if back.startswith("/residents") else "/residents")


# ---- import -------------------------------------------------------------------------------------


def _upload_dir(request: Request) -> Path:
    path = Path(settings_of(request).media_dir) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _pending(request: Request) -> tuple[Path, str] | None:
    """The uploaded file this session is importing, if it still exists."""
    info = request.session.get("import")
    if not isinstance(info, dict) or not str(info.get("token", "")).isalnum():
        return None
    path = _upload_dir(request) / f"{info['token']}{info.get('suffix', '.csv')}"
    return (path, str(info.get("name", path.name))) if path.is_file() else None


def discard_stale_previews(directory: Path, max_age_seconds: float) -> None:
    """Delete uploads and reports nobody came back for (previews are confirmed within minutes)."""
    cutoff = time.time() - max_age_seconds
    for entry in directory.iterdir():
        try:
            if entry.is_file() and entry.stat().st_mtime < cutoff:
                entry.unlink()
        except FileNotFoundError:  # another request removed it first
            pass


def preview(path: Path, limits: ReadLimits, name: str) -> dict[str, Any]:
    """The header row found, each field's column, unmapped columns and the first data rows."""
    rows, file_format = read_rows(path, limits, name=name)
    try:
        head = list(islice(rows, HEADER_SEARCH_ROWS + PREVIEW_ROWS))
    finally:
        getattr(rows, "close", lambda: None)()
    header: Header | None = find_header([cells for _, cells in head])
    if header is None or "phone" not in header.columns:
        return {"format": file_format, "error": True, "names": header.names if header else []}
    used = {i for cols in header.columns.values() for i in cols}
    mapping = [(FIELD_LABELS[f], header.label(header.columns[f][0]) if f in header.columns else None)
               for f in FIELD_LABELS]
    data = head[header.index + 1:header.index + 1 + PREVIEW_ROWS]
    return {"format": file_format, "error": False, "mapping": mapping,
            "unmapped": [n for i, n in enumerate(header.names) if n and i not in used],
            "names": header.names, "rows": [(number, [str(c) if c is not None else "" for c in cells])
                                            for number, cells in data]}


@router.get("/residents/import")
def import_form(request: Request, _user: User = Depends(page_user(EDITORS))) -> Response:
    return render(request, "import.html", {"step": "upload"})


@upload_router.post("/residents/import", max_body_size=UPLOAD_ROUTE_MAX_BYTES)
async def import_upload(request: Request, _user: User = Depends(page_user(EDITORS))) -> Response:
    """Receive the file (at most IMPORT_MAX_BYTES) and show the column mapping; any problem re-shows the form
    with its message and a 4xx status, and keeps nothing on disk."""
    settings = settings_of(request)
    directory = _upload_dir(request)
    token = secrets.token_hex(16)
    received = directory / f"{token}.part"
    path = received
    try:
        upload = await receive_upload(request, received, max_bytes=settings.import_max_bytes)
        verify_csrf(request, upload.fields.get(CSRF_FIELD))
        earlier = _pending(request)
        if earlier is not None:  # this officer's previous preview, never confirmed
            earlier[0].unlink(missing_ok=True)
        request.session.pop("import", None)
        discard_stale_previews(directory, settings.import_preview_max_age_seconds)
        name = upload.filename or "upload.csv"
        suffix = Path(name).suffix.lower()
        if suffix not in SUFFIXES:
            raise ValidationFailed(t(request, "import.bad_type"), field="file")
        path = received.rename(received.with_suffix(suffix))
        shown = await run_in_threadpool(preview, path, ReadLimits.from_settings(settings), name)
    except BaseException:  # nothing of a refused upload stays on disk; the error goes on to the form again
        path.unlink(missing_ok=True)
        raise
    request.session["import"] = {"token": token, "suffix": suffix, "name": name}
    return render(request, "import.html", {"step": "preview", "name": name, "p": shown})


@router.post("/residents/import/confirm")
def import_confirm(request: Request, session: SessionDep, user: User = Depends(page_user(EDITORS))) -> Response:
    pending = _pending(request)
    if pending is None:
        flash(request, t(request, "import.expired"), "error")
        return redirect("/residents/import")
    path, name = pending
    session.close()  # the import opens its own transactions; hold nothing meanwhile (SQLite has one writer)
    try:
        report = import_contacts(request.app.state.engine, path, source_name=name, actor_id=user.id,
                                 limits=ReadLimits.from_settings(settings_of(request)))
    finally:  # imported or refused (the error path shows why), the uploaded file is gone
        path.unlink(missing_ok=True)
    request.app.state.web_figures = None
    token = request.session["import"]["token"]
    report.write_csv(_upload_dir(request) / f"{token}-bad-rows.csv")
    request.session["import"] = {"token": token, "report": True}
    return render(request, "import.html", {"step": "report", "name": name, "r": report,
                                           "bad": report.bad_rows[:SHOWN_BAD_ROWS], "token": token})


@router.get("/residents/import/{token}/bad-rows.csv")
def bad_rows_csv(token: str, request: Request, _user: User = Depends(page_user(EDITORS))) -> Response:
    info = request.session.get("import")
    path = _upload_dir(request) / f"{token}-bad-rows.csv"
    if not isinstance(info, dict) or info.get("token") != token or not token.isalnum() or not path.is_file():
        raise PageNotFound()
    return FileResponse(path, media_type="text/csv; charset=utf-8", filename="dong-loi.csv")
