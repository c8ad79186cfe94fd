"""Why messages not yet sent wait, until when, and when a campaign should be through.

A dispatcher that hands a row back records why (`Delivery.waiting_reason`) and until when (`next_attempt_at`):
quiet hours, the daily cap, the calling window, a clip still rendering, a retry after a provider error, a
sending window. A row that is due now has no recorded reason that still holds; what holds it is read here, at
the time of asking: the campaign is paused, quiet hours or the calling window have begun, no gateway phone is
up, or it waits its turn in the rate budget. One use case for the API, the campaign page and the dashboard.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from broadcast.campaigns.models import Campaign, CampaignStatus
from broadcast.channels.core import rules
from broadcast.channels.core.pace import Closed, finish_time, opens_at
from broadcast.channels.core.screening import CampaignInfo, load_campaigns
from broadcast.channels.gateway.models import CommuneRoute, GatewayPhone, PhoneStatus
from broadcast.channels.gateway.routing import GATEWAY, gateway_routed
from broadcast.channels.voice.policy import policy_for
from broadcast.config import Settings
from broadcast.outbox.models import Delivery, DeliveryKind, DeliveryStatus, WaitingReason
from broadcast.outbox.segments import estimate

W = WaitingReason
# Reasons a dispatcher records for a row it hands back until a later time.
RECORDED = frozenset({W.quiet_hours, W.daily_cap, W.calling_window, W.audio_not_ready, W.retry_backoff,
                      W.scheduled})


@dataclass(frozen=True)
class Waiting:
    """`count` messages wait for `reason` until `until` (None: unknown, e.g. until someone resumes)."""

    reason: str
    count: int
    until: datetime | None


@dataclass(frozen=True)
class Report:
    waiting: list[Waiting]
    estimated_finish: datetime | None  # when the last message should have gone; None: unknown or nothing left
    retry_error: str | None = None  # the provider error most of the retried messages got (for the pages)

    def as_json(self, settings: Settings) -> dict[str, object]:
        """The API's shape: times in local ISO 8601 with their offset."""
        return {"waiting": [{"reason": w.reason, "count": w.count, "until": local_iso(w.until, settings)}
                            for w in self.waiting],
                "estimated_finish": local_iso(self.estimated_finish, settings)}


def local_iso(moment: datetime | None, settings: Settings) -> str | None:
    return moment.astimezone(settings.zone).isoformat(timespec="seconds") if moment is not None else None


@dataclass(frozen=True)
class _Rules:
    """What holds a campaign's due rows right now, per channel."""

    settings: Settings
    info: CampaignInfo | None
    voice_closed: Closed
    gateway_down: bool

    def closed(self, channel: str) -> list[Closed]:
        spans = [Closed(self.info.quiet_start, self.info.quiet_end)] if self.info is not None else []
        return [*spans, self.voice_closed] if channel == "voice" else spans

    def held_now(self, channel: str, now: datetime) -> Waiting | None:
        """Quiet hours or the calling window, if one holds this channel's campaign rows now."""
        zone = self.settings.zone
        if self.info is not None and rules.in_quiet_hours(now, self.info.quiet_start, self.info.quiet_end, zone):
            return Waiting(W.quiet_hours, 0, opens_at(now, self.closed(channel), zone))
        if channel == "voice" and rules.in_quiet_hours(now, self.voice_closed.start, self.voice_closed.end, zone):
            return Waiting(W.calling_window, 0, opens_at(now, self.closed(channel), zone))
        return None


def _rules_for(session: Session, settings: Settings, campaign: Campaign | None) -> _Rules:
    info = None
    if campaign is not None and campaign.id is not None:
        info = load_campaigns(session.connection(), {campaign.id}, settings).get(campaign.id)
    policy = policy_for(settings, campaign)
    return _Rules(settings, info, Closed(policy.window_end, policy.window_start),
                  _gateway_down(session, settings, campaign))


def _gateway_down(session: Session, settings: Settings, campaign: Campaign | None) -> bool:
    """True when SMS may be routed to gateway phones and none is up to take them."""
    routed = settings.gateway_default_route.startswith(GATEWAY) \
        or bool(campaign is not None and (campaign.route or "").startswith(GATEWAY)) \
        or session.exec(select(exists().where(col(CommuneRoute.route).like(GATEWAY + "%")))).one()
    if not routed:
        return False
    up = select(exists().where(col(GatewayPhone.enabled), col(GatewayPhone.status) == PhoneStatus.up))
    return not session.exec(up).one()


