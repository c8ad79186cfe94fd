"""Retention deletes only the per-resident rows of old finished runs; metrics and reports answer the same after."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import func, text, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcast.campaigns.models import CampaignRun, RunStatus
from broadcast.campaigns.schemas import ContentIn
from broadcast.config import Settings
from broadcast.contacts.models import ContactGroup, GroupMember
from broadcast.db import session_scope, utcnow
from broadcast.engagement.retained import RetainedRun
from broadcast.engagement.retention import prune
from broadcast.engagement.rollup import refresh_rollup
from broadcast.events.models import EngagementEvent
from broadcast.events.service import add_event_once
from broadcast.outbox.models import Delivery, DeliveryAttempt
from tests.support.seed import approved_campaign, seed_contacts, start
from tests.support.voice_calls import simulate_calls

OLD, RECENT = timedelta(days=400), timedelta(days=10)


def settle(engine: Engine, run_id: int, *, age: timedelta, finished: bool = True, clicks: int = 0) -> list[int]:
    """Give a run's SMS deliveries outcomes (and clicks), and date all of it `age` ago; the deliveries' ids."""
    at = utcnow() - age
    with session_scope(engine) as session:
        ids = list(session.execute(select(col(Delivery.id)).where(col(Delivery.run_id) == run_id)
                                   .order_by(col(Delivery.id))).scalars())
        sms = list(session.execute(select(col(Delivery.id)).where(col(Delivery.run_id) == run_id,
                                                                  col(Delivery.channel) == "sms")).scalars())
        for i, delivery_id in enumerate(sms):
            status, code = [("delivered", None), ("delivered", None), ("failed", 21211), ("undelivered", 30003),
                            ("skipped", None), ("sent", None)][i % 6]
            session.execute(update(Delivery).where(col(Delivery.id) == delivery_id).values(
                status=status, error_code=code, segments=1 + i % 2, sent_at=at, attempts=1,
                error_message="opted out" if status == "skipped" else None))
            session.add(DeliveryAttempt(delivery_id=delivery_id, number=1, started_at=at, finished_at=at,
                                        outcome="accepted" if status != "skipped" else None))
        for delivery_id in sms[:clicks]:
            row = session.get(Delivery, delivery_id)
            assert row is not None
            add_event_once(session, kind="click", campaign_id=row.campaign_id, contact_id=row.contact_id,
                           delivery_id=delivery_id, commune_code="32248", occurred_at=at,
                           dedupe_key=f"click:{row.campaign_id}:c{row.contact_id}")
        session.execute(update(Delivery).where(col(Delivery.run_id) == run_id)
                        .values(created_at=at, updated_at=at))
        session.execute(update(EngagementEvent).where(col(EngagementEvent.delivery_id).in_(ids))
                        .values(occurred_at=at))
        session.execute(update(CampaignRun).where(col(CampaignRun.id) == run_id).values(
            status=RunStatus.completed if finished else RunStatus.sending, started_at=at,
            finished_at=at if finished else None, scheduled_for=at))
    return ids


def answers(client: Any, campaigns: dict[str, int]) -> dict[str, Any]:
    """Every metrics answer and report of these campaigns, and the period ones (without `as_of`, nor `waiting`:
    why queued messages wait is read from live rows, and these runs are finished with rows still queued)."""
    out: dict[str, Any] = {}
    for name, cid in campaigns.items():
        for path in (f"/api/v1/metrics/campaigns/{cid}", f"/api/v1/metrics/campaigns/{cid}/communes",
                     f"/api/v1/metrics/campaigns/{cid}/groups", f"/api/v1/metrics/campaigns/{cid}/channels",
                     f"/api/v1/metrics/campaigns/{cid}/failures", f"/api/v1/metrics/timeseries?campaign_id={cid}",
                     f"/api/v1/campaigns/{cid}/deliveries/counts", f"/api/v1/voice/campaigns/{cid}/metrics"):
            body = client.get(path).json()
            if isinstance(body, dict):
                body.pop("as_of", None)
                body.pop("estimated_finish", None)
                body.pop("waiting", None)
            out[f"{name} {path}"] = body
        for sheet in ("communes", "failures", "totals", "days", "calls"):
            out[f"{name} report {sheet}"] = client.get(f"/api/v1/reports/campaigns/{cid}.csv?sheet={sheet}").text
    for path in ("/api/v1/metrics/period", "/api/v1/metrics/timeseries", "/api/v1/reports/period.csv"):
        out[path] = client.get(path).text
    return out


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one())
                for t in ("delivery", "delivery_attempt", "engagement_event", "audit_log", "campaign_run")}


@pytest.fixture
def small_batches(client_with: Any, settings: Settings) -> tuple[Any, Settings]:
    tuned = settings.model_copy(update={"retention_batch_size": 100, "metrics_token": SecretStr("")})
    return client_with(retention_batch_size=100), tuned


def test_retention_deletes_only_old_finished_runs_and_every_figure_stays(
        engine: Engine, small_batches: tuple[Any, Settings]) -> None:
    client, settings = small_batches
    seed_contacts(engine, 150)
    with session_scope(engine) as session:
        group = ContactGroup(name="Hội Nông dân")
        session.add(group)
        session.flush()
        assert group.id is not None
        for contact_id in range(1, 60):
            session.add(GroupMember(contact_id=contact_id, group_id=group.id))
    old = approved_campaign(engine)
    recent = approved_campaign(engine, text="Luật Hôn nhân và Gia đình")
    unfinished = approved_campaign(engine, text="Luật Giao thông đường bộ")
    voice = approved_campaign(engine, channels=["voice"], sms_fallback_for_voice=True,
                              contents=[ContentIn(channel="voice", body="Thông báo: Luật Đất đai năm 2024.")])
    old_ids = settle(engine, start(engine, old), age=OLD, clicks=30)
    recent_ids = settle(engine, start(engine, recent), age=RECENT, clicks=10)
    unfinished_ids = settle(engine, start(engine, unfinished), age=OLD, finished=False, clicks=5)
    voice_run = start(engine, voice)
    simulate_calls(engine, voice)
    voice_ids = settle(engine, voice_run, age=OLD)
    with session_scope(engine) as session:  # a resident's reply: not linked to a delivery, kept
        add_event_once(session, kind="opt_out", campaign_id=old, contact_id=7, commune_code="32248",
                       occurred_at=utcnow() - OLD, dedupe_key="in:SMold")
    campaigns = {"old": old, "recent": recent, "unfinished": unfinished, "voice": voice}
    before = answers(client, campaigns)
    assert before[f"old /api/v1/metrics/campaigns/{old}"]["unique_clicks"] == 30
    assert before[f"voice /api/v1/voice/campaigns/{voice}/metrics"]["calls_placed"] > 0
    assert any(g["targeted"] for g in before[f"old /api/v1/metrics/campaigns/{old}/groups"])
    rows_before = counts(engine)
    with Session(engine) as session:
        audit_before = set(session.execute(text("SELECT id FROM audit_log")).scalars())

    done = prune(engine, settings)

    assert done.runs == 2 and done.deliveries == len(old_ids) + len(voice_ids) > settings.retention_batch_size
    with Session(engine) as session:
        left = set(session.execute(select(col(Delivery.id))).scalars())
        events = session.execute(select(col(EngagementEvent.delivery_id), col(EngagementEvent.dedupe_key))).all()
        retained = set(session.execute(select(col(RetainedRun.run_id))).scalars())
        attempts = set(session.execute(select(col(DeliveryAttempt.delivery_id))).scalars())
        audit_after = set(session.execute(text("SELECT id FROM audit_log")).scalars())
        pruned_audit = session.execute(text("SELECT count(*) FROM audit_log WHERE action = 'retention.prune'"))
    assert left == set(recent_ids) | set(unfinished_ids) | (left - set(old_ids) - set(voice_ids))
    assert not left & (set(old_ids) | set(voice_ids))
    assert set(recent_ids) | set(unfinished_ids) <= left
    assert not attempts & (set(old_ids) | set(voice_ids))
    assert not {d for d, _ in events if d is not None} & (set(old_ids) | set(voice_ids))
    assert {k for _, k in events} >= {"in:SMold"}  # an event of no run stays
    assert sum(1 for d, _ in events if d in set(recent_ids)) == 10
    assert sum(1 for d, _ in events if d in set(unfinished_ids)) == 5
    assert len(retained) == 2
    assert audit_before <= audit_after and pruned_audit.scalar_one() == 2  # the audit log is kept, and says so
    assert counts(engine)["campaign_run"] == rows_before["campaign_run"]

    after = answers(client, campaigns)
    assert after == before
    assert prune(engine, settings).deliveries == 0  # nothing more to do
    with session_scope(engine) as session:
        refresh_rollup(session, settings, full=True)  # even a full recount keeps the pruned runs' figures
    assert answers(client, campaigns) == before


def test_a_run_changed_lately_waits_for_a_later_pass(engine: Engine, settings: Settings) -> None:
    """A row changed within the rollup's overlap of its refresh may not be counted yet: the run waits."""
    seed_contacts(engine, 5)
    run_id = start(engine, approved_campaign(engine))
    ids = settle(engine, run_id, age=OLD)
    with session_scope(engine) as session:  # a status report that has just arrived
        session.execute(update(Delivery).where(col(Delivery.id) == ids[0]).values(status="delivered",
                                                                                  updated_at=utcnow()))
    assert prune(engine, settings).runs == 0
    with Session(engine) as session:
        assert session.execute(select(func.count()).where(col(Delivery.run_id) == run_id)).scalar_one() == 5
    with session_scope(engine) as session:  # an hour later
        session.execute(update(Delivery).where(col(Delivery.id) == ids[0])
                        .values(updated_at=utcnow() - timedelta(hours=1)))
    with Session(engine) as session:
        kept = session.execute(select(func.count()).where(col(Delivery.run_id) == run_id,
                                                          col(Delivery.status) == "delivered")).scalar_one()
    done = prune(engine, settings)
    assert (done.runs, done.deliveries) == (1, 5)
    with Session(engine) as session:
        from broadcast.engagement.metrics import campaign_funnel

        campaign_id = session.get(CampaignRun, run_id).campaign_id  # type: ignore[union-attr]
        assert campaign_funnel(session, settings, campaign_id)["delivered"] == kept


def test_the_scheduler_runs_it_every_hour(engine: Engine, settings: Settings) -> None:
    from scheduler import jobs
    from scheduler.service import SchedulerService

    seed_contacts(engine, 5)
    settle(engine, start(engine, approved_campaign(engine)), age=OLD)
    service = SchedulerService(engine, settings)
    service.start()
    try:
        assert service.scheduler is not None
        job = service.scheduler.get_job("retention", jobstore="default")
        assert job is not None and job.trigger.interval == timedelta(hours=1)
        assert jobs.retention() == 5  # the job function, bound to the running scheduler
    finally:
        service.stop()
