"""Calls while the database does not answer: the resident hears a short apology from a clip rendered ahead of
time (no dead air), key presses and call statuses are journaled, and once the database is back the call is
tried again rather than counted as heard."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcast.app import create_app
from broadcast.channels.voice.offline import offline_path, render_offline_clips
from broadcast.config import Settings
from broadcast.db import utcnow
from broadcast.events.models import EngagementEvent
from broadcast.outbox.models import Delivery, DeliveryStatus, InboundMessage
from tests.journal.conftest import Twilio, database_held
from tests.support.seed import phone, seed_contacts, start, wait_until
from tests.voice.conftest import voice_campaign


def placed_call(engine: Engine, settings: Settings) -> tuple[int, str]:
    """A campaign call the provider accepted (ringing), as the dispatcher records it."""
    seed_contacts(engine, 1)
    campaign_id = voice_campaign(engine, settings, render=False)
    start(engine, campaign_id)
    with Session(engine) as session:
        delivery = session.exec(select(Delivery).where(Delivery.campaign_id == campaign_id)).one()
        delivery.status, delivery.provider_sid, delivery.sent_at = DeliveryStatus.sent, "CA" + "1" * 32, utcnow()
        session.add(delivery)
        session.commit()
        assert delivery.id is not None
        return delivery.id, str(delivery.provider_sid)


def test_an_answered_call_hears_the_apology_and_is_called_again(engine: Engine, settings: Settings) -> None:
    settings = settings.model_copy(update={"journal_after_seconds": 0.3, "tts_engine": "espeak",
                                           "voice_window_start": "00:00", "voice_window_end": "00:00"})
    assert render_offline_clips(settings) == 3 and offline_path(settings, "outage").stat().st_size > 1000
    delivery_id, call_sid = placed_call(engine, settings)
    with TestClient(create_app(settings)) as client:
        twilio = Twilio(client, settings)
        call = {"CallSid": call_sid, "AccountSid": settings.twilio_account_sid, "From": settings.twilio_voice_from,
                "To": phone(0), "CallStatus": "in-progress", "AnsweredBy": "human"}
        with database_held(settings):
            answer = twilio.post(f"/voice/twiml?d={delivery_id}", call)
            assert answer.status_code == 200
            assert f"<Play>{settings.public_base_url}/voice/offline/outage.mp3</Play><Hangup />" in answer.text
            pressed = twilio.post(f"/voice/gather?d={delivery_id}&n=1", {**call, "Digits": "2"})
            assert "/voice/offline/callback.mp3" in pressed.text
            assert twilio.post(f"/voice/status?d={delivery_id}",
                               {**call, "CallStatus": "completed", "CallDuration": "9"}).status_code == 200
        clip = client.get("/voice/offline/outage.mp3")  # Twilio fetches it: no database needed
        assert clip.status_code == 200 and clip.headers["content-type"] == "audio/mpeg"
        assert client.get("/voice/offline/nothing.mp3").status_code == 404
        assert client.get("/voice/offline/outage").status_code == 404  # the clips are named with .mp3

        def retried() -> bool:
            with Session(engine) as session:
                row = session.get(Delivery, delivery_id)
                return row is not None and row.status == DeliveryStatus.queued

        wait_until(retried, timeout=20)
    with Session(engine) as session:
        row = session.get(Delivery, delivery_id)
        assert row is not None and row.error_message is not None and row.error_message.startswith("outage")
        kinds = {e.kind for e in session.exec(select(EngagementEvent))}
        assert {"call_apology", "keypress"} <= kinds and "call_listened" not in kinds
        callback = session.exec(select(InboundMessage)).one()  # the key press asked for a callback
        assert callback.classification == "callback"