def _rate(settings: Settings, channel: str, info: CampaignInfo | None) -> float:
    """Messages per second the rate budget allows this campaign's messages on `channel`."""
    if channel == "voice":
        return settings.voice_rate_per_second
    body = info.body_for("sms", "vi") if info is not None else None
    return settings.sms_rate_per_second / max(1, estimate(body).segments if body else 1)


def _one_offs_due(session: Session, now: datetime) -> int:
    """Answers, auto-replies and tests due now (they go before campaign messages)."""
    return int(session.exec(select(func.count()).select_from(Delivery).where(
        col(Delivery.status) == DeliveryStatus.queued, col(Delivery.kind) != DeliveryKind.campaign,
        col(Delivery.next_attempt_at) <= now)).one())


def campaign_waiting(session: Session, settings: Settings, campaign: Campaign, *, now: datetime,
                     run_id: int | None = None) -> Report:
    """A campaign's queued messages grouped by why they wait, and its estimated finish."""
    assert campaign.id is not None
    where = [col(Delivery.campaign_id) == campaign.id, col(Delivery.status) == DeliveryStatus.queued]
    if run_id is not None:
        where.append(col(Delivery.run_id) == run_id)
    # Two passes over the campaign index in its own order (error code, channel, reason), reading no table rows:
    # the queued rows per channel, then those held until later; the rest are due now.
    due: dict[str, int] = defaultdict(int)
    for channel, count in session.execute(sa_select(col(Delivery.channel), func.count()).where(*where)
                                          .group_by(col(Delivery.error_code), col(Delivery.channel))):
        due[channel] += int(count)
    rows = session.execute(
        sa_select(col(Delivery.channel), col(Delivery.waiting_reason), func.count(),
                  func.min(col(Delivery.next_attempt_at)), func.max(col(Delivery.next_attempt_at)))
        .where(*where, col(Delivery.next_attempt_at) > now)
        .group_by(col(Delivery.error_code), col(Delivery.channel), col(Delivery.waiting_reason))).all()
    groups: list[tuple[str, str | None, int, datetime, datetime]] = []
    for channel, recorded, count, first, last in rows:
        groups.append((channel, recorded, int(count), first, last))
        due[channel] -= int(count)
    queued = sum(due.values()) + sum(g[2] for g in groups)
    if not queued:
        return Report([], None)
    if campaign.status == CampaignStatus.paused:
        return Report([Waiting(W.paused, queued, None)], None)
    live = _rules_for(session, settings, campaign)
    found: list[Waiting] = []
    arrivals: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    last_scheduled: datetime | None = None
    for channel, recorded, count, first, last in groups:
        reason = recorded if recorded in RECORDED else W.scheduled
        found.append(Waiting(reason, count, first))
        arrivals[channel].append((first, count))
        if reason == W.scheduled:  # spread over a window: the last one goes at its own time
            last_scheduled = max(last, last_scheduled) if last_scheduled else last
    unknown = False
    ahead = _one_offs_due(session, now) if any(due.values()) else 0
    for channel, count in due.items():
        if count <= 0:
            continue
        held = live.held_now(channel, now)
        stuck = _gateway_stuck(session, settings, campaign.id, run_id, now) \
            if channel == "sms" and live.gateway_down else 0
        if stuck:
            found.append(Waiting(W.gateway_down, stuck, None))
            unknown = True
        if count - stuck <= 0:
            continue
        if held is not None:
            found.append(Waiting(held.reason, count - stuck, held.until))
            arrivals[channel].append((held.until or now, count - stuck))
            continue
        # At the rate budget, after the answers and tests due (other campaigns sending at once would share it)
        rate = _rate(settings, channel, live.info)
        found.append(Waiting(W.budget, count - stuck,
                             finish_time([(now, ahead + count - stuck)], rate, [], settings.zone, now=now)))
        arrivals[channel].append((now, count - stuck))
    finish = None if unknown else _finish(settings, live, arrivals, last_scheduled, now)
    retrying = any(w.reason == W.retry_backoff for w in found)
    return Report(_merged(found), finish, _retry_error(session, where) if retrying else None)


def _retry_error(session: Session, where: list[Any]) -> str | None:
    """The most frequent provider error among the rows waiting to be retried, as the provider put it."""
    row = session.execute(
        sa_select(col(Delivery.error_code), func.min(col(Delivery.error_message)), func.count())
        .where(*where, col(Delivery.waiting_reason) == W.retry_backoff)
        .group_by(col(Delivery.error_code)).order_by(func.count().desc()).limit(1)).first()
    if row is None:
        return None
    code, message, _count = row
    return (message or "")[:120] or (str(code) if code is not None else None)


