"""Twilio's incoming-message webhook: signature checked, handled once per MessageSid, empty TwiML back."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from broadcast.channels.signatures import verify_twilio
from broadcast.db import session_scope
from broadcast.deps import SettingsDep
from broadcast.engagement.inbound import handle_inbound

router = APIRouter(prefix="/webhooks/twilio", tags=["webhooks"])

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


@router.post("/sms", summary="Twilio incoming SMS webhook")
async def twilio_incoming(request: Request, settings: SettingsDep) -> Response:
    form = await request.form()
    params = {k: str(v) for k, v in form.items()}
    verify_twilio(request, settings, params)

    def handle() -> None:
        with session_scope(request.app.state.engine) as session:
            handle_inbound(session, params)

    await run_in_threadpool(handle)
    # Replies go through the outbox (rate limits, quiet hours, records), never as TwiML.
    return Response(EMPTY_TWIML, media_type="text/xml")
