"""One provider budget across every process: real `broadcast worker` processes on one PostgreSQL, the Twilio
simulator in a process of its own counting what it accepted."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcast.channels.core.models import BudgetShare
from broadcast.channels.gateway.service import register_phone, set_commune_route
from broadcast.channels.twilio.sms import TwilioSmsChannel
from broadcast.config import Settings
from broadcast.db import utcnow
from broadcast.outbox.models import Delivery, DeliveryStatus
from broadcast.simulators.gateway import GatewaySimulator
from broadcast.simulators.twilio.process import SimulatorProcess
from tests.channels.test_reliability import counts, spawn_worker, worker_env
from tests.support.seed import approved_campaign, seed_contacts, start, wait_until
from tests.support.windows import busiest_second

D = DeliveryStatus
BUDGET = 20


# This machine is shared (2 cores, often a load above 10 from other jobs): a process waiting 100 ms for a core
# between the budget's grant and its request's first byte, or a simulator waiting that long to read it, bunches
# requests in the simulator's record that left evenly. So, when the tests run as root, the workers are scheduled
# ahead of the other jobs, and the simulator (standing for Twilio, whose clock does not stall while this machine
# is busy) ahead of the workers: the record then measures the budget, not the neighbours.


def provider(settings: Settings) -> SimulatorProcess:
    """The Twilio simulator in its own process."""
    return SimulatorProcess(settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value(),
                            realtime=True)


def ahead(process: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
    """`process`, scheduled ahead of the machine's other jobs when the tests may do so."""
    with contextlib.suppress(PermissionError):
        os.setpriority(os.PRIO_PROCESS, process.pid, -5)
    return process


def accepted(sim: SimulatorProcess) -> list[dict[str, str]]:
    return [m for m in sim.messages() if m["status"] != "failed"]


def arrivals(messages: list[dict[str, str]]) -> list[float]:
    """When the simulator received each message (its `date_created`), in seconds."""
    return [datetime.fromisoformat(m["date_created"]).timestamp() for m in messages]


def held(engine: Engine, key: str) -> dict[str, int]:
    """Live members of budget `key` and their shares."""
    with Session(engine) as session:
        rows = session.exec(select(BudgetShare.member, BudgetShare.share)
                            .where(BudgetShare.key == key, col(BudgetShare.expires_at) > utcnow())).all()
    return dict(rows)


