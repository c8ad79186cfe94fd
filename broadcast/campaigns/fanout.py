"""Fan-out: one Delivery row per (run, resident, channel), written by one INSERT … SELECT per channel."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, literal, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from broadcast.campaigns.audience import audience_condition
from broadcast.campaigns.models import Campaign, CampaignRun
from broadcast.contacts.models import Contact
from broadcast.db import UTCDateTime, utcnow
from broadcast.outbox.models import Delivery, DeliveryKind, DeliveryStatus

MESSAGE_CHANNELS = ("sms", "voice")
# After this many new rows PostgreSQL's statistics are stale enough to mislead the dispatcher's
# per-batch queries (e.g. scanning a whole campaign for 200 residents' daily caps) until autovacuum.
ANALYZE_AFTER_ROWS = 10_000


def fan_out(session: Session, campaign: Campaign, run: CampaignRun, *, due_at: datetime | None = None) -> int:
    """Create the run's deliveries for every reachable resident; running it twice adds nothing.

    Returns the number of rows inserted by this call.
    """
    assert campaign.id is not None and run.id is not None
    now = utcnow()
    due = due_at or run.scheduled_for
    dialect = session.get_bind().dialect.name
    insert_fn = postgresql.insert if dialect == "postgresql" else sqlite.insert
    inserted = 0
    for channel in (c for c in campaign.channels if c in MESSAGE_CHANNELS):
        source: Any = select(  # (literal() columns defeat the typed overloads)
            literal(campaign.id).label("campaign_id"),
            literal(run.id).label("run_id"),
            col(Contact.id).label("contact_id"),
            col(Contact.phone).label("to_phone"),
            literal(channel).label("channel"),
            literal(DeliveryKind.campaign.value).label("kind"),
            literal(DeliveryStatus.queued.value).label("status"),
            literal(0).label("attempts"),
            literal(due, UTCDateTime()).label("next_attempt_at"),
            literal(now, UTCDateTime()).label("created_at"),
            literal(now, UTCDateTime()).label("updated_at"),
        ).where(audience_condition(campaign.audience, channel))
        columns = [
            "campaign_id", "run_id", "contact_id", "to_phone", "channel", "kind", "status", "attempts",
            "next_attempt_at", "created_at", "updated_at",
        ]
        stmt = (
            insert_fn(Delivery)
            .from_select(columns, source)
            .on_conflict_do_nothing(index_elements=["run_id", "contact_id", "channel"])
        )
        result = session.execute(stmt.execution_options(preserve_rowcount=True))
        inserted += max(result.rowcount or 0, 0)  # type: ignore[attr-defined]
    if dialect == "postgresql" and inserted >= ANALYZE_AFTER_ROWS:
        # Sees this transaction's own rows; SKIP_LOCKED: if autovacuum is at it already, fine.
        session.execute(text("ANALYZE (SKIP_LOCKED) delivery"))
    run.targeted = int(
        session.execute(
            select(func.count()).select_from(Delivery).where(col(Delivery.run_id) == run.id)
        ).scalar_one()
    )
    session.add(run)
    session.flush()
    return inserted
