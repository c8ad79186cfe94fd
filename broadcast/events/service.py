"""Engagement events written at most once per dedupe key, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from broadcast.db import utcnow
from broadcast.events.models import EngagementEvent

EVENTS: Table = EngagementEvent.__table__  # type: ignore[attr-defined]


def add_event_once(
    session: Session, *, kind: str, dedupe_key: str, campaign_id: int | None = None,
    contact_id: int | None = None, delivery_id: int | None = None, clip_id: int | None = None,
    commune_code: str | None = None, occurred_at: datetime | None = None, data: dict[str, Any] | None = None,
) -> bool:
    """Insert one event unless its dedupe key is already there; True when it was new."""
    return add_events_once(session, [event_row(
        kind=kind, dedupe_key=dedupe_key, campaign_id=campaign_id, contact_id=contact_id, delivery_id=delivery_id,
        clip_id=clip_id, commune_code=commune_code, occurred_at=occurred_at, data=data)]) > 0


def event_row(
    *, kind: str, dedupe_key: str, campaign_id: int | None = None, contact_id: int | None = None,
    delivery_id: int | None = None, clip_id: int | None = None, commune_code: str | None = None,
    occurred_at: datetime | None = None, data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The column values of one event, for `add_events_once`."""
    return {"kind": kind, "campaign_id": campaign_id, "contact_id": contact_id, "delivery_id": delivery_id,
            "clip_id": clip_id, "commune_code": commune_code, "occurred_at": occurred_at or utcnow(),
            "dedupe_key": dedupe_key[:120], "data": data or {}}


def add_events_once(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert many events in one statement, skipping dedupe keys already there; how many were new."""
    if not rows:
        return 0
    # Counted from RETURNING: an INSERT's rowcount is not reliable across drivers.
    return len(session.connection().execute(_insert_events(session.get_bind().dialect.name), list(rows)).all())


@lru_cache(maxsize=2)
def _insert_events(dialect: str) -> Any:
    # One cached statement for any number of rows (SQLAlchemy's "insertmanyvalues" sends them together).
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return insert(EVENTS).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(EVENTS.c.id)
