"""Twilio's incoming-message webhook: signature checked, handled once per MessageSid, empty TwiML back.

Concurrent requests are group-committed (see `broadcast.group_commit`): each answers only after its
message is committed, but a burst of replies after a campaign costs one transaction per batch. When the
database does not answer, the message is journaled and handled when it is back; and after an outage the
messages Twilio received for our numbers meanwhile are listed, so none is lost (`recover_replies`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from fastapi import APIRouter, Request, Response
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcast.channels.twilio.client import make_twilio_client
from broadcast.channels.twilio.signatures import verify_twilio
from broadcast.config import Settings
from broadcast.db import session_scope, utcnow
from broadcast.engagement.inbound import InboundResult, handle_inbound_batch
from broadcast.exceptions import WEBHOOK_ERRORS, text_response
from broadcast.group_commit import GroupCommit
from broadcast.journal.store import Entry
from broadcast.journal.webhooks import apply_or_journal
from broadcast.outbox.models import InboundMessage

log = logging.getLogger(__name__)
router = APIRouter(prefix="/webhooks/twilio", tags=["webhooks"], responses=WEBHOOK_ERRORS)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
KIND = "twilio.sms"
FIELDS = ("MessageSid", "SmsMessageSid", "SmsSid", "From", "To", "Body")  # what handling a message reads
RECOVERY_MARGIN = timedelta(minutes=2)  # clock skew, and messages sent just before the outage was noticed
Params = Mapping[str, str]


@router.post("/sms", summary="Twilio incoming SMS webhook", response_class=Response,
             responses=text_response("text/xml", "TwiML (empty: replies go through the outbox)"))
async def twilio_incoming(request: Request) -> Response:
    form = await request.form()
    params = {k: str(v) for k, v in form.items()}
    verify_twilio(request, request.app.state.settings, params)
    if not params.get("From", "").strip():  # nobody to link it to or answer: acknowledged, not filed
        log.warning("incoming SMS %s without a sender (no From): ignored", params.get("MessageSid", "?")[:64])
        return Response(EMPTY_TWIML, media_type="text/xml")
    kept = {k: v for k, v in params.items() if k in FIELDS}
    await apply_or_journal(request, KIND, kept, lambda: _batcher(request).submit(params), cancellable=True)
    # Replies go through the outbox (rate limits, quiet hours, records), never as TwiML.
    return Response(EMPTY_TWIML, media_type="text/xml")


def write_inbound(engine: Engine, batch: Sequence[Params]) -> list[InboundResult]:
    """Handle a batch of incoming messages in one transaction."""
    with session_scope(engine) as session:
        return handle_inbound_batch(session, batch)


def replay_incoming(session: Session, entries: Sequence[Entry]) -> None:
    """Handle journaled incoming messages as received at their own time (duplicates by SID are ignored)."""
    handle_inbound_batch(session, [{k: str(v) for k, v in e.data.items()} for e in entries],
                         received=[e.at for e in entries])


def _batcher(request: Request) -> GroupCommit[Params, InboundResult]:
    batcher: GroupCommit[Params, InboundResult] | None = getattr(request.app.state, "inbound_batcher", None)
    if batcher is None:
        engine = request.app.state.engine
        batcher = GroupCommit(lambda batch: write_inbound(engine, batch), name="incoming messages")
        request.app.state.inbound_batcher = batcher
    return batcher


def recover_replies(engine: Engine, settings: Settings, since: datetime, until: datetime, *,
                    api_base_url: str | None = None) -> int:
    """Handle the messages Twilio received for our numbers between `since` and `until` that we do not have
    (their webhooks failed or never came); returns how many were new."""
    numbers = settings.inbound_numbers
    if not numbers:
        return 0
    client = make_twilio_client(settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value(),
                                settings.twilio_api_base_url if api_base_url is None else api_base_url,
                                timeout=settings.twilio_timeout_seconds)
    start, end = since - RECOVERY_MARGIN, until + RECOVERY_MARGIN
    found: dict[str, tuple[dict[str, str], datetime]] = {}
    for number in numbers:
        for message in client.messages.stream(to=number, date_sent_after=start, page_size=100):
            if str(message.direction or "") != "inbound" or not str(message.from_ or "").strip():
                continue
            at = message.date_sent or message.date_created or utcnow()
            if not start <= at <= end:
                continue
            found[str(message.sid)] = ({"MessageSid": str(message.sid), "From": str(message.from_ or ""),
                                        "To": str(message.to or ""), "Body": str(message.body or "")}, at)
    if not found:
        return 0
    with session_scope(engine) as session:
        known = set(session.exec(select(InboundMessage.provider_sid)
                                 .where(col(InboundMessage.provider_sid).in_(list(found)))).all())
        new = [found[sid] for sid in found if sid not in known]
        if new:
            handle_inbound_batch(session, [params for params, _ in new], received=[at for _, at in new])
    if new:
        log.warning("after the outage: %d messages residents sent to %s were recovered from Twilio's list",
                    len(new), ", ".join(numbers))
    return len(new)
