"""The campaign composer: content per channel, audience, schedule; save, submit for approval, test to my phone."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response
from sqlmodel import Session

from broadcast.accounts.models import User
from broadcast.bounds import MAX_ID, MAX_LIST, DbId, parse_count
from broadcast.campaigns import service
from broadcast.campaigns.models import Campaign, CampaignStatus
from broadcast.campaigns.schedules import plans
from broadcast.campaigns.schedules.rules import WEEKDAYS, ScheduleIn
from broadcast.campaigns.schemas import AudienceIn, CampaignCreate, CampaignUpdate, ContentIn
from broadcast.communes.service import list_communes
from broadcast.contacts.service import group_choices
from broadcast.db import utcnow
from broadcast.deps import SessionDep
from broadcast.flows import campaigns as flows
from broadcast.flows.context import effects_of
from broadcast.outbox.queue import send_test
from broadcast.web.core import EDITORS, flash, keep_input, page_router, page_user, redirect, render, settings_of, t
from broadcast.web.voice_view import MACHINE_CHOICES, voice_defaults, voice_draft, voice_fields

router = page_router()
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
    fields: dict[str, Any] = {
        "title": draft["title"], "description": draft["description"], "channels": draft["channels"] or ["sms"],
        "audience": AudienceIn(communes=draft["communes"], groups=draft["groups"], languages=draft["languages"]),
        "contents": _contents(draft), "strip_diacritics": draft["strip_diacritics"],
        "bulletin_level": draft["bulletin_level"], **voice_fields(draft),
    }
    effects = effects_of(request.app)
    if campaign_id is None:
        campaign = service.create_campaign(session, CampaignCreate(**fields), author_id=user.id, actor=user.username)
    else:
        campaign = flows.update(session, effects, campaign_id, CampaignUpdate(**fields), actor=user)
    assert campaign.id is not None
    schedule = schedule_of(draft)
    if schedule is not None:
        flows.schedule(session, effects, campaign.id, schedule, actor=user)
    elif draft["schedule_kind"] == "none" and campaign.schedule:
        flows.unschedule(session, effects, campaign.id, actor=user)
    return campaign.id


def show(request: Request, session: Session, draft: dict[str, Any], campaign: Campaign | None,
         error: str | None = None) -> Response:
    settings = settings_of(request)
    schedule = plans.describe(session, settings, campaign.id, now=utcnow(), count=3) if campaign and campaign.id \
        else None
    return render(request, "composer.html", {
        "d": draft, "campaign": campaign, "error": error, "schedule": schedule,
        "communes": list_communes(session, settings.province_code),
        "groups": group_choices(session),
        "weekdays": WEEKDAYS, "price": settings.sms_price_per_segment, "price_unit": settings.sms_price_unit,
        "voice_defaults": voice_defaults(settings), "machine_choices": MACHINE_CHOICES,
    }, status_code=422 if error else 200)


async def _submit_form(request: Request, session: Session, user: User, campaign: Campaign | None) -> Response:
    form = await request.form()
    draft = draft_from_form(form)
    submitting = form.get("action") == "submit"
    testing = form.get("action") == "test" and bool(user.phone)  # save, then a test to the officer's own phone
    tested: list[str] = []

    def save_and_submit() -> int:
        saved = save(session, request, user, campaign.id if campaign else None, draft)
        if submitting:
            service.submit(session, saved, actor_id=user.id, actor=user.username)
        if testing:
            body = service.sms_as_sent(session, service.get_campaign(session, saved))
            tested.append(send_test(session, to=user.phone or "", body=body, actor=user,
                                    campaign_id=saved).to_phone or "")
        return saved

    campaign_id = keep_input(session, save_and_submit)
    if isinstance(campaign_id, str):  # refused: the form again, with what the officer typed and why
        if campaign is not None:
            session.refresh(campaign)
        return show(request, session, draft, campaign, campaign_id)
    if submitting:
        flash(request, t(request, "composer.submitted"))
        return redirect(f"/campaigns/{campaign_id}")
    flash(request, t(request, "composer.saved"))
    for to in tested:
        flash(request, t(request, "composer.test_sent", to=to))
    return redirect(f"/campaigns/{campaign_id}/edit")


def _editable(session: Session, campaign_id: DbId) -> Campaign:
    return service.get_campaign(session, campaign_id)


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
    service.submit(session, campaign_id, actor_id=user.id, actor=user.username)
    flash(request, t(request, "composer.submitted"))
    return redirect(f"/campaigns/{campaign_id}")


@router.post("/campaigns/{campaign_id}/test-sms")
async def test_sms(campaign_id: DbId, request: Request, session: SessionDep,
                   user: User = Depends(page_user(EDITORS))) -> Response:
    """Send the campaign's SMS (as residents will get it) to the officer's own phone."""
    campaign = _editable(session, campaign_id)
    form = await request.form()
    to = str(form.get("to", "")).strip() or (user.phone or "")
    delivery = send_test(session, to=to, body=service.sms_as_sent(session, campaign), actor=user,
                         campaign_id=campaign_id)
    flash(request, t(request, "composer.test_sent", to=delivery.to_phone or to))
    if campaign.status == CampaignStatus.draft:
        return redirect(f"/campaigns/{campaign_id}/edit")
    return redirect(f"/campaigns/{campaign_id}")


class _Empty(dict[str, Any]):
    """An empty form (what a new composer starts from)."""

    def getlist(self, _key: str) -> list[Any]:
        return []
