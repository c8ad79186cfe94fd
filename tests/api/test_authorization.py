"""The authorization matrix: every JSON route × every role (× own/other commune where a commune is named).

Every /api/v1 operation must be listed here: a new route without a decision about who may call it fails
`test_every_route_has_a_decision`. Forbidden roles get 403 whatever the body (the check runs before the body
is read); allowed roles get anything but 401/403 (a made-up id gives 404, an empty body 422, and so on).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from broadcast.db import session_scope
from broadcast.models import Commune
from tests.conftest import make_user

A, OF, P, V, R = "admin", "officer", "approver", "viewer", "radio_operator"
ROLES = (A, OF, P, V, R)
STAFF = frozenset(ROLES)
READERS = frozenset({A, OF, P, V})
EDITORS = frozenset({A, OF})
ADMINS = frozenset({A})
REVIEWERS = frozenset({A, P})
OWN, OTHER = "32002", "32014"

POLICY: dict[str, frozenset[str]] = {
    "GET /api/v1/me": STAFF,
    "POST /api/v1/me/tokens": STAFF,
    "GET /api/v1/users": ADMINS,
    "POST /api/v1/users": ADMINS,
    "GET /api/v1/audit": ADMINS,
    # residents and communes: staff read (phones masked for approvers and viewers), officers write
    "POST /api/v1/contacts/import": EDITORS,
    "GET /api/v1/contacts/import/template.csv": READERS,
    "GET /api/v1/communes": READERS,
    "GET /api/v1/communes/{code}": READERS,
    "PATCH /api/v1/communes/{code}": EDITORS,
    "POST /api/v1/communes/load": frozenset({A}),  # PROVINCE_CODE's communes, as `broadcast communes load`
    "GET /api/v1/contacts": READERS,
    "POST /api/v1/contacts": EDITORS,
    "GET /api/v1/contacts/{contact_id}": READERS,
    "PATCH /api/v1/contacts/{contact_id}": EDITORS,
    "DELETE /api/v1/contacts/{contact_id}": EDITORS,
    "GET /api/v1/contacts/{contact_id}/deliveries": READERS,
    "GET /api/v1/groups": READERS,
    "POST /api/v1/groups": EDITORS,
    "GET /api/v1/groups/{group_id}": READERS,
    "PATCH /api/v1/groups/{group_id}": EDITORS,
    "DELETE /api/v1/groups/{group_id}": EDITORS,
    # campaigns: officers compose and run them, approvers approve (never their own)
    "GET /api/v1/campaigns": READERS,
    "POST /api/v1/campaigns": EDITORS,
    "POST /api/v1/campaigns/audience/count": EDITORS | REVIEWERS,
    "GET /api/v1/campaigns/{campaign_id}": READERS,
    "PATCH /api/v1/campaigns/{campaign_id}": EDITORS,
    "POST /api/v1/campaigns/{campaign_id}/submit": EDITORS,
    "POST /api/v1/campaigns/{campaign_id}/approve": REVIEWERS,
    "POST /api/v1/campaigns/{campaign_id}/reject": REVIEWERS,
    "POST /api/v1/campaigns/{campaign_id}/start": EDITORS,
    "POST /api/v1/campaigns/{campaign_id}/pause": EDITORS,
    "POST /api/v1/campaigns/{campaign_id}/resume": EDITORS,
    "POST /api/v1/campaigns/{campaign_id}/cancel": EDITORS,
    "GET /api/v1/campaigns/{campaign_id}/deliveries/counts": READERS,
    "GET /api/v1/campaigns/{campaign_id}/runs": READERS,
    "POST /api/v1/campaigns/{campaign_id}/resend-failed": EDITORS,
    "PUT /api/v1/campaigns/{campaign_id}/schedule": EDITORS,
    "GET /api/v1/campaigns/{campaign_id}/schedule": READERS,
    "DELETE /api/v1/campaigns/{campaign_id}/schedule": EDITORS,
    "GET /api/v1/schedule/upcoming": READERS,
    "GET /api/v1/schedule/programme": STAFF,  # radio operators: their own communes only
    # SMS
    "POST /api/v1/sms/estimate": READERS,
    "POST /api/v1/sms/test": EDITORS,
    "GET /api/v1/deliveries/{delivery_id}": READERS,
    "GET /api/v1/voice/campaigns/{campaign_id}/metrics": READERS,
    # gateway phones: admins
    "GET /api/v1/gateways": ADMINS,
    "POST /api/v1/gateways": ADMINS,
    "PATCH /api/v1/gateways/{name}": ADMINS,
    "POST /api/v1/gateways/{name}/check": ADMINS,
    "POST /api/v1/gateways/{name}/webhooks": ADMINS,
    "GET /api/v1/gateways/routes": ADMINS,
    "PUT /api/v1/gateways/routes/{commune_code}": ADMINS,
    "PUT /api/v1/gateways/campaigns/{campaign_id}/route": ADMINS,
    # audio: officers decide what is said; radio operators air it in their own communes
    "POST /api/v1/audio/normalize": EDITORS,
    "POST /api/v1/audio/clips": EDITORS,
    "GET /api/v1/audio/clips": READERS,
    "GET /api/v1/audio/clips/{clip_id}": READERS,
    "POST /api/v1/audio/clips/{clip_id}/render": EDITORS,
    "POST /api/v1/audio/campaigns/{campaign_id}/render": EDITORS,
    "POST /api/v1/audio/uploads": EDITORS,
    "GET /api/v1/audio/pronunciations": READERS,
    "PUT /api/v1/audio/pronunciations": EDITORS,
    "GET /api/v1/audio/communes/{code}/catalogue": STAFF,  # radio operators: their own communes only
    "POST /api/v1/audio/communes/{code}/feed-token": frozenset({A, R}),  # the operator: own communes only
    "POST /api/v1/audio/airings/{airing_id}/confirm": EDITORS | {R},  # the operator: own communes only
    "POST /api/v1/audio/airings/confirm": EDITORS | {R},
    # inbox and engagement settings
    "GET /api/v1/inbox": READERS,
    "GET /api/v1/inbox/topics": READERS,
    "GET /api/v1/inbox/{conversation_id}": READERS,
    "POST /api/v1/inbox/{conversation_id}/assign": EDITORS,
    "POST /api/v1/inbox/{conversation_id}/answer": EDITORS,
    "POST /api/v1/inbox/{conversation_id}/close": EDITORS,
    "PUT /api/v1/inbox/{conversation_id}/topics": EDITORS,
    "GET /api/v1/engagement/keywords": READERS,
    "PUT /api/v1/engagement/keywords": ADMINS,
    "DELETE /api/v1/engagement/keywords/{keyword}": ADMINS,
    "GET /api/v1/engagement/auto-replies": READERS,
    "PUT /api/v1/engagement/auto-replies/{key}": ADMINS,
    # metrics and reports; the per-resident delivery log and data-subject requests: admins
    "POST /api/v1/metrics/refresh": EDITORS,
    "GET /api/v1/metrics/campaigns/{campaign_id}": READERS,
    "GET /api/v1/metrics/campaigns/{campaign_id}/communes": READERS,
    "GET /api/v1/metrics/campaigns/{campaign_id}/groups": READERS,
    "GET /api/v1/metrics/campaigns/{campaign_id}/channels": READERS,
    "GET /api/v1/metrics/campaigns/{campaign_id}/failures": READERS,
    "GET /api/v1/metrics/timeseries": READERS,
    "GET /api/v1/metrics/period": READERS,
    "GET /api/v1/reports/campaigns/{campaign_id}.xlsx": READERS,
    "GET /api/v1/reports/campaigns/{campaign_id}.csv": READERS,
    "GET /api/v1/reports/period.xlsx": READERS,
    "GET /api/v1/reports/period.csv": READERS,
    "GET /api/v1/reports/delivery-log.csv": ADMINS,
    "POST /api/v1/data-subjects/lookup": ADMINS,
    "POST /api/v1/data-subjects/export": ADMINS,
    "POST /api/v1/data-subjects/erase": ADMINS,
}
# Operations naming a commune: a radio operator gets 403 for any commune but their own.
COMMUNE_SCOPED = {
    "GET /api/v1/audio/communes/{code}/catalogue",
    "POST /api/v1/audio/communes/{code}/feed-token",
    "GET /api/v1/schedule/programme",
}
PARAMS = {"name": "khong-co", "keyword": "khong-co", "key": "khong-co"}  # ids: made up (404 for allowed roles)


def operations(app: Any) -> set[str]:
    return {f"{method.upper()} {path}" for path, ops in app.openapi()["paths"].items() if path.startswith("/api/v1")
            for method in ops}


def call(client: Any, operation: str, token: str | None, commune: str = OWN) -> int:
    method, template = operation.split(" ", 1)
    path = re.sub(r"\{(\w+)\}", lambda m: commune if m.group(1) in ("code", "commune_code")
                  else PARAMS.get(m.group(1), "987654321"), template)
    options: dict[str, Any] = {"headers": {"Authorization": f"Bearer {token}"} if token else {}}
    if template.endswith("/programme"):
        options["params"] = {"commune": commune}
    if method in ("POST", "PUT", "PATCH") and not template.endswith(("/import", "/uploads")):
        options["json"] = {}
    return int(client.request(method, path, **options).status_code)


@pytest.fixture
def tokens(engine: Engine) -> dict[str, str]:
    with session_scope(engine) as session:
        for code in (OWN, OTHER):
            session.add(Commune(code=code, province_code="96", name=f"Xã {code}"))
    return {role: make_user(engine, role, communes=[OWN] if role == R else None) for role in ROLES}


def test_every_route_has_a_decision(anonymous_client: Any) -> None:
    assert operations(anonymous_client.app) == set(POLICY)


def test_each_role_may_call_exactly_its_routes(anonymous_client: Any, tokens: dict[str, str]) -> None:
    wrong: list[tuple[str, str, object]] = []
    for operation, allowed in POLICY.items():
        if call(anonymous_client, operation, None) != 401:
            wrong.append((operation, "anonymous", "not 401"))
        for role in ROLES:
            status = call(anonymous_client, operation, tokens[role])
            if (role in allowed) == (status in (401, 403)):
                wrong.append((operation, role, status))
    assert wrong == []


def test_radio_operators_only_reach_their_own_commune(anonymous_client: Any, tokens: dict[str, str]) -> None:
    for operation in sorted(COMMUNE_SCOPED):
        assert call(anonymous_client, operation, tokens[R], OWN) not in (401, 403), operation
        assert call(anonymous_client, operation, tokens[R], OTHER) == 403, operation
        assert call(anonymous_client, operation, tokens[A], OTHER) not in (401, 403), operation
