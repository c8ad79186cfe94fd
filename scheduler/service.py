"""The scheduler process: APScheduler 3 with a persistent job store, kept in step with the campaign rows."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from broadcast.campaigns.models import Campaign
from broadcast.campaigns.schedules.rules import trigger_for
from broadcast.campaigns.schedules.runs import RUNNABLE, next_run_at
from broadcast.config import Settings
from broadcast.db import utcnow
from scheduler import jobs

log = logging.getLogger(__name__)
JOBSTORE = "campaigns"
JOB_TABLE = "scheduler_jobs"
SYNC_OVERLAP = timedelta(seconds=60)  # re-read rows this far behind the watermark: late commits
VOLATILE = ("next_run_at", "set_at")
RETENTION_PERIOD_SECONDS = 3600  # old runs' rows are deleted hourly; a pass with nothing to do is one query


def job_id(campaign_id: int) -> str:
    return f"campaign:{campaign_id}"


def fingerprint(schedule: dict[str, Any], expires_at: datetime | None) -> str:
    """What a campaign job depends on; a change means the job is replaced."""
    stable = {k: v for k, v in schedule.items() if k not in VOLATILE}
    stable["expires_at"] = expires_at.isoformat() if expires_at else None
    return hashlib.sha1(json.dumps(stable, sort_keys=True, default=str).encode()).hexdigest()[:16]


def campaign_trigger(schedule: dict[str, Any], expires_at: datetime | None) -> DateTrigger | CronTrigger:
    """The APScheduler trigger of a campaign's occurrences (cron ends at the campaign's expiry)."""
    if schedule["kind"] == "once":
        return DateTrigger(run_date=datetime.fromisoformat(schedule["at"]))
    trigger = trigger_for(schedule)
    assert trigger is not None
    if expires_at is not None and (trigger.end_date is None or expires_at < trigger.end_date):
        trigger.end_date = expires_at.astimezone(trigger.timezone)
    return trigger


def misfire_grace(schedule: dict[str, Any], settings: Settings) -> int:
    """How late APScheduler may still fire the job; run_due applies the exact window and expiry."""
    window = schedule.get("window")
    return int(window["days"]) * 86400 if window else settings.scheduler_misfire_grace_seconds


class SchedulerService:
    """One active scheduler: campaign jobs in the database, housekeeping jobs in memory."""

    def __init__(self, engine: Engine, settings: Settings, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self.scheduler: BackgroundScheduler | None = None
        self._known: dict[int, str] = {}
        self._watermark: datetime | None = None
        self._seen: dict[int, datetime] = {}  # updated_at last reconciled, per campaign
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start APScheduler (loading persisted jobs), reconcile every campaign and catch up missed runs."""
        jobs.bind(jobs.JobContext(self.engine, self.settings, self.clock, on_sync=self.sync))
        scheduler = BackgroundScheduler(
            jobstores={JOBSTORE: SQLAlchemyJobStore(engine=self.engine, tablename=JOB_TABLE),
                       "default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(4)},
            job_defaults={"coalesce": True, "max_instances": 1,
                          "misfire_grace_time": self.settings.scheduler_misfire_grace_seconds},
            timezone=self.settings.zone,
        )
        scheduler.start()
        self.scheduler = scheduler
        self._known = {int(job.id.split(":", 1)[1]): job.name for job in scheduler.get_jobs(jobstore=JOBSTORE)}
        self.sync(full=True)
        common: dict[str, Any] = {"replace_existing": True, "coalesce": True, "max_instances": 1,
                                  "jobstore": "default"}
        scheduler.add_job(jobs.sync_jobs, "interval", seconds=self.settings.scheduler_sync_seconds, id="sync",
                          name="sync", misfire_grace_time=None, **common)
        scheduler.add_job(jobs.settle, "interval", seconds=self.settings.scheduler_housekeeping_seconds,
                          id="settle", name="settle", misfire_grace_time=None, **common)
        scheduler.add_job(jobs.tidy, "interval", seconds=self.settings.scheduler_housekeeping_seconds,
                          id="tidy", name="tidy", misfire_grace_time=None, **common)
        scheduler.add_job(jobs.refresh_metrics, "interval", seconds=self.settings.metrics_refresh_seconds,
                          id="metrics", name="metrics", misfire_grace_time=None, **common)
        scheduler.add_job(jobs.quiz, "interval", seconds=self.settings.quiz_tick_seconds, id="quiz", name="quiz",
                          misfire_grace_time=None, **common)
        scheduler.add_job(jobs.retention, "interval", seconds=RETENTION_PERIOD_SECONDS, id="retention",
                          name="retention", misfire_grace_time=None, **common)
        log.info("scheduler started: %d campaign jobs", len(self._known))

    def stop(self, *, wait: bool = True) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=wait)
        self.scheduler = None
        jobs.bind(None)

    def wake(self) -> None:
        """Reconcile soon (after an API change): run the sync job now instead of at its next tick."""
        if self.scheduler is not None and self.scheduler.running:
            with contextlib.suppress(JobLookupError):
                self.scheduler.modify_job("sync", jobstore="default", next_run_time=datetime.now(UTC))

    def sync(self, *, full: bool = False) -> int:
        """Add, replace or remove campaign jobs to match the rows; run occurrences that are overdue.

        Returns how many jobs changed.
        """
        with self._lock:
            now = self.clock()
            rows = self._rows(full)
            changed, overdue, seen = 0, [], set()
            for cid, status, schedule, expires_at, updated_at in rows:
                campaign_id = int(cid)
                seen.add(campaign_id)
                self._seen[campaign_id] = updated_at
                runnable = bool(schedule) and status in RUNNABLE
                cached = datetime.fromisoformat(schedule["next_run_at"]) if runnable and schedule.get(
                    "next_run_at") else None
                if cached is not None and cached <= now:
                    overdue.append(campaign_id)
                # The stored next run time is kept current; computing it is needed only when it has passed.
                upcoming = (cached if cached is not None and cached > now
                            else next_run_at(schedule, now, expires_at) if runnable else None)
                want = fingerprint(schedule, expires_at) if upcoming is not None else None
                if want != self._known.get(campaign_id):
                    self._apply(campaign_id, schedule, expires_at, want)
                    changed += 1
            if full:
                for campaign_id in set(self._known) - seen:
                    self._apply(campaign_id, {}, None, None)
                    changed += 1
        for campaign_id in overdue:  # outside the lock: a run may fan out many rows
            try:
                jobs.campaign_occurrence(campaign_id)
            except Exception:
                log.exception("catch-up of campaign %s failed", campaign_id)
        return changed

    def _rows(self, full: bool) -> list[Any]:
        """Campaign rows to reconcile: all of them, or those whose updated_at moved since last seen."""
        columns = (col(Campaign.id), col(Campaign.status), col(Campaign.schedule), col(Campaign.expires_at),
                   col(Campaign.updated_at))
        with Session(self.engine) as session:
            if full or self._watermark is None:
                rows = list(session.execute(select(*columns)).all())
            else:
                # Cheap probe first (ids and stamps only), then the full rows of what really changed.
                recent = session.execute(
                    select(col(Campaign.id), col(Campaign.updated_at))
                    .where(col(Campaign.updated_at) > self._watermark - SYNC_OVERLAP)
                ).all()
                ids = [int(cid) for cid, stamp in recent if self._seen.get(int(cid)) != stamp]
                rows = []
                for chunk in range(0, len(ids), 500):
                    rows += session.execute(select(*columns).where(col(Campaign.id).in_(ids[chunk:chunk + 500]))).all()
        for row in rows:
            if self._watermark is None or row[4] > self._watermark:
                self._watermark = row[4]
        return rows

    def _apply(self, campaign_id: int, schedule: dict[str, Any], expires_at: datetime | None,
               want: str | None) -> None:
        assert self.scheduler is not None
        if want is None:
            with contextlib.suppress(JobLookupError):
                self.scheduler.remove_job(job_id(campaign_id), jobstore=JOBSTORE)
            self._known.pop(campaign_id, None)
            log.info("campaign %s: job removed", campaign_id)
            return
        self.scheduler.add_job(
            jobs.campaign_occurrence, campaign_trigger(schedule, expires_at), args=[campaign_id],
            id=job_id(campaign_id), name=want, jobstore=JOBSTORE, replace_existing=True, coalesce=True,
            max_instances=1, misfire_grace_time=misfire_grace(schedule, self.settings),
        )
        self._known[campaign_id] = want
        log.info("campaign %s: job scheduled", campaign_id)


