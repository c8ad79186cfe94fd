"""Call status callbacks: answered calls are delivered, busy / unanswered ones retried inside the
calling window, and residents never reached fall back to the campaign's SMS.

Each transition is one conditional UPDATE on (delivery id, CallSid, status `sent`), so duplicated,
late or out-of-order callbacks change nothing twice.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from broadcast.audio.models import AudioClip
from broadcast.bounds import parse_count
from broadcast.campaigns.models import Campaign, CampaignContent, CampaignStatus
from broadcast.channels.voice.clips import campaign_script
from broadcast.channels.voice.policy import NOT_REACHED, RETRYABLE, is_machine, next_call_at, policy_for
from broadcast.config import Settings
from broadcast.contacts.models import Contact
from broadcast.events.models import EngagementEvent, EventKind
from broadcast.events.service import add_event_once
from broadcast.outbox.models import Delivery, DeliveryAttempt, DeliveryKind, DeliveryStatus, WaitingReason

log = logging.getLogger(__name__)
D = DeliveryStatus
FINAL_CALL_STATUSES = frozenset({"completed"}) | NOT_REACHED


@dataclass(frozen=True)
class CallReport:
    """One status callback from Twilio."""

    call_sid: str
    status: str  # initiated | ringing | in-progress | completed | busy | no-answer | failed | canceled
    duration: int | None = None  # CallDuration (seconds), on the final callback
    answered_by: str | None = None

    @classmethod
    def from_params(cls, params: dict[str, str]) -> CallReport:
        """Parse Twilio's form fields (unknown fields are ignored)."""
        duration = params.get("CallDuration") or params.get("Duration") or ""
        return cls(call_sid=params.get("CallSid", ""), status=params.get("CallStatus", "").lower(),
                   duration=parse_count(duration, maximum=10**7),
                   answered_by=params.get("AnsweredBy") or None)


