"""Turning due occurrences into runs: fire the latest one still inside its window, record the rest as missed."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from broadcast.audit import service as audit
from broadcast.campaigns import service as campaigns
from broadcast.campaigns.models import Campaign, CampaignRun, CampaignStatus, RunStatus
from broadcast.campaigns.schedules.rules import deadline, fmt_local, next_after, occurrences, window_intervals
from broadcast.campaigns.schedules.spread import spread_deliveries
from broadcast.config import Settings
from broadcast.exceptions import BroadcastError

log = logging.getLogger(__name__)
S = CampaignStatus
RUNNABLE = (S.approved, S.scheduled, S.sending)
CATCH_UP_LIMIT = 2000  # occurrences examined per call; a longer outage is worked off over later calls
LATE_SECONDS = 60.0  # a run starting later than this after its time is labelled a catch-up


def next_run_at(schedule: dict[str, Any], now: datetime, expires_at: datetime | None) -> datetime | None:
    """The next occurrence after `now` that is still before the campaign's expiry."""
    moment = next_after(schedule, now)
    if moment is None or (expires_at is not None and moment >= expires_at):
        return None
    return moment


def run_due(session: Session, settings: Settings, campaign_id: int, *, now: datetime) -> list[CampaignRun]:
    """Create the runs of every occurrence up to `now` not yet handled; at most one of them sends.

    The latest occurrence runs if `now` is still inside its window (or grace) and before expiry;
    every earlier one, and a latest one that is too late, is recorded as `missed` with the reason.
    """
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or not campaign.schedule or campaign.status not in RUNNABLE:
        return []
    schedule = campaign.schedule
    last = session.exec(
        select(func.max(CampaignRun.scheduled_for)).where(CampaignRun.campaign_id == campaign_id)
    ).one()
    since = datetime.fromisoformat(schedule["set_at"])
    if last is not None:
        since = max(since, last.replace(tzinfo=last.tzinfo or UTC))
    due = occurrences(schedule, since, now, limit=CATCH_UP_LIMIT)
    if campaign.expires_at is not None:
        due = [t for t in due if t < campaign.expires_at]
    runs: list[CampaignRun] = []
    zone = settings.zone
    for index, moment in enumerate(due):
        latest = index == len(due) - 1
        limit = deadline(schedule, moment, grace_seconds=settings.scheduler_misfire_grace_seconds,
                         expires_at=campaign.expires_at)
        if latest and now < limit:
            run = _fire(session, campaign, schedule, moment, now=now, zone=zone)
        elif campaign.expires_at is not None and campaign.expires_at <= now and campaign.expires_at <= limit:
            run = _missed(session, campaign_id, moment, now,
                          f"Không gửi bù: chiến dịch đã hết hạn gửi lúc {fmt_local(campaign.expires_at, zone)}.")
        elif not latest and now < limit:
            run = _missed(session, campaign_id, moment, now,
                          f"Gộp vào lần chạy {fmt_local(due[-1], zone)}: chỉ gửi bù một lần, không gửi dồn.")
        else:
            run = _missed(session, campaign_id, moment, now,
                          f"Hệ thống không hoạt động đúng giờ; khi chạy lại lúc {fmt_local(now, zone)} đã quá "
                          f"hạn gửi của lần này ({fmt_local(limit, zone)}).")
        if run is not None:
            runs.append(run)
    _advance(session, campaign, now, fired=any(r.status != RunStatus.missed for r in runs))
    return runs


def _insert_run(session: Session, run: CampaignRun) -> bool:
    """Insert the occurrence's run; False when it already exists (unique campaign_id + scheduled_for)."""
    try:
        with session.begin_nested():
            session.add(run)
            session.flush()
    except IntegrityError:
        return False
    return True


def _missed(session: Session, campaign_id: int, moment: datetime, now: datetime, note: str) -> CampaignRun | None:
    run = CampaignRun(campaign_id=campaign_id, scheduled_for=moment, status=RunStatus.missed,
                      finished_at=now, note=note[:500])
    if not _insert_run(session, run):
        return None
    log.warning("campaign %s: occurrence %s missed: %s", campaign_id, moment.isoformat(), note)
    return run


def _fire(session: Session, campaign: Campaign, schedule: dict[str, Any], moment: datetime, *,
          now: datetime, zone: ZoneInfo) -> CampaignRun | None:
    assert campaign.id is not None
    intervals = window_intervals(schedule, moment)
    run = CampaignRun(campaign_id=campaign.id, scheduled_for=moment,
                      window_end=intervals[-1][1] if intervals else None)
    if not _insert_run(session, run):
        return None
    try:
        with session.begin_nested():
            campaigns.start_run(session, campaign.id, run=run)
    except BroadcastError as exc:
        run.status, run.finished_at, run.note = RunStatus.missed, now, f"Không bắt đầu được: {exc.message}"[:500]
        session.add(run)
        session.flush()
        return run
    assert run.id is not None
    remaining = [(max(lo, now), hi) for lo, hi in intervals if hi > now]
    if remaining:
        spread_deliveries(session, run.id, remaining)
    if (now - moment).total_seconds() > LATE_SECONDS:
        run.note = f"Gửi bù sau khi hệ thống hoạt động lại (lịch {fmt_local(moment, zone)})."
        session.add(run)
    session.flush()
    log.info("campaign %s: run %s started for %s (%s deliveries)", campaign.id, run.id, moment.isoformat(),
             run.targeted)
    return run


def _advance(session: Session, campaign: Campaign, now: datetime, *, fired: bool) -> None:
    """Store the next run time; a schedule with nothing left hands an idle campaign back to `approved`."""
    upcoming = next_run_at(campaign.schedule, now, campaign.expires_at)
    value = upcoming.isoformat() if upcoming else None
    if campaign.schedule.get("next_run_at") != value:
        campaign.schedule = {**campaign.schedule, "next_run_at": value}
        session.add(campaign)
    if upcoming is None and not fired and campaign.status == S.scheduled:
        before = audit.snapshot(campaign)
        campaign.status, campaign.updated_at = S.approved, now
        session.add(campaign)
        audit.record(session, action="campaign.schedule_ended", entity="campaign", entity_id=campaign.id,
                     before=before, after=audit.snapshot(campaign))
    session.flush()


def stale_campaigns(session: Session, *, now: datetime, ids: list[int] | None = None) -> list[int]:
    """Runnable scheduled campaigns whose stored next run time has passed (their occurrences need handling)."""
    query = select(Campaign.id, Campaign.schedule).where(col(Campaign.status).in_(RUNNABLE))
    if ids is not None:
        query = query.where(col(Campaign.id).in_(ids))
    found = []
    for campaign_id, schedule in session.exec(query).all():
        if not schedule:
            continue
        value = schedule.get("next_run_at")
        if value and datetime.fromisoformat(value) <= now:
            found.append(int(campaign_id))  # type: ignore[arg-type]
    return found
