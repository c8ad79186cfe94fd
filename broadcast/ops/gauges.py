"""Figures read from the database when Prometheus scrapes: deliveries, queue, scheduler leader, phones, clips.

`broadcast_deliveries` is the current number of delivery rows by channel and status, in one grouped
query that stays cheap on millions of rows: runs whose rows have not changed since the last rollup
refresh are read from `delivery_rollup` (exact for them), and only the rest is counted row by row —
deliveries outside runs, runs changed since the refresh, and runs whose rows retention is deleting.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import BigInteger, false, func, literal, select, text, true, union, union_all
from sqlalchemy.engine import Connection, Engine
from sqlmodel import col

from broadcast import __version__
from broadcast.audio.models import AudioClip, ClipStatus
from broadcast.channels.gateway.models import GatewayPhone, PhoneStatus
from broadcast.db import utcnow
from broadcast.engagement.models import DeliveryRollup, RollupState
from broadcast.engagement.retained import RetainedRun
from broadcast.engagement.rollup import OVERLAP, STATE
from broadcast.journal.store import Journal
from broadcast.outbox.models import Delivery, DeliveryStatus

log = logging.getLogger(__name__)
CHANNELS = ("sms", "voice")
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def delivery_counts(conn: Connection) -> dict[tuple[str, str], int]:
    """Delivery rows by (channel, status), now, in one grouped query: the rollup for settled runs, the rows
    for the rest."""
    D, R = Delivery, DeliveryRollup
    watermark = conn.execute(select(col(RollupState.watermark)).where(col(RollupState.name) == STATE)).scalar()
    since = (watermark or _EPOCH) - OVERLAP
    # Runs the rollup may not describe exactly: changed since the refresh began, or being pruned. A handful,
    # listed first: given as values, the planner finds their rows through the run_id index (given as a
    # subquery, it plans from the number of changed rows and scans the whole table).
    live = sorted(int(r) for r in conn.execute(union(
        select(col(D.run_id)).where(col(D.updated_at) >= since, col(D.run_id).is_not(None)),
        select(col(RetainedRun.run_id)),
    )).scalars())
    is_live = col(D.run_id).in_(live) if live else false()
    rollup_ok = col(R.run_id).not_in(live) if live else true()
    one = literal(1, BigInteger).label("n")
    parts = union_all(
        select(col(R.channel).label("channel"), col(R.status).label("status"), col(R.n).label("n")).where(rollup_ok),
        select(col(D.channel), col(D.status), one).where(col(D.run_id).is_(None)),
        select(col(D.channel), col(D.status), one).where(is_live),
    ).subquery()
    query = select(parts.c.channel, parts.c.status, func.sum(parts.c.n)).group_by(parts.c.channel, parts.c.status)
    return {(channel, status): int(n) for channel, status, n in conn.execute(query)}


def queue(conn: Connection, now: datetime) -> dict[str, tuple[int, float]]:
    """Per channel: messages due now, and how long the oldest of them has waited (seconds)."""
    D = Delivery
    rows = conn.execute(select(col(D.channel), func.count(), func.min(col(D.next_attempt_at)))
                        .where(col(D.status) == DeliveryStatus.queued, col(D.next_attempt_at) <= now)
                        .group_by(col(D.channel)))
    out = {}
    for channel, n, oldest in rows:
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)  # SQLite through a plain connection: naive UTC
        out[channel] = (int(n), max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0)
    return out


def scheduler_leader(conn: Connection, database_url: str) -> int:
    """1 when a scheduler holds the leader lock (PostgreSQL advisory lock, or the SQLite file lock)."""
    from scheduler.leader import LOCK_KEY, FileLeaderLock, leader_lock

    if conn.dialect.name == "postgresql":
        held = conn.execute(text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND classid::bigint = :hi AND objid::bigint = :lo"),
            {"hi": LOCK_KEY >> 32, "lo": LOCK_KEY & 0xFFFFFFFF}).scalar()
        return 1 if held else 0
    lock = leader_lock(database_url)
    assert isinstance(lock, FileLeaderLock)
    if not lock.path.exists():
        return 0
    # flock has no "test": a shared lock is refused while the leader holds its exclusive one. A standby
    # trying at this very instant is refused once and tries again at its next poll.
    with open(lock.path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return 1
        fcntl.flock(handle, fcntl.LOCK_UN)
    return 0


class DatabaseCollector(Collector):
    """Collects the database figures at each scrape (a handful of cheap queries)."""

    def __init__(self, engine: Engine, database_url: str) -> None:
        self.engine = engine
        self.database_url = database_url

    def collect(self) -> Iterator[Any]:
        info = GaugeMetricFamily("broadcast_build_info", "The running version", labels=["version"])
        info.add_metric([__version__], 1)
        yield info
        up = GaugeMetricFamily("broadcast_database_up", "1 when the figures below could be read from the database")
        try:
            families = list(self._families())
        except Exception:  # the scrape still answers, and says the database did not
            log.exception("metrics: database figures unavailable")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self) -> Iterator[Any]:
        now = utcnow()
        with self.engine.connect() as conn:
            counts = delivery_counts(conn)
            due = queue(conn, now)
            leader = scheduler_leader(conn, self.database_url)
            phones = conn.execute(select(col(GatewayPhone.name), col(GatewayPhone.status))
                                  .where(col(GatewayPhone.enabled).is_(True))).all()
            clips = dict(conn.execute(select(col(AudioClip.status), func.count()).group_by(col(AudioClip.status)))
                         .all())
        deliveries = GaugeMetricFamily("broadcast_deliveries", "Delivery rows by channel and status, now",
                                       labels=["channel", "status"])
        for channel in sorted(set(CHANNELS) | {c for c, _ in counts}):
            for delivery_status in DeliveryStatus:
                value = delivery_status.value
                deliveries.add_metric([channel, value], counts.get((channel, value), 0))
        yield deliveries
        depth = GaugeMetricFamily("broadcast_queue_due", "Messages queued and due now, by channel",
                                  labels=["channel"])
        age = GaugeMetricFamily("broadcast_queue_oldest_due_age_seconds",
                                "How long the oldest message due has waited, by channel", labels=["channel"])
        for channel in sorted(set(CHANNELS) | set(due)):
            n, seconds = due.get(channel, (0, 0.0))
            depth.add_metric([channel], n)
            age.add_metric([channel], seconds)
        yield depth
        yield age
        yield GaugeMetricFamily("broadcast_scheduler_leader", "1 when a scheduler holds the leader lock",
                                value=leader)
        up = GaugeMetricFamily("broadcast_gateway_phone_up", "1 when an enabled gateway phone answers, 0 when "
                               "it is marked down", labels=["phone"])
        for name, phone_status in phones:
            up.add_metric([name], 1 if phone_status == PhoneStatus.up else 0)
        yield up
        audio = GaugeMetricFamily("broadcast_audio_clips", "Audio clips by status (ready: rendered; pending and "
                                  "rendering: waiting)", labels=["status"])
        for clip_status in ClipStatus:
            audio.add_metric([clip_status.value], clips.get(clip_status.value, 0))
        yield audio


class JournalCollector(Collector):
    """Webhook events waiting in the journal for the database (read from disk at each scrape)."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def collect(self) -> Iterator[Any]:
        yield GaugeMetricFamily("broadcast_journal_backlog", "Webhook events journaled while the database did not "
                                "answer and not applied yet", value=self.journal.backlog())
        oldest = self.journal.oldest()
        yield GaugeMetricFamily("broadcast_journal_oldest_age_seconds", "How long the oldest journal segment still "
                                "waiting has existed (0: none)", value=oldest or 0.0)
