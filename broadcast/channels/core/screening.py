"""Right before sending: re-check the rules every channel shares (opt-out, pause, expiry, quiet hours, daily
cap) for a claimed batch with a few set-based queries, compose each message's text, and let the channel
prepare what it sends (core/contract.py). A row handed back records why it waits (`waiting_reason`).

Quiet hours hold campaign traffic only. A reply to a resident's own message (a keyword confirmation, the
help text, an officer's answer) goes at once, at any hour, while the resident's last message is at most
REPLY_WINDOW_MINUTES old: they asked for it (see the README, "Quiet hours and replies")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlmodel import col

from broadcast.campaigns.models import Campaign, CampaignContent, CampaignStatus
from broadcast.channels.core import rules
from broadcast.channels.core.claims import Claimed, Outcome
from broadcast.channels.core.contract import Channel, Composed, OutboundMessage, Result, Wait
from broadcast.config import Settings
from broadcast.contacts.models import Contact
from broadcast.engagement.links import short_link
from broadcast.outbox.models import Delivery, DeliveryKind, DeliveryStatus, InboundMessage, WaitingReason
from broadcast.outbox.segments import estimate

D = DeliveryStatus
W = WaitingReason


@dataclass(frozen=True)
class CampaignInfo:
    status: str
    strip_diacritics: bool
    quiet_start: time
    quiet_end: time
    daily_cap: int
    expires_at: datetime | None
    contents: dict[tuple[str, str], str] = field(default_factory=dict)
    link_enabled: bool = False

    def body_for(self, channel: str, language: str) -> str | None:
        text = (
            self.contents.get((channel, language))
            or self.contents.get((channel, "vi"))
            or next((b for (c, _), b in self.contents.items() if c == channel), None)
        )
        if text is None:
            return None
        return estimate(text, strip=True).text if self.strip_diacritics else text


@dataclass(frozen=True)
class Ready:
    claimed: Claimed
    message: OutboundMessage
    segments: int


def load_campaigns(conn: Connection, ids: set[int], settings: Settings) -> dict[int, CampaignInfo]:
    """Campaign rules and contents for the campaigns in a batch."""
    if not ids:
        return {}
    contents: dict[int, dict[tuple[str, str], str]] = {i: {} for i in ids}
    for cid, channel, language, body in conn.execute(
        select(col(CampaignContent.campaign_id), col(CampaignContent.channel), col(CampaignContent.language),
               col(CampaignContent.body)).where(col(CampaignContent.campaign_id).in_(ids))
    ):
        contents[cid][(channel, language)] = body
    default_start, default_end = settings.quiet_hours
    info = {}
    rows = conn.execute(
        select(col(Campaign.id), col(Campaign.status), col(Campaign.strip_diacritics),
               col(Campaign.quiet_hours_start), col(Campaign.quiet_hours_end), col(Campaign.daily_cap),
               col(Campaign.expires_at), col(Campaign.link_enabled))
        .where(col(Campaign.id).in_(ids))
    )
    for campaign_id, status, strip, q_start, q_end, cap, expires, link in rows:
        if campaign_id is None:
            continue
        info[campaign_id] = CampaignInfo(
            status=status,
            strip_diacritics=strip,
            quiet_start=time.fromisoformat(q_start) if q_start else default_start,
            quiet_end=time.fromisoformat(q_end) if q_end else default_end,
            daily_cap=cap if cap is not None else settings.daily_cap_per_resident,
            expires_at=expires,
            contents=contents[campaign_id],
            link_enabled=bool(link),
        )
    return info


def screen(
    conn: Connection, batch: Sequence[Claimed], settings: Settings, channel: Channel, *, now: datetime
) -> tuple[list[Ready], list[Outcome]]:
    """Split a claimed batch into messages to send now and outcomes for the rest."""
    campaigns = load_campaigns(conn, {c.campaign_id for c in batch if c.campaign_id is not None}, settings)
    contact_ids = {c.contact_id for c in batch if c.contact_id is not None}
    contacts = {
        row.id: row
        for row in conn.execute(
            select(col(Contact.id), col(Contact.language), col(Contact.sms_opted_out),
                   col(Contact.voice_opted_out))
            .where(col(Contact.id).in_(contact_ids))
        )
    } if contact_ids else {}
    recent = _recent_sends(conn, [c.contact_id for c in batch if c.kind == DeliveryKind.campaign
                                  and c.contact_id is not None], now)
    composed: list[Composed] = []
    outcomes: list[Outcome] = []
    zone = settings.zone

    def done(claimed: Claimed, status: str, result: Result, reason: str | None = None,
             next_at: datetime | None = None) -> None:
        outcomes.append(Outcome(claimed.id, claimed.attempts, status, result, error_message=reason,
                                next_attempt_at=next_at))

    def wait(claimed: Claimed, why: str, until: datetime | None = None) -> None:
        outcomes.append(Outcome(claimed.id, claimed.attempts, D.queued, Result.released, next_attempt_at=until,
                                waiting_reason=why))

    night = rules.in_quiet_hours(now, *settings.quiet_hours, zone)
    answering = _answering(conn, [c.id for c in batch if c.kind == DeliveryKind.reply], settings, now) \
        if night else set()

    for claimed in batch:
        contact = contacts.get(claimed.contact_id) if claimed.contact_id is not None else None
        campaign = campaigns.get(claimed.campaign_id) if claimed.campaign_id is not None else None
        if not claimed.to_phone:
            done(claimed, D.skipped, Result.skipped, "no phone number (erased)")
            continue
        # Tests and system notices (the opt-out confirmation itself) reach an opted-out resident.
        if contact is not None and claimed.kind not in (DeliveryKind.test, DeliveryKind.system) \
                and channel.opted_out(sms=contact.sms_opted_out, voice=contact.voice_opted_out):
            done(claimed, D.skipped, Result.skipped, "opted out")
            continue
        body = claimed.body
        language = contact.language if contact is not None else "vi"
        if campaign is not None:
            if campaign.status == CampaignStatus.cancelled:
                done(claimed, D.cancelled, Result.cancelled, "campaign cancelled")
                continue
            if campaign.status != CampaignStatus.sending:
                wait(claimed, W.paused)
                continue
            if campaign.expires_at is not None and now >= campaign.expires_at:
                done(claimed, D.skipped, Result.skipped, "campaign expired before sending")
                continue
            if rules.in_quiet_hours(now, campaign.quiet_start, campaign.quiet_end, zone):
                wait(claimed, W.quiet_hours, rules.quiet_hours_end(now, campaign.quiet_start, campaign.quiet_end, zone))
                continue
            if claimed.contact_id is not None and campaign.daily_cap:
                count, oldest = recent.get(claimed.contact_id, (0, None))
                if count >= campaign.daily_cap and oldest is not None:
                    wait(claimed, W.daily_cap, oldest + timedelta(days=1, seconds=1))
                    continue
                recent[claimed.contact_id] = (count + 1, oldest or now)
            if body is None:
                body = campaign.body_for(claimed.channel, language)
                if body and campaign.link_enabled and channel.carries_links:
                    body = f"{body}\n{short_link(settings, claimed.id)}"
        elif claimed.kind == DeliveryKind.reply and night and claimed.id not in answering:
            wait(claimed, W.quiet_hours, rules.quiet_hours_end(now, *settings.quiet_hours, zone))
            continue
        composed.append(Composed(claimed, body, language))
    ready: list[Ready] = []
    prepared = channel.prepare(conn, settings, composed, now=now) if composed else {}
    for item in composed:
        plan = prepared.get(item.claimed.id, "nothing to send")
        if isinstance(plan, OutboundMessage):
            ready.append(Ready(item.claimed, plan, channel.units(plan)))
        elif isinstance(plan, Wait):  # e.g. outside the calling window, or a clip still rendering
            wait(item.claimed, plan.reason, plan.until)
        else:
            done(item.claimed, D.failed, Result.permanent, plan)
    return ready, outcomes


def _answering(conn: Connection, reply_ids: list[int], settings: Settings, now: datetime) -> set[int]:
    """The replies whose resident wrote within REPLY_WINDOW_MINUTES: the message they answer, or a later one."""
    if not reply_ids or settings.reply_window_minutes <= 0:
        return set()
    since = now - timedelta(minutes=settings.reply_window_minutes)
    answered = select(col(InboundMessage.id)).where(col(InboundMessage.id) == col(Delivery.in_reply_to_id),
                                                    col(InboundMessage.received_at) >= since)
    later = select(col(InboundMessage.id)).where(col(Delivery.contact_id).is_not(None),
                                                 col(InboundMessage.contact_id) == col(Delivery.contact_id),
                                                 col(InboundMessage.received_at) >= since)
    rows = conn.execute(select(col(Delivery.id)).where(col(Delivery.id).in_(reply_ids),
                                                       answered.exists() | later.exists()))
    return {i for i in rows.scalars() if i is not None}


def _recent_sends(conn: Connection, contact_ids: list[int], now: datetime) -> dict[int, tuple[int, datetime | None]]:
    """Campaign messages each resident got in the last 24 hours (Decree 91's cap window)."""
    if not contact_ids:
        return {}
    since = now - timedelta(days=1)
    rows = conn.execute(
        select(col(Delivery.contact_id), func.count(), func.min(col(Delivery.sent_at)))
        .where(col(Delivery.contact_id).in_(set(contact_ids)), col(Delivery.kind) == DeliveryKind.campaign,
               col(Delivery.sent_at) >= since)
        .group_by(col(Delivery.contact_id))
    )
    return {cid: (int(n), oldest) for cid, n, oldest in rows if cid is not None}
