"""Calls say why they wait: outside the calling window until it opens, and for a clip still being rendered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcast.audio.service import campaign_audio
from broadcast.campaigns import service as campaigns
from broadcast.channels.voice.channel import CallChannel
from broadcast.channels.voice.dispatcher import VoiceDispatcher
from broadcast.config import Settings
from broadcast.flows.waiting import campaign_waiting
from broadcast.outbox.models import Delivery
from broadcast.simulators.twilio import TwilioSimulator
from tests.support.seed import seed_contacts, start
from tests.voice.conftest import voice_campaign

EVENING = datetime(2030, 1, 15, 21, 0, tzinfo=UTC) - timedelta(hours=7)  # 21:00 local: the window has closed
MORNING = datetime(2030, 1, 16, 10, 0, tzinfo=UTC) - timedelta(hours=7)


def test_calls_wait_for_the_window_then_for_their_clip(engine: Engine, settings: Settings) -> None:
    settings = settings.model_copy(update={"voice_window_start": "07:30", "voice_window_end": "20:30"})
    seed_contacts(engine, 2)
    campaign_id = voice_campaign(engine, settings, render=False)
    with Session(engine) as session:  # its clip is queued for rendering, not rendered
        campaign_audio(session, settings, campaign_id)
        session.commit()
    start(engine, campaign_id)
    with TwilioSimulator(settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value()) as sim:
        _hold(engine, settings, sim, campaign_id)


def _hold(engine: Engine, settings: Settings, sim: TwilioSimulator, campaign_id: int) -> None:
    for at, reason, until in ((EVENING, "calling_window", datetime(2030, 1, 16, 0, 30, tzinfo=UTC)),
                              (MORNING, "audio_not_ready", MORNING + timedelta(seconds=15))):
        dispatcher = VoiceDispatcher(engine, settings, CallChannel(settings, api_base_url=sim.base_url),
                                     clock=lambda at=at: at)
        ready, outcomes = dispatcher.claim_batch(10)
        dispatcher.record(outcomes)
        assert ready == []
        with Session(engine) as session:
            rows = session.exec(select(Delivery).where(Delivery.campaign_id == campaign_id)).all()
            assert {(r.waiting_reason, r.next_attempt_at) for r in rows} == {(reason, until)}
            report = campaign_waiting(session, settings, campaigns.get_campaign(session, campaign_id),
                                      now=at - timedelta(seconds=1))
        assert [(w.reason, w.count, w.until) for w in report.waiting] == [(reason, 2, until)]
    assert sim.calls == []
