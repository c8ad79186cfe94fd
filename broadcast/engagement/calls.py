"""Voice figures per campaign: calls placed and answered, share of the clip heard, key presses, cost."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select
from sqlmodel import Session, col

from broadcast.campaigns.models import Campaign
from broadcast.config import Settings
from broadcast.engagement.retained import voice_sums
from broadcast.events.models import EngagementEvent, EventKind
from broadcast.exceptions import NotFoundError
from broadcast.outbox.models import Delivery, DeliveryAttempt, DeliveryStatus, InboundMessage

D = DeliveryStatus


def voice_metrics(session: Session, settings: Settings, campaign_id: int) -> dict[str, Any]:
    """Answered calls, listening, menu use, opt-outs and cost estimate for one campaign (set-based)."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFoundError(f"Không tìm thấy chiến dịch #{campaign_id}")
    voice = (col(Delivery.campaign_id) == campaign_id) & (col(Delivery.channel) == "voice")

    def count_if(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    machine = col(Delivery.answered_by).like("machine%")
    row = session.execute(select(
        func.count(),
        count_if(col(Delivery.status) == D.delivered),
        count_if((col(Delivery.status) == D.delivered) & machine),
        count_if(col(Delivery.status).in_([D.undelivered, D.failed])),
        count_if(col(Delivery.status).in_([D.queued, D.sending, D.sent])),
        func.coalesce(func.sum(case((col(Delivery.status) == D.delivered, col(Delivery.listened_share)))), 0.0),
        func.count(case((col(Delivery.status) == D.delivered, col(Delivery.listened_share)))),
        func.coalesce(func.sum(col(Delivery.call_duration_seconds)), 0),
        func.coalesce(func.sum(case((col(Delivery.status) == D.delivered, col(Delivery.price)), else_=0)), 0),
    ).where(voice)).one()
    kept = voice_sums(session, campaign_id)  # the runs whose rows retention deleted
    residents, answered, machines, not_reached, in_progress, share_sum, share_n, seconds, cost = (
        a + b for a, b in zip(row, (kept.residents, kept.answered, kept.machines, kept.not_reached, kept.in_progress,
                                    kept.share_sum, kept.share_n, kept.seconds, kept.cost), strict=True))
    share = share_sum / share_n if share_n else None
    placed = session.execute(select(func.count()).select_from(DeliveryAttempt)
                             .join(Delivery, col(Delivery.id) == col(DeliveryAttempt.delivery_id))
                             .where(voice, col(DeliveryAttempt.outcome) == "accepted")).scalar_one() + kept.placed
    key = col(EngagementEvent.dedupe_key)
    events = session.execute(select(
        count_if((col(EngagementEvent.kind) == EventKind.keypress) & key.like("call:%:key:1:%")),
        count_if((col(EngagementEvent.kind) == EventKind.keypress) & key.like("call:%:key:2:%")),
        count_if((col(EngagementEvent.kind) == EventKind.opt_out) & key.like("call:%:opt_out")),
    ).where(col(EngagementEvent.campaign_id) == campaign_id)).one()
    callbacks = session.execute(select(func.count()).select_from(InboundMessage).where(
        col(InboundMessage.campaign_id) == campaign_id, col(InboundMessage.classification) == "callback")
    ).scalar_one()
    fallbacks = 0
    if "sms" not in (campaign.channels or []):  # every SMS of a voice-only campaign is a fallback
        fallbacks = session.execute(select(func.count()).where(
            col(Delivery.campaign_id) == campaign_id, col(Delivery.channel) == "sms")).scalar_one()
        fallbacks += kept.sms_deliveries
    return {
        "campaign_id": campaign_id,
        "residents": int(residents),
        "calls_placed": int(placed),
        "answered": int(answered),
        "answered_by_machine": int(machines),
        "answer_rate": round(int(answered) / int(residents), 4) if residents else None,
        "not_reached": int(not_reached),
        "in_progress": int(in_progress),
        "listened_share_avg": round(float(share), 4) if share is not None else None,
        "call_minutes": round(int(seconds) / 60, 2),
        "repeats": int(events[0]) + kept.repeats,
        "callback_presses": int(events[1]) + kept.callback_presses,
        "callbacks_requested": int(callbacks),
        "opt_outs": int(events[2]) + kept.opt_outs,
        "sms_fallbacks": int(fallbacks),
        "cost_estimate": round(float(cost), 4),
        "price_per_minute": settings.voice_price_per_minute,
        "price_unit": settings.sms_price_unit,
    }
