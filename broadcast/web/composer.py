"""The campaign composer: content per channel, audience, schedule; save, submit for approval, test to my phone."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlmodel import Session

from broadcast.accounts.models import User
from broadcast.audit import service as audit
from broadcast.bounds import MAX_ID, MAX_LIST, DbId, parse_count
from broadcast.campaigns import service
from broadcast.campaigns.models import Campaign, CampaignStatus
from broadcast.campaigns.schedules import plans
from broadcast.campaigns.schedules.rules import WEEKDAYS, ScheduleIn
from broadcast.campaigns.schemas import AudienceIn, CampaignCreate, CampaignUpdate, ContentIn
from broadcast.db import utcnow
from broadcast.deps import SessionDep
from broadcast.exceptions import BroadcastError
from broadcast.outbox.queue import queue_message
from broadcast.outbox.segments import strip_diacritics
from broadcast.web.core import EDITORS, PageNotFound, csrf_protect, flash, page_user, redirect, render, settings_of, t
from broadcast.web.residents import communes_of, groups_of
from broadcast.web.voice_view import MACHINE_CHOICES, voice_defaults, voice_draft, voice_fields

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)
CHANNELS = ("sms", "voice", "loudspeaker")
SCHEDULE_KINDS = ("none", "once", "daily", "weekly")


def draft_from_form(form: Any) -> dict[str, Any]:
    """The composer's fields as the template shows them (also used to re-show a form with an error)."""
    return {
        "title": str(form.get("title", "")).strip(),
        "description": str(form.get("description", "")),
        "channels": [c for c in form.getlist("channels") if c in CHANNELS],
        "sms_text": str(form.get("sms_text", "")),
        "strip_diacritics": form.get("strip_diacritics") == "1",
        "script": str(form.get("script", "")),
        "voice_script": str(form.get("voice_script", "")),
        **voice_draft(None, form),
        "bulletin_level": str(form.get("bulletin_level", "normal")),
        "communes": [str(c) for c in form.getlist("communes")],
        "groups": [n for g in form.getlist("groups")[:MAX_LIST]
                   if (n := parse_count(str(g), maximum=MAX_ID)) is not None],
        "languages": [str(x) for x in form.getlist("languages") if x in ("vi", "km")],
        "schedule_kind": str(form.get("schedule_kind", "keep")),
        "schedule_at": str(form.get("schedule_at", "")),
        "schedule_time": str(form.get("schedule_time", "")),
        "schedule_days": [d for d in form.getlist("schedule_days") if d in WEEKDAYS],
    }


def draft_from_campaign(session: Session, campaign: Campaign) -> dict[str, Any]:
    assert campaign.id is not None
    bodies = {(c.channel, c.language): c.body for c in service.contents_of(session, campaign.id)}
    audience = campaign.audience or {}
    return {
        "title": campaign.title, "description": campaign.description, "channels": list(campaign.channels),
        "sms_text": bodies.get(("sms", "vi"), ""), "strip_diacritics": campaign.strip_diacritics,
        "script": bodies.get(("loudspeaker", "vi"), ""), "bulletin_level": campaign.bulletin_level,
        "voice_script": bodies.get(("voice", "vi"), ""), **voice_draft(campaign),
        "communes": list(audience.get("communes") or []), "groups": list(audience.get("groups") or []),
        "languages": list(audience.get("languages") or []),
        "schedule_kind": "keep" if campaign.schedule else "none",
        "schedule_at": "", "schedule_time": "", "schedule_days": [],
    }


def _contents(draft: dict[str, Any]) -> list[ContentIn]:
    contents = []
    if "sms" in draft["channels"] and draft["sms_text"].strip():
        contents.append(ContentIn(channel="sms", body=draft["sms_text"].strip()))
    if "loudspeaker" in draft["channels"] and draft["script"].strip():
        contents.append(ContentIn(channel="loudspeaker", body=draft["script"].strip()))
    if "voice" in draft["channels"] and draft["voice_script"].strip():
        contents.append(ContentIn(channel="voice", body=draft["voice_script"].strip()))
    return contents


def schedule_of(draft: dict[str, Any]) -> ScheduleIn | None:
    """The schedule the picker describes (times are local to settings.timezone), or None for "no schedule"."""
    kind = draft["schedule_kind"]
    if kind == "once":
        return ScheduleIn(at=draft["schedule_at"] or None)
    if kind == "daily":
        return ScheduleIn(every="daily", time=draft["schedule_time"] or None)
    if kind == "weekly":
        return ScheduleIn(every="weekly", days=draft["schedule_days"] or None, time=draft["schedule_time"] or None)
    return None


def save(session: Session, request: Request, user: User, campaign_id: DbId | None, draft: dict[str, Any]) -> int:
    """Create or update the campaign and its schedule from the composer's draft; returns its id."""
    settings = settings_of(request)
    fields: dict[str, Any] = {
        "title": draft["title"], "description": draft["description"], "channels": draft["channels"] or ["sms"],
        "audience": AudienceIn(communes=draft["communes"], groups=draft["groups"], languages=draft["languages"]),
        "contents": _contents(draft), "strip_diacritics": draft["strip_diacritics"],
        "bulletin_level": draft["bulletin_level"], **voice_fields(draft),
    }
    if campaign_id is None:
        campaign = service.create_campaign(session, CampaignCreate(**fields), author_id=user.id, actor=user.username)
    else:
        campaign = service.update_campaign(session, campaign_id, CampaignUpdate(**fields), actor_id=user.id,
                                           actor=user.username)
    assert campaign.id is not None
    schedule = schedule_of(draft)
    if schedule is not None:
        plans.set_schedule(session, settings, campaign.id, schedule, now=utcnow(), actor_id=user.id,
                           actor=user.username)
    elif draft["schedule_kind"] == "none" and campaign.schedule:
        plans.clear_schedule(session, campaign.id, now=utcnow(), actor_id=user.id, actor=user.username)
    return campaign.id


