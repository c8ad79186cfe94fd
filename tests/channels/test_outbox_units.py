"""Units of the outbox: rate budget, quiet hours, backoff, monotonic statuses, signatures, fan-out."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from twilio.request_validator import RequestValidator

from broadcast.campaigns.fanout import fan_out
from broadcast.campaigns.models import Campaign, CampaignRun
from broadcast.channels.core import rules
from broadcast.channels.core.budget import RateLimiter
from broadcast.config import Settings
from broadcast.db import utcnow
from broadcast.models import ContactGroup, GroupMember
from broadcast.outbox.models import Delivery
from broadcast.outbox.status import apply_status
from tests.conftest import BOTH
from tests.support.seed import seed_contacts

pytestmark = BOTH  # the database matters here: SQL, locking or types differ

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += max(seconds, 0.0005)


def test_rate_limiter_never_exceeds_the_budget_in_any_second() -> None:
    clock = FakeClock()
    limiter = RateLimiter(50, clock=clock, sleep=clock.sleep)
    sent: list[float] = []
    rng = random.Random(3)
    for _ in range(600):
        units = rng.choice([1, 1, 1, 2, 3])
        assert limiter.acquire(units)
        sent.extend([clock.now] * units)
    duration = sent[-1] - sent[0]
    assert len(sent) / duration > 50 * 0.95  # keeps up with the budget...
    for i, start in enumerate(sent):  # ...and never more than 50 units in any one-second window
        inside = sum(1 for t in sent[i:] if t < start + 1.0)
        assert inside <= 50


def test_rate_limiter_gives_up_when_cancelled() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1, clock=clock, sleep=clock.sleep)
    assert limiter.acquire()
    assert limiter.acquire(cancelled=lambda: True) is False


def test_requests_that_give_up_do_not_delay_the_ones_after_them() -> None:
    # Seen with a worker killed among three: rows waiting past their send deadline gave up, but each had
    # reserved a paced slot; the slots piled up beyond every later row's deadline and sending stopped.
    clock = FakeClock()
    limiter = RateLimiter(10, clock=clock, sleep=clock.sleep)

    def past(deadline: float) -> Callable[[], bool]:
        return lambda: clock.now > deadline

    for _ in range(50):  # each waits for its slot, then gives up once it has slept past its deadline
        limiter.acquire(cancelled=past(clock.now + 0.01))
    start = clock.now
    assert limiter.acquire(cancelled=lambda: clock.now > start + 1.0)  # granted within its deadline
    assert clock.now - start <= 0.2


def test_quiet_hours_wrap_midnight_in_local_time() -> None:
    start, end = time(22, 0), time(7, 0)
    late = datetime(2026, 3, 1, 16, 30, tzinfo=UTC)  # 23:30 in Ho Chi Minh City
    assert rules.in_quiet_hours(late, start, end, HCM)
    resume = rules.quiet_hours_end(late, start, end, HCM)
    assert resume.astimezone(HCM) == datetime(2026, 3, 2, 7, 0, tzinfo=HCM)
    noon = datetime(2026, 3, 1, 5, 0, tzinfo=UTC)  # 12:00 local
    assert not rules.in_quiet_hours(noon, start, end, HCM)
    assert rules.quiet_hours_end(noon, start, end, HCM) == noon
    early = datetime(2026, 3, 1, 22, 0, tzinfo=UTC)  # 05:00 local next day
    assert rules.quiet_hours_end(early, start, end, HCM).astimezone(HCM).hour == 7


def test_backoff_grows_and_is_capped() -> None:
    rng = random.Random(1)
    values = [rules.backoff_seconds(n, base=1, cap=30, rng=rng) for n in range(1, 12)]
    assert all(1 <= v <= 30 for v in values)
    assert max(values[6:]) > max(values[:2])


def _delivery(engine: Engine) -> int:
    with Session(engine) as session:
        row = Delivery(to_phone="+84912345678", body="x", status="sending", next_attempt_at=utcnow())
        session.add(row)
        session.commit()
        assert row.id is not None
        return row.id


def test_status_reports_only_move_forward(engine: Engine) -> None:
    delivery_id = _delivery(engine)
    now = utcnow()
    with Session(engine) as session:
        assert apply_status(session, provider_sid="SM1", provider_status="delivered", error_code=None, at=now,
                            delivery_id=delivery_id) == "updated"
        assert apply_status(session, provider_sid="SM1", provider_status="sent", error_code=None, at=now,
                            delivery_id=delivery_id) == "stale"
        assert apply_status(session, provider_sid="SM1", provider_status="delivered", error_code=None, at=now,
                            delivery_id=delivery_id) == "stale"
        assert apply_status(session, provider_sid="SM-other", provider_status="failed", error_code=30003,
                            at=now, delivery_id=delivery_id) == "unknown"
        assert apply_status(session, provider_sid="SMnowhere", provider_status="sent", error_code=None,
                            at=now) == "unknown"
        session.commit()
        row = session.get(Delivery, delivery_id)
        assert row is not None and row.status == "delivered" and row.provider_sid == "SM1"


def test_status_webhook_rejects_missing_or_forged_signatures(client: Any, settings: Settings) -> None:
    delivery_id = _delivery(client.app.state.engine)
    params = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "delivered", "AccountSid": settings.twilio_account_sid}
    path = f"/webhooks/twilio/status?d={delivery_id}"
    assert client.post(path, data=params).status_code == 403
    assert client.post(path, data=params, headers={"X-Twilio-Signature": "forged"}).status_code == 403
    validator = RequestValidator(settings.twilio_auth_token.get_secret_value())
    signature = validator.compute_signature(f"{settings.public_base_url}{path}", params)
    tampered = {**params, "MessageStatus": "failed"}
    assert client.post(path, data=tampered, headers={"X-Twilio-Signature": signature}).status_code == 403
    assert client.post(path, data=params, headers={"X-Twilio-Signature": signature}).status_code == 200
    with Session(client.app.state.engine) as session:
        row = session.get(Delivery, delivery_id)
        assert row is not None and row.status == "delivered"


def test_fan_out_is_set_based_idempotent_and_respects_the_audience(engine: Engine) -> None:
    seed_contacts(engine, 30, opted_out=lambda i: i % 5 == 0)
    seed_contacts(engine, 10, start=100, commune="31825")
    with Session(engine, expire_on_commit=False) as session:
        group = ContactGroup(name="Ngư dân")
        session.add(group)
        session.flush()
        assert group.id is not None
        for contact_id in (1, 2, 3, 5, 31, 32):
            session.add(GroupMember(contact_id=contact_id, group_id=group.id))
        campaign = Campaign(title="t", channels=["sms"], audience={"communes": ["32248"], "groups": [group.id]})
        session.add(campaign)
        session.flush()
        assert campaign.id is not None
        run = CampaignRun(campaign_id=campaign.id, scheduled_for=utcnow())
        session.add(run)
        session.flush()
        first = fan_out(session, campaign, run)
        again = fan_out(session, campaign, run)
        session.commit()
        targets = session.exec(select(Delivery.contact_id).where(Delivery.run_id == run.id)).all()
    # contact 1 is index 0 (opted out); 31 and 32 live in another commune
    assert first == 3 and again == 0 and sorted(t for t in targets if t is not None) == [2, 3, 5]
    assert run.targeted == 3


def test_rate_limiter_guard_keeps_late_arrivals_within_the_budget() -> None:
    """With a guard, sends delayed by up to `guard` seconds on their way still fit every 1 s window."""
    clock = FakeClock()
    limiter = RateLimiter(40, guard=0.1, clock=clock, sleep=clock.sleep)
    rng = random.Random(7)
    arrivals = []
    for _ in range(400):
        assert limiter.acquire()
        arrivals.append(clock.now + rng.uniform(0, 0.1))  # network jitter up to the guard
    arrivals.sort()
    for i, start in enumerate(arrivals):
        assert sum(1 for t in arrivals[i:] if t < start + 1.0) <= 40
    assert len(arrivals) / (arrivals[-1] - arrivals[0]) > 40 * 0.88  # costs about guard/(1+guard)


def test_status_batches_retry_lock_conflicts_and_nothing_else(engine: Engine, monkeypatch: Any) -> None:
    """A deadlock with the dispatcher is retried (Twilio would not resend a callback answered with 5xx)."""
    from functools import partial

    import psycopg
    import pytest
    from sqlalchemy.exc import OperationalError

    from broadcast.group_commit import GroupCommit, retryable
    from broadcast.outbox import status
    from broadcast.outbox.status import StatusReport, write_statuses

    deadlock = OperationalError("UPDATE delivery", {}, psycopg.errors.DeadlockDetected())
    assert retryable(deadlock)
    assert not retryable(OperationalError("UPDATE delivery", {}, psycopg.errors.UndefinedTable()))

    delivery_id = _delivery(engine)
    calls = []
    real = status.apply_statuses
    batcher = GroupCommit(partial(write_statuses, engine), name="status reports")

    def flaky(conn: Any, reports: Any) -> None:
        calls.append(len(reports))
        if len(calls) < 3:
            raise deadlock
        real(conn, reports)

    monkeypatch.setattr(status, "apply_statuses", flaky)
    report = StatusReport("SM1", "delivered", None, utcnow(), delivery_id)
    batcher.write([report])
    assert calls == [1, 1, 1]
    with Session(engine) as session:
        row = session.get(Delivery, delivery_id)
        assert row is not None and row.status == "delivered"
    monkeypatch.setattr(status, "apply_statuses", lambda conn, reports: (_ for _ in ()).throw(
        OperationalError("x", {}, psycopg.errors.UndefinedTable())))
    with pytest.raises(OperationalError):
        batcher.write([report])
