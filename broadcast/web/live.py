"""Small JSON helpers the composer's script calls as the officer types (session cookie + CSRF header)."""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlmodel import Session

from broadcast.accounts.models import User
from broadcast.audio.service import campaign_audio, clips_of
from broadcast.audio.text.normalize import MAX_TEXT_CHARS, normalize_text
from broadcast.audio.text.pronunciation import load_dictionary
from broadcast.audio.views import clip_public
from broadcast.audio.worker import audio_worker, render_after_commit
from broadcast.bounds import DbId
from broadcast.campaigns.audience import count_reachable
from broadcast.deps import SessionDep
from broadcast.outbox.segments import estimate
from broadcast.web.core import EDITORS, READERS, flash, page_router, page_user, redirect, settings_of, t

router = page_router()
REACH_TTL = 60.0
AUDIENCE_KEYS = ("communes", "groups", "tags", "languages")


class EstimateIn(BaseModel):
    text: str = Field(default="", max_length=1600)


class AudienceIn(BaseModel):
    communes: list[str] = []
    groups: list[int] = []
    languages: list[str] = []


class ScriptIn(BaseModel):
    text: str = Field(default="", max_length=MAX_TEXT_CHARS)


@router.post("/ui/sms/estimate")
def sms_estimate(body: EstimateIn, request: Request, _user: User = Depends(page_user(EDITORS))) -> JSONResponse:
    """Both versions of the SMS: as typed and without diacritics, each with encoding, segments and cost."""
    price = settings_of(request).sms_price_per_segment
    return JSONResponse({
        "as_typed": estimate(body.text, strip=False, price_per_segment=price).to_dict(),
        "stripped": estimate(body.text, strip=True, price_per_segment=price).to_dict(),
        "price_unit": settings_of(request).sms_price_unit,
    })


def reachable(request: Request, session: Session, audience: dict[str, Any], channel: str = "sms") -> int:
    """count_reachable, remembered for a minute per audience: over a million residents a count costs
    a few hundred milliseconds, and the composer, the approval queue and the campaign page ask again and again."""
    key = json.dumps([channel, {k: sorted(map(str, audience.get(k) or [])) for k in AUDIENCE_KEYS}])
    cache: dict[str, tuple[float, int]] = request.app.state.__dict__.setdefault("web_reach", {})
    now = time.monotonic()
    hit = cache.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    if len(cache) > 1000:
        cache.clear()
    count = count_reachable(session, audience, channel)
    cache[key] = (now + REACH_TTL, count)
    return count


@router.post("/ui/audience/count")
def audience_count(body: AudienceIn, request: Request, session: SessionDep,
                   _user: User = Depends(page_user(EDITORS))) -> JSONResponse:
    return JSONResponse({"reachable": reachable(request, session, body.model_dump())})


@router.post("/ui/audio/normalize")
def normalize(body: ScriptIn, request: Request, _user: User = Depends(page_user(EDITORS))) -> JSONResponse:
    """What the speech engine will read (numbers, dates and abbreviations spelled out)."""
    dictionary = load_dictionary(settings_of(request).media_dir)
    return JSONResponse({"text": normalize_text(body.text, "vi", dictionary)})


@router.post("/campaigns/{campaign_id}/audio")
def render_audio(campaign_id: DbId, request: Request, session: SessionDep,
                 _user: User = Depends(page_user(EDITORS))) -> Response:
    """Render the campaign's loudspeaker script (it is not put on any commune's programme before approval)."""
    clips = [clip for _, clip in campaign_audio(session, settings_of(request), campaign_id)]
    render_after_commit(session, audio_worker(request.app), clips)
    flash(request, t(request, "composer.audio_queued"))
    return redirect(f"/campaigns/{campaign_id}/edit")


@router.get("/ui/campaigns/{campaign_id}/clips")
def clips(campaign_id: DbId, request: Request, session: SessionDep,
          _user: User = Depends(page_user(READERS))) -> JSONResponse:
    rows = clips_of(session, campaign_id, limit=10)
    settings = settings_of(request)
    items = [{"id": c.id, "status": c.status, "url": clip_public(c, settings).url, "error": c.error,
              "normalized_text": c.normalized_text, "duration": c.duration_seconds} for c in rows]
    return JSONResponse({"items": items}, headers={"Cache-Control": "no-store"})
