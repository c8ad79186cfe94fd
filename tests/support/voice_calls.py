"""Simulated outcomes of a voice campaign's calls, written straight into the outbox, with the expected figures."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcast.channels.voice.menu import CallContext, record_keypress
from broadcast.db import utcnow
from broadcast.outbox.models import Delivery, DeliveryAttempt, InboundMessage

PRICE_PER_MINUTE = 0.12  # Settings.voice_price_per_minute's default

# (status, answered_by, seconds, share of the clip heard, calls placed); the rest of the residents stay queued.
CALLS = [
    ("delivered", "human", 95, 1.0, 1), ("delivered", "human", 70, 1.0, 2), ("delivered", "human", 64, 1.0, 1),
    ("delivered", "human", 40, 0.5, 1), ("delivered", "machine_end_beep", 58, 0.25, 1),
    ("undelivered", None, 0, None, 3), ("undelivered", None, 0, None, 3),
]
# (call index, digit, menu round): a repeat twice, a callback, an opt-out
KEYS = [(0, "1", 1), (0, "1", 2), (1, "2", 1), (2, "9", 1)]


@dataclass
class Expected:
    residents: int
    placed: int
    answered: int
    machine: int
    not_reached: int
    share: float
    minutes: float
    cost: float
    repeats: int = 2
    callbacks: int = 1
    opt_outs: int = 1
    fallbacks: int = 1


def simulate_calls(engine: Engine, campaign_id: int) -> Expected:
    """Give the campaign's first voice deliveries the outcomes above; returns the figures they make."""
    now = utcnow()
    with Session(engine) as session:
        deliveries = session.exec(select(Delivery).where(Delivery.campaign_id == campaign_id,
                                                         Delivery.channel == "voice")
                                  .order_by(col(Delivery.id))).all()
        assert len(deliveries) > len(CALLS)
        for index, (status, answered_by, seconds, share, placed) in enumerate(CALLS):
            d = deliveries[index]
            assert d.id is not None
            session.execute(update(Delivery).where(col(Delivery.id) == d.id).values(
                status=status, provider_sid=f"CA{d.id:032d}", attempts=placed, sent_at=now,
                finished_at=now, answered_by=answered_by, call_duration_seconds=seconds, listened_share=share,
                price=round(seconds / 60 * PRICE_PER_MINUTE, 4) if status == "delivered" else None))
            for number in range(1, placed + 1):
                session.add(DeliveryAttempt(delivery_id=d.id, number=number, outcome="accepted",
                                            finished_at=now))
        for index, digit, round_ in KEYS:
            d = deliveries[index]
            assert d.id is not None
            context = CallContext(delivery_id=d.id, campaign_id=campaign_id, contact_id=d.contact_id,
                                  campaign_status="sending", machine_detection="hang_up", language="vi",
                                  body=None, commune_code="32248")
            assert record_keypress(session, context, call_sid=f"CA{d.id:032d}", digit=digit, round_=round_, at=now)
        missed = deliveries[5]  # not reached after its retries: the campaign's SMS instead
        session.add(Delivery(campaign_id=campaign_id, run_id=missed.run_id, contact_id=missed.contact_id,
                             to_phone=missed.to_phone, channel="sms", status="sent", sent_at=now))
        session.commit()
        callbacks = session.exec(select(InboundMessage).where(InboundMessage.campaign_id == campaign_id,
                                                              InboundMessage.classification == "callback")).all()
        assert len(callbacks) == 1
    answered = [c for c in CALLS if c[0] == "delivered"]
    return Expected(
        residents=len(deliveries), placed=sum(c[4] for c in CALLS), answered=len(answered),
        machine=sum(1 for c in answered if str(c[1]).startswith("machine")),
        not_reached=sum(1 for c in CALLS if c[0] == "undelivered"),
        share=sum(float(c[3] or 0) for c in answered) / len(answered),
        minutes=sum(c[2] for c in CALLS) / 60,
        cost=sum(round(c[2] / 60 * PRICE_PER_MINUTE, 4) for c in answered),
    )
