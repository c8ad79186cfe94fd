"""Sign-in limits shared by every web process: failures are rows in the database, not counters in memory.

Two limits, both over a sliding window: failures for one (username, client address), which stops guessing one
account's password, and failures from one address whatever the username, which stops spraying many accounts.
The client address is the connecting peer, or what a trusted proxy reports (FORWARDED_ALLOW_IPS) — never a header
any client can set.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from broadcast.accounts.models import LoginFailure
from broadcast.db import utcnow

MAX_FAILURES = 5  # per username and address
MAX_ADDRESS_FAILURES = 30  # per address, any usernames
WINDOW = timedelta(minutes=15)


@dataclass(frozen=True)
class Attempt:
    username: str
    address: str

    @property
    def key(self) -> str:
        return hashlib.sha256(f"{self.username.strip().lower()}\x00{self.address}".encode()).hexdigest()


def retry_after(session: Session, attempt: Attempt, *, now: datetime | None = None) -> int:
    """Seconds until this attempt may be tried (0: now)."""
    now = now or utcnow()
    since = now - WINDOW
    waits = [0]
    for column, value, limit in ((LoginFailure.key, attempt.key, MAX_FAILURES),
                                 (LoginFailure.address, attempt.address[:64], MAX_ADDRESS_FAILURES)):
        count, oldest = session.exec(
            select(func.count(), func.min(LoginFailure.at)).where(column == value, col(LoginFailure.at) > since)
        ).one()
        if count >= limit and oldest is not None:
            # The window slides: the oldest failure counted leaves it first (approximation when over the limit).
            waits.append(max(1, int((oldest + WINDOW - now).total_seconds() + 0.999)))
    return max(waits)


def failed(session: Session, attempt: Attempt, *, now: datetime | None = None) -> None:
    now = now or utcnow()
    session.add(LoginFailure(key=attempt.key, address=attempt.address[:64], at=now))
    session.flush()


def succeeded(session: Session, attempt: Attempt) -> None:
    session.execute(delete(LoginFailure).where(col(LoginFailure.key) == attempt.key))


def forget_expired(session: Session, *, now: datetime | None = None) -> int:
    """Housekeeping: drop failures older than the window; returns how many."""
    result = session.execute(delete(LoginFailure).where(col(LoginFailure.at) <= (now or utcnow()) - WINDOW))
    return max(result.rowcount or 0, 0)  # type: ignore[attr-defined]
