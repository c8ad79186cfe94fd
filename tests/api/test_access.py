"""Who may do what: anonymous callers, each role, phone masking, tokens, the audit log."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.engine import Engine

from tests.conftest import make_user
from tests.support.seed import seed_communes

PROTECTED = [
    ("GET", "/api/v1/contacts"), ("POST", "/api/v1/contacts"), ("GET", "/api/v1/communes"),
    ("GET", "/api/v1/groups"), ("GET", "/api/v1/campaigns"), ("POST", "/api/v1/campaigns"),
    ("POST", "/api/v1/sms/estimate"), ("POST", "/api/v1/sms/test"), ("GET", "/api/v1/me"),
    ("GET", "/api/v1/users"), ("GET", "/api/v1/audit"), ("POST", "/api/v1/contacts/import"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_anonymous_callers_get_401(anonymous_client: Any, method: str, path: str) -> None:
    response = anonymous_client.request(method, path)
    assert response.status_code == 401, path
    assert response.json()["error"] == "AuthenticationRequired"


def test_public_endpoints_need_no_login(anonymous_client: Any) -> None:
    assert anonymous_client.get("/healthz").status_code == 200
    assert anonymous_client.get("/openapi.json").status_code == 200
    assert anonymous_client.post("/webhooks/twilio/status", data={}).status_code == 403  # signature, not login


def test_a_revoked_or_made_up_token_is_refused(anonymous_client: Any) -> None:
    made_up = anonymous_client.get("/api/v1/me", headers={"Authorization": "Bearer bct_nope"})
    assert made_up.status_code == 401


@pytest.mark.parametrize(
    ("role", "read_contacts", "write_contacts", "create_campaign", "test_sms", "audit"),
    [
        ("admin", 200, 201, 201, 201, 200),
        ("officer", 200, 201, 201, 201, 403),
        ("approver", 200, 403, 403, 403, 403),
        ("viewer", 200, 403, 403, 403, 403),
        ("radio_operator", 403, 403, 403, 403, 403),
    ],
)
def test_role_matrix(anonymous_client: Any, engine: Engine, role: str, read_contacts: int, write_contacts: int,
                     create_campaign: int, test_sms: int, audit: int) -> None:
    seed_communes(engine)
    token = make_user(engine, role, communes=["32248"] if role == "radio_operator" else None)
    headers = {"Authorization": f"Bearer {token}"}
    call = anonymous_client.request
    assert call("GET", "/api/v1/contacts", headers=headers).status_code == read_contacts
    assert call("POST", "/api/v1/contacts", headers=headers, json={"phone": "0912345678"}).status_code \
        == write_contacts
    assert call("POST", "/api/v1/campaigns", headers=headers, json={"title": "x", "sms_text": "y"}).status_code \
        == create_campaign
    assert call("POST", "/api/v1/sms/test", headers=headers,
                json={"to": "0912345679", "text": "t"}).status_code == test_sms
    assert call("GET", "/api/v1/audit", headers=headers).status_code == audit
    estimate = call("POST", "/api/v1/sms/estimate", headers=headers, json={"text": "a"}).status_code
    assert estimate == (403 if role == "radio_operator" else 200)


def test_roles_that_do_not_need_phone_numbers_see_them_masked(client: Any, engine: Engine) -> None:
    created = client.post("/api/v1/contacts", json={"phone": "0912345678", "full_name": "Lê Thị Mai"}).json()
    assert created["phone"] == "+84912345678"
    viewer = {"Authorization": f"Bearer {make_user(engine, 'viewer')}"}
    seen = client.get(f"/api/v1/contacts/{created['id']}", headers=viewer).json()
    assert seen["phone"] == "091****678"
    listed = client.get("/api/v1/contacts", headers=viewer).json()["items"]
    assert [c["phone"] for c in listed] == ["091****678"]


def test_changes_are_in_the_audit_log_with_who_and_before_after(client: Any) -> None:
    made = client.post("/api/v1/contacts", json={"phone": "0912345678", "full_name": "A"}).json()
    client.patch(f"/api/v1/contacts/{made['id']}", json={"full_name": "B"})
    entries = client.get("/api/v1/audit", params={"entity": "contact"}).json()["items"]
    update = next(e for e in entries if e["action"] == "contact.update")
    assert update["actor"] == "admin" and update["before"]["full_name"] == "A" and update["after"]["full_name"] == "B"


def test_personal_tokens(client: Any) -> None:
    token = client.post("/api/v1/me/tokens", json={"name": "laptop"}).json()["token"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["username"] == "admin" and me["role"] == "admin"


def test_cookie_writes_to_the_api_need_the_sessions_csrf_token(anonymous_client: Any, engine: Engine) -> None:
    """A signed-in browser's cookie alone cannot write through the JSON API (another site could send it)."""
    from tests.web.conftest import csrf_of, login, seed_web

    seed_web(engine)
    assert login(anonymous_client, "officer").status_code == 303
    assert anonymous_client.get("/api/v1/me").status_code == 200  # reading with the cookie is fine
    forged = anonymous_client.post("/api/v1/me/tokens", json={"name": "x"})
    assert forged.status_code == 403
    assert "CSRF" in forged.json()["message"]
    wrong = anonymous_client.post("/api/v1/me/tokens", json={"name": "x"}, headers={"X-CSRF-Token": "nope" * 10})
    assert wrong.status_code == 403
    token = csrf_of(anonymous_client, "/")
    made = anonymous_client.post("/api/v1/me/tokens", json={"name": "x"}, headers={"X-CSRF-Token": token})
    assert made.status_code == 201
    # A bearer token is not sent by browsers on their own: no CSRF token needed.
    anonymous_client.cookies.clear()
    bearer = anonymous_client.post("/api/v1/me/tokens", json={"name": "y"},
                                   headers={"Authorization": f"Bearer {made.json()['token']}"})
    assert bearer.status_code == 201
