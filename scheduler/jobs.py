"""Job functions APScheduler calls (by module path, so persisted jobs survive restarts and code reloads).

Each job opens its own session and calls one service. The engine, settings and clock of the running
scheduler are bound here by SchedulerService.start().
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import ParamSpec, TypeVar

from sqlalchemy.engine import Engine

from broadcast.campaigns.progress import settle_finished
from broadcast.campaigns.schedules.runs import run_due
from broadcast.config import Settings
from broadcast.db import session_scope
from broadcast.engagement.rollup import refresh_rollup
from broadcast.journal.outage import QuietFailures, unavailable

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")


def quiet_outage(job: Callable[P, R]) -> Callable[P, R | None]:
    """While the database does not answer, a job logs that once (and once when it is back) instead of a
    traceback each run; the next run, or the sync's catch-up of overdue occurrences, does the work."""
    quiet = QuietFailures(log, f"scheduler job {job.__name__}")

    @functools.wraps(job)
    def run(*args: P.args, **kwargs: P.kwargs) -> R | None:
        if _context is None:  # this process stepped down (lost the leader lock) while the run was starting
            log.info("scheduler job %s skipped: this process is no longer the active scheduler", job.__name__)
            return None
        try:
            result = job(*args, **kwargs)
        except Exception as exc:
            if unavailable(exc) is None:
                raise
            quiet.failed(exc)
            return None
        quiet.succeeded()
        return result

    return run


# The periodic rollup refresh recomputes each run that changed from its deliveries: 1.2 s for a run of a million
# idle, several times that while it sends. Every METRICS_REFRESH_SECONDS would then keep a core busy in PostgreSQL
# during a province campaign; instead a refresh waits until it would take at most this share of the time since the
# last one (dashboards show "as of"; a page older than 4 refresh periods refreshes it itself).
REFRESH_SHARE = 0.1


@dataclass
class JobContext:
    engine: Engine
    settings: Settings
    clock: Callable[[], datetime]
    on_sync: Callable[[], object] | None = None
    next_refresh: float = 0.0  # time.monotonic() before which the periodic refresh is skipped


_context: JobContext | None = None


def bind(context: JobContext | None) -> None:
    """Set (or clear) the context the job functions run with in this process."""
    global _context
    _context = context


def _require() -> JobContext:
    if _context is None:
        raise RuntimeError("scheduler jobs are not bound to a running scheduler")
    return _context


@quiet_outage
def campaign_occurrence(campaign_id: int) -> int:
    """A campaign's occurrence is due: create its run (or record it missed) and start sending."""
    ctx = _require()
    with session_scope(ctx.engine) as session:
        runs = run_due(session, ctx.settings, campaign_id, now=ctx.clock())
    return len(runs)


@quiet_outage
def sync_jobs() -> None:
    """Reconcile the campaign jobs with the campaign rows (edits, pauses, cancellations)."""
    ctx = _require()
    if ctx.on_sync is not None:
        ctx.on_sync()


@quiet_outage
def settle() -> int:
    """Complete runs and campaigns with nothing left to send (recurring ones return to `scheduled`)."""
    ctx = _require()
    with session_scope(ctx.engine) as session:
        return settle_finished(session, now=ctx.clock())


@quiet_outage
def refresh_metrics() -> int:
    """Bring the metrics rollups up to date, so dashboards and reports never wait for it."""
    ctx = _require()
    started = time.monotonic()
    if started < ctx.next_refresh:
        return 0
    with session_scope(ctx.engine) as session:
        runs = refresh_rollup(session, ctx.settings)
    ctx.next_refresh = started + (time.monotonic() - started) / REFRESH_SHARE
    return runs


@quiet_outage
def tidy() -> int:
    """Housekeeping of short-lived rows: sign-in failures past the limiter's window."""
    from broadcast.accounts.limits import forget_expired

    ctx = _require()
    with session_scope(ctx.engine) as session:
        return forget_expired(session, now=ctx.clock())


@quiet_outage
def retention() -> int:
    """Delete per-resident rows of runs finished more than RETENTION_DAYS ago (their figures stay in rollups)."""
    from broadcast.engagement.retention import prune

    ctx = _require()
    return prune(ctx.engine, ctx.settings, now=ctx.clock()).deliveries


def quiz() -> int:
    """Quizzes: first questions after the campaign SMS, unanswered ones closed, contests closed with their key."""
    from broadcast.quiz.ticks import tick

    ctx = _require()
    with session_scope(ctx.engine) as session:
        done = tick(session, now=ctx.clock())
    return done.first_questions + done.keys_sent
