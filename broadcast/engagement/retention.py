"""Retention (Law 91/2025): per-resident rows of runs finished more than RETENTION_DAYS ago are deleted.

Order of work, so that no figure is lost:
1. the rollups are brought up to date;
2. each old finished run whose rows the rollup already describes (none changed since its refresh) is
   marked in `retained_run`, in one transaction that also recomputes its rollup rows and stores the
   figures the rollups do not hold (per group, voice calls; see engagement/retained.py);
3. the marked runs' deliveries go in transactions of RETENTION_BATCH_SIZE: first the events linked to
   them (counted into `event_archive` as they are deleted), then their attempts, then the deliveries.
A run marked but not yet emptied (a crash, a stop) is finished at the next pass. Campaigns, runs,
contents, clips, replies, conversations, consent records and the audit log are not touched.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, exists, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from broadcast.audit import service as audit
from broadcast.campaigns.models import CampaignRun, RunStatus
from broadcast.config import Settings
from broadcast.contacts.models import GroupMember
from broadcast.db import session_scope, utcnow
from broadcast.engagement.models import RollupState
from broadcast.engagement.retained import EventArchive, RetainedRun, VoiceSums, retained_runs
from broadcast.engagement.rollup import OVERLAP, STATE, local_day, rebuild_event_campaigns, rebuild_runs, refresh_rollup
from broadcast.events.models import EngagementEvent, EventKind
from broadcast.outbox.models import Delivery, DeliveryAttempt, DeliveryKind, DeliveryStatus

log = logging.getLogger(__name__)
FINISHED = (RunStatus.completed, RunStatus.cancelled, RunStatus.missed)
D, E = Delivery, EngagementEvent
_SENT = (DeliveryStatus.sent, DeliveryStatus.delivered, DeliveryStatus.undelivered, DeliveryStatus.unknown)
_FAILED = (DeliveryStatus.failed, DeliveryStatus.undelivered)


@dataclass
class RetentionResult:
    runs: int = 0  # runs marked in this pass
    deliveries: int = 0
    attempts: int = 0
    events: int = 0


def _lock_rollups(session: Session) -> None:
    """Wait for any rollup refresh to finish: take its row locks, in its order (delivery, then event)."""
    for name in (STATE, "event"):
        session.execute(select(col(RollupState.name)).where(col(RollupState.name) == name).with_for_update())


def _watermark(session: Session, name: str) -> datetime | None:
    return session.execute(select(col(RollupState.watermark)).where(col(RollupState.name) == name)).scalar()


def candidates(session: Session, cutoff: datetime, watermark: datetime) -> list[tuple[int, int]]:
    """(run, campaign) of old finished runs with rows, none of them changed since the rollup's refresh."""
    has_rows = exists().where(col(D.run_id) == col(CampaignRun.id))
    changed = exists().where(col(D.run_id) == col(CampaignRun.id), col(D.updated_at) >= watermark - OVERLAP)
    query = (select(col(CampaignRun.id), col(CampaignRun.campaign_id))
             .where(col(CampaignRun.status).in_(FINISHED), col(CampaignRun.finished_at) < cutoff,
                    col(CampaignRun.id).not_in(retained_runs()), has_rows, ~changed)
             .order_by(col(CampaignRun.id)))
    return [(int(r), int(c)) for r, c in session.execute(query)]