def leases(engine: Engine, key: str) -> dict[str, datetime]:
    """Until when each member of budget `key` holds its lease (each heartbeat moves it on)."""
    with Session(engine) as session:
        return dict(session.exec(select(BudgetShare.member, BudgetShare.expires_at)
                                 .where(BudgetShare.key == key)).all())


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # shared by processes: PostgreSQL
def test_three_workers_never_exceed_one_budget_together(live_settings: Settings, live_engine: Engine,
                                                        tmp_path: Path) -> None:
    residents = 600
    seed_contacts(live_engine, residents)
    campaign_id = approved_campaign(live_engine)
    start(live_engine, campaign_id)
    with provider(live_settings) as sim:
        sim.set_callback_mode("dropped")
        env = worker_env(live_settings, sim.base_url, SMS_RATE_PER_SECOND=str(BUDGET))
        workers = [ahead(spawn_worker(env, tmp_path / f"worker{i}.log")) for i in range(3)]
        try:
            wait_until(lambda: counts(live_engine, campaign_id)[D.sent] == residents, timeout=180)
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                worker.wait(timeout=30)
        messages = accepted(sim)
    per_resident = Counter(m["to"] for m in messages)
    assert len(per_resident) == residents and set(per_resident.values()) == {1}
    assert busiest_second(arrivals(messages)).most <= BUDGET
    with Session(live_engine) as session:
        workers_used = set(session.exec(select(Delivery.claimed_by).where(Delivery.campaign_id == campaign_id)))
    assert len(workers_used) == 3  # all three sent: the budget was shared, not won by one


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_killed_workers_share_is_taken_up_and_nothing_doubles(live_settings: Settings, live_engine: Engine,
                                                                tmp_path: Path) -> None:
    residents = 900
    seed_contacts(live_engine, residents)
    campaign_id = approved_campaign(live_engine)
    start(live_engine, campaign_id)
    key = TwilioSmsChannel(live_settings).budget_key(live_settings)
    with provider(live_settings) as sim:
        sim.set_callback_mode("dropped")
        env = worker_env(live_settings, sim.base_url, SMS_RATE_PER_SECOND=str(BUDGET))
        workers = [ahead(spawn_worker(env, tmp_path / f"worker{i}.log")) for i in range(3)]
        try:
            wait_until(lambda: sorted(held(live_engine, key).values()) == [6, 7, 7], timeout=30)
            wait_until(lambda: counts(live_engine, campaign_id)[D.sent] >= 200, timeout=60)
            victim = workers.pop(1)
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            # The two others hold the whole budget within 5 s: the lease runs out, then one window passes.
            wait_until(lambda: sorted(held(live_engine, key).values()) == [10, 10], timeout=5)
            assert not any(f":{victim.pid}:" in member for member in held(live_engine, key))
            wait_until(lambda: counts(live_engine, campaign_id)[D.sent] == residents, timeout=180)
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                worker.wait(timeout=30)
        messages = accepted(sim)
    per_resident = Counter(m["to"] for m in messages)
    assert len(per_resident) == residents and set(per_resident.values()) == {1}, "lost or doubled"
    assert busiest_second(arrivals(messages)).most <= BUDGET


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_gateway_phones_daily_limit_holds_across_two_workers(live_settings: Settings, live_engine: Engine,
                                                               tmp_path: Path) -> None:
    limit, residents = 25, 80
    seed_contacts(live_engine, residents)  # all in commune 32248, which the phone takes
    phone = GatewaySimulator("sms", "pw-phone", "signing-key-phone")
    url = phone.start()
    try:
        with Session(live_engine) as session:
            register_phone(session, name="phone", base_url=url, login="sms", password="pw-phone",
                           signing_key="signing-key-phone", commune_code="32248", rate_per_minute=6000,
                           daily_limit=limit)
            set_commune_route(session, "32248", "gateway:phone")
            session.commit()
        campaign_id = approved_campaign(live_engine)
        start(live_engine, campaign_id)
        with provider(live_settings) as sim:
            env = worker_env(live_settings, sim.base_url, GATEWAY_HEALTH_SECONDS="0.3", GATEWAY_SYNC_SECONDS="0.2")
            workers = [spawn_worker(env, tmp_path / f"worker{i}.log") for i in range(2)]
            try:
                wait_until(lambda: len(phone.messages) >= limit, timeout=60)
                # Both workers send through the phone (each holds part of its per-minute budget) ...
                wait_until(lambda: len(held(live_engine, "sms:gateway:phone")) == 2, timeout=30)
                # ... and go on claiming (every 50 ms) while we watch: none may take a row past the limit. Watched
                # for as long as it takes both to renew their leases a dozen times (their own clock, not ours).
                first = leases(live_engine, "sms:gateway:phone")
                wait_until(lambda: all(at >= first[member] + timedelta(seconds=3)
                                       for member, at in leases(live_engine, "sms:gateway:phone").items()
                                       if member in first), timeout=60)
                assert all(worker.poll() is None for worker in workers)
            finally:
                for worker in workers:
                    worker.terminate()
                for worker in workers:
                    worker.wait(timeout=30)
            assert sim.messages() == []  # routed to the phone: nothing went to Twilio
    finally:
        phone.close()
    assert len(phone.messages) == limit
    assert counts(live_engine, campaign_id)[D.queued] == residents - limit


def test_busiest_second_counts_sliding_windows() -> None:
    moments = [1000.0 + t for t in (0.0, 0.5, 0.99, 1.0, 1.2, 1.98, 3.0)]
    busiest = busiest_second(moments)
    assert busiest.most == 4 and busiest.began == moments[1] and busiest.over == 0  # 0.5, 0.99, 1.0, 1.2 (first)
    assert busiest_second(moments, budget=3).over == 2  # the windows from 0.5 and from 0.99
    assert busiest_second([]).most == 0
