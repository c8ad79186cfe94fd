"""Two scheduler processes on one PostgreSQL: one is active and runs each job once; the other takes over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from broadcast.campaigns.schedules.plans import set_schedule
from broadcast.campaigns.schedules.rules import ScheduleIn
from broadcast.config import Settings
from broadcast.db import utcnow
from tests.conftest import BOTH
from tests.scheduler.conftest import runs_of
from tests.support.seed import approved_campaign, seed_contacts, wait_until

pytestmark = BOTH  # the database matters here: SQL, locking or types differ

ROOT = Path(__file__).resolve().parents[2]


class Proc:
    def __init__(self, name: str, database_url: str, workdir: Path) -> None:
        self.log = workdir / f"{name}.log"
        env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(ROOT),
               "SCHEDULER_LEADER_POLL_SECONDS": "0.2", "SCHEDULER_SYNC_SECONDS": "0.3",
               "SCHEDULER_HOUSEKEEPING_SECONDS": "1"}
        with open(self.log, "w") as out:
            self.popen = subprocess.Popen([sys.executable, "-m", "scheduler"], cwd=workdir, env=env,
                                          stdout=out, stderr=subprocess.STDOUT)

    def text(self) -> str:
        return self.log.read_text()

    def ran(self, campaign_id: int) -> int:
        return self.text().count(f"campaign {campaign_id}: run ")


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for proc in started:
        if proc.popen.poll() is None:
            proc.popen.terminate()
            proc.popen.wait(timeout=20)


def schedule_soon(engine: Engine, settings: Settings, campaign_id: int, seconds: float) -> None:
    with Session(engine) as session:
        at = (utcnow() + timedelta(seconds=seconds)).isoformat()
        set_schedule(session, settings, campaign_id, ScheduleIn.model_validate({"at": at}), now=utcnow())
        session.commit()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_one_active_scheduler_and_takeover(engine: Engine, settings: Settings, tmp_path: Path,
                                           procs: list[Proc]) -> None:
    seed_contacts(engine, 20)
    first, second = approved_campaign(engine), approved_campaign(engine)
    procs.append(Proc("a", settings.database_url, tmp_path))
    wait_until(lambda: "scheduler started" in procs[0].text(), timeout=30)
    procs.append(Proc("b", settings.database_url, tmp_path))
    a, b = procs
    wait_until(lambda: "scheduler standby" in b.text(), timeout=30)

    schedule_soon(engine, settings, first, 1.5)
    wait_until(lambda: len(runs_of(engine, first)) == 1 and a.ran(first) == 1, timeout=30)
    assert b.ran(first) == 0 and "scheduler active" not in b.text()

    a.popen.send_signal(signal.SIGKILL)  # the active one dies without releasing anything
    a.popen.wait(timeout=10)
    wait_until(lambda: "scheduler started" in b.text(), timeout=30)

    schedule_soon(engine, settings, second, 1.5)
    wait_until(lambda: len(runs_of(engine, second)) == 1 and b.ran(second) == 1, timeout=30)
    (run_one,) = runs_of(engine, first)  # the takeover did not run the first job again
    (run_two,) = runs_of(engine, second)
    assert run_one.targeted == 20 and run_two.targeted == 20
    assert a.ran(second) == 0 and b.ran(first) == 0
