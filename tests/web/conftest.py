"""Fixtures for the web interface: a user per role, signing in through the login form, seeded data."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from broadcast.accounts import service as accounts
from broadcast.engagement.models import Conversation
from tests.support.needs import missing
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


# ---- browser (Playwright driving Debian's Chromium) -------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required"]
ARTIFACTS = Path("test-artifacts")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        missing("Chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """Open pages in fresh browser contexts (one per user); all are screenshotted if the test fails."""
    contexts: list[Any] = []
    pages: list[Any] = []

    def make(width: int = 1280, height: int = 900, **options: Any) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height}, locale="vi-VN",
                                      accept_downloads=True, bypass_csp=True, **options)  # for wait_for_function
        context.set_default_timeout(20_000)
        contexts.append(context)
        page = context.new_page()
        pages.append(page)
        return page

    yield make
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        for index, page in enumerate(pages):
            with contextlib.suppress(Exception):  # a crashed page must not hide the test's own failure
                page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{index}.png"), full_page=True)
    for context in contexts:
        context.close()
