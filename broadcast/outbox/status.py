"""Apply provider status reports to deliveries: idempotent and monotonic."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, Update, bindparam, or_, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, col, select

from broadcast.db import UTCDateTime
from broadcast.outbox.models import Delivery, DeliveryStatus

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
# The states a delivery may move *from* to reach each target: a late `sent` never overwrites `delivered`;
# a final state the provider reports after all replaces the `unknown` recorded when we gave up asking.
_PREVIOUS = {
    D.sent: [D.queued, D.sending],
    D.delivered: [D.queued, D.sending, D.sent, D.unknown],
    D.undelivered: [D.queued, D.sending, D.sent, D.unknown],
    D.failed: [D.queued, D.sending, D.sent, D.unknown],
}


@dataclass(frozen=True)
class StatusReport:
    """One provider status report, as a webhook received it."""

    provider_sid: str
    provider_status: str
    error_code: int | None
    at: datetime
    delivery_id: int | None = None


@lru_cache(maxsize=16)
def _statement(target: DeliveryStatus, by_delivery_id: bool) -> Update:
    """The monotonic UPDATE for one target state, with bound parameters (usable with executemany)."""
    sid: BindParameter[str] = bindparam("b_sid")
    match: ColumnElement[bool]
    if by_delivery_id:
        # Our callback URL names the delivery, so reports that beat our own record of the SID still land;
        # a report for an older SID of a resent delivery does not.
        match = (col(Delivery.id) == bindparam("b_id")) & or_(
            col(Delivery.provider_sid).is_(None), col(Delivery.provider_sid) == sid
        )
    else:
        match = col(Delivery.provider_sid) == sid
    at = bindparam("b_at", type_=UTCDateTime())
    values: dict[str, Any] = {"status": target, "provider_sid": sid, "provider_status": bindparam("b_word"),
                              "updated_at": at}
    if target in (D.delivered, D.undelivered, D.failed):
        values["finished_at"] = at
        if target == D.delivered:
            values["delivered_at"] = at
        else:
            values["error_code"] = bindparam("b_code")
            values["error_message"] = bindparam("b_message")
    # (`or_` of equalities rather than `in_`: expanding IN parameters cannot be used with executemany.)
    allowed = or_(*(col(Delivery.status) == previous for previous in _PREVIOUS[target]))
    return update(Delivery).where(match, allowed).values(**values).execution_options(synchronize_session=False)


def _params(report: StatusReport) -> dict[str, Any]:
    word = report.provider_status.lower()
    return {"b_sid": report.provider_sid, "b_id": report.delivery_id, "b_word": word, "b_at": report.at,
            "b_code": report.error_code, "b_message": f"provider reported {word}"}


def apply_statuses(conn: Connection, reports: Sequence[StatusReport]) -> None:
    """Apply many reports in one transaction, one executemany per target state (group commit)."""
    groups: dict[tuple[DeliveryStatus, bool], list[dict[str, Any]]] = defaultdict(list)
    for report in reports:
        target = TWILIO_STATUS.get(report.provider_status.lower())
        if target is None:
            log.warning("status report %s for %s: unknown status word", report.provider_status,
                        report.provider_sid)
            continue
        groups[(target, report.delivery_id is not None)].append(_params(report))
    for (target, by_id), rows in sorted(groups.items(), key=lambda item: (item[0][0].value, item[0][1])):
        rows.sort(key=lambda row: (row["b_id"] or 0, row["b_sid"]))  # lock rows in id order, as the outbox does
        conn.execute(_statement(target, by_id), rows)


def write_statuses(engine: Engine, reports: Sequence[StatusReport]) -> list[None]:
    """Commit a batch of reports in one transaction (the status webhook's group commit)."""
    # The dispatcher records outcomes on the same rows at the same time: rows are locked in id order on
    # both sides, and a deadlock that still happens is retried by the group commit.
    with engine.begin() as conn:
        apply_statuses(conn, reports)
    return [None] * len(reports)


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
    report = StatusReport(provider_sid, provider_status, error_code, at, delivery_id)
    result = session.execute(_statement(target, delivery_id is not None), _params(report))
    if (result.rowcount or 0) > 0:  # type: ignore[attr-defined]
        return "updated"
    known = col(Delivery.provider_sid) == provider_sid
    if delivery_id is not None:
        known = (col(Delivery.id) == delivery_id) & or_(col(Delivery.provider_sid).is_(None), known)
    if session.execute(select(Delivery.id).where(known)).first() is None:
        log.info("status report for unknown message %s (%s) ignored", provider_sid, provider_status)
        return "unknown"
    return "stale"
