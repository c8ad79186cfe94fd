"""Who may touch audio: officers decide what is said; a radio operator acts only on their own commune;
an approved campaign's audio says what was approved, whatever the dictionary says later."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from broadcast.app import create_app
from broadcast.config import Settings
from broadcast.db import session_scope
from broadcast.models import Commune
from tests.conftest import make_user
from tests.support.seed import wait_until

OWN, OTHER = "32002", "32014"


@pytest.fixture
def app_client(engine: Engine, settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"tts_engine": "espeak"}))
    with TestClient(app) as client:
        yield client
    worker = getattr(app.state, "audio_worker", None)
    if worker is not None:
        worker.stop()


def bearer(engine: Engine, role: str, communes: list[str] | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_user(engine, role, communes=communes)}"}


def loudspeaker_campaign(client: TestClient, officer: dict[str, str], approver: dict[str, str]) -> int:
    """An approved loudspeaker bulletin for both communes, made and approved through the API."""
    made = client.post("/api/v1/campaigns", headers=officer, json={
        "title": "Luật Đất đai 2024", "channels": ["loudspeaker"], "audience": {"communes": [OWN, OTHER]},
        "contents": [{"channel": "loudspeaker", "language": "vi", "body": "Tuyên truyền pháp luật về đất đai."}]})
    assert made.status_code == 201, made.text
    campaign_id = int(made.json()["id"])
    assert client.post(f"/api/v1/campaigns/{campaign_id}/submit", headers=officer).status_code == 200
    assert client.post(f"/api/v1/campaigns/{campaign_id}/approve", headers=approver,
                       json={"comment": ""}).status_code == 200
    # Approval renders the bulletin in the background; the catalogue lists it once it is ready.
    wait_until(lambda: bool(client.get(f"/api/v1/audio/communes/{OWN}/catalogue",
                                       headers=officer).json()["items"]), timeout=60)
    return campaign_id


@pytest.fixture
def people(engine: Engine) -> dict[str, dict[str, str]]:
    with session_scope(engine) as session:
        for code, name in ((OWN, "Phường An Xuyên"), (OTHER, "Phường Tân Xuyên")):
            session.add(Commune(code=code, province_code="96", name=name, airing_slots=["05:30", "17:00"]))
    return {"officer": bearer(engine, "officer"), "approver": bearer(engine, "approver"),
            "operator": bearer(engine, "radio_operator", [OWN]), "viewer": bearer(engine, "viewer")}


def test_a_radio_operator_acts_only_on_their_own_commune(app_client: TestClient, people: dict[str, Any]) -> None:
    loudspeaker_campaign(app_client, people["officer"], people["approver"])
    op = people["operator"]
    own = app_client.get(f"/api/v1/audio/communes/{OWN}/catalogue", headers=op)
    assert own.status_code == 200 and own.json()["items"]
    other = app_client.get(f"/api/v1/audio/communes/{OTHER}/catalogue", headers=op)
    assert other.status_code == 403 and "feed_url" not in other.text
    assert app_client.post(f"/api/v1/audio/communes/{OTHER}/feed-token", headers=op).status_code == 403
    assert app_client.post(f"/api/v1/audio/communes/{OWN}/feed-token", headers=op).status_code == 200
    assert app_client.get("/api/v1/schedule/programme", params={"commune": OTHER}, headers=op).status_code == 403
    assert app_client.get("/api/v1/schedule/programme", params={"commune": OWN}, headers=op).status_code == 200

    theirs = app_client.get(f"/api/v1/audio/communes/{OTHER}/catalogue", headers=people["officer"]).json()["items"]
    foreign = theirs[0]
    # Another commune's airing is "not found" for this operator, by id and by code; nothing is confirmed.
    assert app_client.post(f"/api/v1/audio/airings/{foreign['airing_id']}/confirm", headers=op,
                           json={}).status_code == 404
    assert app_client.post("/api/v1/audio/airings/confirm", headers=op,
                           json={"code": foreign["confirmation_code"]}).status_code == 404
    again = app_client.get(f"/api/v1/audio/communes/{OTHER}/catalogue", headers=people["officer"]).json()["items"]
    assert all(item["confirmed_at"] is None for item in again)
    mine = own.json()["items"][0]
    assert app_client.post(f"/api/v1/audio/airings/{mine['airing_id']}/confirm", headers=op,
                           json={}).status_code == 200


@pytest.mark.parametrize("role", ["operator", "viewer", "approver"])
def test_only_officers_decide_what_the_engine_says(app_client: TestClient, people: dict[str, Any], role: str) -> None:
    campaign_id = loudspeaker_campaign(app_client, people["officer"], people["approver"])
    who = people[role]
    assert app_client.put("/api/v1/audio/pronunciations", headers=who,
                          json={"entries": {"pháp luật": "vô hiệu"}}).status_code == 403
    assert app_client.post(f"/api/v1/audio/campaigns/{campaign_id}/render", headers=who,
                           json={"force": True}).status_code == 403
    assert app_client.post("/api/v1/audio/clips", headers=who, json={"text": "xin chào"}).status_code == 403
    assert app_client.post("/api/v1/audio/normalize", headers=who, json={"text": "xin chào"}).status_code == 403


def test_an_approved_campaign_says_what_was_approved(app_client: TestClient, people: dict[str, Any]) -> None:
    officer = people["officer"]
    campaign_id = loudspeaker_campaign(app_client, officer, people["approver"])
    changed = app_client.put("/api/v1/audio/pronunciations", headers=officer,
                             json={"entries": {"pháp luật": "vô hiệu"}})
    assert changed.status_code == 200
    rendered = app_client.post(f"/api/v1/audio/campaigns/{campaign_id}/render", headers=officer,
                               json={"force": True})
    assert rendered.status_code == 202
    texts = [clip["normalized_text"] for clip in rendered.json()["clips"]]
    assert texts and all("pháp luật" in text and "vô hiệu" not in text for text in texts)
    catalogue = app_client.get(f"/api/v1/audio/communes/{OWN}/catalogue", headers=officer).json()["items"]
    assert all("vô hiệu" not in item["clip"]["normalized_text"] for item in catalogue)

    # An edit sends the campaign back for approval; the new approval reads the dictionary as it is then.
    edited = app_client.patch(f"/api/v1/campaigns/{campaign_id}", headers=officer, json={"title": "Luật Đất đai"})
    assert edited.status_code == 200 and edited.json()["status"] == "draft"
    assert app_client.post(f"/api/v1/campaigns/{campaign_id}/submit", headers=officer).status_code == 200
    assert app_client.post(f"/api/v1/campaigns/{campaign_id}/approve", headers=people["approver"],
                           json={"comment": ""}).status_code == 200
    rendered = app_client.post(f"/api/v1/audio/campaigns/{campaign_id}/render", headers=officer, json={})
    assert all("vô hiệu" in clip["normalized_text"] for clip in rendered.json()["clips"])
