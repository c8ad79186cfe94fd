"""JSON routes for campaigns: compose, approve, start, pause, resume, cancel, counts, resend."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from sqlmodel import col, func, select

from broadcast.accounts.deps import EDITORS, REVIEWERS, require
from broadcast.accounts.models import User
from broadcast.audio.worker import audio_worker
from broadcast.bounds import DbId, Offset
from broadcast.campaigns import service
from broadcast.campaigns.audience import count_reachable
from broadcast.campaigns.models import Campaign, CampaignRun, CampaignStatus
from broadcast.campaigns.schemas import AudienceIn, CampaignCreate, CampaignPublic, CampaignUpdate, ReviewIn
from broadcast.contacts.models import page
from broadcast.deps import SessionDep, wake_scheduler
from broadcast.flows.audio import prepare_campaign_audio, prepare_voice_clips
from broadcast.outbox.queue import campaign_counts

router = APIRouter(prefix="/campaigns", tags=["campaigns"])
Editor = Annotated[User, Depends(require(*EDITORS))]


@router.get("")
def list_campaigns(
    session: SessionDep,
    status: CampaignStatus | None = None,
    offset: Offset = 0,
    limit: int = Query(50, ge=1, le=200),
) -> dict[str, Any]:
    query = select(Campaign)
    if status:
        query = query.where(Campaign.status == status)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(query.order_by(col(Campaign.updated_at).desc()).offset(offset).limit(limit)).all()
    return page([service.to_public(session, c) for c in rows], total, offset, limit)


@router.post("", status_code=201, response_model=CampaignPublic)
def create_campaign(data: CampaignCreate, session: SessionDep, user: Editor) -> CampaignPublic:
    campaign = service.create_campaign(session, data, author_id=user.id, actor=user.username)
    return service.to_public(session, campaign, with_reach=True)


@router.post("/audience/count", summary="How many residents an audience reaches now")
def audience_count(audience: AudienceIn, session: SessionDep,
                   channel: Literal["sms", "voice"] = "sms") -> dict[str, int]:
    return {"reachable": count_reachable(session, audience.model_dump(), channel)}


@router.get("/{campaign_id}", response_model=CampaignPublic)
def get_campaign(campaign_id: DbId, session: SessionDep) -> CampaignPublic:
    return service.to_public(session, service.get_campaign(session, campaign_id), with_reach=True)


@router.patch("/{campaign_id}", response_model=CampaignPublic)
def update_campaign(campaign_id: DbId, data: CampaignUpdate, session: SessionDep, user: Editor,
                    request: Request) -> CampaignPublic:
    campaign = service.update_campaign(session, campaign_id, data, actor_id=user.id, actor=user.username)
    wake_scheduler(request)
    return service.to_public(session, campaign, with_reach=True)


@router.post("/{campaign_id}/submit", response_model=CampaignPublic)
def submit(campaign_id: DbId, session: SessionDep, user: Editor) -> CampaignPublic:
    return service.to_public(session, service.submit(session, campaign_id, actor_id=user.id, actor=user.username))


@router.post("/{campaign_id}/approve", response_model=CampaignPublic)
def approve(campaign_id: DbId, session: SessionDep, request: Request, review: ReviewIn | None = None,
            user: User = Depends(require(*REVIEWERS))) -> CampaignPublic:
    comment = review.comment if review else ""
    campaign = service.approve(session, campaign_id, approver_id=user.id, actor=user.username, comment=comment)
    prepare_campaign_audio(session, request.app.state.settings, audio_worker(request.app), campaign)
    wake_scheduler(request)
    return service.to_public(session, campaign)


@router.post("/{campaign_id}/reject", response_model=CampaignPublic)
def reject(campaign_id: DbId, review: ReviewIn, session: SessionDep,
           user: User = Depends(require(*REVIEWERS))) -> CampaignPublic:
    campaign = service.reject(session, campaign_id, approver_id=user.id, actor=user.username, comment=review.comment)
    return service.to_public(session, campaign)


@router.post("/{campaign_id}/start", summary="Start sending now")
def start(campaign_id: DbId, session: SessionDep, user: Editor, request: Request) -> dict[str, Any]:
    run = service.start_run(session, campaign_id, actor_id=user.id, actor=user.username)
    # Calls wait for a clip still rendering; asking here covers campaigns approved before their script changed.
    prepare_voice_clips(session, request.app.state.settings, audio_worker(request.app),
                        service.get_campaign(session, campaign_id))
    return {"campaign_id": campaign_id, "run_id": run.id, "targeted": run.targeted, "status": "sending"}


@router.post("/{campaign_id}/pause", response_model=CampaignPublic)
def pause(campaign_id: DbId, session: SessionDep, user: Editor, request: Request) -> CampaignPublic:
    wake_scheduler(request)
    return service.to_public(session, service.pause(session, campaign_id, actor_id=user.id, actor=user.username))


@router.post("/{campaign_id}/resume", response_model=CampaignPublic)
def resume(campaign_id: DbId, session: SessionDep, user: Editor, request: Request) -> CampaignPublic:
    wake_scheduler(request)
    return service.to_public(session, service.resume(session, campaign_id, actor_id=user.id, actor=user.username))


@router.post("/{campaign_id}/cancel", response_model=CampaignPublic)
def cancel(campaign_id: DbId, session: SessionDep, user: Editor, request: Request) -> CampaignPublic:
    wake_scheduler(request)
    return service.to_public(session, service.cancel(session, campaign_id, actor_id=user.id, actor=user.username))


@router.get("/{campaign_id}/deliveries/counts", summary="Delivery counts by status and error code")
def counts(campaign_id: DbId, session: SessionDep, run_id: DbId | None = None) -> dict[str, Any]:
    service.get_campaign(session, campaign_id)
    return {"campaign_id": campaign_id, "run_id": run_id, **campaign_counts(session, campaign_id, run_id)}


@router.get("/{campaign_id}/runs")
def runs(campaign_id: DbId, session: SessionDep) -> list[dict[str, Any]]:
    service.get_campaign(session, campaign_id)
    rows = session.exec(select(CampaignRun).where(CampaignRun.campaign_id == campaign_id)
                        .order_by(col(CampaignRun.scheduled_for).desc())).all()
    return [r.model_dump() for r in rows]


@router.post("/{campaign_id}/resend-failed", summary="Queue failed deliveries again")
def resend_failed(campaign_id: DbId, session: SessionDep, user: Editor) -> dict[str, int]:
    return {"requeued": service.resend_failed(session, campaign_id, actor_id=user.id, actor=user.username)}
