"""A voice campaign through the simulator: answered, busy, unanswered, machine and failed calls; retries bounded
and spaced; key presses as events and inbox items; SMS fallback; metrics.

Residents behave in ten groups, so 50 residents cover every case (five of each); the 500-resident run is the
volume test, run once on PostgreSQL with the slow tests."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from itertools import pairwise
from typing import Any

import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcast.campaigns.models import CampaignStatus
from broadcast.config import Settings
from broadcast.contacts.models import Contact
from broadcast.engagement.calls import voice_metrics
from broadcast.engagement.models import Conversation
from broadcast.events.models import EngagementEvent, EventKind
from broadcast.outbox.models import Delivery, DeliveryStatus, InboundMessage
from broadcast.simulators.twilio import TwilioSimulator
from tests.support.seed import campaign, phone, seed_contacts, start, wait_until
from tests.voice.test_calls_flow import statuses

D = DeliveryStatus
# resident i behaves as GROUPS[i % 10]: (outcomes per attempt, keys pressed, seconds heard)
GROUPS: dict[int, tuple[tuple[str, ...], tuple[str, ...], float | None]] = {
    0: (("answer",), ("1",), None), 1: (("answer",), ("2",), None), 2: (("answer",), ("9",), None),
    3: (("answer",), (), None), 4: (("answer",), (), 3.0), 5: (("answer",), ("1", "1"), None),
    6: (("busy",), (), None), 7: (("no-answer", "answer"), (), None), 8: (("machine",), (), None),
    9: (("failed",), (), None),
}
CALLS_EXPECTED = {0: 1, 1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 3, 7: 2, 8: 3, 9: 1}  # 1 + at most 2 retries


def test_voice_campaign_every_case(
    live_app: str, live_settings: Settings, live_engine: Engine, sim: TwilioSimulator,
    dispatchers: Callable[..., Callable[[], None]],
) -> None:
    voice_campaign_of(50, live_settings, live_engine, sim, dispatchers)


@pytest.mark.slow
def test_voice_campaign_of_500(
    live_app: str, live_settings: Settings, live_engine: Engine, sim: TwilioSimulator,
    dispatchers: Callable[..., Callable[[], None]],
) -> None:
    voice_campaign_of(500, live_settings, live_engine, sim, dispatchers)


def voice_campaign_of(N: int, live_settings: Settings, live_engine: Engine, sim: TwilioSimulator,
                      dispatchers: Callable[..., Callable[[], None]]) -> None:
    tenth = N // 10
    seed_contacts(live_engine, N)
    for group, (outcomes, digits, heard) in GROUPS.items():
        sim.set_call_behaviour([phone(i) for i in range(group, N, 10)], outcomes, digits, heard)
    campaign_id = _start(live_engine, live_settings)
    dispatchers()

    def finished() -> bool:
        voice, sms = statuses(live_engine, campaign_id), statuses(live_engine, campaign_id, "sms")
        return voice[D.delivered] + voice[D.undelivered] + voice[D.failed] == N and sms[D.delivered] == 3 * tenth

    try:
        wait_until(finished, timeout=300, interval=0.25)
    except TimeoutError:
        raise AssertionError((statuses(live_engine, campaign_id), statuses(live_engine, campaign_id, "sms"),
                              len(sim.calls), Counter(c.status for c in sim.calls), sim.player.pending,
                              [c.errors for c in sim.calls if c.errors][:5])) from None
    assert sim.wait_for_calls(30)
    expected = Counter({D.delivered: 7 * tenth, D.undelivered: 2 * tenth, D.failed: tenth})
    assert statuses(live_engine, campaign_id) == expected
    _check_calls(sim, N)
    _check_engagement(live_engine, campaign_id, tenth)
    sms_to = Counter(m.to for m in sim.messages)
    assert set(sms_to) == {phone(i) for i in range(N) if i % 10 in (6, 8, 9)} and set(sms_to.values()) == {1}
    metrics = _metrics(live_engine, live_settings, campaign_id)
    assert metrics["residents"] == N and metrics["answered"] == 7 * tenth and metrics["calls_placed"] == 15 * tenth
    assert (metrics["repeats"], metrics["callbacks_requested"], metrics["opt_outs"]) == (3 * tenth, tenth, tenth)
    assert metrics["sms_fallbacks"] == 3 * tenth and metrics["not_reached"] == 3 * tenth
    assert metrics["in_progress"] == 0
    assert 0.9 < metrics["listened_share_avg"] < 1.0  # the residents who hung up after 3 s pull it down
    assert metrics["cost_estimate"] > 0
    wait_until(lambda: campaign(live_engine, campaign_id).status == CampaignStatus.completed, timeout=15)


def _start(engine: Engine, settings: Settings) -> int:
    from tests.voice.conftest import voice_campaign

    campaign_id = voice_campaign(engine, settings, sms_fallback_for_voice=True)
    start(engine, campaign_id)
    return campaign_id


def _check_calls(sim: TwilioSimulator, N: int) -> None:
    for i in range(N):
        calls = sim.calls_to(phone(i))
        assert len(calls) == CALLS_EXPECTED[i % 10], (i, [c.outcome for c in calls])
        gaps = [(b.date_created - a.date_created).total_seconds() for a, b in pairwise(calls)]
        assert all(gap >= 0.9 for gap in gaps), (i, gaps)  # VOICE_RETRY_SECONDS=1 between calls
    answered = [c for c in sim.calls if c.outcome == "answer"]
    assert len(answered) == 7 * N // 10
    assert all(not c.errors for c in sim.calls), next(c.errors for c in sim.calls if c.errors)
    assert all(c.clips and all(k.is_mp3 for k in c.clips) for c in answered)
    assert all(c.answered_by == "human" for c in answered)  # AMD on (hang_up) by default
    machines = [c for c in sim.calls if c.outcome == "machine"]
    assert all(c.answered_by == "machine_start" and not c.clips for c in machines)  # hung up, no clip


def _check_engagement(engine: Engine, campaign_id: int, tenth: int) -> None:
    with Session(engine) as session:
        keys = Counter(e.data["digit"] for e in session.exec(
            select(EngagementEvent).where(EngagementEvent.kind == EventKind.keypress,
                                          EngagementEvent.campaign_id == campaign_id)).all())
        assert keys == Counter({"1": 3 * tenth, "2": tenth, "9": tenth})
        callbacks = session.exec(select(InboundMessage).where(InboundMessage.classification == "callback")).all()
        assert sorted(m.from_phone or "" for m in callbacks) == sorted(phone(i) for i in range(1, 10 * tenth, 10))
        assert session.exec(select(func.count()).select_from(Conversation)).one() == tenth
        opted = set(session.exec(select(Contact.phone).where(col(Contact.voice_opted_out).is_(True))).all())
        assert opted == {phone(i) for i in range(2, 10 * tenth, 10)}
        listened = session.exec(select(func.count()).select_from(EngagementEvent).where(
            EngagementEvent.kind == EventKind.call_listened)).one()
        assert listened == 7 * tenth
        rows = session.exec(select(Delivery).where(Delivery.channel == "voice",
                                                   Delivery.status == D.delivered)).all()
        short = [r for r in rows if r.to_phone in {phone(i) for i in range(4, 10 * tenth, 10)}]
        assert all(r.listened_share is not None and r.listened_share < 1 for r in short)


def _metrics(engine: Engine, settings: Settings, campaign_id: int) -> dict[str, Any]:
    with Session(engine) as session:
        return voice_metrics(session, settings, campaign_id)
