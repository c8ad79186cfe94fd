"""Live progress of a campaign (/ui/progress, polled every 3 s by every open page): exact for small campaigns,
shared by the viewers of a large one for one poll period, never stale across a pause or a resume."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcast.campaigns import service as campaigns
from broadcast.outbox.models import Delivery, DeliveryStatus
from broadcast.web import dashboard
from tests.support.seed import approved_campaign, seed_contacts, start
from tests.web.conftest import login


def deliver(engine: Engine, campaign_id: int, n: int) -> None:
    """Mark `n` of the campaign's queued messages delivered, as callbacks would."""
    with Session(engine) as session:
        ids = session.exec(select(col(Delivery.id)).where(col(Delivery.campaign_id) == campaign_id,
                                                          col(Delivery.status) == DeliveryStatus.queued).limit(n)).all()
        session.execute(update(Delivery).where(col(Delivery.id).in_(ids)).values(status=DeliveryStatus.delivered))
        session.commit()


def progress(client: Any, campaign_id: int) -> dict[str, Any]:
    answer = client.get(f"/ui/progress?ids={campaign_id}")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()[str(campaign_id)]
    return found


@pytest.fixture
def campaign_of_eight(client: Any, engine: Engine) -> int:
    seed_contacts(engine, 8)
    campaign_id = approved_campaign(engine)
    start(engine, campaign_id)
    assert login(client, "admin", "mat-khau-demo").status_code == 303
    return campaign_id


def test_a_small_campaign_is_counted_at_every_poll(client: Any, engine: Engine, campaign_of_eight: int) -> None:
    assert progress(client, campaign_of_eight)["waiting"] == 8
    deliver(engine, campaign_of_eight, 3)
    now = progress(client, campaign_of_eight)
    assert (now["delivered"], now["waiting"], now["done"]) == (3, 5, 3)


def test_a_large_campaigns_count_is_shared_for_one_poll_period(client: Any, engine: Engine, campaign_of_eight: int,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dashboard, "PROGRESS_SHARED_FROM", 5)  # eight messages stand for a province's million
    monkeypatch.setattr(dashboard, "PROGRESS_TTL", 3600.0)  # the test never depends on how fast it runs
    first = progress(client, campaign_of_eight)
    assert (first["total"], first["waiting"]) == (8, 8)
    deliver(engine, campaign_of_eight, 3)
    assert progress(client, campaign_of_eight) == first  # the other viewers of this poll period share one count
    page = client.get(f"/campaigns/{campaign_of_eight}")
    assert page.status_code == 200
    with Session(engine) as session:  # a pause shows at once, with figures counted then
        campaigns.pause(session, campaign_of_eight)
        session.commit()
    paused = progress(client, campaign_of_eight)
    assert (paused["status"], paused["delivered"], paused["waiting"]) == ("paused", 3, 5)
