"""Webhooks from gateway phones: message states (sms:sent/delivered/failed) and incoming SMS.

Each phone posts to /webhooks/gateway/<name>, signed as the app documents it (hex HMAC-SHA256 of the
raw body followed by X-Timestamp, with the phone's signing key); anything else gets 403. Incoming
messages go through the same `handle_inbound` as Twilio's, so keywords, opt-outs and the inbox
behave identically; the message is then marked as received by that phone, so answers go back there.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import update
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from broadcast.bounds import PhoneName
from broadcast.channels.gateway.channel import PROVIDER_PREFIX, delivery_of, verify
from broadcast.channels.gateway.models import GatewayPhone
from broadcast.db import session_scope, utcnow
from broadcast.deps import SettingsDep
from broadcast.engagement.inbound import handle_inbound
from broadcast.exceptions import WEBHOOK_ERRORS, PermissionDenied, ValidationFailed
from broadcast.outbox.models import Delivery, InboundMessage
from broadcast.outbox.status import apply_status

log = logging.getLogger(__name__)
router = APIRouter(prefix="/webhooks/gateway", tags=["webhooks"], responses=WEBHOOK_ERRORS)

STATE_OF_EVENT = {"sms:sent": "sent", "sms:delivered": "delivered", "sms:failed": "failed"}


def inbound_sid(phone: str, payload: dict[str, Any]) -> str:
    """A stable id for an incoming message: the app's messageId alone is not unique (content-based)."""
    parts = [phone, str(payload.get("messageId", "")), str(payload.get("receivedAt", "")),
             str(payload.get("phoneNumber", "")), str(payload.get("message", ""))]
    return "gw-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:40]


def handle_event(session: Session, phone: str, event: str, payload: dict[str, Any]) -> str:
    """Apply one verified webhook event; answers what happened (for logs and tests)."""
    if event in STATE_OF_EVENT:
        sid = str(payload.get("messageId", ""))
        result = apply_status(session, provider_sid=sid, provider_status=STATE_OF_EVENT[event], error_code=None,
                              at=utcnow(), delivery_id=delivery_of(sid))
        reason = payload.get("reason")
        if result == "updated" and event == "sms:failed" and reason:
            session.execute(update(Delivery).where(col(Delivery.provider_sid) == sid)
                            .values(error_message=f"phone reported failed: {reason}"[:500])
                            .execution_options(synchronize_session=False))
        return result
    if event == "sms:received":
        params = {"MessageSid": inbound_sid(phone, payload),
                  "From": str(payload.get("phoneNumber") or payload.get("sender") or ""),
                  "To": phone, "Body": str(payload.get("message", ""))}
        if not params["From"].strip():  # nobody to link it to or answer: acknowledged, not filed
            log.warning("gateway %s: incoming SMS %s without a sender: ignored", phone, params["MessageSid"][:64])
            return "ignored"
        handled = handle_inbound(session, params)
        if handled.message_id is not None:
            session.execute(update(InboundMessage).where(col(InboundMessage.id) == handled.message_id)
                            .values(provider=PROVIDER_PREFIX + phone).execution_options(synchronize_session=False))
        return "duplicate" if handled.duplicate else (handled.classification or "stored")
    if event == "system:ping":
        session.execute(update(GatewayPhone).where(col(GatewayPhone.name) == phone)
                        .values(last_seen_at=utcnow()).execution_options(synchronize_session=False))
        return "ping"
    return "ignored"


@router.post("/{name}", summary="SMS Gateway for Android webhook (one URL per phone)")
async def gateway_webhook(name: PhoneName, request: Request, settings: SettingsDep) -> dict[str, str]:
    body = await request.body()
    engine = request.app.state.engine

    def key_of() -> str | None:
        with Session(engine) as session:
            return session.exec(select(GatewayPhone.signing_key).where(GatewayPhone.name == name)).first()

    key = await run_in_threadpool(key_of)
    if not key or not verify(key, body, request.headers.get("X-Timestamp", ""),
                             request.headers.get("X-Signature", ""),
                             tolerance=settings.gateway_webhook_tolerance_seconds):
        raise PermissionDenied("Invalid or missing X-Signature")
    try:
        data = json.loads(body)
        event, payload = str(data["event"]), dict(data.get("payload") or {})
    except (ValueError, KeyError, TypeError) as exc:
        raise ValidationFailed("Webhook body is not the app's JSON event") from exc

    def apply() -> str:
        with session_scope(engine) as session:
            return handle_event(session, name, event, payload)

    return {"result": await run_in_threadpool(apply)}
