"""Helpers for scheduler tests: an approved campaign with a schedule set at a chosen moment."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcast.campaigns.models import Campaign, CampaignRun
from broadcast.campaigns.schedules.plans import set_schedule
from broadcast.campaigns.schedules.rules import ScheduleIn
from broadcast.config import Settings
from tests.support.seed import approved_campaign


def scheduled_campaign(engine: Engine, settings: Settings, body: dict[str, Any], *, now: datetime,
                       **fields: Any) -> int:
    campaign_id = approved_campaign(engine, **fields)
    with Session(engine, expire_on_commit=False) as session:
        set_schedule(session, settings, campaign_id, ScheduleIn.model_validate(body), now=now)
        session.commit()
    return campaign_id


def runs_of(engine: Engine, campaign_id: int) -> list[CampaignRun]:
    with Session(engine) as session:
        return list(session.exec(select(CampaignRun).where(CampaignRun.campaign_id == campaign_id)
                                 .order_by(col(CampaignRun.scheduled_for))).all())


def campaign_row(engine: Engine, campaign_id: int) -> Campaign:
    with Session(engine) as session:
        row = session.get(Campaign, campaign_id)
        assert row is not None
        return row
