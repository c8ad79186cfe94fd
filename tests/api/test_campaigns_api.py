"""Campaign lifecycle, SMS estimate and test sends over the JSON API."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcast.audit.models import AuditLog
from broadcast.outbox.models import Delivery
from tests.conftest import BOTH, make_user
from tests.support.seed import seed_contacts

pytestmark = BOTH  # the database matters here: SQL, locking or types differ


def approver(engine: Engine) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_user(engine, 'approver')}"}


def make_campaign(client: Any, **extra: Any) -> int:
    response = client.post("/api/v1/campaigns", json={
        "title": "Luật Hôn nhân và Gia đình", "sms_text": "Kết hôn phải đăng ký tại UBND xã.", **extra})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def test_lifecycle_from_draft_to_sending_and_cancel(client: Any, engine: Engine) -> None:
    seed_contacts(engine, 25, opted_out=lambda i: i < 5)
    cid = make_campaign(client)
    assert client.get(f"/api/v1/campaigns/{cid}").json()["reachable"] == 20
    early = client.post(f"/api/v1/campaigns/{cid}/start")
    assert early.status_code == 409 and early.json()["field"] == "status"
    assert client.post(f"/api/v1/campaigns/{cid}/submit").json()["status"] == "pending_approval"
    rejected = client.post(f"/api/v1/campaigns/{cid}/reject", json={"comment": ""}, headers=approver(engine))
    assert rejected.status_code == 422 and rejected.json()["field"] == "comment"
    client.post(f"/api/v1/campaigns/{cid}/reject", json={"comment": "Thiếu số điện thoại hỗ trợ"},
                headers=approver(engine))
    client.post(f"/api/v1/campaigns/{cid}/submit")
    own = client.post(f"/api/v1/campaigns/{cid}/approve")
    assert own.status_code == 403  # the author never approves their own campaign
    reviewer = approver(engine)
    assert client.post(f"/api/v1/campaigns/{cid}/approve", headers=reviewer).json()["status"] == "approved"
    started = client.post(f"/api/v1/campaigns/{cid}/start").json()
    assert started["targeted"] == 20
    counts = client.get(f"/api/v1/campaigns/{cid}/deliveries/counts").json()
    assert counts["total"] == 20 and counts["by_status"]["queued"] == 20
    assert client.post(f"/api/v1/campaigns/{cid}/pause").json()["status"] == "paused"
    assert client.post(f"/api/v1/campaigns/{cid}/resume").json()["status"] == "sending"
    assert client.post(f"/api/v1/campaigns/{cid}/cancel").json()["status"] == "cancelled"
    after = client.get(f"/api/v1/campaigns/{cid}/deliveries/counts").json()
    assert after["by_status"]["cancelled"] == 20
    with Session(engine) as session:
        actions = session.exec(select(AuditLog.action).where(AuditLog.entity == "campaign")).all()
    assert {"campaign.create", "campaign.submit", "campaign.reject", "campaign.approve", "campaign.start",
            "campaign.pause", "campaign.resume", "campaign.cancel"} <= set(actions)


def test_editing_an_approved_campaign_needs_approval_again(client: Any, engine: Engine) -> None:
    cid = make_campaign(client)
    client.post(f"/api/v1/campaigns/{cid}/submit")
    assert client.post(f"/api/v1/campaigns/{cid}/approve", headers=approver(engine)).status_code == 200
    edited = client.patch(f"/api/v1/campaigns/{cid}", json={"sms_text": "Nội dung mới"})
    assert edited.json()["status"] == "draft"
    assert [c["body"] for c in edited.json()["contents"]] == ["Nội dung mới"]


def test_submit_needs_content_for_every_channel(client: Any) -> None:
    cid = make_campaign(client, channels=["sms", "loudspeaker"])
    refused = client.post(f"/api/v1/campaigns/{cid}/submit")
    assert refused.status_code == 422 and "loudspeaker" in refused.json()["message"]


def test_starting_twice_does_not_double_the_audience(client: Any, engine: Engine) -> None:
    seed_contacts(engine, 10)
    cid = make_campaign(client)
    client.post(f"/api/v1/campaigns/{cid}/submit")
    client.post(f"/api/v1/campaigns/{cid}/approve", headers=approver(engine))
    client.post(f"/api/v1/campaigns/{cid}/start")
    assert client.post(f"/api/v1/campaigns/{cid}/start").status_code == 409
    with Session(engine) as session:
        assert len(session.exec(select(Delivery.id)).all()) == 10


def test_sms_estimate_contract(client: Any) -> None:
    text = "Thông báo: Luật Đất đai 2024 có hiệu lực từ ngày 01/8/2024 — liên hệ UBND xã “Đất Mũi”…"
    unicode = client.post("/api/v1/sms/estimate", json={"text": text, "strip_diacritics": False}).json()
    assert unicode["encoding"] == "UCS-2" and unicode["text"] == text
    assert unicode["characters"] == len(text) and unicode["segments"] == 2
    plain = client.post("/api/v1/sms/estimate", json={"text": text, "strip_diacritics": True}).json()
    assert plain["encoding"] == "GSM-7" and plain["segments"] == 1
    assert plain["text"].startswith("Thong bao: Luat Dat dai 2024 co hieu luc") and '"Dat Mui"' in plain["text"]
    bad = client.post("/api/v1/sms/estimate", json={"strip_diacritics": True})
    assert bad.status_code == 422 and bad.json()["field"] == "text"


def test_sms_test_queues_one_message(client: Any) -> None:
    made = client.post("/api/v1/sms/test", json={"to": "091.234.5678", "text": "Thử tin nhắn"})
    assert made.status_code == 201
    delivery = client.get(f"/api/v1/deliveries/{made.json()['id']}").json()
    assert delivery["status"] == "queued" and delivery["to_phone"] == "+84912345678"
    assert delivery["kind"] == "test"
    bad = client.post("/api/v1/sms/test", json={"to": "abc", "text": "x"})
    assert bad.status_code == 422 and bad.json()["field"] == "to"


def test_approval_through_the_api_programmes_the_loudspeaker_bulletin(client: Any, engine: Engine) -> None:
    from broadcast.audio.models import Airing, AudioClip

    seed_contacts(engine, 3)
    made = client.post("/api/v1/campaigns", json={
        "title": "Loa: Luật Đất đai", "channels": ["loudspeaker", "voice"], "audience": {"communes": ["32248"]},
        "contents": [{"channel": "loudspeaker", "body": "Luật Đất đai 2024 có hiệu lực."},
                     {"channel": "voice", "body": "Xin chào, đây là thông báo của UBND xã."}]})
    cid = made.json()["id"]
    client.post(f"/api/v1/campaigns/{cid}/submit")
    assert client.post(f"/api/v1/campaigns/{cid}/approve", headers=approver(engine)).status_code == 200
    with Session(engine) as session:
        airings = session.exec(select(Airing).where(Airing.campaign_id == cid)).all()
        clips = session.exec(select(AudioClip).where(AudioClip.campaign_id == cid)).all()
    assert [a.commune_code for a in airings] == ["32248"]
    assert len(clips) == 2  # the loudspeaker bulletin and the call clip, rendered in the background


def test_create_and_edit_check_the_sending_rules_alike(client: Any, engine: Engine) -> None:
    """Creating and editing share one set of rules: a time without a zone or a bad HH:MM is refused on both."""
    bad_rules = [({"expires_at": "2026-12-01T17:00:00"}, "expires_at"),
                 ({"quiet_hours_start": "25:00"}, "quiet_hours_start"),
                 ({"voice_window_end": "7h"}, "voice_window_end")]
    for rules, field in bad_rules:
        created = client.post("/api/v1/campaigns", json={"title": "Luật", "sms_text": "Nội dung", **rules})
        assert created.status_code == 422 and created.json()["field"] == field
    cid = client.post("/api/v1/campaigns", json={"title": "Luật", "sms_text": "Nội dung"}).json()["id"]
    for rules, field in bad_rules:
        edited = client.patch(f"/api/v1/campaigns/{cid}", json=rules)
        assert edited.status_code == 422 and edited.json()["field"] == field
    ok = client.patch(f"/api/v1/campaigns/{cid}", json={"expires_at": "2026-12-01T17:00:00+07:00"})
    assert ok.status_code == 200
