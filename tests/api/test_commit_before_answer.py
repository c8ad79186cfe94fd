"""A JSON answer leaves only once the request's transaction has committed."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from broadcast.app import create_app
from broadcast.config import Settings
from tests.conftest import make_user


@pytest.fixture
def watched(settings: Settings, engine: Engine) -> Iterator[tuple[TestClient, list[str]]]:
    """An admin client whose app notes, in order, each commit and the start of each answer."""
    order: list[str] = []

    def committed(_session: Session) -> None:
        order.append("commit")

    app = create_app(settings)

    async def noting(scope: Any, receive: Any, send: Any) -> None:
        async def send_noted(message: Any) -> None:
            if message["type"] == "http.response.start":
                order.append("answer")
            await send(message)
        await app(scope, receive, send_noted)

    event.listen(Session, "after_commit", committed)
    try:
        with TestClient(noting) as client:
            client.headers["Authorization"] = f"Bearer {make_user(engine, 'admin', username='admin')}"
            yield client, order
    finally:
        event.remove(Session, "after_commit", committed)


def test_the_answer_leaves_after_the_commit(watched: tuple[TestClient, list[str]]) -> None:
    # Seen as a race: an officer's "start" right after "approve" was refused, "approve" not yet committed.
    client, order = watched
    order.clear()
    created = client.post("/api/v1/campaigns", json={"title": "Luật Đất đai", "sms_text": "Sổ đỏ: hỏi UBND xã."})
    assert created.status_code == 201, created.text
    assert order[-1] == "answer" and "commit" in order, order  # nothing committed after the answer left


def test_a_commit_that_fails_is_an_error_not_a_success(watched: tuple[TestClient, list[str]],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    client, _order = watched

    def refuse(_self: Session) -> None:
        raise OperationalError("COMMIT", {}, sqlite3.OperationalError("database is locked"))

    monkeypatch.setattr(Session, "commit", refuse)
    created = client.post("/api/v1/campaigns", json={"title": "Luật Đất đai", "sms_text": "Sổ đỏ: hỏi UBND xã."})
    assert created.status_code == 503, created.text
    monkeypatch.undo()
    assert client.get("/api/v1/campaigns").json()["items"] == []  # and nothing of it was kept
