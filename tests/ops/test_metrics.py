"""GET /metrics: the token, and figures that match the database (deliveries, queue, leader, phones, clips)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import delete, func, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcast.audio.models import AudioClip
from broadcast.channels.core.dispatcher import Dispatcher
from broadcast.channels.gateway.models import GatewayPhone
from broadcast.channels.twilio.sms import TwilioSmsChannel
from broadcast.config import Settings
from broadcast.db import session_scope, utcnow
from broadcast.engagement.retained import RetainedRun
from broadcast.engagement.rollup import refresh_rollup
from broadcast.outbox.models import Delivery, DeliveryAttempt, DeliveryStatus
from broadcast.simulators.twilio import TwilioSimulator
from tests.conftest import free_port
from tests.support.http import loopback
from tests.support.seed import approved_campaign, phone, seed_contacts, start, wait_until

TOKEN = "metrics-token-for-tests-0123456789"
ROOT = Path(__file__).resolve().parents[2]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(body: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def scrape(client: Any) -> Samples:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def database_counts(engine: Engine) -> Counter[tuple[str, str]]:
    with Session(engine) as session:
        rows = session.execute(select(col(Delivery.channel), col(Delivery.status), func.count())
                               .group_by(col(Delivery.channel), col(Delivery.status))).all()
    return Counter({(channel, status): n for channel, status, n in rows})


def gauge_counts(samples: Samples) -> Counter[tuple[str, str]]:
    out: Counter[tuple[str, str]] = Counter()
    for (name, labels), n in samples.items():
        if name == "broadcast_deliveries" and n:
            d = dict(labels)
            out[(d["channel"], d["status"])] = int(n)
    return out


@pytest.fixture
def metrics_client(client_with: Any) -> Any:
    return client_with(metrics_token=SecretStr(TOKEN))


def test_404_without_a_token_and_401_without_the_right_one(anonymous_client: Any, client_with: Any) -> None:
    assert anonymous_client.get("/metrics").status_code == 404  # METRICS_TOKEN unset: as if there were no such page
    guarded = client_with(metrics_token=SecretStr(TOKEN))
    for header in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Basic {TOKEN}"}):
        guarded.headers.pop("Authorization", None)
        answer = guarded.get("/metrics", headers=header)
        assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
    assert 'broadcast_deliveries{channel="sms",status="queued"} 0.0' in guarded.get(
        "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text


def test_a_short_token_is_refused_at_start() -> None:
    from broadcast.config import load_settings
    from broadcast.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="Invalid setting METRICS_TOKEN"):
        load_settings(metrics_token="short", _env_file=None)


def test_delivery_counts_match_the_database_before_and_after_refreshes_and_while_pruning(
        live_app: str, live_settings: Settings, live_engine: Engine, sim: TwilioSimulator) -> None:
    from fastapi.testclient import TestClient

    from broadcast.app import create_app

    seed_contacts(live_engine, 30)
    sim.set_outcome([phone(1), phone(2)], status="undelivered", error_code=30003)
    campaign_id = approved_campaign(live_engine)
    run_id = start(live_engine, campaign_id)
    with TestClient(create_app(live_settings.model_copy(update={"metrics_token": SecretStr(TOKEN)}))) as app_client:
        before = scrape(app_client)
        assert gauge_counts(before) == database_counts(live_engine)  # no rollup yet: every row counted
        sends = value(before, "broadcast_sends_total", channel="sms", provider="twilio", result="accepted")

        dispatcher = Dispatcher(live_engine, live_settings, TwilioSmsChannel(live_settings, api_base_url=sim.base_url))
        stop = dispatcher.start()
        try:
            wait_until(lambda: database_counts(live_engine)[("sms", "delivered")] == 28
                       and database_counts(live_engine)[("sms", "undelivered")] == 2)
        finally:
            stop()
        after = scrape(app_client)
        assert gauge_counts(after) == database_counts(live_engine)
        assert value(after, "broadcast_sends_total", channel="sms", provider="twilio", result="accepted") \
            - sends == 30

        with session_scope(live_engine) as session:  # the run settles, and the rollup holds it
            session.execute(update(Delivery).values(updated_at=utcnow() - timedelta(hours=1)))
        with session_scope(live_engine) as session:
            refresh_rollup(session, live_settings)
        assert gauge_counts(scrape(app_client)) == database_counts(live_engine)
        with session_scope(live_engine) as session:  # a change after the refresh is counted all the same
            session.execute(update(Delivery).where(col(Delivery.to_phone) == phone(5))
                            .values(status="failed", updated_at=utcnow()))
        assert database_counts(live_engine)[("sms", "failed")] == 1
        assert gauge_counts(scrape(app_client)) == database_counts(live_engine)
        # a run retention is pruning: half its rows gone, the rollup still holding all of them
        with session_scope(live_engine) as session:
            refresh_rollup(session, live_settings)
            session.add(RetainedRun(run_id=run_id, campaign_id=campaign_id, deliveries=30))
            chosen = list(session.execute(select(col(Delivery.id)).where(col(Delivery.run_id) == run_id)
                                          .limit(15)).scalars())
            session.execute(delete(DeliveryAttempt).where(col(DeliveryAttempt.delivery_id).in_(chosen)))
            session.execute(delete(Delivery).where(col(Delivery.id).in_(chosen)))
        assert sum(database_counts(live_engine).values()) == 15
        assert gauge_counts(scrape(app_client)) == database_counts(live_engine)


def test_queue_leader_phones_and_clips(metrics_client: Any, engine: Engine, settings: Settings) -> None:
    from scheduler.leader import leader_lock

    seed_contacts(engine, 5)
    campaign_id = approved_campaign(engine)
    start(engine, campaign_id)
    with session_scope(engine) as session:
        session.execute(update(Delivery).values(next_attempt_at=utcnow() - timedelta(seconds=120)))
        session.execute(update(Delivery).where(col(Delivery.to_phone) == phone(0))
                        .values(next_attempt_at=utcnow() + timedelta(hours=1)))
        session.add(GatewayPhone(name="xa-dat-mui-1", base_url="http://127.0.0.1:9", status="up"))
        session.add(GatewayPhone(name="xa-dat-mui-2", base_url="http://127.0.0.1:9", status="down"))
        session.add(GatewayPhone(name="tat", base_url="http://127.0.0.1:9", status="down", enabled=False))
        session.add(AudioClip(content_hash="a" * 64, status="ready"))
        session.add(AudioClip(content_hash="b" * 64, status="pending"))
    samples = scrape(metrics_client)
    assert value(samples, "broadcast_queue_due", channel="sms") == 4  # one is not due for an hour
    assert value(samples, "broadcast_queue_oldest_due_age_seconds", channel="sms") >= 120
    assert value(samples, "broadcast_gateway_phone_up", phone="xa-dat-mui-1") == 1
    assert ("broadcast_gateway_phone_up", (("phone", "xa-dat-mui-2"),)) in samples
    assert value(samples, "broadcast_gateway_phone_up", phone="xa-dat-mui-2") == 0
    assert ("broadcast_gateway_phone_up", (("phone", "tat"),)) not in samples  # disabled: not watched
    assert value(samples, "broadcast_audio_clips", status="ready") == 1
    assert value(samples, "broadcast_audio_clips", status="pending") == 1
    assert value(samples, "broadcast_database_up") == 1

    assert value(samples, "broadcast_scheduler_leader") == 0
    lock = leader_lock(settings.database_url)
    assert lock.acquire()
    try:
        assert value(scrape(metrics_client), "broadcast_scheduler_leader") == 1
    finally:
        lock.release()
    assert value(scrape(metrics_client), "broadcast_scheduler_leader") == 0
    assert lock.acquire()  # the probe never kept the lock from a scheduler
    lock.release()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_latency_is_labelled_by_route_template(metrics_client: Any) -> None:
    metrics_client.get("/api/v1/campaigns/123456")
    metrics_client.get("/api/v1/campaigns/654321")
    metrics_client.get("/campaigns/77", follow_redirects=False)
    metrics_client.get("/no/such/page/9")
    metrics_client.get("/static/web/app.css")
    samples = scrape(metrics_client)
    routes = {dict(labels)["route"] for (name, labels) in samples if name.startswith("broadcast_http_request")
              and "route" in dict(labels)}
    assert {"/api/v1/campaigns/{campaign_id}", "/campaigns/{campaign_id}", "unmatched",
            "/static/web/{path}"} <= routes
    assert not any(r[-1].isdigit() for r in routes)  # never a raw path
    assert value(samples, "broadcast_http_request_duration_seconds_count",
                 route="/api/v1/campaigns/{campaign_id}", method="GET") >= 2


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_metrics_port_serves_on_loopback_without_token(settings: Settings) -> None:
    from fastapi.testclient import TestClient

    from broadcast.app import create_app
    from broadcast.ops.metrics import metrics_port_service

    port = free_port()
    app = create_app(settings.model_copy(update={"metrics_port": port}), background=[metrics_port_service])
    with TestClient(app) as client:
        assert client.get("/metrics").status_code == 404  # no token: not on the public port
        body = loopback.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        assert 'broadcast_deliveries{channel="sms",status="queued"}' in body
    with pytest.raises(httpx.ConnectError):
        loopback.get(f"http://127.0.0.1:{port}/metrics", timeout=2)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_counters_of_other_processes_add_up_in_multiprocess_mode(settings: Settings, tmp_path: Path) -> None:
    """A worker process's sends appear in the web process's /metrics through PROMETHEUS_MULTIPROC_DIR."""
    directory = tmp_path / "prom"
    directory.mkdir()
    worker = textwrap.dedent("""
        from types import SimpleNamespace as O
        from broadcast.instruments import count_outcomes
        count_outcomes("sms", "twilio", [O(result="accepted", error_code=None)] * 3
                       + [O(result="permanent", error_code=21211)])
    """)
    web = textwrap.dedent(f"""
        from fastapi.testclient import TestClient
        from broadcast.app import create_app
        from broadcast.config import load_settings
        settings = load_settings(database_url={settings.database_url!r}, media_dir={str(settings.media_dir)!r},
                                 metrics_token={TOKEN!r}, _env_file=None)
        with TestClient(create_app(settings)) as client:
            print(client.get("/metrics", headers={{"Authorization": "Bearer {TOKEN}"}}).text)
    """)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    for _ in range(2):  # two worker processes
        subprocess.run([sys.executable, "-c", worker], env=env, cwd=ROOT, check=True, timeout=60)
    done = subprocess.run([sys.executable, "-c", web], env=env, cwd=ROOT, check=True, timeout=120,
                          capture_output=True, text=True)
    samples = parse(done.stdout)
    assert value(samples, "broadcast_sends_total", channel="sms", provider="twilio", result="accepted") == 6
    assert value(samples, "broadcast_provider_errors_total", channel="sms", provider="twilio", code="21211") == 2
    assert value(samples, "broadcast_deliveries", channel="sms", status="queued") == 0
    assert ("broadcast_deliveries", (("channel", "sms"), ("status", "queued"))) in samples


def test_counts_are_exact_on_an_unrefreshed_and_a_refreshed_rollup_of_many_runs(
        engine: Engine, settings: Settings, metrics_client: Any) -> None:
    seed_contacts(engine, 50)
    for _ in range(3):
        start(engine, approved_campaign(engine))
    with session_scope(engine) as session:
        session.execute(update(Delivery).where(col(Delivery.id) % 3 == 0).values(status=DeliveryStatus.delivered))
    assert gauge_counts(scrape(metrics_client)) == database_counts(engine)
    with session_scope(engine) as session:
        refresh_rollup(session, settings)
    assert gauge_counts(scrape(metrics_client)) == database_counts(engine) == Counter(
        {("sms", "queued"): 100, ("sms", "delivered"): 50})
