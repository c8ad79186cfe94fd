"""A campaign's deliveries by status and failures by error code, with what retention kept of pruned runs."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from broadcast.engagement import retained
from broadcast.outbox.models import Delivery, DeliveryStatus

FAILURE_STATUSES = (DeliveryStatus.failed, DeliveryStatus.undelivered, DeliveryStatus.skipped)


def campaign_counts(session: Session, campaign_id: int, run_id: int | None = None) -> dict[str, Any]:
    """Delivery counts of a campaign by status and, for failures, by error code."""
    where = [col(Delivery.campaign_id) == campaign_id]
    if run_id is not None:
        where.append(col(Delivery.run_id) == run_id)
    by_status: dict[str, int] = dict(
        session.execute(select(Delivery.status, func.count()).where(*where).group_by(col(Delivery.status)))
        .all()
    )
    failures: dict[tuple[str, int | None], int] = defaultdict(int)
    for s, c, n in session.execute(
        select(Delivery.status, Delivery.error_code, func.count())
        .where(*where, col(Delivery.status).in_(FAILURE_STATUSES))
        .group_by(col(Delivery.status), col(Delivery.error_code))
    ):
        failures[(s, c)] += n
    # Runs whose rows retention deleted are counted from the rollup, which holds their final figures.
    kept_status, kept_codes = retained.status_counts(session, campaign_id, run_id)
    for s, n in kept_status.items():
        by_status[s] = by_status.get(s, 0) + n
    for (s, c), n in kept_codes.items():
        if s in FAILURE_STATUSES:
            failures[(s, c)] += n
    return {
        "total": sum(by_status.values()),
        "by_status": {status.value: by_status.get(status.value, 0) for status in DeliveryStatus},
        "failures": [{"status": s, "error_code": c, "count": n}
                     for (s, c), n in sorted(failures.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0))],
    }
