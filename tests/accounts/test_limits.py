"""The sign-in limiter's rows: counted over a sliding window and tidied away after it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from broadcast.accounts import limits
from broadcast.accounts.models import LoginFailure
from broadcast.db import utcnow
from tests.conftest import BOTH

pytestmark = BOTH  # the database matters here: SQL, locking or types differ


def test_failures_expire_with_the_window_and_are_tidied(engine: Engine) -> None:
    now = utcnow()
    attempt = limits.Attempt("CanBo ", "198.51.100.7")
    with Session(engine) as session:
        for minutes in (20, 14, 10, 5, 1):
            limits.failed(session, attempt, now=now - timedelta(minutes=minutes))
        assert limits.retry_after(session, attempt, now=now) == 0  # four inside the window, one outside
        limits.failed(session, limits.Attempt("canbo", "198.51.100.7"), now=now)  # same key: case and spaces
        wait = limits.retry_after(session, attempt, now=now)
        assert 60 <= wait <= 60 + 1  # the failure 14 minutes ago leaves the window in a minute
        assert limits.retry_after(session, limits.Attempt("canbo", "198.51.100.8"), now=now) == 0
        assert limits.forget_expired(session, now=now) == 1
        assert session.exec(select(func.count()).select_from(LoginFailure)).one() == 5
        limits.succeeded(session, attempt)
        assert session.exec(select(func.count()).select_from(LoginFailure)).one() == 0
