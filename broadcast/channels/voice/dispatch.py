"""Screening for calls: the calling window, and what each claimed voice delivery will play.

The call channel's `prepare` (voice/channel.py), called for the voice rows of a claimed batch after the rules
every channel shares (opt-out, cancel, expiry, quiet hours, daily cap).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from broadcast.campaigns.models import Campaign
from broadcast.channels.core.contract import Composed, Wait
from broadcast.channels.twilio.voice import OutboundCall
from broadcast.channels.voice.clips import campaign_script
from broadcast.channels.voice.policy import VoicePolicy, policy_for, window_opens
from broadcast.config import Settings
from broadcast.outbox.models import WaitingReason

RENDER_WAIT_SECONDS = 15  # a clip still rendering: try again shortly rather than read it with <Say>

# What plan_calls decides per delivery id: place this call, wait (until when, why), or fail with a reason.
Plan = OutboundCall | Wait | str


def twiml_url(settings: Settings, delivery_id: int) -> str:
    return f"{settings.public_base_url}/voice/twiml?d={delivery_id}"


def status_url(settings: Settings, delivery_id: int) -> str:
    return f"{settings.public_base_url}/voice/status?d={delivery_id}"


def load_policies(session: Session, settings: Settings, campaign_ids: set[int]) -> dict[int, VoicePolicy]:
    """Voice policy of each campaign in a batch (one query)."""
    if not campaign_ids:
        return {}
    rows = session.exec(select(Campaign).where(col(Campaign.id).in_(campaign_ids))).all()
    return {c.id: policy_for(settings, c) for c in rows if c.id is not None}


def plan_calls(conn: Connection, settings: Settings, batch: Sequence[Composed], *, now: datetime) -> dict[int, Plan]:
    """For each screened voice delivery: the call to place, a time to wait for, or why it cannot go."""
    plans: dict[int, Plan] = {}
    if not batch:
        return plans
    zone = settings.zone
    with Session(bind=conn) as session:
        policies = load_policies(session, settings, {i.claimed.campaign_id for i in batch if i.claimed.campaign_id})
        default = policy_for(settings)
        for item in batch:
            claimed = item.claimed
            policy = policies.get(claimed.campaign_id, default) if claimed.campaign_id else default
            opens = window_opens(now, policy, zone)
            if opens > now:
                plans[claimed.id] = Wait(opens, WaitingReason.calling_window)
                continue
            language = item.language
            if claimed.campaign_id is None:  # a callback or one-off call: it names its clip itself
                what = claimed.body
            else:
                script = campaign_script(session, settings, claimed.campaign_id, language)
                if script.clip is None and script.pending:
                    plans[claimed.id] = Wait(now + timedelta(seconds=RENDER_WAIT_SECONDS),
                                             WaitingReason.audio_not_ready)
                    continue
                what = script.clip.url if script.clip is not None else script.text
            if not what:
                plans[claimed.id] = "no voice content for this campaign and language"
                continue
            assert claimed.to_phone is not None
            plans[claimed.id] = OutboundCall(
                delivery_id=claimed.id, to=claimed.to_phone, body=what,
                status_callback=status_url(settings, claimed.id), twiml_url=twiml_url(settings, claimed.id),
                machine_detection=policy.machine_param, ring_timeout=settings.voice_ring_timeout_seconds)
    return plans

