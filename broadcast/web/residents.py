"""Residents: search and filters, opt-out state, and the import (upload → mapping preview → confirm → report)."""

from __future__ import annotations

import secrets
import time
from itertools import islice
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, Response
from sqlalchemy import func
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from broadcast.accounts.models import User
from broadcast.bounds import MAX_ID, DbId, PageNumber, parse_count
from broadcast.communes.models import Commune
from broadcast.contacts import service as contacts
from broadcast.contacts.importing.header import FIELD_LABELS, HEADER_SEARCH_ROWS, Header, find_header
from broadcast.contacts.importing.importer import import_contacts
from broadcast.contacts.importing.read import ReadLimits, read_rows
from broadcast.contacts.models import ConsentSource, Contact, ContactGroup, GroupMember
from broadcast.deps import SessionDep
from broadcast.exceptions import BroadcastError, ValidationFailed
from broadcast.uploads import UPLOAD_ROUTE_MAX_BYTES, receive_upload
from broadcast.web.core import (
    CSRF_FIELD,
    EDITORS,
    READERS,
    PageNotFound,
    csrf_protect,
    flash,
    page_user,
    redirect,
    render,
    settings_of,
    t,
    verify_csrf,
)

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)
# The upload reads its own body within IMPORT_MAX_BYTES, then checks the CSRF token it carries:
# the router-wide csrf_protect would parse a form of any size first.
upload_router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
SUFFIXES = {".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".xls", ".ods"}
PREVIEW_ROWS = 5
COUNT_CAP = 10_000  # past this the list says "more than 10.000" instead of counting a million rows
SHOWN_BAD_ROWS = 200


def communes_of(session: Session, province_code: str) -> list[Commune]:
    return list(session.exec(select(Commune).where(Commune.province_code == province_code)
                             .order_by(col(Commune.name))).all())


def groups_of(session: Session) -> list[ContactGroup]:
    return list(session.exec(select(ContactGroup).order_by(col(ContactGroup.name))).all())


def _phone_range(q: str) -> tuple[str, str] | None:
    """Digits typed as a number's start ("0912 34", "84912") → the E.164 prefix range (uses the unique index)."""
    digits = "".join(ch for ch in q if ch.isdigit())
    if len(digits) < 3 or any(ch.isalpha() for ch in q):
        return None
    national = digits[2:] if digits.startswith("84") else digits.lstrip("0")
    low = "+84" + national
    return low, low[:-1] + chr(ord(low[-1]) + 1)


def search(session: Session, filters: contacts.ContactFilter, *, offset: int, limit: int
           ) -> tuple[list[Contact], int]:
    """A page of residents, newest first, and the total (counted up to COUNT_CAP + 1, so a million is cheap).

    Like contacts.list_contacts, but a number is searched by prefix on the indexed phone column and names
    by substring; the web page only says "more than 10.000" past the cap.
    """
    conditions: list[Any] = [col(Contact.erased_at).is_(None)]
    if filters.q:
        span = _phone_range(filters.q)
        if span is not None:
            conditions += [col(Contact.phone) >= span[0], col(Contact.phone) < span[1]]
        else:
            conditions.append(col(Contact.full_name).ilike(f"%{filters.q.strip()}%"))
    if filters.commune_code:
        conditions.append(col(Contact.commune_code) == filters.commune_code)
    if filters.opted_out is not None:
        conditions.append(col(Contact.sms_opted_out).is_(filters.opted_out))
    if filters.group_id is not None:
        members = select(GroupMember.contact_id).where(GroupMember.group_id == filters.group_id)
        conditions.append(col(Contact.id).in_(members))
    capped = select(col(Contact.id)).where(*conditions).limit(COUNT_CAP + 1).subquery()
    total = int(session.exec(select(func.count()).select_from(capped)).one())
    rows = session.exec(select(Contact).where(*conditions).order_by(col(Contact.id).desc())
                        .offset(offset).limit(limit)).all()
    return list(rows), total


@router.get("/residents")
def residents(request: Request, session: SessionDep, q: str = "", commune: str = "", group: str = "",
              state: str = "", page: PageNumber = 1, user: User = Depends(page_user(READERS))) -> Response:
    settings = settings_of(request)
    page = max(page, 1)
    filters = contacts.ContactFilter(
        q=q.strip() or None, commune_code=commune or None,
        group_id=parse_count(group, maximum=MAX_ID),
        opted_out={"out": True, "in": False}.get(state))
    rows, total = search(session, filters, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    names = {c.code: c.name for c in communes_of(session, settings.province_code)}
    return render(request, "residents.html", {
        "rows": rows, "total": total, "capped": total > COUNT_CAP, "cap": COUNT_CAP, "page": page,
        "pages": max(1, -(-total // PAGE_SIZE)), "more": len(rows) == PAGE_SIZE,
        "member": contacts.memberships(session, [r.id for r in rows if r.id is not None]),
        "communes": names, "groups": groups_of(session),
        "q": q, "commune": commune, "group": group, "state": state,
    })


@router.post("/residents/{contact_id}/opt-out")
def set_opt_out(contact_id: DbId, request: Request, session: SessionDep, opted_out: Annotated[str, Form()] = "1",
                back: Annotated[str, Form()] = "/residents", user: User = Depends(page_user(EDITORS))) -> Response:
    try:
        contact = contacts.get_contact(session, contact_id)
    except BroadcastError:
        raise PageNotFound() from None
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
    except BroadcastError as exc:
        path.unlink(missing_ok=True)
        return render(request, "import.html", {"step": "upload", "error": exc.message}, status_code=exc.status_code)
    except BaseException:
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
    except BroadcastError as exc:
        flash(request, exc.message, "error")
        return redirect("/residents/import")
    finally:
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
