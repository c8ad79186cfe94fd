"""The approvers' queue: full content, audience and cost; approve or return with a comment."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlmodel import Session, col, select

from broadcast.accounts.models import User
from broadcast.audio.worker import audio_worker
from broadcast.bounds import DbId
from broadcast.campaigns import service
from broadcast.campaigns.models import Campaign, CampaignStatus
from broadcast.deps import SessionDep
from broadcast.exceptions import BroadcastError
from broadcast.flows.audio import prepare_campaign_audio
from broadcast.outbox.segments import estimate, strip_diacritics
from broadcast.web.campaign_view import audience_text, campaign_or_404
from broadcast.web.core import REVIEWERS, csrf_protect, flash, page_user, redirect, render, settings_of, t
from broadcast.web.live import reachable
from broadcast.web.voice_view import voice_script

router = APIRouter(dependencies=[Depends(csrf_protect)], include_in_schema=False)


def review_item(request: Request, session: Session, campaign: Campaign) -> dict[str, Any]:
    """What an approver needs to decide: content as it will be sent, audience by name, reach and cost."""
    assert campaign.id is not None
    settings = settings_of(request)
    contents = service.contents_of(session, campaign.id)
    sms = next((c.body for c in contents if c.channel == "sms"), "")
    sent_text = strip_diacritics(sms) if campaign.strip_diacritics else sms
    authors = session.exec(select(User).where(User.id == campaign.created_by_id)).all()
    return {
        "c": campaign, "sms": sms, "sent_text": sent_text,
        "sms_estimate": estimate(sent_text, price_per_segment=settings.sms_price_per_segment) if sms else None,
        "script": next((c.body for c in contents if c.channel == "loudspeaker"), ""),
        "voice_script": voice_script(session, campaign.id),
        "audience": audience_text(session, campaign.audience),
        "reachable": reachable(request, session, campaign.audience),
        "author": authors[0] if authors else None,
    }


@router.get("/approvals")
def queue(request: Request, session: SessionDep, _user: User = Depends(page_user(REVIEWERS))) -> Response:
    pending = session.exec(select(Campaign).where(Campaign.status == CampaignStatus.pending_approval)
                           .order_by(col(Campaign.submitted_at)).limit(50)).all()
    return render(request, "approvals.html", {
        "items": [review_item(request, session, c) for c in pending],
        "price_unit": settings_of(request).sms_price_unit,
    })


def _programme_audio(request: Request, session: Session, campaign: Campaign) -> None:
    """Put an approved loudspeaker bulletin on its communes' programmes and render it; render the call clip."""
    prepare_campaign_audio(session, settings_of(request), audio_worker(request.app), campaign)


@router.post("/campaigns/{campaign_id}/approve")
def approve(campaign_id: DbId, request: Request, session: SessionDep, comment: Annotated[str, Form()] = "",
            user: User = Depends(page_user(REVIEWERS))) -> Response:
    campaign_or_404(session, campaign_id)
    try:
        campaign = service.approve(session, campaign_id, approver_id=user.id, actor=user.username,
                                   comment=comment.strip()[:1000])
    except BroadcastError as exc:
        flash(request, exc.message, "error")
        return redirect("/approvals")
    try:
        _programme_audio(request, session, campaign)
    except BroadcastError as exc:
        flash(request, t(request, "approvals.audio_problem", reason=exc.message), "error")
    flash(request, t(request, "approvals.approved", title=campaign.title))
    return redirect("/approvals")


@router.post("/campaigns/{campaign_id}/reject")
def reject(campaign_id: DbId, request: Request, session: SessionDep, comment: Annotated[str, Form()] = "",
           user: User = Depends(page_user(REVIEWERS))) -> Response:
    campaign_or_404(session, campaign_id)
    try:
        campaign = service.reject(session, campaign_id, approver_id=user.id, actor=user.username,
                                  comment=comment.strip()[:1000])
        flash(request, t(request, "approvals.rejected", title=campaign.title))
    except BroadcastError as exc:
        flash(request, exc.message, "error")
    return redirect("/approvals")
