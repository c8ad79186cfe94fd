"""The missed-call number: a resident rings and hangs up (paying nothing); we call back within a minute
with the latest clip of their commune."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from broadcast.audio.models import Airing, AudioClip, ClipStatus
from broadcast.audio.radio.feeds import clip_url
from broadcast.campaigns.models import Campaign, CampaignStatus
from broadcast.channels.voice.clips import campaign_script
from broadcast.config import Settings
from broadcast.contacts.models import Contact
from broadcast.events.service import add_event_once
from broadcast.outbox.models import Delivery, DeliveryKind, DeliveryStatus
from broadcast.phones import PhoneError, normalize_vn_phone

REPEAT_WINDOW = timedelta(minutes=10)  # ringing again while a callback is on its way adds nothing
RECENT_CAMPAIGNS = 50


def latest_commune_clip(session: Session, settings: Settings, commune_code: str | None,
                        language: str = "vi") -> str | None:
    """URL of the newest clip for the commune: its latest planned airing, else its latest voice campaign."""
    if commune_code:
        clip = session.exec(
            select(AudioClip).join(Airing, col(Airing.clip_id) == col(AudioClip.id))
            .where(Airing.commune_code == commune_code, AudioClip.status == ClipStatus.ready)
            .order_by(col(Airing.planned_at).desc()).limit(1)
        ).first()
        if clip is not None:
            return clip_url(settings, clip)
    campaigns = session.exec(
        select(Campaign).where(col(Campaign.status).in_([CampaignStatus.sending, CampaignStatus.completed,
                                                         CampaignStatus.scheduled]))
        .order_by(col(Campaign.updated_at).desc()).limit(RECENT_CAMPAIGNS)
    ).all()
    for campaign in campaigns:
        communes = (campaign.audience or {}).get("communes") or []
        if communes and commune_code not in communes:
            continue
        if not {"voice", "loudspeaker"} & set(campaign.channels or []):
            continue
        assert campaign.id is not None
        script = campaign_script(session, settings, campaign.id, language)
        if script.clip is not None:
            return script.clip.url
    return None


def handle_missed_call(session: Session, settings: Settings, params: dict[str, str], *,
                       now: datetime) -> Delivery | None:
    """Queue a callback for an incoming call (once per CallSid and per caller within 10 minutes)."""
    sid = params.get("CallSid", "")
    try:
        phone = normalize_vn_phone(params.get("From", ""))
    except PhoneError:
        return None  # a hidden or foreign number: nobody to call back
    if not sid or not add_event_once(session, kind="missed_call", dedupe_key=f"call:{sid}:missed",
                                     occurred_at=now, data={"call_sid": sid}):
        return None
    recent = session.exec(select(Delivery.id).where(
        Delivery.to_phone == phone, Delivery.channel == "voice", Delivery.kind == DeliveryKind.reply,
        col(Delivery.created_at) > now - REPEAT_WINDOW,
        col(Delivery.status).in_([DeliveryStatus.queued, DeliveryStatus.sending, DeliveryStatus.sent]))).first()
    if recent is not None:
        return None
    contact = session.exec(select(Contact).where(Contact.phone == phone)).first()
    url = latest_commune_clip(session, settings, contact.commune_code if contact else None,
                              contact.language if contact else "vi")
    if url is None:
        return None
    delivery = Delivery(to_phone=phone, contact_id=contact.id if contact else None, channel="voice",
                        kind=DeliveryKind.reply, body=url, status=DeliveryStatus.queued,
                        next_attempt_at=now + timedelta(seconds=settings.voice_missed_call_delay_seconds),
                        created_at=now, updated_at=now)
    session.add(delivery)
    session.flush()
    return delivery
