"""Voice fixtures: short retry settings for the live app, a simulator that calls it, rendered clips."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session
from twilio.request_validator import RequestValidator

from broadcast.audio.service import campaign_audio, render_clip_now
from broadcast.campaigns.schemas import ContentIn
from broadcast.channels.core.dispatcher import Dispatcher
from broadcast.channels.twilio.sms import TwilioSmsChannel
from broadcast.channels.voice.channel import CallChannel
from broadcast.channels.voice.clips import clear_cache, render_prompts
from broadcast.channels.voice.dispatcher import VoiceDispatcher
from broadcast.config import Settings
from broadcast.simulators.twilio import TwilioSimulator
from tests.support.seed import approved_campaign

VOICE_TEXT = "Thông báo của Ủy ban nhân dân xã: Luật Đất đai năm 2024 có hiệu lực từ ngày 1 tháng 8."
SMS_TEXT = "UBND xa: Luat Dat dai 2024 co hieu luc tu 1/8."


@pytest.fixture
def live_settings(live_settings: Settings) -> Settings:
    """The live app's settings with seconds-long call retries and an always-open calling window."""
    return live_settings.model_copy(update={
        "voice_retry_seconds": 1.0, "voice_max_retries": 2, "voice_window_start": "00:00",
        "voice_window_end": "00:00", "voice_missed_call_delay_seconds": 0.0, "voice_rate_per_second": 200.0,
        "tts_engine": "espeak", "voice_status_timeout_seconds": 4.0,
    })


@pytest.fixture(autouse=True)
def _fresh_clip_cache() -> Iterator[None]:
    """Calls cache what they play for a while: each test starts and ends without another test's clips."""
    clear_cache()
    yield
    clear_cache()


def voice_campaign(engine: Engine, settings: Settings, *, render: bool = True, **fields: Any) -> int:
    """An approved voice campaign (with SMS text for the fallback) whose clip and prompts are rendered."""
    fields.setdefault("channels", ["voice"])
    fields.setdefault("contents", [ContentIn(channel="voice", language="vi", body=VOICE_TEXT)])
    campaign_id = approved_campaign(engine, SMS_TEXT, **fields)
    if render:
        with Session(engine) as session:
            clips = [clip.id for _, clip in campaign_audio(session, settings, campaign_id)]
            session.commit()
        for clip_id in clips:
            assert clip_id is not None
            render_clip_now(engine, settings, clip_id)
        render_prompts(engine, settings)
    clear_cache()
    return campaign_id


@pytest.fixture
def dispatchers(live_engine: Engine, live_settings: Settings,
                sim: TwilioSimulator) -> Iterator[Callable[..., Callable[[], None]]]:
    """Start the SMS and voice dispatchers against the simulator; stopped after the test."""
    stops: list[Callable[[], None]] = []

    def start(**kwargs: Any) -> Callable[[], None]:
        sms = Dispatcher(live_engine, live_settings, TwilioSmsChannel(live_settings, api_base_url=sim.base_url))
        calls = VoiceDispatcher(live_engine, live_settings,
                                CallChannel(live_settings, api_base_url=sim.base_url), **kwargs)
        started = [sms.start(), calls.start()]

        def stop() -> None:
            for one in started:
                one()

        stops.append(stop)
        return stop

    yield start
    for stop in stops:
        stop()


def signed_post(client: Any, settings: Settings, path: str, params: dict[str, str],
                token: str | None = None) -> Any:
    """POST form params to the live app signed like Twilio (with `token`, default the real one)."""
    url = settings.public_base_url + path
    secret = token or settings.twilio_auth_token.get_secret_value()
    signature = RequestValidator(secret).compute_signature(url, params)
    return client.post(url, data=params, headers={"X-Twilio-Signature": signature})
