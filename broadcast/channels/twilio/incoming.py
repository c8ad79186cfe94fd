"""Twilio's incoming-message webhook: signature checked, handled once per MessageSid, empty TwiML back.

Concurrent requests are group-committed (see `broadcast.group_commit`): each answers only after its
message is committed, but a burst of replies after a campaign costs one transaction per batch.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from fastapi import APIRouter, Request, Response
from sqlalchemy.engine import Engine

from broadcast.channels.twilio.signatures import verify_twilio
from broadcast.db import session_scope
from broadcast.engagement.inbound import InboundResult, handle_inbound_batch
from broadcast.exceptions import WEBHOOK_ERRORS, text_response
from broadcast.group_commit import GroupCommit

log = logging.getLogger(__name__)
router = APIRouter(prefix="/webhooks/twilio", tags=["webhooks"], responses=WEBHOOK_ERRORS)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
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
    await _batcher(request).submit(params)
    # Replies go through the outbox (rate limits, quiet hours, records), never as TwiML.
    return Response(EMPTY_TWIML, media_type="text/xml")


def write_inbound(engine: Engine, batch: Sequence[Params]) -> list[InboundResult]:
    """Handle a batch of incoming messages in one transaction."""
    with session_scope(engine) as session:
        return handle_inbound_batch(session, batch)


def _batcher(request: Request) -> GroupCommit[Params, InboundResult]:
    batcher: GroupCommit[Params, InboundResult] | None = getattr(request.app.state, "inbound_batcher", None)
    if batcher is None:
        engine = request.app.state.engine
        batcher = GroupCommit(lambda batch: write_inbound(engine, batch), name="incoming messages")
        request.app.state.inbound_batcher = batcher
    return batcher
