"""Every page route × every role: who gets the page or may post the form, and who gets 403.

A new page route without a decision here fails `test_every_page_route_has_a_decision`. Posts carry a valid CSRF
token, so a 403 means the role, not the token. Made-up ids give allowed roles a 404 (or a validation answer).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.web.conftest import ROLES, Seeded, csrf_of, login

EVERYONE = frozenset(ROLES)
READERS = frozenset({"admin", "officer", "approver", "viewer"})
EDITORS = frozenset({"admin", "officer"})
REVIEWERS = frozenset({"admin", "approver"})
RADIO = frozenset({"admin", "radio_operator"})
ADMINS = frozenset({"admin"})
PUBLIC = frozenset({"anonymous", *ROLES})

PAGE_POLICY: dict[str, frozenset[str]] = {
    # no login: the sign-in itself, the language switch, residents' short links and the API docs
    "GET /login": PUBLIC, "POST /login": PUBLIC, "POST /logout": PUBLIC, "GET /lang/{code}": PUBLIC,
    "GET /l/{code}": PUBLIC, "GET /p/{campaign_id}": PUBLIC,
    # the public accountability page and its open data: residents and the press, no login
    "GET /public/accountability": PUBLIC, "GET /public/accountability.json": PUBLIC,
    "GET /public/accountability.csv": PUBLIC,
    "GET /metrics": PUBLIC,  # its own bearer METRICS_TOKEN, not a login (404 while no token is set)
    "GET /healthz/live": PUBLIC, "GET /healthz/ready": PUBLIC,  # probes: no login (ready answers 200 or 503)
    "GET /openapi.json": PUBLIC, "GET /docs": PUBLIC, "GET /docs/oauth2-redirect": PUBLIC, "GET /redoc": PUBLIC,
    "GET /": EVERYONE,  # radio operators are sent on to /radio
    "GET /ui/progress": READERS,
    "GET /residents": READERS,
    "POST /residents/{contact_id}/opt-out": EDITORS,
    "GET /residents/import": EDITORS,
    "POST /residents/import": EDITORS,
    "POST /residents/import/confirm": EDITORS,
    "GET /residents/import/{token}/bad-rows.csv": EDITORS,
    "GET /campaigns/new": EDITORS,
    "POST /campaigns/new": EDITORS,
    "GET /campaigns/{campaign_id}/edit": EDITORS,
    "POST /campaigns/{campaign_id}/edit": EDITORS,
    "POST /campaigns/{campaign_id}/submit": EDITORS,
    "POST /campaigns/{campaign_id}/test-sms": EDITORS,
    "POST /ui/sms/estimate": EDITORS,
    "POST /ui/audience/count": EDITORS,
    "POST /ui/audio/normalize": EDITORS,
    "POST /campaigns/{campaign_id}/audio": EDITORS,
    "GET /ui/campaigns/{campaign_id}/clips": READERS,
    "GET /campaigns": READERS,
    "GET /campaigns/{campaign_id}": READERS,
    "POST /campaigns/{campaign_id}/start": EDITORS,
    "POST /campaigns/{campaign_id}/pause": EDITORS,
    "POST /campaigns/{campaign_id}/resume": EDITORS,
    "POST /campaigns/{campaign_id}/cancel": EDITORS,
    "POST /campaigns/{campaign_id}/resend": EDITORS,
    "GET /approvals": REVIEWERS,
    "POST /campaigns/{campaign_id}/approve": REVIEWERS,
    "POST /campaigns/{campaign_id}/reject": REVIEWERS,
    "GET /inbox": READERS,
    "GET /inbox/{conversation_id}": READERS,
    "POST /inbox/{conversation_id}/answer": EDITORS,
    "POST /inbox/{conversation_id}/assign": EDITORS,
    "POST /inbox/{conversation_id}/close": EDITORS,
    "POST /inbox/{conversation_id}/publish": EDITORS,
    "POST /publications/{publication_id}/approve": REVIEWERS,
    "POST /publications/{publication_id}/reject": REVIEWERS,
    "POST /publications/{publication_id}/withdraw": EDITORS | REVIEWERS,
    "GET /radio": RADIO,
    "POST /radio/airings/{airing_id}/confirm": RADIO,  # an operator: airings of their own communes only
    "GET /admin/users": ADMINS,
    "POST /admin/users": ADMINS,
    "GET /admin/audit": ADMINS,
    "POST /admin/communes/load": ADMINS,  # the first-run step: PROVINCE_CODE's communes
    "GET /admin/gateways": ADMINS,
    "POST /admin/gateways": ADMINS,
    "POST /admin/gateways/{name}/check": ADMINS,
    "POST /admin/gateways/{name}/webhooks": ADMINS,
    "POST /admin/gateways/{name}/toggle": ADMINS,
    "POST /admin/gateways/routes": ADMINS,
}
SKIPPED_IN_SWEEP = {"POST /logout", "POST /login"}  # they end or replace the session the sweep runs in


def page_routes(routes: list[Any]) -> Iterator[str]:
    """METHOD path of every route outside the OpenAPI schema (the pages), through included routers."""
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:
            yield from page_routes(original.routes)
        elif hasattr(route, "methods") and not getattr(route, "include_in_schema", True):
            yield from (f"{m} {route.path}" for m in sorted(route.methods) if m != "HEAD")


def fill(template: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: {"code": "32248", "name": "khong-co"}.get(m.group(1), "987654321"),
                  template)


def test_every_page_route_has_a_decision(anonymous_client: Any) -> None:
    assert set(page_routes(anonymous_client.app.router.routes)) == set(PAGE_POLICY)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reaches_exactly_its_pages(anonymous_client: Any, seeded: Seeded, role: str) -> None:
    assert login(anonymous_client, role).status_code == 303
    token = csrf_of(anonymous_client, "/radio" if role == "radio_operator" else "/")
    wrong = []
    for operation, allowed in PAGE_POLICY.items():
        if operation in SKIPPED_IN_SWEEP:
            continue
        method, template = operation.split(" ", 1)
        options: dict[str, Any] = {"follow_redirects": False}
        if method == "POST":
            options["headers"] = {"X-CSRF-Token": token}
            if template.startswith("/ui/"):
                options["json"] = {}
        status = anonymous_client.request(method, fill(template), **options).status_code
        if (role in allowed) == (status == 403):
            wrong.append((operation, status))
    assert wrong == []
