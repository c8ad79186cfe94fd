"""Engagement events are written once per dedupe key, and the caller learns which were new."""

from __future__ import annotations

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcast.events.models import EngagementEvent
from broadcast.events.service import add_event_once, add_events_once, event_row
from tests.conftest import BOTH

pytestmark = BOTH  # the database matters here: SQL, locking or types differ


def test_a_replayed_event_is_stored_once_and_reported_as_not_new(engine: Engine) -> None:
    with Session(engine) as session:
        assert add_event_once(session, kind="click", dedupe_key="click:1") is True
        assert add_event_once(session, kind="click", dedupe_key="click:1") is False
        rows = [event_row(kind="click", dedupe_key=f"click:{i}") for i in (1, 2, 3)]
        assert add_events_once(session, [*rows, event_row(kind="click", dedupe_key="click:3")]) == 2
        assert add_events_once(session, []) == 0
        session.commit()
        keys = session.exec(select(EngagementEvent.dedupe_key).order_by(EngagementEvent.dedupe_key)).all()
        assert keys == ["click:1", "click:2", "click:3"]
        assert session.exec(select(func.count()).select_from(EngagementEvent)).one() == 3
