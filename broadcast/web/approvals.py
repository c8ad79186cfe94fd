"""The approvers' queue: full content, audience and cost; approve or return with a comment."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Form, Request
from fastapi.responses import Response
from sqlmodel import Session

from broadcast.accounts import service as accounts
from broadcast.accounts.models import User
from broadcast.bounds import DbId
from broadcast.campaigns import service
from broadcast.campaigns.models import Campaign
from broadcast.deps import SessionDep
from broadcast.engagement import publications
from broadcast.engagement.models import PublicationStatus
from broadcast.flows import campaigns as flows
from broadcast.flows.context import effects_of
from broadcast.outbox.segments import estimate
from broadcast.quiz import service as quiz_service
from broadcast.web.campaign_view import audience_text
from broadcast.web.core import EDITORS, REVIEWERS, flash, page_router, page_user, redirect, render, settings_of, t
from broadcast.web.live import reachable
from broadcast.web.voice_view import voice_script

router = page_router()


def review_item(request: Request, session: Session, campaign: Campaign) -> dict[str, Any]:
    """What an approver needs to decide: content as it will be sent, audience by name, reach and cost."""
    assert campaign.id is not None
    settings = settings_of(request)
    contents = service.contents_of(session, campaign.id)
    sms = next((c.body for c in contents if c.channel == "sms"), "")
    sent_text = quiz_service.sms_as_sent(session, campaign)
    author = accounts.users_by_id(session, [campaign.created_by_id]).get(campaign.created_by_id or 0)
    return {
        "c": campaign, "sms": sms, "sent_text": sent_text,
        "sms_estimate": estimate(sent_text, price_per_segment=settings.sms_price_per_segment) if sms else None,
        "script": next((c.body for c in contents if c.channel == "loudspeaker"), ""),
        "voice_script": voice_script(session, campaign.id),
        "audience": audience_text(session, campaign.audience),
        "reachable": reachable(request, session, campaign.audience),
        "author": author,
    }


@router.get("/approvals")
def queue(request: Request, session: SessionDep, _user: User = Depends(page_user(REVIEWERS))) -> Response:
    pending = service.pending_approval(session)
    return render(request, "approvals.html", {
        "items": [review_item(request, session, c) for c in pending],
        "price_unit": settings_of(request).sms_price_unit,
        "publications": publications.listed(session, status=PublicationStatus.pending),
    })


@router.post("/campaigns/{campaign_id}/approve")
def approve(campaign_id: DbId, request: Request, session: SessionDep, comment: Annotated[str, Form()] = "",
            user: User = Depends(page_user(REVIEWERS))) -> Response:
    done = flows.approve(session, effects_of(request.app), campaign_id, approver=user, comment=comment.strip()[:1000])
    for warning in done.warnings:  # the approval stands; the audio can be rendered again from the campaign page
        flash(request, t(request, "approvals.audio_problem", reason=warning), "error")
    flash(request, t(request, "approvals.approved", title=done.value.title))
    return redirect("/approvals")


@router.post("/campaigns/{campaign_id}/reject")
def reject(campaign_id: DbId, request: Request, session: SessionDep, comment: Annotated[str, Form()] = "",
           user: User = Depends(page_user(REVIEWERS))) -> Response:
    campaign = service.reject(session, campaign_id, approver_id=user.id, actor=user.username,
                              comment=comment.strip()[:1000])
    flash(request, t(request, "approvals.rejected", title=campaign.title))
    return redirect("/approvals")


@router.post("/publications/{publication_id}/approve")
def approve_publication(publication_id: DbId, request: Request, session: SessionDep,
                        user: User = Depends(page_user(REVIEWERS))) -> Response:
    publications.review(session, publication_id, approve=True, reviewer=user)
    flash(request, t(request, "publication.published"))
    return redirect("/approvals")


@router.post("/publications/{publication_id}/reject")
def reject_publication(publication_id: DbId, request: Request, session: SessionDep,
                       comment: Annotated[str, Form()] = "", user: User = Depends(page_user(REVIEWERS))) -> Response:
    publications.review(session, publication_id, approve=False, reviewer=user, comment=comment.strip()[:1000])
    flash(request, t(request, "publication.rejected"))
    return redirect("/approvals")


@router.post("/publications/{publication_id}/withdraw")
def withdraw_publication(publication_id: DbId, request: Request, session: SessionDep,
                         user: User = Depends(page_user(EDITORS | REVIEWERS))) -> Response:
    publications.withdraw(session, publication_id, actor=user)
    flash(request, t(request, "publication.withdrawn"))
    return redirect("/approvals")
