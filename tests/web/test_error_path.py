"""One error path for pages: a refused action is a flash message and a redirect back, its changes rolled back;
a missing record is the 404 page; the JSON API keeps answering JSON."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcast.audit.models import AuditLog
from tests.web.conftest import Seeded, csrf_of, login


def test_a_refused_form_goes_back_with_the_message(anonymous_client: Any, seeded: Seeded, engine: Engine) -> None:
    login(anonymous_client, "approver")
    token = csrf_of(anonymous_client, "/approvals")
    # The seeded campaign is already approved: approving it again is refused by the lifecycle.
    before = _audit_count(engine)
    refused = anonymous_client.post(f"/campaigns/{seeded.campaign_id}/approve", data={"csrf_token": token},
                                    headers={"Referer": "http://testserver/approvals"}, follow_redirects=False)
    assert refused.status_code == 303 and refused.headers["location"] == "/approvals"
    page = anonymous_client.get("/approvals").text
    assert "Không thể approve chiến dịch" in page  # the flash says what was wrong
    assert _audit_count(engine) == before  # nothing written: the session rolled back


def test_a_foreign_referer_is_not_followed(anonymous_client: Any, seeded: Seeded) -> None:
    login(anonymous_client, "approver")
    token = csrf_of(anonymous_client, "/approvals")
    refused = anonymous_client.post(f"/campaigns/{seeded.campaign_id}/approve", data={"csrf_token": token},
                                    headers={"Referer": "https://evil.example/phish"}, follow_redirects=False)
    assert refused.status_code == 303 and refused.headers["location"] == "/"


def test_missing_records_are_the_404_page_and_the_api_stays_json(anonymous_client: Any, seeded: Seeded) -> None:
    login(anonymous_client, "officer")
    page = anonymous_client.get("/campaigns/987654")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "Không tìm thấy" in page.text
    api = anonymous_client.get("/api/v1/campaigns/987654")
    assert api.status_code == 404 and api.json()["error"] == "NotFoundError"


def _audit_count(engine: Engine) -> int:
    with Session(engine) as session:
        return len(session.exec(select(AuditLog.id)).all())
