"""Scheduler at 10,000 scheduled campaigns: start time, listing the next 100 runs, idle CPU.

Each figure is printed beside a baseline measured in the same run:
  start      — cold start (creates every job) and warm restart (persisted jobs, unchanged ones kept)
               vs. a naive restart that re-adds every job with replace_existing;
  next 100   — the k-way merge over stored next-run times vs. expanding every campaign's occurrences
               over the horizon and sorting them;
  idle CPU   — the running service (sync every SCHEDULER_SYNC_SECONDS) vs. a bare APScheduler
               holding the same jobs.

    .venv/bin/python bench/bench_scheduler.py [--campaigns 10000] [--idle 10] [--database-url URL]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import insert, select
from sqlmodel import Session

from broadcast.campaigns.models import Campaign
from broadcast.campaigns.schedules.calendar import coming_runs
from broadcast.campaigns.schedules.rules import ScheduleIn, normalize, occurrences
from broadcast.campaigns.schedules.runs import next_run_at
from broadcast.config import Settings, load_settings
from broadcast.db import make_engine, upgrade, utcnow
from scheduler import jobs
from scheduler.service import JOB_TABLE, JOBSTORE, SchedulerService, campaign_trigger, fingerprint, job_id


def schedules(count: int, settings: Settings, now: datetime) -> list[dict[str, object]]:
    rng = random.Random(977)
    made = []
    for i in range(count):
        hour, minute = rng.randint(7, 20), rng.choice([0, 15, 30, 45])
        start = (now + timedelta(days=1)).astimezone(settings.zone).date()
        kind = i % 4
        if kind == 0:
            body = ScheduleIn(at=(now + timedelta(days=rng.randint(1, 60), minutes=rng.randint(0, 600))))
        elif kind == 1:
            body = ScheduleIn(every="weekly", days=[rng.choice(["mon", "wed", "sat"])], time=f"{hour:02d}:{minute:02d}",
                              start=start, end=start + timedelta(days=90))
        elif kind == 2:
            body = ScheduleIn(every="daily", time=f"{hour:02d}:{minute:02d}", start=start,
                              window={"start": f"{hour:02d}:00", "end": f"{hour + 2:02d}:00"})
        else:
            body = ScheduleIn(cron=f"{minute} {hour} 1,15 * *", start=start, end=start + timedelta(days=365))
        stored = normalize(body, zone=settings.zone, now=now)
        upcoming = next_run_at(stored, now, None)
        made.append({**stored, "next_run_at": upcoming.isoformat() if upcoming else None})
    return made


def seed(settings: Settings, count: int) -> None:
    engine = make_engine(settings.database_url)
    now = utcnow()
    rows = [{"title": f"Chiến dịch {i}", "status": "scheduled", "channels": ["sms"], "audience": {},
             "schedule": s, "created_at": now, "updated_at": now}
            for i, s in enumerate(schedules(count, settings, now))]
    with engine.begin() as conn:
        for chunk in range(0, len(rows), 2000):
            conn.execute(insert(Campaign), rows[chunk:chunk + 2000])
    engine.dispose()


def timed(fn):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def naive_restart(settings: Settings) -> float:
    """Baseline: a scheduler that, at every start, re-adds all campaign jobs from the rows."""
    engine = make_engine(settings.database_url)
    t0 = time.perf_counter()
    scheduler = BackgroundScheduler(jobstores={JOBSTORE: SQLAlchemyJobStore(engine=engine, tablename=JOB_TABLE)},
                                    timezone=settings.zone)
    scheduler.start()
    with Session(engine) as session:
        rows = session.execute(select(Campaign.id, Campaign.schedule, Campaign.expires_at)).all()
    for cid, schedule, expires in rows:
        scheduler.add_job(jobs.campaign_occurrence, campaign_trigger(schedule, expires), args=[cid], id=job_id(cid),
                          name=fingerprint(schedule, expires), jobstore=JOBSTORE, replace_existing=True)
    elapsed = time.perf_counter() - t0
    scheduler.shutdown(wait=False)
    engine.dispose()
    return elapsed


def naive_next(settings: Settings, now: datetime, until: datetime) -> list[tuple[datetime, int]]:
    """Baseline: expand every campaign's occurrences over the horizon, then sort."""
    engine = make_engine(settings.database_url)
    with Session(engine) as session:
        rows = session.execute(select(Campaign.id, Campaign.schedule)).all()
    found = [(t, int(cid)) for cid, schedule in rows for t in occurrences(schedule, now, until, limit=10_000)]
    engine.dispose()
    return sorted(found)[:100]


def idle_cpu(seconds: float) -> float:
    t0 = time.process_time()
    time.sleep(seconds)  # the scheduler threads run; this thread only waits
    return time.process_time() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--campaigns", type=int, default=10_000)
    parser.add_argument("--idle", type=float, default=10.0)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp(prefix='bench-sched-')}/bench.db"
    settings = load_settings(database_url=url, _env_file=None)
    upgrade(settings.database_url)
    t_seed, _ = timed(lambda: seed(settings, args.campaigns))
    print(f"{args.campaigns} scheduled campaigns on {settings.database_url.split(':')[0]} (seeded in {t_seed:.1f} s)")

    engine = make_engine(settings.database_url)
    cold = SchedulerService(engine, settings)
    t_cold, _ = timed(cold.start)
    cold.stop()
    warm = SchedulerService(engine, settings)
    t_warm, _ = timed(warm.start)
    t_naive = naive_restart(settings)
    print(f"start:    cold {t_cold:6.2f} s | warm restart {t_warm:6.2f} s | naive restart (re-add all) "
          f"{t_naive:6.2f} s | warm is {t_naive / t_warm:4.1f}x faster")

    now = datetime.now(UTC)
    until = now + timedelta(days=30)
    with Session(engine) as session:
        t_list, ours = timed(lambda: coming_runs(session, now=now, until=until, limit=100))
    t_base, theirs = timed(lambda: naive_next(settings, now, until))
    same = [(p.at, p.campaign_id) for p in ours] == theirs
    print(f"next 100: merge {t_list * 1000:7.1f} ms | expand+sort {t_base * 1000:7.1f} ms | "
          f"{t_base / t_list:5.1f}x faster | same answer: {same}")

    cpu_ours = idle_cpu(args.idle)
    warm.stop()
    bare = BackgroundScheduler(jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename=JOB_TABLE)},
                               timezone=settings.zone)
    bare.start()
    cpu_bare = idle_cpu(args.idle)
    bare.shutdown(wait=False)
    print(f"idle CPU over {args.idle:g} s: service {cpu_ours * 1000:6.1f} ms ({cpu_ours / args.idle * 100:.2f}%) | "
          f"bare APScheduler {cpu_bare * 1000:6.1f} ms ({cpu_bare / args.idle * 100:.2f}%)")
    engine.dispose()


if __name__ == "__main__":
    main()
