"""JSON routes for campaigns: compose, approve, start, pause, resume, cancel, counts, resend."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from broadcast.accounts.deps import EDITORS, REVIEWERS, require
from broadcast.accounts.models import User
from broadcast.api.deps import EffectsDep
from broadcast.bounds import DbId, Offset
from broadcast.campaigns import service
from broadcast.campaigns.audience import count_reachable
from broadcast.campaigns.models import CampaignRun, CampaignStatus
from broadcast.campaigns.schemas import AudienceIn, CampaignCreate, CampaignPublic, CampaignUpdate, ReviewIn
from broadcast.db import utcnow
from broadcast.deps import SessionDep, SettingsDep
from broadcast.engagement.counts import campaign_counts
from broadcast.flows import campaigns as flows
from broadcast.flows.waiting import campaign_waiting
from broadcast.listing import Page, page

router = APIRouter(prefix="/campaigns", tags=["campaigns"])
Editor = Annotated[User, Depends(require(*EDITORS))]


class StartOut(BaseModel):
    campaign_id: int
    run_id: int | None
    targeted: int
    status: str
    warnings: list[str] = []


class ApprovedOut(CampaignPublic):
    warnings: list[str] = []


class ReachableOut(BaseModel):
    reachable: int


class FailureCount(BaseModel):
    status: str
    error_code: int | None
    count: int


class WaitingOut(BaseModel):
    reason: str = Field(description="quiet_hours, daily_cap, paused, calling_window, budget, gateway_down, "
                                    "audio_not_ready, retry_backoff or scheduled")
    count: int
    until: str | None = Field(description="local ISO 8601 time they may go (null: unknown)")


class CountsOut(BaseModel):
    campaign_id: int
    run_id: int | None
    total: int
    by_status: dict[str, int]
    failures: list[FailureCount]
    waiting: list[WaitingOut] = Field(description="the queued messages by why they wait; the counts add up to "
                                                  "the queued count")
    estimated_finish: str | None = Field(description="when the last message should have gone (local ISO 8601)")


@router.get("", response_model=Page[CampaignPublic])
def list_campaigns(
    session: SessionDep,
    status: CampaignStatus | None = None,
    offset: Offset = 0,
    limit: int = Query(50, ge=1, le=200),
) -> Page[CampaignPublic]:
    rows, total = service.list_campaigns(session, status=status, offset=offset, limit=limit)
    return page([service.to_public(session, c) for c in rows], total, offset, limit)


@router.post("", status_code=201, response_model=CampaignPublic)
def create_campaign(data: CampaignCreate, session: SessionDep, user: Editor) -> CampaignPublic:
    campaign = service.create_campaign(session, data, author_id=user.id, actor=user.username)
    return service.to_public(session, campaign, with_reach=True)


@router.post("/audience/count", summary="How many residents an audience reaches now", response_model=ReachableOut)
def audience_count(audience: AudienceIn, session: SessionDep,
                   channel: Literal["sms", "voice"] = "sms") -> ReachableOut:
    return ReachableOut(reachable=count_reachable(session, audience.model_dump(), channel))


@router.get("/{campaign_id}", response_model=CampaignPublic)
def get_campaign(campaign_id: DbId, session: SessionDep) -> CampaignPublic:
    return service.to_public(session, service.get_campaign(session, campaign_id), with_reach=True)


@router.patch("/{campaign_id}", response_model=CampaignPublic)
def update_campaign(campaign_id: DbId, data: CampaignUpdate, session: SessionDep, user: Editor,
                    effects: EffectsDep) -> CampaignPublic:
    campaign = flows.update(session, effects, campaign_id, data, actor=user)
    return service.to_public(session, campaign, with_reach=True)


@router.post("/{campaign_id}/submit", response_model=CampaignPublic)
def submit(campaign_id: DbId, session: SessionDep, user: Editor) -> CampaignPublic:
    return service.to_public(session, service.submit(session, campaign_id, actor_id=user.id, actor=user.username))


@router.post("/{campaign_id}/approve", response_model=ApprovedOut,
             summary="Approve; `warnings` says what of its audio could not be prepared (the approval stands)")
def approve(campaign_id: DbId, session: SessionDep, effects: EffectsDep, review: ReviewIn | None = None,
            user: User = Depends(require(*REVIEWERS))) -> ApprovedOut:
    done = flows.approve(session, effects, campaign_id, approver=user, comment=review.comment if review else "")
    return ApprovedOut(**service.to_public(session, done.value).model_dump(), warnings=done.warnings)


@router.post("/{campaign_id}/reject", response_model=CampaignPublic)
def reject(campaign_id: DbId, review: ReviewIn, session: SessionDep,
           user: User = Depends(require(*REVIEWERS))) -> CampaignPublic:
    campaign = service.reject(session, campaign_id, approver_id=user.id, actor=user.username, comment=review.comment)
    return service.to_public(session, campaign)


@router.post("/{campaign_id}/start", summary="Start sending now", response_model=StartOut)
def start(campaign_id: DbId, session: SessionDep, user: Editor, effects: EffectsDep) -> StartOut:
    done = flows.start(session, effects, campaign_id, actor=user)
    return StartOut(campaign_id=campaign_id, run_id=done.value.id, targeted=done.value.targeted,
                    status="sending", warnings=done.warnings)


@router.post("/{campaign_id}/pause", response_model=CampaignPublic)
def pause(campaign_id: DbId, session: SessionDep, user: Editor, effects: EffectsDep) -> CampaignPublic:
    return service.to_public(session, flows.pause(session, effects, campaign_id, actor=user))


@router.post("/{campaign_id}/resume", response_model=CampaignPublic)
def resume(campaign_id: DbId, session: SessionDep, user: Editor, effects: EffectsDep) -> CampaignPublic:
    return service.to_public(session, flows.resume(session, effects, campaign_id, actor=user))


@router.post("/{campaign_id}/cancel", response_model=CampaignPublic)
def cancel(campaign_id: DbId, session: SessionDep, user: Editor, effects: EffectsDep) -> CampaignPublic:
    return service.to_public(session, flows.cancel(session, effects, campaign_id, actor=user))


@router.get("/{campaign_id}/deliveries/counts",
            summary="Delivery counts by status and error code; why the queued ones wait and until when",
            response_model=CountsOut)
def counts(campaign_id: DbId, session: SessionDep, settings: SettingsDep, run_id: DbId | None = None) -> CountsOut:
    """`waiting`: the queued messages by reason (quiet_hours, daily_cap, paused, calling_window, budget, gateway_down,
    audio_not_ready, retry_backoff, scheduled) with `until`, the local time they may go (null: unknown; for
    `budget`, when the last should have gone at the rate budget); `estimated_finish`: when the last message should
    have gone, from the rate budget, quiet hours and calling windows (null: unknown, e.g. paused)."""
    campaign = service.get_campaign(session, campaign_id)
    report = campaign_waiting(session, settings, campaign, now=utcnow(), run_id=run_id)
    return CountsOut.model_validate({"campaign_id": campaign_id, "run_id": run_id,
                                     **campaign_counts(session, campaign_id, run_id), **report.as_json(settings)})


@router.get("/{campaign_id}/runs", response_model=list[CampaignRun])
def runs(campaign_id: DbId, session: SessionDep) -> list[CampaignRun]:
    return service.runs_of(session, campaign_id)


class RequeuedOut(BaseModel):
    requeued: int


@router.post("/{campaign_id}/resend-failed", summary="Queue failed deliveries again", response_model=RequeuedOut)
def resend_failed(campaign_id: DbId, session: SessionDep, user: Editor) -> RequeuedOut:
    return RequeuedOut(requeued=service.resend_failed(session, campaign_id, actor_id=user.id, actor=user.username))