def _transition(session: Session, delivery_id: int, sid: str, now: datetime, **values: Any) -> bool:
    """Move our call's row out of `sent`; False when another callback already did (or it is not ours)."""
    result = session.execute(
        update(Delivery)
        .where(col(Delivery.id) == delivery_id, col(Delivery.status) == D.sent, col(Delivery.provider_sid) == sid)
        .values(**{"updated_at": now, **values})
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def clip_seconds(session: Session, settings: Settings, delivery: Delivery, language: str) -> float | None:
    """Length of what the call played (the campaign's clip, or the clip a callback named)."""
    if delivery.campaign_id is not None:
        script = campaign_script(session, settings, delivery.campaign_id, language)
        return script.clip.duration if script.clip is not None else None
    if delivery.body and "/clips/" in delivery.body:
        token = delivery.body.split("/clips/", 1)[1].split("/", 1)[0]
        return session.exec(select(AudioClip.duration_seconds).where(AudioClip.download_token == token)).first()
    return None


def apply_call_status(session: Session, settings: Settings, report: CallReport, *, delivery_id: int,
                      now: datetime) -> str:
    """Apply one callback; answers updated | progress | retry | stale | early (our record not written yet)."""
    if not report.call_sid:
        return "stale"
    if report.status not in FINAL_CALL_STATUSES:  # initiated, ringing, in-progress: one statement
        moved = session.execute(
            update(Delivery).where(col(Delivery.id) == delivery_id, col(Delivery.status) == D.sent,
                                   col(Delivery.provider_sid) == report.call_sid)
            .values(provider_status=report.status[:20], updated_at=now)
            .execution_options(synchronize_session=False))
        return "progress" if moved.rowcount else "stale"  # type: ignore[attr-defined]
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        return "stale"
    if delivery.status == D.sending and delivery.provider_sid != report.call_sid:
        # The dispatcher has not recorded this call yet (the row still names no call, or the previous
        # one): the webhook tries again shortly; after that the voice dispatcher asks the provider.
        return "early"
    campaign = session.get(Campaign, delivery.campaign_id) if delivery.campaign_id else None
    policy = policy_for(settings, campaign)
    machine_refused = report.status == "completed" and is_machine(report.answered_by) \
        and policy.machine_detection == "hang_up"
    # Answered during a database outage: the resident heard an apology, not the clip; call again.
    apologised = report.status == "completed" and not machine_refused and _apologised(session, report.call_sid)
    if report.status == "completed" and not machine_refused and not apologised:
        return _answered(session, settings, delivery, report, now)
    reason = "machine" if machine_refused else "outage" if apologised else report.status
    common: dict[str, Any] = {"provider_status": report.status[:20], "answered_by": report.answered_by,
                              "call_duration_seconds": report.duration}
    if campaign is not None and campaign.status == CampaignStatus.cancelled:
        ok = _transition(session, delivery_id, report.call_sid, now, status=D.cancelled, finished_at=now,
                         error_message="campaign cancelled", **common)
        return "updated" if ok else "stale"
    placed = session.exec(select(func.count()).select_from(DeliveryAttempt).where(
        DeliveryAttempt.delivery_id == delivery_id, DeliveryAttempt.outcome == "accepted")).one()
    retry_at = next_call_at(now, policy, settings.zone)
    can_retry = (reason in RETRYABLE or machine_refused or apologised) and placed <= policy.max_retries \
        and delivery.kind == DeliveryKind.campaign \
        and (campaign is None or campaign.expires_at is None or retry_at < campaign.expires_at)
    if can_retry:
        ok = _transition(session, delivery_id, report.call_sid, now, status=D.queued, next_attempt_at=retry_at,
                         sent_at=None, claimed_by=None, waiting_reason=WaitingReason.retry_backoff,
                         error_message=f"{reason}: gọi lại lần {placed + 1}", **common)
        return "retry" if ok else "stale"
    final = D.failed if reason in ("failed", "canceled") else D.undelivered
    ok = _transition(session, delivery_id, report.call_sid, now, status=final, finished_at=now,
                     error_message=f"not reached after {placed} call(s): {reason}", **common)
    if not ok:
        return "stale"
    if campaign is not None and campaign.sms_fallback_for_voice:
        queue_sms_fallback(session, delivery, campaign, now=now)
    return "updated"


def record_apology(session: Session, *, delivery_id: int, call_sid: str, at: datetime) -> bool:
    """This call was answered while the database did not answer (it heard the apology); True when new."""
    return add_event_once(session, kind=EventKind.call_apology, dedupe_key=f"call:{call_sid}:apology",
                          delivery_id=delivery_id, occurred_at=at, data={"call_sid": call_sid})


def _apologised(session: Session, call_sid: str) -> bool:
    key = f"call:{call_sid}:apology"
    return session.exec(select(EngagementEvent.id).where(EngagementEvent.dedupe_key == key)).first() is not None


def _answered(session: Session, settings: Settings, delivery: Delivery, report: CallReport, now: datetime) -> str:
    assert delivery.id is not None
    contact = session.get(Contact, delivery.contact_id) if delivery.contact_id else None
    seconds = clip_seconds(session, settings, delivery, contact.language if contact else "vi")
    heard = min(1.0, (report.duration or 0) / seconds) if seconds else None
    share = max(heard or 0.0, delivery.listened_share or 0.0) if heard is not None or delivery.listened_share \
        else None
    minutes = math.ceil((report.duration or 0) / 60)
    ok = _transition(session, delivery.id, report.call_sid, now, status=D.delivered, delivered_at=now,
                     finished_at=now, provider_status="completed", answered_by=report.answered_by,
                     call_duration_seconds=report.duration, listened_share=share,
                     price=round(minutes * settings.voice_price_per_minute, 4), error_message=None)
    if not ok:
        return "stale"
    add_event_once(session, kind=EventKind.call_listened, dedupe_key=f"call:{report.call_sid}:listened",
                   campaign_id=delivery.campaign_id, contact_id=delivery.contact_id, delivery_id=delivery.id,
                   commune_code=contact.commune_code if contact else None, occurred_at=now,
                   data={"share": share, "duration": report.duration, "answered_by": report.answered_by})
    return "updated"


def queue_sms_fallback(session: Session, delivery: Delivery, campaign: Campaign, *, now: datetime) -> bool:
    """Queue the campaign's SMS for a resident the calls did not reach (once per run); True if queued."""
    if delivery.run_id is None or delivery.contact_id is None or not delivery.to_phone:
        return False
    has_sms = session.exec(select(CampaignContent.id).where(CampaignContent.campaign_id == campaign.id,
                                                            CampaignContent.channel == "sms")).first()
    body = None
    if has_sms is None:  # no SMS text written: send the start of the voice script
        script = session.exec(select(CampaignContent.body).where(
            CampaignContent.campaign_id == campaign.id, CampaignContent.channel == "voice")).first()
        if not script:
            return False
        body = script[:480]
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    result = session.execute(
        insert(Delivery).values(
            campaign_id=campaign.id, run_id=delivery.run_id, contact_id=delivery.contact_id,
            to_phone=delivery.to_phone, channel="sms", kind=DeliveryKind.campaign, body=body,
            status=D.queued, attempts=0, next_attempt_at=now, created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=["run_id", "contact_id", "channel"])
        .returning(col(Delivery.id))  # an INSERT's rowcount is not reliable across drivers (-1 on psycopg)
    )
    return result.first() is not None
