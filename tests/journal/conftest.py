"""Fixtures for outage tests in one process: a campaign already sent, signed webhooks, a database held away."""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from twilio.request_validator import RequestValidator

from broadcast.app import create_app
from broadcast.config import Settings
from broadcast.db import utcnow
from broadcast.outbox.models import Delivery, DeliveryStatus
from tests.support.seed import approved_campaign, seed_contacts, start


@dataclass
class Sent:
    """A campaign whose messages were all accepted by Twilio: (delivery id, SID, phone) each."""

    campaign_id: int
    rows: list[tuple[int, str, str]]


def sent_campaign(engine: Engine, residents: int) -> Sent:
    seed_contacts(engine, residents)
    campaign_id = approved_campaign(engine)
    start(engine, campaign_id)
    rows = []
    with Session(engine) as session:
        for delivery in session.exec(select(Delivery).where(Delivery.campaign_id == campaign_id)):
            delivery.status, delivery.provider, delivery.provider_sid = DeliveryStatus.sent, "twilio", \
                "SM" + uuid.uuid4().hex
            delivery.sent_at = delivery.updated_at = utcnow()
            session.add(delivery)
            assert delivery.id is not None and delivery.to_phone is not None
            rows.append((delivery.id, delivery.provider_sid, delivery.to_phone))
        session.commit()
    return Sent(campaign_id, sorted(rows))


class Twilio:
    """Posts signed webhooks to an app like Twilio does."""

    def __init__(self, client: TestClient, settings: Settings) -> None:
        self.client, self.settings = client, settings
        self.validator = RequestValidator(settings.twilio_auth_token.get_secret_value())

    def post(self, path: str, params: dict[str, str]) -> httpx.Response:
        signature = self.validator.compute_signature(f"{self.settings.public_base_url}{path}", params)
        return self.client.post(path, data=params, headers={"X-Twilio-Signature": signature})

    def status(self, delivery_id: int, sid: str, status: str = "delivered") -> httpx.Response:
        return self.post(f"/webhooks/twilio/status?d={delivery_id}",
                         {"MessageSid": sid, "MessageStatus": status, "AccountSid": self.settings.twilio_account_sid})

    def reply(self, from_: str, body: str, sid: str | None = None) -> httpx.Response:
        sid = sid or "SM" + uuid.uuid4().hex
        return self.post("/webhooks/twilio/sms", {"MessageSid": sid, "From": from_, "To": "+84900000000",
                                                  "Body": body, "AccountSid": self.settings.twilio_account_sid})


@pytest.fixture
def outage_settings(settings: Settings) -> Settings:
    """A database that has not answered within 0.3 s counts as unavailable."""
    return settings.model_copy(update={"journal_after_seconds": 0.3})


@pytest.fixture
def twilio(outage_settings: Settings) -> Iterator[Twilio]:
    with TestClient(create_app(outage_settings)) as client:
        yield Twilio(client, outage_settings)


@contextlib.contextmanager
def database_held(settings: Settings) -> Iterator[None]:
    """Nobody else can write while the block runs: SQLite locked by another connection, PostgreSQL read-only."""
    url = settings.database_url
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.split("///", 1)[1], isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    admin_url, name = url.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)
    with psycopg.connect(f"{admin_url}/postgres", autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        _drop_sessions(admin, name)  # pooled connections come back read-only
        try:
            yield
        finally:
            admin.execute(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
            _drop_sessions(admin, name)


def _drop_sessions(admin: Any, name: str) -> None:
    admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> "
                  "pg_backend_pid()", (name,))
