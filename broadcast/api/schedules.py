"""JSON routes for schedules: set/show/clear a campaign's schedule, the calendar, a commune's programme."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from broadcast.accounts.deps import EDITORS, READERS, CurrentUser, allow
from broadcast.accounts.scope import commune_scope
from broadcast.api.deps import EffectsDep
from broadcast.bounds import CommuneCode, DbId
from broadcast.campaigns.schedules import calendar, plans
from broadcast.campaigns.schedules.rules import ScheduleIn
from broadcast.db import utcnow
from broadcast.deps import SessionDep, SettingsDep
from broadcast.flows import campaigns as flows

router = APIRouter(tags=["schedule"])
CAMPAIGNS = [Depends(allow(READERS, EDITORS))]  # radio operators see only their communes' programme


class NextRun(BaseModel):
    at: str | None = Field(description="local ISO 8601")
    window: list[list[str | None]] = Field(description="sending window intervals [start, end], local")


class RunOut(BaseModel):
    id: int | None
    scheduled_for: str | None
    status: str
    targeted: int
    window_end: str | None
    note: str | None


class ScheduleOut(BaseModel):
    campaign_id: int
    status: str
    schedule: dict[str, Any] = Field(description="the schedule as stored (normalised, with `kind` and `next_run_at`)")
    timezone: str
    active: bool
    next_runs: list[NextRun]
    runs: list[RunOut]


class UpcomingOut(BaseModel):
    campaign_id: int
    title: str
    at: str
    status: str
    kind: str | None
    channels: list[str]
    window_end: str | None


class AiringOut(BaseModel):
    campaign_id: int
    title: str
    at: str = Field(description="when the commune's loudspeakers air it (local)")
    run_at: str
    level: str
    commune: str


@router.put("/campaigns/{campaign_id}/schedule", summary="Set or change a campaign's schedule",
            dependencies=CAMPAIGNS, response_model=ScheduleOut)
def put_schedule(campaign_id: DbId, body: ScheduleIn, session: SessionDep, settings: SettingsDep,
                 effects: EffectsDep, user: CurrentUser) -> ScheduleOut:
    flows.schedule(session, effects, campaign_id, body, actor=user)
    return ScheduleOut.model_validate(plans.describe(session, settings, campaign_id, now=utcnow()))


@router.get("/campaigns/{campaign_id}/schedule", summary="A campaign's schedule, next run times and recent runs",
            dependencies=CAMPAIGNS, response_model=ScheduleOut)
def get_schedule(campaign_id: DbId, session: SessionDep, settings: SettingsDep,
                 count: int = Query(10, ge=1, le=100)) -> ScheduleOut:
    return ScheduleOut.model_validate(plans.describe(session, settings, campaign_id, now=utcnow(), count=count))


@router.delete("/campaigns/{campaign_id}/schedule", summary="Remove a campaign's schedule", dependencies=CAMPAIGNS,
               response_model=ScheduleOut)
def delete_schedule(campaign_id: DbId, session: SessionDep, settings: SettingsDep, effects: EffectsDep,
                    user: CurrentUser) -> ScheduleOut:
    flows.unschedule(session, effects, campaign_id, actor=user)
    return ScheduleOut.model_validate(plans.describe(session, settings, campaign_id, now=utcnow()))


@router.get("/schedule/upcoming", summary="Coming runs of approved campaigns, soonest first (the calendar)",
            dependencies=CAMPAIGNS, response_model=list[UpcomingOut])
def upcoming(session: SessionDep, settings: SettingsDep, days: int = Query(7, ge=1, le=366),
             limit: int = Query(500, ge=1, le=5000)) -> list[UpcomingOut]:
    items = calendar.upcoming(session, settings, now=utcnow(), days=days, limit=limit)
    return [UpcomingOut.model_validate(item) for item in items]


@router.get("/schedule/programme", summary="A commune's coming loudspeaker airings (for radio operators)",
            response_model=list[AiringOut])
def programme(session: SessionDep, settings: SettingsDep, user: CurrentUser, commune: CommuneCode,
              days: int = Query(7, ge=1, le=60)) -> list[AiringOut]:
    commune_scope(session, user).check(commune)
    items = calendar.programme(session, settings, commune, now=utcnow(), days=days)
    return [AiringOut.model_validate(item) for item in items]