def _count_if(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def group_figures(session: Session, run_id: int) -> dict[str, list[int]]:
    """Per group: [targeted, sent, delivered, failed, segments] of one run (as metrics.group_table counts)."""
    status = col(D.status)
    query = (select(col(GroupMember.group_id), func.count(), _count_if(status.in_(_SENT)),
                    _count_if(status == DeliveryStatus.delivered), _count_if(status.in_(_FAILED)),
                    func.coalesce(func.sum(col(D.segments)), 0))
             .select_from(D).join(GroupMember, col(GroupMember.contact_id) == col(D.contact_id))
             .where(col(D.run_id) == run_id, col(D.kind) == DeliveryKind.campaign)
             .group_by(col(GroupMember.group_id)))
    return {str(gid): [int(v or 0) for v in values] for gid, *values in session.execute(query)}


def voice_sums(session: Session, run_id: int, campaign_id: int) -> VoiceSums:
    """The additive voice figures of one run (as channels/voice_metrics.py counts them per campaign)."""
    voice = (col(D.run_id) == run_id) & (col(D.channel) == "voice")
    delivered = col(D.status) == DeliveryStatus.delivered
    share = case((delivered, col(D.listened_share)), else_=None)
    row = session.execute(select(
        func.count(), _count_if(delivered), _count_if(delivered & col(D.answered_by).like("machine%")),
        _count_if(col(D.status).in_(_FAILED)),
        _count_if(col(D.status).in_([DeliveryStatus.queued, DeliveryStatus.sending, DeliveryStatus.sent])),
        func.coalesce(func.sum(share), 0.0), func.count(share),
        func.coalesce(func.sum(col(D.call_duration_seconds)), 0),
        func.coalesce(func.sum(case((delivered, col(D.price)), else_=0)), 0),
    ).where(voice)).one()
    placed = session.execute(select(func.count()).select_from(DeliveryAttempt)
                             .join(D, col(D.id) == col(DeliveryAttempt.delivery_id))
                             .where(voice, col(DeliveryAttempt.outcome) == "accepted")).scalar_one()
    key, kind = col(E.dedupe_key), col(E.kind)
    events = session.execute(select(
        _count_if((kind == EventKind.keypress) & key.like("call:%:key:1:%")),
        _count_if((kind == EventKind.keypress) & key.like("call:%:key:2:%")),
        _count_if((kind == EventKind.opt_out) & key.like("call:%:opt_out")),
    ).where(col(E.campaign_id) == campaign_id, col(E.delivery_id).in_(select(col(D.id)).where(col(D.run_id) == run_id)))
    ).one()
    sms = session.execute(select(func.count()).where(col(D.run_id) == run_id, col(D.channel) == "sms")).scalar_one()
    residents, answered, machines, not_reached, in_progress, share_sum, share_n, seconds, cost = row
    return VoiceSums(residents=int(residents), answered=int(answered), machines=int(machines),
                     not_reached=int(not_reached), in_progress=int(in_progress), share_sum=float(share_sum),
                     share_n=int(share_n), seconds=int(seconds), cost=float(cost), placed=int(placed),
                     repeats=int(events[0]), callback_presses=int(events[1]), opt_outs=int(events[2]),
                     sms_deliveries=int(sms))


def mark(session: Session, settings: Settings, run_id: int, campaign_id: int) -> bool:
    """Mark one run for deletion with the figures it leaves behind; False if another process already did."""
    insert_ = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    n = session.execute(select(func.count()).where(col(D.run_id) == run_id)).scalar_one()
    created = session.execute(insert_(RetainedRun).values(run_id=run_id, campaign_id=campaign_id, pruned_at=utcnow(),
                                                          deliveries=n, groups={}, voice={})
                              .on_conflict_do_nothing(index_elements=["run_id"]).returning(col(RetainedRun.run_id)))
    if created.first() is None:
        return False
    rebuild_runs(session, settings, [run_id])  # the rollup exactly as the rows are now
    rebuild_event_campaigns(session, settings, [campaign_id])
    figures = {"groups": group_figures(session, run_id), "voice": asdict(voice_sums(session, run_id, campaign_id))}
    session.execute(update(RetainedRun).where(col(RetainedRun.run_id) == run_id).values(**figures))
    audit.record(session, action="retention.prune", entity="campaign_run", entity_id=run_id, actor="retention",
                 after={"campaign_id": campaign_id, "deliveries": int(n), "retention_days": settings.retention_days})
    return True


def delete_batch(session: Session, settings: Settings, limit: int) -> RetentionResult:
    """Delete up to `limit` deliveries of marked runs, with their attempts and events (counted as archived)."""
    ids = list(session.execute(select(col(D.id)).where(col(D.run_id).in_(retained_runs())).order_by(col(D.id))
                               .limit(limit)).scalars())
    if not ids:
        return RetentionResult()
    day = local_day(session, settings, col(E.occurred_at))
    gone = session.execute(delete(E).where(col(E.delivery_id).in_(ids)).returning(
        col(E.campaign_id), func.coalesce(col(E.commune_code), ""), col(E.kind), day, col(E.occurred_at))).all()
    archived = Counter((c, commune, kind, d) for c, commune, kind, d, _ in gone if c is not None)
    if archived:
        session.execute(insert(EventArchive), [{"campaign_id": c, "commune_code": commune, "kind": kind, "day": d,
                                                "n": n} for (c, commune, kind, d), n in archived.items()])
        # An event newer than the event rollup's refresh (a click on a link while its run was being pruned)
        # is in neither the rollup nor, after this, the events: count its campaign again, archive included.
        seen = (_watermark(session, "event") or utcnow()) - OVERLAP
        recent = sorted({c for c, _, _, _, at in gone if c is not None and at >= seen})
        if recent:
            _lock_rollups(session)
            rebuild_event_campaigns(session, settings, recent)
    attempts = session.execute(delete(DeliveryAttempt).where(col(DeliveryAttempt.delivery_id).in_(ids))
                               .returning(col(DeliveryAttempt.id))).all()
    deliveries = session.execute(delete(D).where(col(D.id).in_(ids)).returning(col(D.id))).all()
    return RetentionResult(deliveries=len(deliveries), attempts=len(attempts), events=len(gone))


def prune(engine: Engine, settings: Settings, *, now: datetime | None = None) -> RetentionResult:
    """One retention pass: refresh the rollups, mark what they cover, delete it in bounded transactions."""
    cutoff = (now or utcnow()) - timedelta(days=settings.retention_days)
    with session_scope(engine) as session:
        refresh_rollup(session, settings)
    total = RetentionResult()
    with Session(engine) as session:
        runs = candidates(session, cutoff, _watermark(session, STATE) or cutoff)
    for run_id, campaign_id in runs:
        with session_scope(engine) as session:
            _lock_rollups(session)
            total.runs += mark(session, settings, run_id, campaign_id)
    while True:
        with session_scope(engine) as session:
            done = delete_batch(session, settings, settings.retention_batch_size)
        total.deliveries += done.deliveries
        total.attempts += done.attempts
        total.events += done.events
        if done.deliveries < settings.retention_batch_size:
            break
    if total.runs or total.deliveries:
        log.info("retention: %d runs finished before %s marked; %d deliveries, %d attempts, %d events deleted",
                 total.runs, cutoff.date(), total.deliveries, total.attempts, total.events)
    return total