class SchedulerRunner:
    """Waits for the leader lock, runs the scheduler while holding it, and steps down if it is lost."""

    def __init__(self, engine: Engine, settings: Settings, *, clock: Callable[[], datetime] = utcnow) -> None:
        from scheduler.leader import leader_lock

        self.engine = engine
        self.settings = settings
        self.clock = clock
        self.lock = leader_lock(settings.database_url)
        self.service: SchedulerService | None = None
        self.stop_event = threading.Event()

    @property
    def active(self) -> bool:
        return self.service is not None

    def wake(self) -> None:
        """Ask the active scheduler to reconcile now (no-op on a standby)."""
        service = self.service
        if service is not None:
            service.wake()

    def run(self, stop: threading.Event | None = None) -> None:
        """Block until `stop` is set: be the active scheduler whenever the lock can be had."""
        stop = stop or self.stop_event
        announced = False
        try:
            while not stop.is_set():
                if self.service is None:
                    if self.lock.acquire():
                        log.info("scheduler active: leader lock taken")
                        service = SchedulerService(self.engine, self.settings, clock=self.clock)
                        try:
                            service.start()
                        except Exception:
                            log.exception("scheduler failed to start; retrying")
                            service.stop(wait=False)
                            self.lock.release()
                        else:
                            self.service = service
                    elif not announced:
                        log.info("scheduler standby: another process holds the leader lock")
                        announced = True
                elif not self.lock.healthy():
                    log.error("scheduler stepping down: leader lock lost")
                    self.service.stop(wait=False)
                    self.service = None
                    announced = False
                stop.wait(self.settings.scheduler_leader_poll_seconds)
        finally:
            if self.service is not None:
                self.service.stop()
                self.service = None
            self.lock.release()
            log.info("scheduler stopped")

    def start(self) -> Callable[[], None]:
        """Run in a background thread; returns a function that stops it and waits."""
        self.stop_event = threading.Event()
        thread = threading.Thread(target=self.run, args=(self.stop_event,), name="scheduler", daemon=True)
        thread.start()

        def stop() -> None:
            self.stop_event.set()
            thread.join(timeout=30)

        return stop
