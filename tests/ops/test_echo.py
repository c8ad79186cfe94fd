"""GET /healthz/echo/{nonce}: the planted value once, to anyone who has the nonce; nothing to anyone else."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcast.db import utcnow
from broadcast.ops.echo import plant
from broadcast.ops.models import CheckEcho


def test_the_value_is_answered_once_and_then_gone(anonymous_client: Any, engine: Engine) -> None:
    nonce, value = plant(engine)
    first = anonymous_client.get(f"/healthz/echo/{nonce}")
    assert first.status_code == 200 and first.json() == {"value": value}
    assert first.headers["cache-control"] == "no-store"
    again = anonymous_client.get(f"/healthz/echo/{nonce}")
    assert again.status_code == 404 and again.json()["error"] == "NotFoundError"
    with Session(engine) as session:
        assert session.exec(select(CheckEcho)).all() == []


def test_the_database_holds_only_a_digest_of_the_nonce(engine: Engine) -> None:
    nonce, value = plant(engine)
    with Session(engine) as session:
        stored = session.exec(select(CheckEcho)).one()
    assert stored.nonce != nonce and len(stored.nonce) == 64 and stored.value == value


def test_unknown_expired_and_malformed_nonces_learn_nothing(anonymous_client: Any, engine: Engine) -> None:
    nonce, _value = plant(engine)
    guess = secrets.token_urlsafe(32)
    unknown = anonymous_client.get(f"/healthz/echo/{guess}")
    assert unknown.status_code == 404
    with Session(engine) as session:
        session.execute(update(CheckEcho).values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    expired = anonymous_client.get(f"/healthz/echo/{nonce}")
    assert (expired.status_code, expired.json()) == (unknown.status_code, unknown.json())
    with Session(engine) as session:
        assert session.exec(select(CheckEcho)).all() == []  # expired rows are swept by any request
    assert anonymous_client.get("/healthz/echo/short").status_code == 422
    assert anonymous_client.get("/healthz/echo/" + "%27" * 43).status_code == 422
