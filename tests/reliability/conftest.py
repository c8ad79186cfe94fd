"""Fixtures for the outage tests: a PostgreSQL cluster of the test's own (stopped and started by it), a migrated
database on it, the Twilio simulator, and helpers that read the outcome."""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcast.config import load_settings
from broadcast.db import make_engine, upgrade
from broadcast.outbox.models import Delivery
from broadcast.simulators.twilio import TwilioSimulator
from broadcast.simulators.twilio.process import SimulatorControl
from broadcast.simulators.twilio.testing import SIM_ACCOUNT_SID, SIM_AUTH_TOKEN
from tests.pg import PrivateCluster, private_cluster
from tests.support.needs import missing

FINAL = {"delivered": "delivered", "undelivered": "undelivered", "failed": "failed"}


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    """A private PostgreSQL cluster: this test alone stops and starts it (never the shared server)."""
    found = private_cluster()
    if found is None:
        missing("PostgreSQL server binaries (outage tests start a cluster of their own)")
    assert found is not None
    server = found.server()
    try:
        server.create_database("broadcast")
        yield found
    finally:
        server.stop()


@pytest.fixture
def cluster_url(cluster: PrivateCluster) -> str:
    url = cluster.admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/broadcast"
    upgrade(url, settings=load_settings(database_url=url, _env_file=None))
    return url


@pytest.fixture
def cluster_engine(cluster_url: str) -> Iterator[Engine]:
    engine = make_engine(cluster_url, settings=load_settings(database_url=cluster_url, _env_file=None))
    yield engine
    engine.dispose()


@pytest.fixture
def twilio() -> Iterator[TwilioSimulator]:
    with TwilioSimulator(SIM_ACCOUNT_SID, SIM_AUTH_TOKEN, record_requests=False) as simulator:
        yield simulator


def statuses(engine: Engine, campaign_id: int) -> Counter[str]:
    with Session(engine) as session:
        rows = session.exec(select(Delivery.status, func.count()).where(Delivery.campaign_id == campaign_id)
                            .group_by(col(Delivery.status))).all()
    return Counter(dict(rows))


def mismatched(engine: Engine, campaign_id: int, twilio: TwilioSimulator) -> list[tuple[str, str, str]]:
    """(SID, our status, Twilio's) for every delivery whose status is not the final one Twilio reports."""
    final = {m.sid: FINAL.get(m.status, m.status) for m in twilio.messages}
    with Session(engine) as session:
        rows = session.exec(select(Delivery.provider_sid, Delivery.status)
                            .where(Delivery.campaign_id == campaign_id)).all()
    return [(str(sid), status, final.get(str(sid), "?")) for sid, status in rows if final.get(str(sid)) != status]


def figure(log: str, pattern: str) -> list[str]:
    return re.findall(pattern, log)


@dataclass
class Replies:
    """Residents texting back while a campaign goes out: one message every `every` seconds from a resident
    who already got the campaign's SMS, through the simulator (which posts Twilio's signed webhook)."""

    twilio: TwilioSimulator
    total: int
    body: Callable[[int], str]
    every: float = 0.1
    sent: list[tuple[str, str, int | None]] = field(default_factory=list)  # (phone, SID, our HTTP status)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        control = SimulatorControl(self.twilio.base_url)
        used: set[str] = set()
        stop = threading.Event()
        try:
            while len(self.sent) < self.total:
                fresh = [m.to for m in self.twilio.messages if m.to not in used]
                if not fresh:
                    stop.wait(self.every)
                    continue
                sender = fresh[0]
                used.add(sender)
                answer = control.inbound(sender, self.body(len(self.sent)))
                self.sent.append((sender, str(answer.get("sid")), answer.get("status")))
                stop.wait(self.every)
        finally:
            control.close()

    def join(self, timeout: float) -> None:
        assert self._thread is not None
        self._thread.join(timeout)