def _finish(settings: Settings, live: _Rules, arrivals: dict[str, list[tuple[datetime, int]]],
            last_scheduled: datetime | None, now: datetime) -> datetime | None:
    ends = []
    for channel, batches in arrivals.items():
        end = finish_time(batches, _rate(settings, channel, live.info), live.closed(channel), settings.zone,
                          now=now)
        if end is None:
            return None
        ends.append(end)
    if last_scheduled is not None:
        ends.append(max(last_scheduled, now))
    return max(ends) if ends else None


def _gateway_stuck(session: Session, settings: Settings, campaign_id: int, run_id: int | None,
                   now: datetime) -> int:
    where = [col(Delivery.campaign_id) == campaign_id, col(Delivery.status) == DeliveryStatus.queued,
             col(Delivery.channel) == "sms", col(Delivery.next_attempt_at) <= now,
             gateway_routed(settings.gateway_default_route)]
    if run_id is not None:
        where.append(col(Delivery.run_id) == run_id)
    return int(session.exec(select(func.count()).select_from(Delivery).where(*where)).one())


def _merged(found: Iterable[Waiting]) -> list[Waiting]:
    """One entry per reason: counts added; the earliest time (the budget's: the latest estimate)."""
    merged: dict[str, Waiting] = {}
    for item in found:
        before = merged.get(item.reason)
        if before is None:
            merged[item.reason] = item
            continue
        times = [t for t in (before.until, item.until) if t is not None]
        pick = max if item.reason == W.budget else min
        until = pick(times) if times and before.until is not None and item.until is not None else None
        merged[item.reason] = Waiting(item.reason, before.count + item.count, until)
    return sorted(merged.values(), key=lambda w: (-w.count, w.reason))


def delivery_waiting(session: Session, settings: Settings, deliveries: Sequence[Delivery], *,
                     now: datetime) -> dict[int, Waiting]:
    """Why each queued delivery among `deliveries` waits (the same reasons as the campaign counts)."""
    queued = [d for d in deliveries if d.status == DeliveryStatus.queued and d.id is not None]
    if not queued:
        return {}
    campaigns = {c.id: c for c in session.exec(select(Campaign).where(
        col(Campaign.id).in_({d.campaign_id for d in queued if d.campaign_id is not None}))).all()}
    live: dict[int | None, _Rules] = {}
    reports: dict[int, Report] = {}
    stuck_ids = _gateway_stuck_ids(session, settings, [d.id for d in queued if d.channel == "sms" and d.id])
    result: dict[int, Waiting] = {}
    for d in queued:
        assert d.id is not None
        campaign = campaigns.get(d.campaign_id) if d.campaign_id is not None else None
        if campaign is not None and campaign.status == CampaignStatus.paused:
            result[d.id] = Waiting(W.paused, 1, None)
            continue
        if d.next_attempt_at is not None and d.next_attempt_at > now:
            reason = d.waiting_reason if d.waiting_reason in RECORDED else W.scheduled
            result[d.id] = Waiting(reason, 1, d.next_attempt_at)
            continue
        if d.campaign_id not in live:
            live[d.campaign_id] = _rules_for(session, settings, campaign)
        rules_now = live[d.campaign_id]
        if d.channel == "sms" and rules_now.gateway_down and d.id in stuck_ids:
            result[d.id] = Waiting(W.gateway_down, 1, None)
            continue
        held = rules_now.held_now(d.channel, now) if d.kind == DeliveryKind.campaign else None
        if held is not None:
            result[d.id] = Waiting(held.reason, 1, held.until)
            continue
        if campaign is not None and campaign.id is not None:  # its turn: when the campaign's due ones are through
            if campaign.id not in reports:
                reports[campaign.id] = campaign_waiting(session, settings, campaign, now=now)
            until = next((w.until for w in reports[campaign.id].waiting if w.reason == W.budget), None)
        else:  # an answer or a test goes before campaign messages
            until = finish_time([(now, _one_offs_due(session, now))], _rate(settings, d.channel, None), [],
                                settings.zone, now=now)
        result[d.id] = Waiting(W.budget, 1, until)
    return result


def _gateway_stuck_ids(session: Session, settings: Settings, ids: list[int]) -> set[int]:
    if not ids:
        return set()
    routed = gateway_routed(settings.gateway_default_route)
    return {i for i in session.exec(select(col(Delivery.id)).where(col(Delivery.id).in_(ids), routed)) if i}


def live_waiting(session: Session, settings: Settings, campaigns: Sequence[Campaign], *,
                 now: datetime) -> dict[int, Report]:
    """The waiting report of each campaign in progress (the dashboard's one line per campaign)."""
    return {c.id: campaign_waiting(session, settings, c, now=now) for c in campaigns
            if c.id is not None and c.status in (CampaignStatus.sending, CampaignStatus.paused)}

