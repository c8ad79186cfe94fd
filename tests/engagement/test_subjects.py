"""Data-subject requests: find and export everything about a number; erasure leaves no trace of it."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import MetaData, select, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from broadcast.audit import service as audit
from broadcast.config import Settings
from broadcast.contacts.models import Contact, ContactCreate
from broadcast.contacts.service import create_contact
from broadcast.engagement import metrics
from broadcast.engagement.rollup import refresh_rollup
from broadcast.outbox.models import Delivery, DeliveryAttempt
from tests.conftest import BOTH
from tests.engagement.conftest import Send
from tests.engagement.test_metrics import _populate

pytestmark = BOTH  # the database matters here: SQL, locking or types differ

PHONE = "+84981234567"
NSN = "981234567"


def _everything_mentioning(engine: Engine, needle: str) -> list[str]:
    """Every (table.column) whose text contains the needle, over every table in the database."""
    found = []
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(select(table)).mappings():
                for column, value in row.items():
                    if value is not None and needle in str(value):
                        found.append(f"{table.name}.{column}")
    return sorted(set(found))


def test_find_export_and_erase(client: TestClient, send_sms: Send, engine: Engine, settings: Settings) -> None:
    campaign_id = _populate(engine, settings)
    with Session(engine) as session:
        contact = create_contact(session, ContactCreate(phone="0981 234 567", full_name="Trần Thị Bé",
                                                        commune_code="32248", address="Ấp 3"))
        session.flush()
        audit.record(session, action="contact.note", entity="contact", entity_id=contact.id,
                     after={"note": "gọi lại số 0981234567"})
        delivery = Delivery(campaign_id=campaign_id, contact_id=contact.id, to_phone=PHONE, status="failed",
                            error_code=21211, error_message=f"The 'To' number {PHONE} is not valid")
        session.add(delivery)
        session.flush()
        assert delivery.id is not None
        session.add(DeliveryAttempt(delivery_id=delivery.id, number=1, detail=f"400 for {PHONE}"))
        contact_id = contact.id
        session.commit()
    send_sms(PHONE, "Cho hỏi thủ tục đăng ký kết hôn, gọi tôi 0981234567")
    send_sms(PHONE, "TC")
    with Session(engine) as session:
        refresh_rollup(session, settings, full=True)
        session.commit()
        before = metrics.campaign_funnel(session, settings, campaign_id)
        before_communes = metrics.commune_table(session, settings, campaign_id)
    assert _everything_mentioning(engine, NSN)  # the number is there before

    found = client.post("/api/v1/data-subjects/lookup", json={"phone": "0981234567"}).json()
    assert found["contacts"][0]["full_name"] == "Trần Thị Bé"
    assert len(found["inbound_messages"]) == 2 and len(found["consent_events"]) >= 2
    assert any(d["to_phone"] == PHONE for d in found["deliveries"]) and found["delivery_attempts"]
    assert len(found["conversations"]) == 1
    export = client.post("/api/v1/data-subjects/export", json={"phone": "+84 981 234 567"})
    assert export.status_code == 200 and "attachment" in export.headers["content-disposition"]
    assert json.loads(export.content)["phone"] == PHONE

    erased = client.post("/api/v1/data-subjects/erase", json={"phone": "0981234567"})
    assert erased.status_code == 200, erased.text
    assert erased.json()["contacts"] == 1 and erased.json()["inbound_messages"] == 2

    assert _everything_mentioning(engine, NSN) == []
    assert _everything_mentioning(engine, "Trần Thị Bé") == []
    with Session(engine) as session:
        row = session.get(Contact, contact_id)
        assert row is not None and row.phone is None and row.erased_at is not None and row.full_name == ""
        refresh_rollup(session, settings, full=True)
        session.commit()
        assert metrics.campaign_funnel(session, settings, campaign_id) == before  # aggregates unchanged
        assert metrics.commune_table(session, settings, campaign_id) == before_communes
        assert session.execute(text("SELECT count(*) FROM inbound_message")).scalar() == 26
    again = client.post("/api/v1/data-subjects/erase", json={"phone": "0981234567"})
    assert again.status_code == 404
