"""Apply provider status reports to deliveries: idempotent and monotonic."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import ColumnElement, or_, update
from sqlmodel import Session, col, select

from broadcast.channels.models import Delivery, DeliveryStatus

log = logging.getLogger(__name__)
D = DeliveryStatus

# Twilio's message statuses mapped onto the outbox's.
TWILIO_STATUS = {
    "accepted": D.sent,
    "scheduled": D.sent,
    "queued": D.sent,
    "sending": D.sent,
    "sent": D.sent,
    "receiving": D.sent,
    "received": D.sent,
    "delivered": D.delivered,
    "read": D.delivered,
    "undelivered": D.undelivered,
    "failed": D.failed,
    "canceled": D.failed,
    # SMS Gateway for Android (ProcessState, lower-cased); sent/delivered/failed are shared words.
    "pending": D.sent,
    "processed": D.sent,
}
# The states a delivery may move *from* to reach each target: a late `sent` never overwrites `delivered`.
_PREVIOUS = {
    D.sent: [D.queued, D.sending],
    D.delivered: [D.queued, D.sending, D.sent],
    D.undelivered: [D.queued, D.sending, D.sent],
    D.failed: [D.queued, D.sending, D.sent],
}


def apply_status(
    session: Session,
    *,
    provider_sid: str,
    provider_status: str,
    error_code: int | None,
    at: datetime,
    delivery_id: int | None = None,
) -> str:
    """Record one status report; answers `updated`, `stale` (duplicate or out of order) or `unknown`."""
    target = TWILIO_STATUS.get(provider_status.lower())
    if target is None:
        log.warning("status report %s for %s: unknown status word", provider_status, provider_sid)
        return "unknown"
    match: ColumnElement[bool]
    if delivery_id is not None:
        # Our callback URL names the delivery, so reports that beat our own record of the SID still land;
        # a report for an older SID of a resent delivery does not.
        match = (col(Delivery.id) == delivery_id) & or_(
            col(Delivery.provider_sid).is_(None), col(Delivery.provider_sid) == provider_sid
        )
    else:
        match = col(Delivery.provider_sid) == provider_sid
    final = target in (D.delivered, D.undelivered, D.failed)
    values: dict[str, object] = {
        "status": target,
        "provider_sid": provider_sid,
        "provider_status": provider_status.lower(),
        "updated_at": at,
    }
    if final:
        values["finished_at"] = at
        if target == D.delivered:
            values["delivered_at"] = at
        else:
            values["error_code"] = error_code
            values["error_message"] = f"provider reported {provider_status.lower()}"
    result = session.execute(
        update(Delivery)
        .where(match, col(Delivery.status).in_(_PREVIOUS[target]))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if (result.rowcount or 0) > 0:  # type: ignore[attr-defined]
        return "updated"
    if session.execute(select(Delivery.id).where(match)).first() is None:
        log.info("status report for unknown message %s (%s) ignored", provider_sid, provider_status)
        return "unknown"
    return "stale"