def show(request: Request, session: Session, draft: dict[str, Any], campaign: Campaign | None,
         error: str | None = None) -> Response:
    settings = settings_of(request)
    schedule = plans.describe(session, settings, campaign.id, now=utcnow(), count=3) if campaign and campaign.id \
        else None
    return render(request, "composer.html", {
        "d": draft, "campaign": campaign, "error": error, "schedule": schedule,
        "communes": communes_of(session, settings.province_code), "groups": groups_of(session),
        "weekdays": WEEKDAYS, "price": settings.sms_price_per_segment, "price_unit": settings.sms_price_unit,
        "voice_defaults": voice_defaults(settings), "machine_choices": MACHINE_CHOICES,
    }, status_code=422 if error else 200)


def _error_text(exc: Exception) -> str:
    if isinstance(exc, BroadcastError):
        return exc.message
    assert isinstance(exc, ValidationError)
    first = exc.errors()[0]
    return f"{'.'.join(str(p) for p in first.get('loc', ()))}: {first.get('msg', '')}"


async def _submit_form(request: Request, session: Session, user: User, campaign: Campaign | None) -> Response:
    form = await request.form()
    draft = draft_from_form(form)
    try:
        campaign_id = save(session, request, user, campaign.id if campaign else None, draft)
        if form.get("action") == "submit":
            service.submit(session, campaign_id, actor_id=user.id, actor=user.username)
    except (BroadcastError, ValidationError) as exc:
        session.rollback()
        fresh = session.get(Campaign, campaign.id) if campaign and campaign.id else None
        return show(request, session, draft, fresh, _error_text(exc))
    if form.get("action") == "submit":
        flash(request, t(request, "composer.submitted"))
        return redirect(f"/campaigns/{campaign_id}")
    flash(request, t(request, "composer.saved"))
    return redirect(f"/campaigns/{campaign_id}/edit")


def _editable(session: Session, campaign_id: DbId) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise PageNotFound()
    return campaign


@router.get("/campaigns/new")
def new_form(request: Request, session: SessionDep, _user: User = Depends(page_user(EDITORS))) -> Response:
    empty = draft_from_form(_Empty())
    empty.update(channels=["sms"], schedule_kind="none", languages=[])
    return show(request, session, empty, None)


@router.post("/campaigns/new")
async def create(request: Request, session: SessionDep, user: User = Depends(page_user(EDITORS))) -> Response:
    return await _submit_form(request, session, user, None)


@router.get("/campaigns/{campaign_id}/edit")
def edit_form(campaign_id: DbId, request: Request, session: SessionDep,
              _user: User = Depends(page_user(EDITORS))) -> Response:
    campaign = _editable(session, campaign_id)
    if campaign.status not in service.EDITABLE:
        flash(request, t(request, "composer.locked", status=t(request, f"status.{campaign.status}")), "error")
        return redirect(f"/campaigns/{campaign_id}")
    return show(request, session, draft_from_campaign(session, campaign), campaign)


@router.post("/campaigns/{campaign_id}/edit")
async def update(campaign_id: DbId, request: Request, session: SessionDep,
                 user: User = Depends(page_user(EDITORS))) -> Response:
    return await _submit_form(request, session, user, _editable(session, campaign_id))


@router.post("/campaigns/{campaign_id}/submit")
def submit(campaign_id: DbId, request: Request, session: SessionDep,
           user: User = Depends(page_user(EDITORS))) -> Response:
    _editable(session, campaign_id)
    try:
        service.submit(session, campaign_id, actor_id=user.id, actor=user.username)
        flash(request, t(request, "composer.submitted"))
    except BroadcastError as exc:
        flash(request, exc.message, "error")
    return redirect(f"/campaigns/{campaign_id}")


@router.post("/campaigns/{campaign_id}/test-sms")
async def test_sms(campaign_id: DbId, request: Request, session: SessionDep,
                   user: User = Depends(page_user(EDITORS))) -> Response:
    """Send the campaign's SMS (as residents will get it) to the officer's own phone."""
    campaign = _editable(session, campaign_id)
    form = await request.form()
    to = str(form.get("to", "")).strip() or (user.phone or "")
    body = next((c.body for c in service.contents_of(session, campaign_id) if c.channel == "sms"), "")
    if campaign.strip_diacritics and body:
        body = strip_diacritics(body)
    try:
        delivery = queue_message(session, to=to, body=body, created_by_id=user.id)
        audit.record(session, action="sms.test", entity="delivery", entity_id=delivery.id, actor_id=user.id,
                     actor=user.username, after={"to": delivery.to_phone, "campaign_id": campaign_id})
        flash(request, t(request, "composer.test_sent", to=delivery.to_phone or to))
    except BroadcastError as exc:
        flash(request, exc.message, "error")
    if campaign.status == CampaignStatus.draft:
        return redirect(f"/campaigns/{campaign_id}/edit")
    return redirect(f"/campaigns/{campaign_id}")


class _Empty(dict[str, Any]):
    """An empty form (what a new composer starts from)."""

    def getlist(self, _key: str) -> list[Any]:
        return []
