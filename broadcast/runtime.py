"""Process wiring: which services run in `serve`, `worker` and the demo, and the channels they use."""

from __future__ import annotations

import logging
import secrets
import signal
import threading
from collections.abc import Callable
from typing import Any, TypedDict

from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcast.app import BackgroundService, create_app
from broadcast.channels.core.dispatcher import Dispatcher
from broadcast.channels.gateway.channel import GatewayChannel, PhoneConfig, webhook_url
from broadcast.channels.gateway.models import GatewayPhone, PhoneStatus
from broadcast.channels.gateway.runtime import start_gateways, twilio_rows
from broadcast.channels.gateway.service import register_phone, set_commune_route
from broadcast.channels.twilio.sms import TwilioSmsChannel
from broadcast.communes.models import Commune
from broadcast.config import Settings
from broadcast.db import make_engine, upgrade
from broadcast.demo import DEMO_COMMUNES
from broadcast.logs import configure_logging
from broadcast.simulators.gateway import GatewaySimulator

log = logging.getLogger(__name__)


def sms_channel(settings: Settings) -> tuple[TwilioSmsChannel, Callable[[], None]]:
    """The Twilio channel, aimed at the built-in simulator when TWILIO_SIMULATOR is on."""
    if not settings.twilio_simulator:
        return TwilioSmsChannel(settings), lambda: None
    from broadcast.simulators.twilio.server import TwilioSimulator

    simulator = TwilioSimulator(
        settings.twilio_account_sid,
        settings.twilio_auth_token.get_secret_value(),
        port=settings.twilio_simulator_port,
        record_requests=False,
    )
    simulator.state.incoming_url = f"{settings.public_base_url}/webhooks/twilio/sms"
    simulator.state.incoming_to = settings.twilio_from
    url = simulator.start()
    log.warning("Twilio simulator running at %s: no real SMS will be sent; residents reply with "
                "POST %s/_simulator/inbound", url, url)
    return TwilioSmsChannel(settings, api_base_url=url), simulator.stop


def _api_url(channel: TwilioSmsChannel) -> str:
    """The Twilio API address the SMS channel was given (the simulator's, when it runs)."""
    return str(channel._base_url)


def voice_dispatcher(engine: Engine, settings: Settings, api_base_url: str | None) -> Dispatcher:
    """The calls outbox: its own rate budget (calls per second), same claims, rules and records."""
    from broadcast.channels.voice.channel import CallChannel
    from broadcast.channels.voice.dispatcher import VoiceDispatcher

    return VoiceDispatcher(engine, settings, CallChannel(settings, api_base_url=api_base_url))


def render_voice_prompts(engine: Engine, settings: Settings) -> None:
    """Render the call menu prompts in the background (calls read them with <Say> until then)."""
    from broadcast.channels.voice.clips import render_prompts

    def run() -> None:
        try:
            render_prompts(engine, settings)
        except Exception:
            log.exception("voice prompts not rendered; calls read the menu with <Say>")

    threading.Thread(target=run, name="voice-prompts", daemon=True).start()


SIMULATED_PHONE = "mo-phong"


def start_simulated_phone(engine: Engine, settings: Settings,
                          communes: list[str] | None = None) -> GatewaySimulator:
    """Serve a simulated phone, (re)register it as `mo-phong` and route the demo communes through it."""
    password, key = secrets.token_urlsafe(12), secrets.token_urlsafe(24)
    simulator = GatewaySimulator("sms", password, key, port=settings.gateway_simulator_port)
    url = simulator.start()
    with Session(engine) as session:
        phone = session.exec(select(GatewayPhone).where(GatewayPhone.name == SIMULATED_PHONE)).first()
        if phone is None:
            phone = register_phone(session, name=SIMULATED_PHONE, base_url=url, rate_per_minute=60,
                                   daily_limit=5000)
        phone.base_url, phone.login, phone.password, phone.signing_key = url, "sms", password, key
        phone.status, phone.enabled = PhoneStatus.up, True
        session.add(phone)
        for code in communes if communes is not None else list(DEMO_COMMUNES):
            if session.get(Commune, code) is not None:
                set_commune_route(session, code, f"gateway:{SIMULATED_PHONE}")
        session.commit()
    channel = GatewayChannel(PhoneConfig(SIMULATED_PHONE, url, "sms", password))
    channel.register_webhooks(webhook_url(settings.public_base_url, SIMULATED_PHONE))
    log.warning("simulated gateway phone %s at %s: no real SMS will be sent; a resident's reply: "
                "POST %s/_simulator/inbound {\"from\": \"+8498…\", \"text\": \"…\"}", SIMULATED_PHONE, url, url)
    return simulator


