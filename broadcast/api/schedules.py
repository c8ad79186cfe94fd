"""JSON routes for schedules: set/show/clear a campaign's schedule, the calendar, a commune's programme."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from broadcast.accounts.deps import EDITORS, READERS, CurrentUser, allow
from broadcast.accounts.scope import commune_scope
from broadcast.bounds import CommuneCode, DbId
from broadcast.campaigns.schedules import calendar, plans
from broadcast.campaigns.schedules.rules import ScheduleIn
from broadcast.db import after_commit, utcnow
from broadcast.deps import SessionDep, SettingsDep, scheduler_waker

router = APIRouter(tags=["schedule"])
CAMPAIGNS = [Depends(allow(READERS, EDITORS))]  # radio operators see only their communes' programme


@router.put("/campaigns/{campaign_id}/schedule", summary="Set or change a campaign's schedule",
            dependencies=CAMPAIGNS)
def put_schedule(campaign_id: DbId, body: ScheduleIn, session: SessionDep, settings: SettingsDep,
                 request: Request) -> dict[str, Any]:
    now = utcnow()
    plans.set_schedule(session, settings, campaign_id, body, now=now)
    after_commit(session, scheduler_waker(request))  # schedulers elsewhere sync within seconds
    return plans.describe(session, settings, campaign_id, now=now)


@router.get("/campaigns/{campaign_id}/schedule", summary="A campaign's schedule, next run times and recent runs",
            dependencies=CAMPAIGNS)
def get_schedule(campaign_id: DbId, session: SessionDep, settings: SettingsDep,
                 count: int = Query(10, ge=1, le=100)) -> dict[str, Any]:
    return plans.describe(session, settings, campaign_id, now=utcnow(), count=count)


@router.delete("/campaigns/{campaign_id}/schedule", summary="Remove a campaign's schedule", dependencies=CAMPAIGNS)
def delete_schedule(campaign_id: DbId, session: SessionDep, settings: SettingsDep, request: Request
                    ) -> dict[str, Any]:
    now = utcnow()
    plans.clear_schedule(session, campaign_id, now=now)
    after_commit(session, scheduler_waker(request))  # schedulers elsewhere sync within seconds
    return plans.describe(session, settings, campaign_id, now=now)


@router.get("/schedule/upcoming", summary="Coming runs of approved campaigns, soonest first (the calendar)",
            dependencies=CAMPAIGNS)
def upcoming(session: SessionDep, settings: SettingsDep, days: int = Query(7, ge=1, le=366),
             limit: int = Query(500, ge=1, le=5000)) -> list[dict[str, Any]]:
    return calendar.upcoming(session, settings, now=utcnow(), days=days, limit=limit)


@router.get("/schedule/programme", summary="A commune's coming loudspeaker airings (for radio operators)")
def programme(session: SessionDep, settings: SettingsDep, user: CurrentUser, commune: CommuneCode,
              days: int = Query(7, ge=1, le=60)) -> list[dict[str, Any]]:
    commune_scope(session, user).check(commune)
    return calendar.programme(session, settings, commune, now=utcnow(), days=days)
