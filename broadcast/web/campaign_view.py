"""Campaigns list and the campaign page: status, schedule, funnel, communes, failures, resend, replies, audio."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import func
from sqlmodel import Session, col, select

from broadcast.accounts.models import User
from broadcast.audio.models import AudioClip
from broadcast.audio.views import clip_public
from broadcast.audio.worker import audio_worker
from broadcast.bounds import DbId, PageNumber
from broadcast.campaigns import service
from broadcast.campaigns.models import Campaign, CampaignStatus
from broadcast.campaigns.schedules import plans
from broadcast.communes.models import Commune
from broadcast.contacts.models import ContactGroup
from broadcast.db import utcnow
from broadcast.deps import SessionDep
from broadcast.engagement import metrics
from broadcast.engagement.reasons import reason_label
from broadcast.engagement.rollup import ensure_recent, freshness
from broadcast.exceptions import BroadcastError
from broadcast.flows.audio import prepare_voice_clips
from broadcast.outbox.models import Delivery, DeliveryStatus, InboundMessage
from broadcast.outbox.segments import estimate, strip_diacritics
from broadcast.web import charts
from broadcast.web.core import (
    EDITORS,
    READERS,
    PageNotFound,
    csrf_protect,
    flash,
    language,
    page_user,
    redirect,
    render,
    settings_of,
    t,
)
from broadcast.web.dashboard import progress_of
from broadcast.web.i18n import fmt_number
from broadcast.web.live import reachable
from broadcast.web.voice_view import voice_panel, voice_script

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)
PAGE_SIZE = 50
S = CampaignStatus


def campaign_or_404(session: Session, campaign_id: DbId) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise PageNotFound()
    return campaign


def audience_text(session: Session, audience: dict[str, object]) -> dict[str, list[str]]:
    """The audience's communes, groups and languages by name."""
    codes = [str(c) for c in audience.get("communes") or []]  # type: ignore[attr-defined]
    ids = [int(g) for g in audience.get("groups") or []]  # type: ignore[attr-defined]
    communes = session.exec(select(Commune.name).where(col(Commune.code).in_(codes))).all() if codes else []
    groups = session.exec(select(ContactGroup.name).where(col(ContactGroup.id).in_(ids))).all() if ids else []
    return {"communes": list(communes), "groups": list(groups),
            "languages": [str(x) for x in audience.get("languages") or []]}  # type: ignore[attr-defined]


