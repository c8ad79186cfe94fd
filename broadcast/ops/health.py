"""Health that explains itself: /healthz/live (the process answers) and /healthz/ready (it can do its work).

Ready means: the database answers; some process holds the scheduler's leader lock; a dispatcher has reported
in the last minute; the webhook journal can be written and nothing has waited in it for over a minute; no
enabled gateway phone is marked down. Otherwise 503 with one reason per failed check, for a load balancer
and for the operator reading it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlmodel import col
from starlette.concurrency import run_in_threadpool

from broadcast import __version__
from broadcast.channels.gateway.models import GatewayPhone, PhoneStatus
from broadcast.config import Settings
from broadcast.db import utcnow
from broadcast.journal.outage import unavailable
from broadcast.journal.webhooks import Reliability
from broadcast.ops.gauges import scheduler_leader
from broadcast.outbox.models import DispatcherHeartbeat

router = APIRouter(tags=["health"])
HEARTBEAT_WINDOW = timedelta(seconds=60)
JOURNAL_WAIT_SECONDS = 60.0
DATABASE_TIMEOUT_SECONDS = 3.0


@dataclass
class Readiness:
    reasons: list[str] = field(default_factory=list)
    checks: dict[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return not self.reasons

    def fail(self, check: str, reason: str) -> None:
        self.checks[check] = "fail"
        self.reasons.append(f"{check}: {reason}")

    def to_dict(self) -> dict[str, Any]:
        return {"ready": self.ready, "reasons": self.reasons, "checks": self.checks, "version": __version__}


def database_checks(engine: Engine, settings: Settings, found: Readiness) -> None:
    """The checks that read the database (leader lock, heartbeats, phones); raises when it does not answer."""
    now = utcnow()
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        found.checks["database"] = "ok"
        if scheduler_leader(conn, settings.database_url):
            found.checks["scheduler"] = "ok"
        else:
            found.fail("scheduler", "no process holds the scheduler's leader lock")
        beat = conn.execute(select(func.max(col(DispatcherHeartbeat.beat_at)))).scalar()
        if beat is not None and beat.tzinfo is None:
            beat = beat.replace(tzinfo=UTC)
        if beat is not None and now - beat <= HEARTBEAT_WINDOW:
            found.checks["dispatcher"] = "ok"
        else:
            since = f"last {(now - beat).total_seconds():.0f} s ago" if beat is not None else "never"
            found.fail("dispatcher", f"no dispatcher reported in the last {HEARTBEAT_WINDOW.seconds} s ({since})")
        down = conn.execute(select(col(GatewayPhone.name), col(GatewayPhone.last_error)).where(
            col(GatewayPhone.enabled).is_(True), col(GatewayPhone.status) == PhoneStatus.down)).all()
    for name, error in down:
        found.fail(f"gateway:{name}", f"marked down ({error or 'no answer'})")
    found.checks.setdefault("gateway", "ok" if not down else "fail")


def journal_checks(state: Reliability, found: Readiness) -> None:
    """The journal can take an event now, and nothing has waited in it too long."""
    problem = writable(state.journal.directory)
    if problem:
        found.fail("journal", f"cannot write in {state.journal.directory} ({problem})")
        return
    waiting, oldest = state.journal.backlog(), state.journal.oldest()
    if waiting and oldest is not None and oldest > JOURNAL_WAIT_SECONDS:
        found.fail("journal", f"{waiting} webhook events waiting for the database (oldest {oldest:.0f} s)")
        return
    found.checks["journal"] = "ok"


def writable(directory: Path) -> str | None:
    """Why one byte cannot be written and synced in `directory` (None when it can)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".probe-", delete=True) as probe:
            probe.write(b"\n")
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


# Not in the OpenAPI document (like /metrics): they are for load balancers and monitoring, and a 503 from
# /healthz/ready is an answer ("not ready"), not a failure of the request (README: Reliability).
@router.get("/healthz/live", summary="200 while the process runs (no database needed)", include_in_schema=False)
def live() -> dict[str, Any]:
    return {"live": True, "version": __version__}


@router.get("/healthz/ready", summary="200 when this instance can do its work, else 503 with the reasons",
            include_in_schema=False)
async def ready(request: Request) -> JSONResponse:
    settings: Settings = request.app.state.settings
    state: Reliability = request.app.state.reliability
    found = Readiness()
    try:
        await asyncio.wait_for(run_in_threadpool(database_checks, request.app.state.engine, settings, found),
                               timeout=DATABASE_TIMEOUT_SECONDS)
    except TimeoutError:
        found.fail("database", f"no answer within {DATABASE_TIMEOUT_SECONDS:g} s")
    except Exception as exc:
        reason = unavailable(exc)
        if reason is None:
            raise
        found.fail("database", reason)
    if state.outage.down and "database" not in found.checks:
        found.checks["database"] = "fail"
    with contextlib.suppress(Exception):
        await run_in_threadpool(journal_checks, state, found)
    return JSONResponse(found.to_dict(), status_code=200 if found.ready else 503)
