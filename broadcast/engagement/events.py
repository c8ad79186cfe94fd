"""Engagement events written at most once per dedupe key, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from broadcast.db import utcnow
from broadcast.engagement.models import EngagementEvent


def add_event_once(
    session: Session, *, kind: str, dedupe_key: str, campaign_id: int | None = None,
    contact_id: int | None = None, delivery_id: int | None = None, clip_id: int | None = None,
    commune_code: str | None = None, occurred_at: datetime | None = None, data: dict[str, Any] | None = None,
) -> bool:
    """Insert one event unless its dedupe key is already there; True when it was new."""
    values = {"kind": kind, "campaign_id": campaign_id, "contact_id": contact_id, "delivery_id": delivery_id,
              "clip_id": clip_id, "commune_code": commune_code, "occurred_at": occurred_at or utcnow(),
              "dedupe_key": dedupe_key[:120], "data": data or {}}
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(EngagementEvent).values(**values).on_conflict_do_nothing(index_elements=["dedupe_key"])
    result = session.execute(stmt)
    return bool(getattr(result, "rowcount", 0))
