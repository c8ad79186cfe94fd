"""Reliability over real HTTP and real processes: SIGKILL mid-campaign, several workers on PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcast.config import Settings
from broadcast.outbox.models import Delivery, DeliveryStatus
from broadcast.simulators.twilio import TwilioSimulator
from tests.support.seed import approved_campaign, seed_contacts, start, wait_until

D = DeliveryStatus


def worker_env(settings: Settings, simulator_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "DATABASE_URL"))}
    env.update(
        DATABASE_URL=settings.database_url,
        PUBLIC_BASE_URL=settings.public_base_url,
        TWILIO_SIMULATOR="false",
        TWILIO_API_BASE_URL=simulator_url,
        TWILIO_ACCOUNT_SID=settings.twilio_account_sid,
        TWILIO_AUTH_TOKEN=settings.twilio_auth_token.get_secret_value(),
        TWILIO_TIMEOUT_SECONDS="2",
        DISPATCHER_LEASE_SECONDS="4",
        DISPATCHER_POLL_SECONDS="0.05",
        QUIET_HOURS_START="00:00",
        QUIET_HOURS_END="00:00",
        SMS_RATE_PER_SECOND="400",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def spawn_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "broadcast.cli", "worker"], env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT, cwd=log.parent)


def counts(engine: Engine, campaign_id: int) -> Counter[str]:
    with Session(engine) as session:
        rows = session.exec(select(Delivery.status, func.count()).where(Delivery.campaign_id == campaign_id)
                            .group_by(col(Delivery.status))).all()
    return Counter(dict(rows))


@pytest.mark.slow
def test_sigkill_mid_campaign_loses_and_doubles_nothing(
    live_app: str, live_settings: Settings, live_engine: Engine, tmp_path: Path
) -> None:
    residents = 5000
    seed_contacts(live_engine, residents)
    campaign_id = approved_campaign(live_engine)
    start(live_engine, campaign_id)
    with TwilioSimulator(live_settings.twilio_account_sid,
                         live_settings.twilio_auth_token.get_secret_value(), record_requests=False) as sim:
        sim.set_latency(0.02)
        sim.set_callback_mode("dropped")  # statuses come from the final sweep below, not 15,000 callbacks
        env = worker_env(live_settings, sim.base_url)
        first = spawn_worker(env, tmp_path / "worker.log")
        try:
            wait_until(lambda: len(sim.messages) >= 1500, timeout=120)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
        in_flight = counts(live_engine, campaign_id)[D.sending]
        second = spawn_worker(env, tmp_path / "worker.log")
        try:
            wait_until(lambda: counts(live_engine, campaign_id)[D.sent] == residents, timeout=240)
        finally:
            second.terminate()
            second.wait(timeout=30)
        per_phone = Counter(m.to for m in sim.messages)
        assert len(per_phone) == residents
        assert set(per_phone.values()) == {1}, "a resident got the message twice"
        with Session(live_engine) as session:
            sids = set(session.exec(select(Delivery.provider_sid).where(Delivery.campaign_id == campaign_id)))
        assert sids == {m.sid for m in sim.messages}
    assert in_flight > 0, "the kill should have caught rows in flight (otherwise this test proves less)"


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # shared by processes: PostgreSQL
def test_three_workers_on_postgresql_send_each_message_once(
    live_app: str, live_settings: Settings, live_engine: Engine, tmp_path: Path
) -> None:
    residents = 20_000
    seed_contacts(live_engine, residents)
    campaign_id = approved_campaign(live_engine)
    start(live_engine, campaign_id)
    with TwilioSimulator(live_settings.twilio_account_sid,
                         live_settings.twilio_auth_token.get_secret_value(), record_requests=False) as sim:
        sim.set_callback_mode("dropped")
        env = worker_env(live_settings, sim.base_url, SMS_RATE_PER_SECOND="3000", DISPATCHER_BATCH_SIZE="100")
        workers = [spawn_worker(env, tmp_path / f"worker{i}.log") for i in range(3)]
        try:
            wait_until(lambda: counts(live_engine, campaign_id)[D.sent] == residents, timeout=300)
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                worker.wait(timeout=30)
        per_phone = Counter(m.to for m in sim.messages)
        assert len(per_phone) == residents and set(per_phone.values()) == {1}
    with Session(live_engine) as session:
        by_worker = session.exec(select(Delivery.claimed_by).where(Delivery.campaign_id == campaign_id)).all()
        attempts = session.exec(select(func.max(Delivery.attempts))).one()
    assert attempts == 1
    logs = "".join((tmp_path / f"worker{i}.log").read_text() for i in range(3))
    assert logs.count("dispatcher") >= 3, logs[-2000:]
    assert len(by_worker) == residents
