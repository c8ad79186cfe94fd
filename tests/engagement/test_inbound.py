"""The incoming-SMS webhook: signatures, duplicates, opt-out/opt-in, help, ratings, airings, questions."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcast.accounts.models import Role, User, UserCommune
from broadcast.audio.models import Airing, AudioClip, ClipStatus
from broadcast.communes.models import Commune
from broadcast.config import Settings
from broadcast.contacts.models import ConsentEvent, Contact
from broadcast.db import utcnow
from broadcast.engagement.models import Conversation
from broadcast.events.models import EngagementEvent
from broadcast.outbox.models import Delivery, DeliveryKind, DeliveryStatus, InboundMessage
from tests.conftest import BOTH
from tests.engagement.conftest import Send, inbound_params
from tests.support.seed import approved_campaign, phone, seed_contacts

pytestmark = BOTH  # the database matters here: SQL, locking or types differ


def _contact(engine: Engine, i: int) -> Contact:
    with Session(engine) as session:
        row = session.exec(select(Contact).where(Contact.phone == phone(i))).one()
        return row


def _received(engine: Engine, campaign_id: int, contact_index: int) -> None:
    """Record that the resident got the campaign's SMS (as the dispatcher would)."""
    with Session(engine) as session:
        contact = session.exec(select(Contact).where(Contact.phone == phone(contact_index))).one()
        session.add(Delivery(campaign_id=campaign_id, contact_id=contact.id, to_phone=contact.phone,
                             status=DeliveryStatus.delivered, sent_at=utcnow(), kind=DeliveryKind.campaign))
        session.commit()


def _count(engine: Engine, model: type, *where: object) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(model).where(*where)).one())  # type: ignore[arg-type]


def test_unsigned_or_badly_signed_requests_are_refused(client: TestClient, engine: Engine) -> None:
    params = inbound_params(phone(1), "HELP")
    assert client.post("/webhooks/twilio/sms", data=params).status_code == 403
    bad = client.post("/webhooks/twilio/sms", data=params, headers={"X-Twilio-Signature": "AAAA"})
    assert bad.status_code == 403
    assert _count(engine, InboundMessage) == 0


def test_duplicates_by_message_sid_count_once(send_sms: Send, engine: Engine) -> None:
    seed_contacts(engine, 3)
    for _ in range(3):
        response = send_sms(phone(1), "Cho hỏi thủ tục ly hôn?", sid="SMdup0001")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/xml")
        assert "<Response/>" in response.text
    assert _count(engine, InboundMessage) == 1
    assert _count(engine, Conversation) == 1
    assert _count(engine, EngagementEvent) == 1


def test_opt_out_records_source_and_sends_one_confirmation(send_sms: Send, engine: Engine) -> None:
    seed_contacts(engine, 3)
    campaign_id = approved_campaign(engine)
    _received(engine, campaign_id, 2)
    send_sms(phone(2), "Hủy")
    send_sms(phone(2), "STOP")  # already out: no second confirmation
    contact = _contact(engine, 2)
    assert contact.sms_opted_out and contact.voice_opted_out
    assert contact.opt_out_source == "sms_keyword" and contact.opted_out_at is not None
    with Session(engine) as session:
        confirmations = session.exec(select(Delivery).where(Delivery.to_phone == phone(2),
                                                            Delivery.kind == DeliveryKind.system)).all()
        assert len(confirmations) == 1 and "BATDAU" in (confirmations[0].body or "")
        events = session.exec(select(ConsentEvent).where(ConsentEvent.contact_id == contact.id)).all()
        assert [(e.action, e.source) for e in events] == [("opt_out", "sms_keyword")]
        inbound = session.exec(select(InboundMessage).order_by(col(InboundMessage.id))).all()
        assert [m.classification for m in inbound] == ["opt_out", "opt_out"]
        assert {m.campaign_id for m in inbound} == {campaign_id}
        assert session.exec(select(func.count()).select_from(EngagementEvent)
                            .where(EngagementEvent.kind == "opt_out", EngagementEvent.campaign_id == campaign_id)
                            ).one() == 2
    send_sms(phone(2), "Bắt đầu")
    contact = _contact(engine, 2)
    assert not contact.sms_opted_out and contact.opted_out_at is None
    assert _count(engine, Delivery, Delivery.to_phone == phone(2), Delivery.kind == DeliveryKind.reply) == 1


