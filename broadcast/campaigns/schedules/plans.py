"""Setting, clearing and describing a campaign's schedule (the officer's side)."""

from __future__ import annotations

import math
from datetime import datetime, time, timedelta
from typing import Any

from sqlmodel import Session, col, select

from broadcast.audit import service as audit
from broadcast.campaigns.audience import count_reachable
from broadcast.campaigns.models import Campaign, CampaignRun, CampaignStatus
from broadcast.campaigns.schedules.rules import (
    ScheduleIn,
    WindowIn,
    fmt_local,
    normalize,
    occurrences,
    usable_seconds,
    window_capacity_seconds,
    window_intervals,
)
from broadcast.campaigns.schedules.runs import next_run_at
from broadcast.campaigns.service import get_campaign
from broadcast.config import Settings
from broadcast.exceptions import InvalidTransition, ValidationFailed

S = CampaignStatus
SCHEDULABLE = {S.draft, S.pending_approval, S.approved, S.scheduled, S.paused, S.sending}
MESSAGE_CHANNELS = ("sms", "voice")


def _duration(seconds: float) -> str:
    minutes = math.ceil(seconds / 60)
    hours, rest = divmod(minutes, 60)
    return f"{hours} giờ {rest} phút" if hours else f"{rest} phút"


def minimum_window_seconds(needed: float) -> float:
    """The shortest window whose usable part (see usable_seconds) holds `needed` seconds of sending."""
    return needed / 0.95 if needed / 0.95 < 1200 else needed + 60.0


def check_window_fits(session: Session, settings: Settings, campaign: Campaign, window: WindowIn) -> None:
    """Refuse a window too short to reach the whole audience at the campaign's send rate."""
    rate = campaign.rate_per_second or settings.sms_rate_per_second
    reach = max((count_reachable(session, campaign.audience, c) for c in campaign.channels
                 if c in MESSAGE_CHANNELS), default=0)
    needed = reach / rate
    have = window_capacity_seconds(window)
    if needed <= usable_seconds(have):
        return
    minimum = minimum_window_seconds(needed)
    per_day = math.ceil(minimum / window.days / 60)
    start = datetime.combine(datetime.min.date(), time.fromisoformat(window.start))
    end = start + timedelta(minutes=per_day)
    if end.date() == start.date():
        hint = f"ví dụ {window.start}–{end:%H:%M} trong {window.days} ngày"
    else:
        days = math.ceil(minimum / max(window_capacity_seconds({**window.model_dump(), "days": 1}), 60))
        hint = f"ví dụ {window.start}–{window.end} trong {days} ngày"
    raise ValidationFailed(
        f"Khung giờ gửi quá ngắn: {reach} người nhận ở tốc độ {rate:g} tin/giây cần ít nhất "
        f"{_duration(minimum)} (khung hiện có {_duration(have)}). Hãy kéo dài khung giờ hoặc số ngày, {hint}.",
        field="window", reachable=reach, rate_per_second=rate, needed_seconds=round(needed, 1),
        minimum_window_seconds=math.ceil(minimum), window_seconds=int(have),
    )


def set_schedule(session: Session, settings: Settings, campaign_id: int, body: ScheduleIn, *, now: datetime,
                 actor_id: int | None = None, actor: str = "system") -> Campaign:
    """Validate and store a schedule; an approved campaign becomes `scheduled`."""
    campaign = get_campaign(session, campaign_id)
    if campaign.status not in SCHEDULABLE:
        raise InvalidTransition(f"Không thể đặt lịch cho chiến dịch đang ở trạng thái {campaign.status}",
                                field="status")
    quiet = (time.fromisoformat(campaign.quiet_hours_start) if campaign.quiet_hours_start else settings.quiet_hours[0],
             time.fromisoformat(campaign.quiet_hours_end) if campaign.quiet_hours_end else settings.quiet_hours[1])
    stored = normalize(body, zone=settings.zone, now=now, quiet=quiet)
    if body.window is not None:
        check_window_fits(session, settings, campaign, body.window)
    upcoming = next_run_at(stored, now, campaign.expires_at)
    if upcoming is None and campaign.expires_at is not None:
        raise ValidationFailed(
            f"Lịch không có lần chạy nào trước hạn gửi {fmt_local(campaign.expires_at, settings.zone)}; "
            "hãy chọn thời điểm sớm hơn hoặc gia hạn chiến dịch.", field="expires_at")
    before = audit.snapshot(campaign)
    campaign.schedule = {**stored, "next_run_at": upcoming.isoformat() if upcoming else None}
    if campaign.status == S.approved:
        campaign.status = S.scheduled
    campaign.updated_at = now
    session.add(campaign)
    session.flush()
    audit.record(session, action="campaign.schedule", entity="campaign", entity_id=campaign_id,
                 actor_id=actor_id, actor=actor, before=before, after=audit.snapshot(campaign))
    return campaign


def clear_schedule(session: Session, campaign_id: int, *, now: datetime, actor_id: int | None = None,
                   actor: str = "system") -> Campaign:
    """Remove the schedule; a `scheduled` campaign goes back to `approved` (its jobs are removed)."""
    campaign = get_campaign(session, campaign_id)
    before = audit.snapshot(campaign)
    campaign.schedule = {}
    if campaign.status == S.scheduled:
        campaign.status = S.approved
    campaign.updated_at = now
    session.add(campaign)
    session.flush()
    audit.record(session, action="campaign.unschedule", entity="campaign", entity_id=campaign_id,
                 actor_id=actor_id, actor=actor, before=before, after=audit.snapshot(campaign))
    return campaign


def describe(session: Session, settings: Settings, campaign_id: int, *, now: datetime,
             count: int = 10) -> dict[str, Any]:
    """The schedule as stored, its next run times (local) with windows, and the recent runs."""
    campaign = get_campaign(session, campaign_id)
    zone = settings.zone
    schedule = campaign.schedule or {}
    horizon = campaign.expires_at or now + timedelta(days=3660)
    upcoming = occurrences(schedule, now, horizon, limit=count) if schedule else []
    if campaign.expires_at is not None:
        upcoming = [t for t in upcoming if t < campaign.expires_at]
    runs = session.exec(
        select(CampaignRun).where(CampaignRun.campaign_id == campaign_id)
        .order_by(col(CampaignRun.scheduled_for).desc()).limit(count)
    ).all()

    def local(moment: datetime | None) -> str | None:
        return moment.astimezone(zone).isoformat() if moment else None

    return {
        "campaign_id": campaign_id,
        "status": campaign.status,
        "schedule": schedule,
        "timezone": settings.timezone,
        "active": campaign.status in (S.approved, S.scheduled, S.sending) and bool(schedule),
        "next_runs": [
            {"at": local(t), "window": [[local(lo), local(hi)] for lo, hi in window_intervals(schedule, t)]}
            for t in upcoming
        ],
        "runs": [
            {"id": r.id, "scheduled_for": local(r.scheduled_for), "status": r.status, "targeted": r.targeted,
             "window_end": local(r.window_end), "note": r.note}
            for r in runs
        ],
    }
