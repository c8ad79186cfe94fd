"""Seed residents and campaigns quickly (set-based) for tests and benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlmodel import Session

from broadcast.campaigns import service as campaigns
from broadcast.campaigns.models import Campaign
from broadcast.campaigns.schemas import AudienceIn, CampaignCreate
from broadcast.communes.models import Commune
from broadcast.contacts.models import Contact
from broadcast.db import utcnow

COMMUNES = [("32248", "Xã Đất Mũi"), ("31825", "Phường Bạc Liêu"), ("32002", "Phường An Xuyên")]


def phone(i: int) -> str:
    """A distinct valid Viettel-range mobile number for index i (up to 10 million)."""
    return f"+8498{i:07d}"


def seed_communes(engine: Engine) -> None:
    with Session(engine) as session:
        for code, name in COMMUNES:
            if session.get(Commune, code) is None:
                session.add(Commune(code=code, province_code="96", name=name, feed_token=f"tok{code}"))
        session.commit()


def seed_contacts(engine: Engine, count: int, *, start: int = 0, commune: str = "32248",
                  opted_out: Callable[[int], bool] | None = None) -> None:
    seed_communes(engine)
    now = utcnow()
    rows = [
        {"phone": phone(i), "full_name": f"Người dân {i}", "commune_code": commune, "language": "vi",
         "sms_opted_out": bool(opted_out and opted_out(i)), "voice_opted_out": False, "address": "",
         "note": "", "consent_source": "import", "created_at": now, "updated_at": now}
        for i in range(start, start + count)
    ]
    with engine.begin() as conn:
        for chunk in range(0, len(rows), 5000):
            conn.execute(insert(Contact), rows[chunk:chunk + 5000])


def approved_campaign(engine: Engine, text: str = "Thông báo: Luật Đất đai 2024 có hiệu lực.",
                      **fields: object) -> int:
    with Session(engine, expire_on_commit=False) as session:
        campaign = campaigns.create_campaign(
            session, CampaignCreate(title="Phổ biến Luật Đất đai", sms_text=text, audience=AudienceIn(),
                                    **fields)
        )
        assert campaign.id is not None
        campaigns.submit(session, campaign.id)
        campaigns.approve(session, campaign.id, approver_id=None)
        session.commit()
        return campaign.id


def start(engine: Engine, campaign_id: int) -> int:
    with Session(engine, expire_on_commit=False) as session:
        run = campaigns.start_run(session, campaign_id)
        session.commit()
        assert run.id is not None
        return run.id


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(interval)


def campaign(engine: Engine, campaign_id: int) -> Campaign:
    with Session(engine) as session:
        row = session.get(Campaign, campaign_id)
        assert row is not None
        return row
