"""Gateway webhooks are accepted only with the phone's signature; the admin API registers phones."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcast.audit.models import AuditLog
from broadcast.channels.gateway.channel import sign, verify
from broadcast.db import utcnow
from broadcast.outbox.models import Delivery, InboundMessage
from tests.conftest import BOTH, make_user
from tests.gateway.conftest import Phones
from tests.support.http import loopback
from tests.support.seed import phone

pytestmark = BOTH  # the database matters here: SQL, locking or types differ


def post(base: str, name: str, body: bytes, key: str, *, stamp: int | None = None,
         signature: str | None = None) -> httpx.Response:
    ts = str(stamp if stamp is not None else int(time.time()))
    headers = {"Content-Type": "application/json", "X-Timestamp": ts,
               "X-Signature": signature if signature is not None else sign(key, body, ts)}
    return loopback.post(f"{base}/webhooks/gateway/{name}", content=body, headers=headers)


def test_signature_is_hmac_of_body_and_timestamp() -> None:
    body, key = b'{"event":"sms:received","payload":{}}', "k3y"
    good = sign(key, body, "1700000000")
    assert len(good) == 64 and verify(key, body, "1700000000", good, tolerance=300, now=1700000100)
    assert not verify(key, body, "1700000000", good, tolerance=300, now=1700000400)  # too old
    assert not verify(key, body + b" ", "1700000000", good, tolerance=300, now=1700000000)
    assert not verify("other", body, "1700000000", good, tolerance=300, now=1700000000)
    assert not verify(key, body, "", good, tolerance=300) and not verify("", body, "1700000000", good, tolerance=300)


def test_forged_webhooks_get_403(live_app: str, live_engine: Engine, phones: Phones) -> None:
    phones("xa-1")
    key = "signing-key-xa-1"
    with Session(live_engine) as session:
        row = Delivery(to_phone=phone(1), body="x", status="sending", provider="gateway:xa-1",
                       next_attempt_at=utcnow())
        session.add(row)
        session.commit()
        delivery_id = row.id
    sid = f"bc-{delivery_id}-1"
    event = json.dumps({"event": "sms:delivered", "payload": {"messageId": sid, "phoneNumber": phone(1),
                                                               "deliveredAt": "2026-01-01T08:00:00.000+07:00"}})
    body = event.encode()
    assert post(live_app, "xa-1", body, "wrong-key").status_code == 403
    assert post(live_app, "xa-1", body, key, signature="").status_code == 403
    assert post(live_app, "xa-1", body, key, stamp=int(time.time()) - 3600).status_code == 403  # replayed
    assert post(live_app, "xa-2", body, key).status_code == 403  # no such phone
    tampered = sign(key, body, str(int(time.time())))
    assert post(live_app, "xa-1", body.replace(b"delivered", b"failed"), key, signature=tampered).status_code == 403
    inbound = json.dumps({"event": "sms:received", "payload": {"messageId": "m1", "message": "TC",
                                                               "phoneNumber": phone(1)}}).encode()
    assert post(live_app, "xa-1", inbound, "forged").status_code == 403
    with Session(live_engine) as session:
        assert session.get(Delivery, delivery_id).status == "sending"  # type: ignore[union-attr]
    # The genuine one lands (twice: the app retries; the state moves once and never backwards).
    assert post(live_app, "xa-1", body, key).status_code == 200
    assert post(live_app, "xa-1", body, key).json() == {"result": "stale"}
    sent = json.dumps({"event": "sms:sent", "payload": {"messageId": sid, "phoneNumber": phone(1)}}).encode()
    assert post(live_app, "xa-1", sent, key).json() == {"result": "stale"}
    with Session(live_engine) as session:
        delivered = session.get(Delivery, delivery_id)
        assert delivered is not None and delivered.status == "delivered" and delivered.provider_sid == sid
    nobody = json.dumps({"event": "sms:received", "payload": {"messageId": "m2", "message": "TC"}}).encode()
    assert post(live_app, "xa-1", nobody, key).json() == {"result": "ignored"}  # no sender: logged, not filed
    with Session(live_engine) as session:
        assert session.exec(select(InboundMessage)).all() == []


@pytest.mark.parametrize("role", ["officer", "viewer"])
def test_gateway_api_is_for_admins(live_app: str, live_engine: Engine, role: str) -> None:
    token = make_user(live_engine, role)
    headers = {"Authorization": f"Bearer {token}"}
    assert loopback.get(f"{live_app}/api/v1/gateways", headers=headers).status_code == 403
    assert loopback.post(f"{live_app}/api/v1/gateways", json={"name": "x", "base_url": "http://127.0.0.1:1"},
                      headers=headers).status_code == 403


def test_admin_registers_a_phone_and_its_webhooks(live_app: str, live_engine: Engine) -> None:
    from broadcast.simulators.gateway import GatewaySimulator

    admin = {"Authorization": f"Bearer {make_user(live_engine, 'admin', username='quan-tri')}"}
    sim = GatewaySimulator("sms", "mat-khau", "khoa-ky")
    url = sim.start()
    try:
        created = loopback.post(f"{live_app}/api/v1/gateways", headers=admin, json={
            "name": "Xa-Tan-Hung", "base_url": url, "login": "sms", "password": "mat-khau",
            "signing_key": "khoa-ky", "commune_code": "32248", "rate_per_minute": 4, "daily_limit": 200})
        assert created.status_code == 201, created.text
        out = created.json()
        assert out["name"] == "xa-tan-hung" and out["route"] == "gateway:xa-tan-hung" and out["has_password"]
        assert "mat-khau" not in created.text and "khoa-ky" not in created.text
        assert out["webhook_url"] == f"{live_app}/webhooks/gateway/xa-tan-hung"
        again = loopback.post(f"{live_app}/api/v1/gateways", headers=admin, json={"name": "xa-tan-hung",
                                                                                "base_url": url})
        assert again.status_code == 409
        bad = loopback.post(f"{live_app}/api/v1/gateways", headers=admin, json={"name": "x y", "base_url": url})
        assert bad.status_code == 422
        hooks = loopback.post(f"{live_app}/api/v1/gateways/xa-tan-hung/webhooks", headers=admin)
        assert hooks.status_code == 200 and len(hooks.json()["webhooks"]) == 4
        # The phone now posts its events, signed, to the app: an incoming SMS lands.
        sim.receive(phone(5), "Cho hỏi về đất đai")
        assert sim.wait_for_webhooks()
        assert [a.status for a in sim.webhook_attempts] == [200]
        sim.go_down()
        checked = loopback.post(f"{live_app}/api/v1/gateways/xa-tan-hung/check", headers=admin).json()
        assert checked["status"] == "down" and "health check" in checked["last_error"]
        sim.come_up()
        checked = loopback.post(f"{live_app}/api/v1/gateways/xa-tan-hung/check", headers=admin).json()
        assert checked["status"] == "up" and checked["last_seen_at"] and checked["last_error"] is None
        route = loopback.put(f"{live_app}/api/v1/gateways/routes/32248", json={"route": "gateway:xa-tan-hung"},
                          headers=admin)
        assert route.status_code == 200
        assert loopback.put(f"{live_app}/api/v1/gateways/routes/32248", json={"route": "viettel"},
                         headers=admin).status_code == 422
        routes = loopback.get(f"{live_app}/api/v1/gateways/routes", headers=admin).json()
        assert routes == {"default": "twilio", "communes": {"32248": "gateway:xa-tan-hung"}}
        listed = loopback.get(f"{live_app}/api/v1/gateways", headers=admin).json()
        assert [p["name"] for p in listed] == ["xa-tan-hung"] and listed[0]["sent_today"] == 0
        with Session(live_engine) as session:  # every change is audited with the admin who made it
            audited = session.exec(select(AuditLog).where(col(AuditLog.action).startswith("gateway."))
                                   .order_by(col(AuditLog.id))).all()
        assert [(a.action, a.actor) for a in audited] == [
            ("gateway.register", "quan-tri"), ("gateway.webhooks", "quan-tri"), ("gateway.check", "quan-tri"),
            ("gateway.check", "quan-tri"), ("gateway.route", "quan-tri")]
    finally:
        sim.close()
