"""The instance's answer to `broadcast check`: GET /healthz/echo/{nonce} gives back a value only the database knows.

The check stores a random nonce (by its SHA-256) with a random value, then asks PUBLIC_BASE_URL for it: only a
process on this very database can answer the value, once, within two minutes. Anyone else asking gets the same
404 whatever they try, and learns nothing (the nonce has 256 bits; only its digest is stored and compared).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel
from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from broadcast.db import session_scope, utcnow
from broadcast.deps import EngineDep
from broadcast.exceptions import ERROR_RESPONSES, NotFoundError
from broadcast.ops.models import CheckEcho

LIFETIME = timedelta(minutes=2)
NONCE_PATTERN = r"^[A-Za-z0-9_-]{43}$"  # secrets.token_urlsafe(32)

router = APIRouter(tags=["health"])


class EchoOut(BaseModel):
    """The value stored with the nonce."""

    value: str


def _digest(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def plant(engine: Engine) -> tuple[str, str]:
    """Store a fresh nonce and value (committed, so the serving process sees them); returns both."""
    nonce, value = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with session_scope(engine) as session:
        session.add(CheckEcho(nonce=_digest(nonce), value=value, expires_at=utcnow() + LIFETIME))
    return nonce, value


def take(session: Session, nonce: str) -> str | None:
    """The value stored with `nonce`, removed as it is read (None when unknown, expired or already taken)."""
    now = utcnow()
    session.execute(delete(CheckEcho).where(col(CheckEcho.expires_at) <= now))
    taken = session.execute(delete(CheckEcho).where(col(CheckEcho.nonce) == _digest(nonce))
                            .returning(col(CheckEcho.value))).first()
    return None if taken is None else str(taken[0])


def forget(engine: Engine, nonce: str) -> None:
    """Remove a nonce the instance never asked for (the check failed to reach it)."""
    with session_scope(engine) as session:
        session.execute(delete(CheckEcho).where(col(CheckEcho.nonce) == _digest(nonce)))


@router.get("/healthz/echo/{nonce}", response_model=EchoOut, responses={404: ERROR_RESPONSES[404]},
            summary="Answer `broadcast check`'s one-time value")
def echo(engine: EngineDep, response: Response,
         nonce: Annotated[str, Path(pattern=NONCE_PATTERN, min_length=43, max_length=43)]) -> EchoOut:
    """No login: the answer exists only for the process that planted the nonce, and only once."""
    response.headers["Cache-Control"] = "no-store"
    with session_scope(engine) as session:  # committed before a 404 is raised: the sweep of expired rows stays
        value = take(session, nonce)
    if value is None:
        raise NotFoundError("Không có giá trị kiểm tra này (hoặc đã hết hạn).")
    return EchoOut(value=value)
