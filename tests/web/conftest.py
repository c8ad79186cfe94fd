"""Fixtures for the web interface: a user per role, signing in through the login form, seeded data."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from broadcast.accounts import service as accounts
from broadcast.engagement.models import Conversation
from tests.support.seed import approved_campaign, seed_contacts

ROLES = ["admin", "officer", "approver", "radio_operator", "viewer"]
COMMUNE = "32248"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def password_of(username: str) -> str:
    return f"{username}-mat-khau"


@dataclass
class Seeded:
    campaign_id: int
    conversation_id: int


def seed_web(engine: Engine) -> Seeded:
    """One user per role (username = role), residents, an approved campaign and a conversation."""
    seed_contacts(engine, 12)
    with Session(engine) as session:
        for role in ROLES:
            accounts.create_user(session, username=role, password=password_of(role), role=role,
                                 communes=[COMMUNE] if role == "radio_operator" else [], full_name=f"Cán bộ {role}")
        conversation = Conversation(contact_id=None, status="new")
        session.add(conversation)
        session.commit()
        assert conversation.id is not None
        conversation_id = conversation.id
    return Seeded(approved_campaign(engine), conversation_id)


def csrf_of(client: Any, path: str = "/login") -> str:
    match = CSRF.search(client.get(path).text)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(client: Any, username: str, password: str | None = None) -> Any:
    """Sign in through the form, as a browser would; returns the response (a 303 on success)."""
    token = csrf_of(client)
    return client.post("/login", data={"username": username, "password": password or password_of(username),
                                       "csrf_token": token, "next": "/"}, follow_redirects=False)


@pytest.fixture
def seeded(engine: Engine) -> Seeded:
    return seed_web(engine)