def simulated_phone_service(engine: Engine, settings: Settings) -> Callable[[], None]:
    """GATEWAY_SIMULATOR: a simulated phone taking the demo communes; returns its stop function."""
    if not settings.gateway_simulator:
        return lambda: None
    return start_simulated_phone(engine, settings).close


def offline_clips_service(app: FastAPI) -> Callable[[], None]:
    """Render, once, the clips calls hear while the database does not answer (kept on disk)."""
    from broadcast.channels.voice.offline import render_offline_clips

    settings: Settings = app.state.settings

    def run() -> None:
        try:
            render_offline_clips(settings)
        except Exception:
            log.exception("offline call clips not rendered; during an outage Twilio reads the apology aloud")

    threading.Thread(target=run, name="offline-clips", daemon=True).start()
    return lambda: None


def dispatcher_service(app: FastAPI) -> Callable[[], None]:
    settings: Settings = app.state.settings
    channel, stop_channel = sms_channel(settings)
    app.state.twilio_api_url = _api_url(channel)  # replies are recovered after an outage from the same API
    dispatcher = Dispatcher(app.state.engine, settings, channel, **twilio_rows(settings))
    stop_phone = simulated_phone_service(app.state.engine, settings)
    stop_gateways = start_gateways(app.state.engine, settings)
    stop_dispatcher = dispatcher.start()
    stop_calls = voice_dispatcher(app.state.engine, settings, _api_url(channel)).start()

    def stop() -> None:
        stop_calls()
        stop_dispatcher()
        stop_gateways()
        stop_phone()
        stop_channel()

    return stop


def voice_prompts_service(app: FastAPI) -> Callable[[], None]:
    """The call menu's prompts are rendered by the web process, which serves the media files the calls play
    (a `broadcast worker` on another machine may not share MEDIA_DIR)."""
    render_voice_prompts(app.state.engine, app.state.settings)
    return lambda: None


def scheduler_service(app: FastAPI) -> Callable[[], None]:
    """The campaign scheduler in this process (active only while it holds the leader lock)."""
    from scheduler.service import SchedulerRunner

    runner = SchedulerRunner(app.state.engine, app.state.settings)
    app.state.scheduler = runner
    return runner.start()


def default_services(settings: Settings) -> list[BackgroundService]:
    from broadcast.audio.worker import start_audio_worker

    services: list[BackgroundService] = [start_audio_worker, voice_prompts_service, offline_clips_service]
    if settings.run_dispatcher_in_serve:
        services.append(dispatcher_service)
    if settings.run_scheduler_in_serve:
        services.append(scheduler_service)
    if settings.metrics_port:
        from broadcast.ops.metrics import metrics_port_service

        services.append(metrics_port_service)
    return services


def serve(settings: Settings, *, host: str, port: int) -> None:
    """Web app + API + dispatcher (+ scheduler) in one process."""
    import uvicorn

    configure_logging(settings.log_format)
    app = create_app(settings, background=default_services(settings))
    # With JSON logs uvicorn's own records go through the root handler too (its default config prints text).
    logs: dict[str, Any] = {"log_config": None} if settings.log_format == "json" else {}
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False, **proxy_options(settings), **logs)


class ProxyOptions(TypedDict):
    proxy_headers: bool
    forwarded_allow_ips: str


def proxy_options(settings: Settings) -> ProxyOptions:
    """uvicorn's proxy handling: X-Forwarded-For is believed only from FORWARDED_ALLOW_IPS.

    uvicorn's own default trusts 127.0.0.1, so any local process could choose the client address the login
    limiter keys on; here nothing is trusted unless configured.
    """
    allowed = settings.forwarded_allow_ips.strip()
    return ProxyOptions(proxy_headers=bool(allowed), forwarded_allow_ips=allowed or "127.0.0.1")


def run_worker(settings: Settings) -> None:
    """The dispatcher alone, until SIGINT/SIGTERM; in-flight sends finish and are recorded."""
    configure_logging(settings.log_format)
    upgrade(settings.database_url, settings=settings)
    engine = make_engine(settings.database_url, settings=settings)
    channel, stop_channel = sms_channel(settings)
    dispatcher = Dispatcher(engine, settings, channel, **twilio_rows(settings))
    stop_phone = simulated_phone_service(engine, settings)
    stop_gateways = start_gateways(engine, settings)
    calls = voice_dispatcher(engine, settings, _api_url(channel))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    log.info("dispatcher %s started", dispatcher.worker)
    calls_thread = threading.Thread(target=calls.run, args=(stop,), name="dispatcher-voice", daemon=True)
    calls_thread.start()
    try:
        dispatcher.run(stop)
    finally:
        calls_thread.join(timeout=settings.twilio_timeout_seconds + 5)
        stop_gateways()
        stop_phone()
        stop_channel()
        engine.dispose()
