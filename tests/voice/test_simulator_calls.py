"""The simulator's Calls.json through the official SDK: Twilio's shapes, statuses, errors and flows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator

from broadcast.channels.twilio.client import make_twilio_client
from broadcast.simulators.twilio import TwilioSimulator
from broadcast.simulators.twilio.calls_flow import mp3_seconds
from broadcast.simulators.twilio.testing import SIM_ACCOUNT_SID, SIM_AUTH_TOKEN, CallbackSink, callback_sink

TO, FROM = "+84981234567", "+842903000977"


def test_create_fetch_list_and_status_callbacks() -> None:
    with TwilioSimulator(SIM_ACCOUNT_SID, SIM_AUTH_TOKEN) as sim, callback_sink() as sink:
        sim.set_call_behaviour([TO], outcomes=("busy", "no-answer"))
        client = make_twilio_client(SIM_ACCOUNT_SID, SIM_AUTH_TOKEN, sim.base_url)
        first = client.calls.create(to=TO, from_=FROM, url=sink.url_for("/twiml"), status_callback=sink.url_for(),
                                    status_callback_event=["initiated", "ringing", "answered", "completed"])
        assert first.sid.startswith("CA") and len(first.sid) == 34 and first.status == "queued"
        second = client.calls.create(to=TO, from_=FROM, url=sink.url_for("/twiml"), status_callback=sink.url_for())
        assert sim.wait_for_calls(10)
        assert client.calls(first.sid).fetch().status == "busy"
        assert client.calls(second.sid).fetch().status == "no-answer"
        listed = list(client.calls.stream(to=TO, start_time_after=datetime.now(UTC) - timedelta(minutes=1)))
        assert [c.sid for c in listed] == [second.sid, first.sid]  # newest first
        got = _statuses(sink, first.sid)
        assert got == ["initiated", "busy"]  # busy: no ringing
        assert _statuses(sink, second.sid) == ["no-answer"]  # default events: completed only
        validator = RequestValidator(SIM_AUTH_TOKEN)  # every callback is signed like Twilio's
        assert all(validator.validate(r.url, r.params, r.signature) for r in sink.received)
        assert not sink.received or all(r.path != "/twiml" for r in sink.received)  # never answered


def test_invalid_requests_get_twilio_errors() -> None:
    with TwilioSimulator(SIM_ACCOUNT_SID, SIM_AUTH_TOKEN) as sim:
        client = make_twilio_client(SIM_ACCOUNT_SID, SIM_AUTH_TOKEN, sim.base_url)
        with pytest.raises(TwilioRestException) as bad_to:
            client.calls.create(to="0981234567", from_=FROM, url="http://127.0.0.1:9/x")
        assert bad_to.value.status == 400 and bad_to.value.code == 21211
        with pytest.raises(TwilioRestException) as no_url:
            client.calls.create(to=TO, from_=FROM)
        assert no_url.value.code == 21205
        sim.inject_error(429, count=1)
        with pytest.raises(TwilioRestException) as busy:
            client.calls.create(to=TO, from_=FROM, url="http://127.0.0.1:9/x")
        assert busy.value.status == 429


def test_mp3_check_rejects_other_bytes() -> None:
    assert mp3_seconds(b"<html>not audio</html>") is None
    assert mp3_seconds(b"ID3\x03\x00\x00\x00\x00\x00\x00garbage") is None


def _statuses(sink: CallbackSink, sid: str) -> list[str]:
    return [r.params["CallStatus"] for r in sink.received if r.params.get("CallSid") == sid]
