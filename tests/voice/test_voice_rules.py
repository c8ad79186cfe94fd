"""Signed TwiML endpoints, cancelled campaigns, the calling window, machines and the missed-call number."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcast.campaigns import service as campaigns
from broadcast.channels.voice.channel import CallChannel
from broadcast.channels.voice.dispatcher import VoiceDispatcher
from broadcast.config import Settings
from broadcast.contacts.models import Contact
from broadcast.db import utcnow
from broadcast.outbox.models import Delivery, DeliveryStatus
from broadcast.simulators.twilio import TwilioSimulator
from tests.conftest import BOTH
from tests.support.seed import phone, seed_contacts, start, wait_until
from tests.voice.conftest import signed_post, voice_campaign
from tests.voice.test_calls_flow import statuses

pytestmark = BOTH  # the database matters here: SQL, locking or types differ

D = DeliveryStatus
CALL = {"CallSid": "CA" + "1" * 32, "AccountSid": "AC" + "0" * 32, "From": "+842903000977",
        "To": phone(0), "CallStatus": "in-progress", "Direction": "outbound-api"}


def _first_delivery(engine: Engine, campaign_id: int) -> int:
    with Session(engine) as session:
        found = session.exec(select(Delivery.id).where(Delivery.campaign_id == campaign_id)).first()
        assert found is not None
        return found


@pytest.mark.parametrize("path", ["/voice/twiml?d={d}", "/voice/gather?d={d}&n=1", "/voice/status?d={d}",
                                  "/voice/incoming"])
def test_forged_voice_webhooks_get_403(path: str, live_app: str, live_settings: Settings,
                                       live_engine: Engine) -> None:
    seed_contacts(live_engine, 1)
    campaign_id = voice_campaign(live_engine, live_settings, render=False)
    start(live_engine, campaign_id)
    url = path.format(d=_first_delivery(live_engine, campaign_id))
    params = {**CALL, "Digits": "9", "CallStatus": "completed"}
    with httpx.Client(trust_env=False) as client:
        assert client.post(live_settings.public_base_url + url, data=params).status_code == 403
        forged = signed_post(client, live_settings, url, params, token="not-the-auth-token")
        assert forged.status_code == 403
        good = signed_post(client, live_settings, url, params)
        assert good.status_code == 200
        # a valid signature for other parameters does not carry over
        other = client.post(live_settings.public_base_url + url, data={**params, "Digits": "2"},
                            headers={"X-Twilio-Signature": good.request.headers["X-Twilio-Signature"]})
        assert other.status_code == 403
    with Session(live_engine) as session:  # none of the refused key presses did anything
        assert session.exec(select(Contact.voice_opted_out)).all() == [path.startswith("/voice/gather")]


def test_cancelled_campaign_calls_never_start_and_live_calls_hear_an_apology(
    live_app: str, live_settings: Settings, live_engine: Engine, sim: TwilioSimulator,
    dispatchers: Callable[..., Callable[[], None]],
) -> None:
    seed_contacts(live_engine, 30)
    sim.set_call_behaviour(None, outcomes=("busy",))
    campaign_id = voice_campaign(live_engine, live_settings, voice_retry_seconds=3600)
    start(live_engine, campaign_id)
    stop = dispatchers()
    wait_until(lambda: statuses(live_engine, campaign_id)[D.queued] == 30 and len(sim.calls) == 30, timeout=60)
    with Session(live_engine) as session:
        campaigns.cancel(session, campaign_id)
        session.commit()
    # make the retries due now: a cancelled campaign's calls must still never start
    with Session(live_engine) as session:
        for row in session.exec(select(Delivery).where(Delivery.campaign_id == campaign_id)).all():
            row.next_attempt_at = utcnow() - timedelta(seconds=1)
            session.add(row)
        session.commit()
    stop()
    calls = VoiceDispatcher(live_engine, live_settings, CallChannel(live_settings, api_base_url=sim.base_url))
    assert calls.claim_batch(100) == ([], [])  # nothing of a cancelled campaign is even claimed
    assert len(sim.calls) == 30
    assert statuses(live_engine, campaign_id) == {D.cancelled: 30}
    # a call already ringing when the campaign was cancelled hears a short apology, not the clip
    with httpx.Client(trust_env=False) as client:
        answer = signed_post(client, live_settings, f"/voice/twiml?d={_first_delivery(live_engine, campaign_id)}",
                             CALL)
    assert answer.status_code == 200 and "<Hangup" in answer.text and "<Gather" not in answer.text
    assert "loi-nhac-cuoc-goi-cancelled" in answer.text and "pho-bien" not in answer.text


def test_retry_waits_for_the_next_calling_window(
    live_app: str, live_settings: Settings, live_engine: Engine, sim: TwilioSimulator,
    dispatchers: Callable[..., Callable[[], None]],
) -> None:
    zone = live_settings.zone
    now = datetime.now(zone)
    opens, closes = (now - timedelta(hours=1)).strftime("%H:%M"), (now + timedelta(minutes=3)).strftime("%H:%M")
    seed_contacts(live_engine, 3)
    sim.set_call_behaviour(None, outcomes=("no-answer",))
    campaign_id = voice_campaign(live_engine, live_settings, voice_window_start=opens, voice_window_end=closes,
                                 voice_retry_seconds=600)
    start(live_engine, campaign_id)
    dispatchers()
    wait_until(lambda: statuses(live_engine, campaign_id)[D.queued] == 3 and len(sim.calls) == 3, timeout=30)
    with Session(live_engine) as session:
        rows = session.exec(select(Delivery).where(Delivery.campaign_id == campaign_id)).all()
    for row in rows:  # 10 minutes later the window is closed: the retry waits for it to open again
        assert row.next_attempt_at is not None
        local = row.next_attempt_at.astimezone(zone)
        assert local.strftime("%H:%M") == opens and local > now
    assert all(len(sim.calls_to(phone(i))) == 1 for i in range(3))


def test_answering_machine_gets_the_clip_when_the_campaign_leaves_messages(
    live_app: str, live_settings: Settings, live_engine: Engine, sim: TwilioSimulator,
    dispatchers: Callable[..., Callable[[], None]],
) -> None:
    seed_contacts(live_engine, 2)
    sim.set_call_behaviour(None, outcomes=("machine",))
    campaign_id = voice_campaign(live_engine, live_settings, voice_machine_detection="leave_message")
    start(live_engine, campaign_id)
    dispatchers()
    wait_until(lambda: statuses(live_engine, campaign_id)[D.delivered] == 2, timeout=30)
    assert sim.wait_for_calls(10)
    calls = sim.calls
    assert len(calls) == 2 and all(c.answered_by == "machine_end_beep" for c in calls)
    assert all(len(c.clips) == 1 and c.clips[0].is_mp3 and not c.pressed for c in calls)
    assert all("<Gather" not in c.twiml[0] for c in calls)
    with Session(live_engine) as session:
        rows = session.exec(select(Delivery).where(Delivery.campaign_id == campaign_id)).all()
    assert {r.answered_by for r in rows} == {"machine_end_beep"}


def test_missed_call_is_called_back_with_the_communes_latest_clip(
    live_app: str, live_settings: Settings, live_engine: Engine, sim: TwilioSimulator,
    dispatchers: Callable[..., Callable[[], None]],
) -> None:
    seed_contacts(live_engine, 2)
    campaign_id = voice_campaign(live_engine, live_settings)
    start(live_engine, campaign_id)
    dispatchers()
    wait_until(lambda: statuses(live_engine, campaign_id)[D.delivered] == 2, timeout=30)
    ring = {"CallSid": "CA" + "7" * 32, "AccountSid": live_settings.twilio_account_sid, "From": phone(1),
            "To": live_settings.twilio_voice_from, "CallStatus": "ringing", "Direction": "inbound"}
    with httpx.Client(trust_env=False) as client:
        rang_at = utcnow()
        answer = signed_post(client, live_settings, "/voice/incoming", ring)
        again = signed_post(client, live_settings, "/voice/incoming", ring)  # Twilio retried the webhook
    assert answer.status_code == 200 and '<Reject reason="busy"' in answer.text and again.status_code == 200
    wait_until(lambda: len(sim.calls_to(phone(1))) == 2, timeout=30)
    assert sim.wait_for_calls(10)
    callback = sim.calls_to(phone(1))[1]
    assert (callback.date_created - rang_at).total_seconds() < 60
    first_clip = sim.calls_to(phone(1))[0].clips[0].url
    assert callback.clips[0].url == first_clip and callback.clips[0].is_mp3
    with Session(live_engine) as session:
        replies = session.exec(select(Delivery).where(Delivery.kind == "reply", Delivery.channel == "voice")).all()
    assert len(replies) == 1 and replies[0].to_phone == phone(1)
    wait_until(lambda: _status(live_engine, replies[0].id) == D.delivered, timeout=30)


def _status(engine: Engine, delivery_id: int | None) -> str:
    with Session(engine) as session:
        row = session.get(Delivery, delivery_id)
        assert row is not None
        return row.status
