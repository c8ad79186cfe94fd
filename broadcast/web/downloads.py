"""Public clip downloads and per-commune podcast feeds, by their unguessable addresses (no login)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import Response

from broadcast.audio.radio import airing as airings
from broadcast.audio.radio.downloads import clip_response
from broadcast.audio.radio.feeds import build_feed
from broadcast.bounds import CommuneCode
from broadcast.deps import SessionDep, SettingsDep
from broadcast.exceptions import ERROR_RESPONSES, file_response

public_router = APIRouter(tags=["audio-public"])


@public_router.head("/clips/{token}/{filename}", include_in_schema=False)
@public_router.get("/clips/{token}/{filename}", response_class=Response,
                   responses={**file_response("audio/mpeg", "The clip (Range requests: 206)"),
                              404: ERROR_RESPONSES[404]})
def download_clip(token: Annotated[str, PathParam(max_length=64)], filename: Annotated[str, PathParam(max_length=200)],
                  request: Request, session: SessionDep, settings: SettingsDep,
                  xa: CommuneCode | None = None) -> Response:
    """The MP3 with Content-Length, ETag and Range support; each full or first-byte download is logged."""
    return clip_response(request, session, settings, token, filename, commune_code=xa)


@public_router.get("/feeds/{token}/{code}.xml", response_class=Response,
                   responses={**file_response("application/rss+xml", "RSS 2.0 podcast feed"),
                              404: ERROR_RESPONSES[404]})
def commune_feed(token: Annotated[str, PathParam(max_length=64)], code: CommuneCode, session: SessionDep,
                 settings: SettingsDep) -> Response:
    """The commune's private podcast feed."""
    commune = airings.commune_by_feed_token(session, token, code)
    body = build_feed(settings, commune, airings.catalogue(session, code))
    return Response(body, media_type="application/rss+xml; charset=utf-8")
