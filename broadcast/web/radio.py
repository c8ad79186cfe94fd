"""Radio operators (phone-sized): today's and coming clips for their communes, player, download, RSS, "Đã phát"."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response
from sqlmodel import Session

from broadcast.accounts.models import Role, User
from broadcast.accounts.scope import commune_scope
from broadcast.audio.radio import airing as airings
from broadcast.audio.radio.feeds import feed_url
from broadcast.audio.views import clip_public
from broadcast.bounds import DbId
from broadcast.campaigns.schedules import calendar
from broadcast.communes import service as communes
from broadcast.communes.models import Commune
from broadcast.db import utcnow
from broadcast.deps import SessionDep
from broadcast.web.core import RADIO, flash, page_router, page_user, redirect, render, settings_of, t

router = page_router()
EARLIER_SHOWN = 10


def allowed_communes(session: Session, user: User, province_code: str) -> list[Commune]:
    """An operator's own communes; an admin may look at any commune of the province."""
    scope = commune_scope(session, user)
    found = communes.list_communes(session, province_code)
    return found if scope.codes is None else [c for c in found if c.code in scope.codes]


def commune_view(request: Request, session: Session, commune: Commune) -> dict[str, Any]:
    """A commune's clips split into today / coming / earlier (local dates), its feed and scheduled airings."""
    settings = settings_of(request)
    zone = settings.zone
    now = utcnow()
    today = now.astimezone(zone).date()
    airings.ensure_feed_token(session, commune)
    groups: dict[str, list[dict[str, Any]]] = {"today": [], "upcoming": [], "earlier": []}
    for entry in sorted(airings.catalogue(session, commune.code, limit=60), key=lambda e: e.airing.planned_at):
        day = entry.airing.planned_at.astimezone(zone).date()
        key = "today" if day == today else ("upcoming" if day > today else "earlier")
        groups[key].append({"airing": entry.airing, "clip": entry.clip,
                            "url": (clip_public(entry.clip, settings).url or "") + f"?xa={commune.code}"})
    groups["earlier"] = list(reversed(groups["earlier"]))[:EARLIER_SHOWN]
    return {"commune": commune, "feed": feed_url(settings, commune), **groups,
            "programme": calendar.programme(session, settings, commune.code, now=now, days=7)[:10],
            "horizon": today + timedelta(days=7)}


@router.get("/radio")
def radio(request: Request, session: SessionDep, xa: str = "", user: User = Depends(page_user(RADIO))) -> Response:
    communes = allowed_communes(session, user, settings_of(request).province_code)
    if xa:
        communes = [c for c in communes if c.code == xa] or communes[:1]
    elif user.role == Role.admin:
        communes = communes[:1]
    views = [commune_view(request, session, c) for c in communes]
    return render(request, "radio.html", {"views": views, "xa": xa,
                                          "choices": allowed_communes(session, user, settings_of(request).province_code)
                                          if user.role == Role.admin else []})


@router.post("/radio/airings/{airing_id}/confirm")
def confirm(airing_id: DbId, request: Request, session: SessionDep, user: User = Depends(page_user(RADIO))) -> Response:
    found = airings.confirm_airing(session, airing_id=airing_id, source="web", user_id=user.id,
                                   scope=commune_scope(session, user))  # another commune's: not found
    flash(request, t(request, "radio.confirmed"))
    return redirect(f"/radio?xa={found.commune_code}" if user.role == Role.admin else "/radio")
