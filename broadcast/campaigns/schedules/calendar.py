"""The officers' calendar (coming runs across campaigns) and a commune's loudspeaker programme."""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from broadcast.campaigns.models import BulletinLevel, Campaign, CampaignStatus
from broadcast.campaigns.schedules.rules import next_after, trigger_for, window_intervals
from broadcast.communes.models import Commune
from broadcast.config import Settings
from broadcast.exceptions import NotFoundError

S = CampaignStatus
LISTED = (S.approved, S.scheduled, S.sending)


@dataclass(frozen=True)
class Planned:
    """One coming run of a campaign."""

    at: datetime
    campaign_id: int
    title: str
    status: str
    channels: list[str]
    schedule: dict[str, Any]
    level: str


def _first_after(schedule: dict[str, Any], now: datetime) -> datetime | None:
    cached = schedule.get("next_run_at")
    if cached:
        moment = datetime.fromisoformat(cached)
        if moment > now:
            return moment  # kept current by the scheduler: skips a trigger computation per campaign
    return next_after(schedule, now)


def coming_runs(session: Session, *, now: datetime, until: datetime, limit: int = 500,
                channel: str | None = None) -> list[Planned]:
    """Runs of approved/scheduled campaigns after `now` up to `until`, soonest first (a k-way merge)."""
    rows = session.execute(
        select(col(Campaign.id), col(Campaign.title), col(Campaign.status), col(Campaign.channels),
               col(Campaign.schedule), col(Campaign.expires_at), col(Campaign.bulletin_level))
        .where(col(Campaign.status).in_(LISTED))
    ).all()
    heap: list[tuple[datetime, int, int]] = []
    info: dict[int, tuple[Any, ...]] = {}
    for index, (cid, title, status, channels, schedule, expires, level) in enumerate(rows):
        if not schedule or (channel and channel not in (channels or [])):
            continue
        moment = _first_after(schedule, now)
        if moment is not None and moment <= until and (expires is None or moment < expires):
            info[index] = (cid, title, status, channels, schedule, expires, level, None)
            heap.append((moment, int(cid), index))
    heapq.heapify(heap)
    found: list[Planned] = []
    triggers: dict[int, Any] = {}
    while heap and len(found) < limit:
        moment, cid, index = heapq.heappop(heap)
        _, title, status, channels, schedule, expires, level, _ = info[index]
        found.append(Planned(moment, cid, title, status, list(channels or []), schedule, level))
        trigger = triggers.setdefault(index, trigger_for(schedule))
        following = next_after(schedule, moment, trigger)
        if following is not None and following <= until and (expires is None or following < expires):
            heapq.heappush(heap, (following, cid, index))
    return found


def upcoming(session: Session, settings: Settings, *, now: datetime, days: int,
             limit: int = 500) -> list[dict[str, Any]]:
    """The calendar as JSON-ready objects: campaign_id, title, at (local ISO 8601), window, channels."""
    zone = settings.zone
    items = []
    for run in coming_runs(session, now=now, until=now + timedelta(days=days), limit=limit):
        window = window_intervals(run.schedule, run.at)
        items.append({
            "campaign_id": run.campaign_id,
            "title": run.title,
            "at": run.at.astimezone(zone).isoformat(),
            "status": run.status,
            "kind": run.schedule.get("kind"),
            "channels": run.channels,
            "window_end": window[-1][1].astimezone(zone).isoformat() if window else None,
        })
    return items


def _slots_for(schedule: dict[str, Any], commune: Commune, settings: Settings) -> list[time]:
    slots = schedule.get("slots") or commune.airing_slots or settings.airing_slots.split(",")
    return sorted(time.fromisoformat(s) for s in slots)


def _airing_at(moment: datetime, slots: list[time], level: str, settings: Settings) -> datetime:
    """Emergency bulletins air at the run time; others at the first slot at or after it."""
    if level == BulletinLevel.emergency:
        return moment
    zone = settings.zone
    local = moment.astimezone(zone)
    for offset in range(2):
        day = local.date() + timedelta(days=offset)
        for slot in slots:
            candidate = datetime.combine(day, slot, tzinfo=zone)
            if candidate >= local:
                return candidate
    return moment  # pragma: no cover - slots are never empty


def programme(session: Session, settings: Settings, commune_code: str, *, now: datetime,
              days: int) -> list[dict[str, Any]]:
    """A commune's coming loudspeaker airings from scheduled campaigns, at its slots (the radio programme)."""
    commune = session.get(Commune, commune_code)
    if commune is None:
        raise NotFoundError(f"Không tìm thấy xã {commune_code}", field="commune")
    zone = settings.zone
    items = []
    for run in coming_runs(session, now=now, until=now + timedelta(days=days), channel="loudspeaker"):
        wanted = (run.schedule and _audience_communes(session, run.campaign_id)) or []
        if wanted and commune_code not in wanted:
            continue
        airs = _airing_at(run.at, _slots_for(run.schedule, commune, settings), run.level, settings)
        items.append({"campaign_id": run.campaign_id, "title": run.title, "at": airs.astimezone(zone).isoformat(),
                      "run_at": run.at.astimezone(zone).isoformat(), "level": run.level,
                      "commune": commune_code})
    return sorted(items, key=lambda item: (item["at"], item["campaign_id"]))


def _audience_communes(session: Session, campaign_id: int) -> list[str]:
    campaign = session.get(Campaign, campaign_id)
    return [str(c) for c in (campaign.audience.get("communes") or [])] if campaign else []
