"""Calls end to end: SDK → simulator → signed TwiML/keys/status callbacks → the app → Delivery rows."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcast.config import Settings
from broadcast.contacts.models import Contact
from broadcast.events.models import EngagementEvent, EventKind
from broadcast.outbox.models import Delivery, DeliveryStatus, InboundMessage
from broadcast.simulators.twilio import TwilioSimulator
from tests.support.seed import phone, seed_contacts, start, wait_until
from tests.voice.conftest import voice_campaign

D = DeliveryStatus


def statuses(engine: Engine, campaign_id: int, channel: str = "voice") -> Counter[str]:
    with Session(engine) as session:
        return Counter(session.exec(select(Delivery.status).where(Delivery.campaign_id == campaign_id,
                                                                  Delivery.channel == channel)).all())


def test_answered_call_plays_the_clip_and_keys_act(
    live_app: str, live_settings: Settings, live_engine: Engine, sim: TwilioSimulator,
    dispatchers: Callable[..., Callable[[], None]],
) -> None:
    seed_contacts(live_engine, 4)
    sim.set_call_behaviour([phone(0)], digits=("1", "2"))
    sim.set_call_behaviour([phone(1)], digits=("9",))
    sim.set_call_behaviour([phone(2)], hangup_after=2.0)
    campaign_id = voice_campaign(live_engine, live_settings)
    start(live_engine, campaign_id)
    dispatchers()
    wait_until(lambda: statuses(live_engine, campaign_id)[D.delivered] == 4, timeout=30)
    assert sim.wait_for_calls(10)
    assert all(not c.errors for c in sim.calls), [c.errors for c in sim.calls]
    assert all(c.clips and all(k.is_mp3 and k.duration > 1 for k in c.clips) for c in sim.calls)
    assert sim.calls_to(phone(0))[0].pressed == ["1", "2"]
    assert len(sim.calls_to(phone(0))[0].clips) >= 3  # clip, menu, clip again, menu, callback prompt
    with Session(live_engine) as session:
        keys = session.exec(select(EngagementEvent).where(EngagementEvent.kind == EventKind.keypress)).all()
        assert sorted(e.data["digit"] for e in keys) == ["1", "2", "9"]
        callbacks = session.exec(select(InboundMessage).where(InboundMessage.classification == "callback")).all()
        assert len(callbacks) == 1 and callbacks[0].conversation_id is not None
        opted = session.exec(select(Contact).where(col(Contact.voice_opted_out).is_(True))).all()
        assert [c.phone for c in opted] == [phone(1)]
        rows = {r.to_phone: r for r in session.exec(select(Delivery).where(Delivery.channel == "voice")).all()}
        assert rows[phone(0)].listened_share == 1.0
        partial = rows[phone(2)].listened_share
        assert partial is not None and 0 < partial < 1
        assert all(r.call_duration_seconds and r.price for r in rows.values())