def test_help_replies_with_the_communes_legal_aid_contact(send_sms: Send, engine: Engine) -> None:
    seed_contacts(engine, 2)
    with Session(engine) as session:
        commune = session.get(Commune, "32248")
        assert commune is not None
        commune.legal_aid_contact = "Trợ giúp viên Nguyễn Văn A, 0290 3831 234"
        session.add(commune)
        session.commit()
    send_sms(phone(1), "trợ giúp")
    with Session(engine) as session:
        reply = session.exec(select(Delivery).where(Delivery.to_phone == phone(1))).one()
        assert reply.kind == DeliveryKind.reply and reply.status == DeliveryStatus.queued
        assert "0290 3831 234" in (reply.body or "") and "Đất Mũi" in (reply.body or "")
        assert reply.in_reply_to_id is not None


def test_admin_keywords_and_replies_are_used(client: TestClient, send_sms: Send, engine: Engine) -> None:
    seed_contacts(engine, 2)
    assert client.put("/api/v1/engagement/keywords", json={"keyword": "Ngừng", "action": "opt_out"}).status_code == 200
    assert client.put("/api/v1/engagement/keywords", json={"keyword": "DUNG", "action": "ignore"}).status_code == 200
    reply = client.put("/api/v1/engagement/auto-replies/opt_out", json={"text": "Da huy. Soan BATDAU."})
    assert reply.status_code == 200
    keywords = client.get("/api/v1/engagement/keywords").json()
    assert keywords["NGUNG"] == "opt_out" and "DUNG" not in keywords
    send_sms(phone(0), "dừng")  # switched off: a question now
    assert not _contact(engine, 0).sms_opted_out
    send_sms(phone(0), "ngung")
    assert _contact(engine, 0).sms_opted_out
    with Session(engine) as session:
        body = session.exec(select(Delivery.body).where(Delivery.kind == DeliveryKind.system)).one()
        assert body == "Da huy. Soan BATDAU."


def test_ratings_only_count_after_a_campaign_that_asked(send_sms: Send, engine: Engine) -> None:
    seed_contacts(engine, 3)
    asked = approved_campaign(engine, ask_rating=True)
    _received(engine, asked, 1)
    send_sms(phone(1), "5")
    send_sms(phone(2), "5")  # got no campaign: a question
    with Session(engine) as session:
        rows = session.exec(select(InboundMessage).order_by(col(InboundMessage.id))).all()
    got = [(m.classification, m.rating, m.campaign_id) for m in rows]
    assert got == [("rating", 5, asked), ("question", None, None)]


def test_daphat_from_a_registered_operator_confirms_the_airing(send_sms: Send, engine: Engine) -> None:
    seed_contacts(engine, 2)
    campaign_id = approved_campaign(engine)
    with Session(engine) as session:
        operator = User(username="op1", role=Role.radio_operator, phone="0912 345 678")
        session.add(operator)
        clip = AudioClip(content_hash="x" * 64, campaign_id=campaign_id, status=ClipStatus.ready)
        session.add(clip)
        session.flush()
        assert clip.id is not None and operator.id is not None
        session.add(UserCommune(user_id=operator.id, commune_code="32248"))
        session.add(Airing(clip_id=clip.id, campaign_id=campaign_id, commune_code="32248", planned_at=utcnow(),
                           confirmation_code="K7M2PQ"))
        session.add(Airing(clip_id=clip.id, campaign_id=campaign_id, commune_code="31825", planned_at=utcnow(),
                           confirmation_code="Q8W2ER"))  # another commune's bulletin
        session.commit()
    send_sms(phone(1), "DAPHAT K7M2PQ")  # a resident, not the operator: just a question
    with Session(engine) as session:
        assert all(a.confirmed_at is None for a in session.exec(select(Airing)).all())
    send_sms("+84912345678", "DAPHAT Q8W2ER")  # not their commune: refused like an unknown code
    send_sms("+84912345678", "đã phát k7m2pq")
    with Session(engine) as session:
        confirmed = {a.confirmation_code: a for a in session.exec(select(Airing)).all()}
        assert confirmed["Q8W2ER"].confirmed_at is None
        airing = confirmed["K7M2PQ"]
        assert airing.confirmed_at is not None and airing.confirmation_source == "sms"
        replies = session.exec(select(Delivery.body).where(Delivery.to_phone == "+84912345678")
                               .order_by(col(Delivery.id))).all()
        assert len(replies) == 2 and "Q8W2ER" in (replies[0] or "") and "K7M2PQ" in (replies[1] or "")
        kinds = session.exec(select(InboundMessage.classification).order_by(col(InboundMessage.id))).all()
        assert kinds == ["question", "airing", "airing"]


