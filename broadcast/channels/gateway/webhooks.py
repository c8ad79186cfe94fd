"""Webhooks from gateway phones: message states (sms:sent/delivered/failed) and incoming SMS.

Each phone posts to /webhooks/gateway/<name>, signed as the app documents it (hex HMAC-SHA256 of the
raw body followed by X-Timestamp, with the phone's signing key); anything else gets 403. Incoming
messages go through the same `handle_inbound` as Twilio's, so keywords, opt-outs and the inbox
behave identically; the message is then marked as received by that phone, so answers go back there.

While the database does not answer, a verified event is journaled (broadcast.journal) and answered 200; the
signature is then checked with the phone's key as last read from the database (kept in memory).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from broadcast.bounds import PhoneName
from broadcast.channels.gateway.channel import PROVIDER_PREFIX, delivery_of, verify
from broadcast.channels.gateway.models import GatewayPhone
from broadcast.db import session_scope, utcnow
from broadcast.deps import SettingsDep
from broadcast.engagement.inbound import handle_inbound
from broadcast.exceptions import WEBHOOK_ERRORS, PermissionDenied, ServiceBusy, ValidationFailed
from broadcast.journal.outage import unavailable
from broadcast.journal.store import Entry
from broadcast.journal.webhooks import apply_or_journal, reliability
from broadcast.outbox.models import Delivery, InboundMessage
from broadcast.outbox.status import apply_status

log = logging.getLogger(__name__)
router = APIRouter(prefix="/webhooks/gateway", tags=["webhooks"], responses=WEBHOOK_ERRORS)
KIND = "gateway.event"

STATE_OF_EVENT = {"sms:sent": "sent", "sms:delivered": "delivered", "sms:failed": "failed"}


def inbound_sid(phone: str, payload: dict[str, Any]) -> str:
    """A stable id for an incoming message: the app's messageId alone is not unique (content-based)."""
    parts = [phone, str(payload.get("messageId", "")), str(payload.get("receivedAt", "")),
             str(payload.get("phoneNumber", "")), str(payload.get("message", ""))]
    return "gw-" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:40]


def handle_event(session: Session, phone: str, event: str, payload: dict[str, Any], *,
                 at: datetime | None = None) -> str:
    """Apply one verified webhook event (received `at`, default now); answers what happened (logs, tests)."""
    at = at or utcnow()
    if event in STATE_OF_EVENT:
        sid = str(payload.get("messageId", ""))
        result = apply_status(session, provider_sid=sid, provider_status=STATE_OF_EVENT[event], error_code=None,
                              at=at, delivery_id=delivery_of(sid))
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
        handled = handle_inbound(session, params, now=at)
        if handled.message_id is not None:
            session.execute(update(InboundMessage).where(col(InboundMessage.id) == handled.message_id)
                            .values(provider=PROVIDER_PREFIX + phone).execution_options(synchronize_session=False))
        return "duplicate" if handled.duplicate else (handled.classification or "stored")
    if event == "system:ping":
        session.execute(update(GatewayPhone).where(col(GatewayPhone.name) == phone)
                        .values(last_seen_at=at).execution_options(synchronize_session=False))
        return "ping"
    return "ignored"


@router.post("/{name}", summary="SMS Gateway for Android webhook (one URL per phone)")
async def gateway_webhook(name: PhoneName, request: Request, settings: SettingsDep) -> dict[str, str]:
    body = await request.body()
    engine = request.app.state.engine
    key = await _signing_key(request, name)
    if not key or not verify(key, body, request.headers.get("X-Timestamp", ""),
                             request.headers.get("X-Signature", ""),
                             tolerance=settings.gateway_webhook_tolerance_seconds):
        raise PermissionDenied("Invalid or missing X-Signature")
    try:
        data = json.loads(body)
        event, payload = str(data["event"]), dict(data.get("payload") or {})
    except (ValueError, KeyError, TypeError) as exc:
        raise ValidationFailed("Webhook body is not the app's JSON event") from exc

    async def apply() -> str:
        def write() -> str:
            with session_scope(engine) as session:
                return handle_event(session, name, event, payload)

        return await run_in_threadpool(write)

    result = await apply_or_journal(request, KIND, {"phone": name, "event": event, "payload": payload}, apply)
    return {"result": result if result is not None else "journaled"}


async def _signing_key(request: Request, name: str) -> str | None:
    """The phone's signing key from the database, or while it does not answer the one last read from it."""
    state = reliability(request)
    keys: dict[str, str | None] | None = getattr(request.app.state, "gateway_keys", None)
    if keys is None:
        keys = request.app.state.gateway_keys = {}
    if not state.outage.down:
        engine = request.app.state.engine

        def key_of() -> str | None:
            with Session(engine) as session:
                return session.exec(select(GatewayPhone.signing_key).where(GatewayPhone.name == name)).first()

        try:
            keys[name] = await asyncio.wait_for(run_in_threadpool(key_of), timeout=state.after_seconds)
            return keys[name]
        except TimeoutError:
            state.outage.trip(f"no answer within {state.after_seconds:g} s")
        except Exception as exc:
            reason = unavailable(exc)
            if reason is None:
                raise
            state.outage.trip(reason)
    if name not in keys:
        raise ServiceBusy("The database does not answer and this phone's signing key is not known yet: "
                          "the phone will send the webhook again")
    return keys[name]


def remember_signing_keys(state: Any, engine: Engine) -> int:
    """Read every phone's signing key once at start, so webhooks are verified even if the database goes
    before a phone's first webhook (keys are refreshed at each webhook the database answers)."""
    with Session(engine) as session:
        keys = dict(session.exec(select(GatewayPhone.name, GatewayPhone.signing_key)).all())
    state.gateway_keys = {**keys, **(getattr(state, "gateway_keys", None) or {})}
    return len(keys)


def replay_events(session: Session, entries: Sequence[Entry]) -> None:
    """Apply journaled phone events at the time they were received (states only move forward, messages are
    stored once)."""
    for entry in entries:
        handle_event(session, str(entry.data["phone"]), str(entry.data["event"]), dict(entry.data["payload"]),
                     at=entry.at)
