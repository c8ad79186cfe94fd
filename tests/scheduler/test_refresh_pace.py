"""The periodic metrics refresh paces itself by its own cost: a refresh that took t seconds is not repeated
before t / REFRESH_SHARE have passed (a province campaign's rollup takes seconds to recompute)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcast.config import Settings
from broadcast.db import utcnow
from broadcast.engagement.models import DeliveryRollup
from broadcast.outbox.models import Delivery, DeliveryStatus
from scheduler import jobs
from tests.support.seed import approved_campaign, seed_contacts, start


@pytest.fixture
def context(engine: Engine, settings: Settings) -> Iterator[jobs.JobContext]:
    ctx = jobs.JobContext(engine, settings, lambda: datetime.now(UTC))
    jobs.bind(ctx)
    yield ctx
    jobs.bind(None)


def delivered(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.coalesce(func.sum(DeliveryRollup.n), 0))
                                .where(DeliveryRollup.status == DeliveryStatus.delivered)).one())


def deliver_all(engine: Engine) -> None:
    with Session(engine) as session:
        session.execute(update(Delivery).values(status=DeliveryStatus.delivered, updated_at=utcnow()))
        session.commit()


def test_a_refresh_waits_in_proportion_to_what_the_last_one_cost(engine: Engine, context: jobs.JobContext,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    seed_contacts(engine, 5)
    start(engine, approved_campaign(engine))
    # A share so small that any refresh's cost puts the next one past the end of this test (no timing involved).
    monkeypatch.setattr(jobs, "REFRESH_SHARE", 1e-9)
    assert jobs.refresh_metrics() == 1 and delivered(engine) == 0
    deliver_all(engine)
    assert jobs.refresh_metrics() == 0 and delivered(engine) == 0  # paced: the rollup is left as it was
    context.next_refresh = 0.0  # its time has come
    assert jobs.refresh_metrics() == 1 and delivered(engine) == 5


def test_a_cheap_refresh_runs_at_every_period(engine: Engine, context: jobs.JobContext,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    seed_contacts(engine, 5)
    start(engine, approved_campaign(engine))
    monkeypatch.setattr(jobs, "REFRESH_SHARE", 1e9)  # the next refresh is due as soon as this one ends
    assert jobs.refresh_metrics() == 1
    deliver_all(engine)
    assert jobs.refresh_metrics() == 1 and delivered(engine) == 5