def test_questions_group_per_resident_and_are_answered_through_the_outbox(
    client: TestClient, send_sms: Send, engine: Engine, settings: Settings
) -> None:
    seed_contacts(engine, 3)
    send_sms(phone(1), "Cho hỏi về chia thừa kế đất?")
    send_sms(phone(1), "Nhà tôi có 3 anh em.")
    send_sms(phone(2), "Lương tối thiểu vùng là bao nhiêu?")
    send_sms("+84397777777", "Số lạ hỏi")  # not a registered resident
    send_sms("+84397777777", "Hỏi tiếp")
    inbox = client.get("/api/v1/inbox").json()
    assert inbox["total"] == 3 and inbox["counts"]["new"] == 3
    first = next(c for c in inbox["items"] if c["contact_id"] == _contact(engine, 1).id)
    detail = client.get(f"/api/v1/inbox/{first['id']}").json()
    assert [m["body"] for m in detail["messages"]] == ["Cho hỏi về chia thừa kế đất?", "Nhà tôi có 3 anh em."]
    with Session(engine) as session:
        session.add(User(username="canbo", role=Role.officer))
        session.commit()
        officer = session.exec(select(User).where(User.username == "canbo")).one()
    assigned = client.post(f"/api/v1/inbox/{first['id']}/assign", json={"user_id": officer.id}).json()
    assert assigned["status"] == "assigned"
    client.put(f"/api/v1/inbox/{first['id']}/topics", json={"topics": ["đất đai", "thừa kế"]})
    answer = client.post(f"/api/v1/inbox/{first['id']}/answer", json={"text": "Anh/chị mang sổ đỏ đến UBND xã."})
    assert answer.status_code == 201
    with Session(engine) as session:
        delivery = session.get(Delivery, answer.json()["delivery_id"])
        assert delivery is not None and delivery.to_phone == phone(1) and delivery.kind == DeliveryKind.reply
        assert delivery.status == DeliveryStatus.queued and delivery.campaign_id is None
        assert delivery.created_by_id is not None  # the admin who answered
    after = client.get(f"/api/v1/inbox/{first['id']}").json()
    assert after["status"] == "answered" and after["response_seconds"] is not None
    assert set(after["topics"]) == {"đất đai", "thừa kế"}
    assert client.get("/api/v1/inbox", params={"topic": "đất đai"}).json()["total"] == 1
    send_sms(phone(1), "Cảm ơn, cho hỏi thêm")  # a new message re-opens the same conversation
    again = client.get(f"/api/v1/inbox/{first['id']}").json()
    assert again["status"] == "assigned" and len(again["messages"]) == 4
    assert client.post(f"/api/v1/inbox/{first['id']}/close").json()["status"] == "closed"
    send_sms(phone(1), "Câu hỏi mới")
    assert client.get("/api/v1/inbox").json()["total"] == 4


def test_access_rules(anonymous_client: TestClient, engine: Engine) -> None:
    from tests.conftest import make_user

    assert anonymous_client.get("/api/v1/inbox").status_code == 401
    viewer = {"Authorization": f"Bearer {make_user(engine, 'viewer')}"}
    officer = {"Authorization": f"Bearer {make_user(engine, 'officer')}"}
    assert anonymous_client.get("/api/v1/inbox", headers=viewer).status_code == 200
    assert anonymous_client.post("/api/v1/inbox/1/close", headers=viewer).status_code == 403
    for method, path, body in (("post", "/api/v1/data-subjects/lookup", {"phone": phone(1)}),
                               ("post", "/api/v1/data-subjects/erase", {"phone": phone(1)}),
                               ("get", "/api/v1/reports/delivery-log.csv", None),
                               ("put", "/api/v1/engagement/keywords", {"keyword": "X", "action": "help"})):
        response = anonymous_client.request(method, path, json=body, headers=officer)
        assert response.status_code == 403, path
