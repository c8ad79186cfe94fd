"""Runs and campaigns finish when nothing of theirs is left to send."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, exists, or_, update
from sqlmodel import Session, col, select

from broadcast.audit import service as audit
from broadcast.campaigns.models import Campaign, CampaignRun, CampaignStatus, RunStatus
from broadcast.outbox.models import Delivery, DeliveryStatus

OPEN = [DeliveryStatus.queued, DeliveryStatus.sending]
CALL_SETTLE = timedelta(minutes=30)


def settle_finished(session: Session, *, now: datetime) -> int:
    """Complete runs with no queued or in-flight deliveries, then campaigns with no active run.

    A recurring campaign whose schedule still has occurrences goes back to `scheduled`.
    Returns how many campaigns changed state.
    """
    # A call accepted by the provider is still open until its final status callback: it may be retried
    # (busy, no answer) or fall back to SMS. A call silent for CALL_SETTLE is taken as finished.
    in_call = and_(col(Delivery.channel) == "voice", col(Delivery.status) == DeliveryStatus.sent,
                   col(Delivery.updated_at) > now - CALL_SETTLE)
    open_rows = exists().where(col(Delivery.run_id) == col(CampaignRun.id),
                               or_(col(Delivery.status).in_(OPEN), in_call))
    session.execute(
        update(CampaignRun)
        .where(col(CampaignRun.status) == RunStatus.sending, ~open_rows)
        .values(status=RunStatus.completed, finished_at=now)
        .execution_options(synchronize_session=False)
    )
    active_run = exists().where(
        col(CampaignRun.campaign_id) == col(Campaign.id),
        col(CampaignRun.status).in_([RunStatus.sending]),
    )
    finished = session.exec(
        select(Campaign).where(col(Campaign.status) == CampaignStatus.sending, ~active_run)
    ).all()
    for campaign in finished:
        before = audit.snapshot(campaign)
        has_future = bool(campaign.schedule.get("next_run_at")) if campaign.schedule else False
        campaign.status = CampaignStatus.scheduled if has_future else CampaignStatus.completed
        campaign.updated_at = now
        session.add(campaign)
        audit.record(session, action=f"campaign.{campaign.status}", entity="campaign", entity_id=campaign.id,
                     before=before, after=audit.snapshot(campaign))
    session.flush()
    return len(finished)