@router.get("/campaigns")
def campaigns(request: Request, session: SessionDep, status: str = "", page: PageNumber = 1,
              _user: User = Depends(page_user(READERS))) -> Response:
    page = max(page, 1)
    query = select(Campaign)
    if status in S.__members__:
        query = query.where(Campaign.status == status)
    total = int(session.exec(select(func.count()).select_from(query.subquery())).one())
    rows = session.exec(query.order_by(col(Campaign.updated_at).desc())
                        .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    return render(request, "campaigns.html", {"rows": rows, "total": total, "status": status, "page": page,
                                              "pages": max(1, -(-total // PAGE_SIZE)), "statuses": list(S)})


def _number(request: Request) -> Callable[[float], str]:
    lang = language(request)
    return lambda v: fmt_number(v, lang)


@router.get("/campaigns/{campaign_id}")
def campaign_page(campaign_id: DbId, request: Request, session: SessionDep,
                  _user: User = Depends(page_user(READERS))) -> Response:
    campaign = campaign_or_404(session, campaign_id)
    settings = settings_of(request)
    contents = service.contents_of(session, campaign_id)
    sms = next((c.body for c in contents if c.channel == "sms"), "")
    sent_text = strip_diacritics(sms) if campaign.strip_diacritics else sms
    ensure_recent(session, settings)
    funnel = metrics.campaign_funnel(session, settings, campaign_id)
    number = _number(request)
    funnel_chart = charts.hbars([(t(request, f"funnel.{k}"), float(funnel.get(k) or 0)) for k in
                                 ("targeted", "sent", "delivered", "failed", "skipped", "replies", "unique_clicks")],
                                fmt=number, title=t(request, "campaign.funnel"))
    reasons: dict[str, int] = defaultdict(int)
    for row in metrics.failures(session, campaign_id):
        reasons[row["label"]] += row["count"]
    failure_chart = charts.hbars(sorted(reasons.items(), key=lambda kv: -kv[1]), fmt=number,
                                 title=t(request, "campaign.failures"), css="bad")
    series = metrics.time_series(session, settings, campaign_id=campaign_id)
    time_chart = charts.day_columns(series, [("delivered", t(request, "chart.delivered")),
                                             ("failed", t(request, "chart.failed"))],
                                    title=t(request, "campaign.over_time"), fmt=number)
    failed = session.exec(
        select(Delivery).where(Delivery.campaign_id == campaign_id,
                               col(Delivery.status).in_([DeliveryStatus.failed, DeliveryStatus.undelivered]))
        .order_by(col(Delivery.id).desc()).limit(20)).all()
    replies = session.exec(select(InboundMessage).where(InboundMessage.campaign_id == campaign_id)
                           .order_by(col(InboundMessage.received_at).desc()).limit(10)).all()
    clips = session.exec(select(AudioClip).where(AudioClip.campaign_id == campaign_id)
                         .order_by(col(AudioClip.id).desc()).limit(5)).all()
    users = {u.id: u for u in session.exec(select(User).where(
        col(User.id).in_([i for i in (campaign.created_by_id, campaign.approved_by_id) if i]))).all()}
    return render(request, "campaign.html", {
        "c": campaign, "sms": sms, "sent_text": sent_text,
        "sms_estimate": estimate(sent_text, price_per_segment=settings.sms_price_per_segment) if sms else None,
        "script": next((c.body for c in contents if c.channel == "loudspeaker"), ""),
        "voice_script": voice_script(session, campaign_id), "voice": voice_panel(session, settings, campaign),
        "audience": audience_text(session, campaign.audience),
        "reachable": reachable(request, session, campaign.audience),
        "schedule": plans.describe(session, settings, campaign_id, now=utcnow(), count=5),
        "progress": progress_of(session, campaign_id), "funnel": funnel, "funnel_chart": funnel_chart,
        "failure_chart": failure_chart, "time_chart": time_chart,
        "communes": metrics.commune_table(session, settings, campaign_id),
        "failed": [(d, reason_label(d.status, d.error_code, d.error_message or "")) for d in failed],
        "replies": replies, "clips": [(c, clip_public(c, settings)) for c in clips],
        "author": users.get(campaign.created_by_id), "approver": users.get(campaign.approved_by_id),
        "editable": campaign.status in service.EDITABLE, "as_of": freshness(session),
        "price_unit": settings.sms_price_unit,
    })


def _action(request: Request, campaign_id: DbId, step: Callable[[], object], done_key: str) -> Response:
    try:
        step()
        flash(request, t(request, done_key))
    except BroadcastError as exc:
        flash(request, exc.message, "error")
    return redirect(f"/campaigns/{campaign_id}")


@router.post("/campaigns/{campaign_id}/start")
def start(campaign_id: DbId, request: Request, session: SessionDep,
          user: User = Depends(page_user(EDITORS))) -> Response:
    campaign = campaign_or_404(session, campaign_id)

    def start_with_clips() -> None:
        service.start_run(session, campaign_id, actor_id=user.id, actor=user.username)
        # Calls wait for clips still rendering; asking here covers campaigns approved outside these pages.
        try:
            prepare_voice_clips(session, settings_of(request), audio_worker(request.app), campaign)
        except BroadcastError as exc:  # calls still go out, reading the script with <Say>
            flash(request, t(request, "voice.clip_problem", reason=exc.message), "error")

    return _action(request, campaign_id, start_with_clips, "campaign.started")


@router.post("/campaigns/{campaign_id}/pause")
def pause(campaign_id: DbId, request: Request, session: SessionDep,
          user: User = Depends(page_user(EDITORS))) -> Response:
    campaign_or_404(session, campaign_id)
    return _action(request, campaign_id, lambda: service.pause(session, campaign_id, actor_id=user.id,
                                                               actor=user.username), "campaign.paused")


@router.post("/campaigns/{campaign_id}/resume")
def resume(campaign_id: DbId, request: Request, session: SessionDep,
           user: User = Depends(page_user(EDITORS))) -> Response:
    campaign_or_404(session, campaign_id)
    return _action(request, campaign_id, lambda: service.resume(session, campaign_id, actor_id=user.id,
                                                                actor=user.username), "campaign.resumed")


@router.post("/campaigns/{campaign_id}/cancel")
def cancel(campaign_id: DbId, request: Request, session: SessionDep,
           user: User = Depends(page_user(EDITORS))) -> Response:
    campaign_or_404(session, campaign_id)
    return _action(request, campaign_id, lambda: service.cancel(session, campaign_id, actor_id=user.id,
                                                                actor=user.username), "campaign.cancelled")


@router.post("/campaigns/{campaign_id}/resend")
def resend(campaign_id: DbId, request: Request, session: SessionDep,
           user: User = Depends(page_user(EDITORS))) -> Response:
    campaign_or_404(session, campaign_id)
    try:
        count = service.resend_failed(session, campaign_id, actor_id=user.id, actor=user.username)
        flash(request, t(request, "campaign.resent", n=fmt_number(count, language(request))))
    except BroadcastError as exc:
        flash(request, exc.message, "error")
    return redirect(f"/campaigns/{campaign_id}")
