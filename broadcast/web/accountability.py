"""The public accountability page (no login): how the province and each commune answer residents' questions, the
answers officers published, and the same figures as open data (JSON, CSV). Nothing here identifies a resident:
counts, times and texts anonymised and approved before they appear."""

from __future__ import annotations

import io
import json
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import StringConstraints

from broadcast.bounds import SearchText
from broadcast.deps import SessionDep, SettingsDep
from broadcast.engagement import accountability, publications
from broadcast.spreadsheet import csv_writer
from broadcast.web import i18n
from broadcast.web.core import TEMPLATES, language, page_router

router = page_router(dependencies=[])  # residents and the press read it: no session, no CSRF
Code = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z]{0,5}$")]
Topic = Annotated[str, StringConstraints(max_length=60)]


def _cached(response: Response, seconds: int) -> Response:
    response.headers["Cache-Control"] = f"public, max-age={seconds}"
    response.headers["Vary"] = "Cookie"  # the page's language follows the visitor's choice
    return response


@router.get("/public/accountability")
def page(request: Request, session: SessionDep, settings: SettingsDep, q: SearchText = "", commune: Code = "",
         topic: Topic = "") -> Response:
    """The page: figures for the province, each commune, topic and month; published answers, searchable."""
    data = accountability.figures(session, settings)
    lang = language(request)
    found = publications.published(session, search=q, commune=commune, topic=topic)
    names = {row["code"]: row["name"] for row in data["communes"]}
    html = TEMPLATES.get_template("public/accountability.html").render({
        "lang": lang, "t": i18n.translator(lang), "data": data, "q": q, "commune": commune, "topic": topic,
        "published": found, "names": names, "path": request.url.path,
        "num": lambda v, d=0: i18n.fmt_number(v, lang, d),
        "share": lambda v: i18n.fmt_percent(v, 1, lang) if v is not None else "—",
        "month": lambda m: i18n.fmt_date(m, settings.zone)[3:] if m else "—",
    })
    response = HTMLResponse(html)
    response.headers["Content-Security-Policy"] = "default-src 'self'; style-src 'self'; frame-ancestors 'none'"
    return _cached(response, settings.public_cache_seconds)


def _published(session: SessionDep) -> list[dict[str, Any]]:
    return [{"commune_code": p.commune_code, "topic": p.topic, "month": p.asked_at.strftime("%Y-%m"),
             "question": p.question, "answer": p.answer} for p in publications.published(session, limit=500)]


@router.get("/public/accountability.json")
def open_json(session: SessionDep, settings: SettingsDep) -> Response:
    """The figures and the published answers as JSON (open data)."""
    body = {**accountability.figures(session, settings), "published": _published(session)}
    return _cached(Response(json.dumps(body, ensure_ascii=False), media_type="application/json"),
                   settings.public_cache_seconds)


@router.get("/public/accountability.csv")
def open_csv(session: SessionDep, settings: SettingsDep,
             table: Annotated[str, Query(pattern="^(communes|topics|months)$")] = "communes") -> Response:
    """One table of the figures as CSV (communes with the province first, topics or months)."""
    out = io.StringIO()
    out.write("\ufeff")
    csv_writer(out).writerows(accountability.table(accountability.figures(session, settings), table))
    response = Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="tra-loi-cau-hoi-{table}.csv"'})
    return _cached(response, settings.public_cache_seconds)
