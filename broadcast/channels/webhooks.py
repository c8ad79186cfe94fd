"""Provider webhooks: Twilio status callbacks (and, with the engagement package, incoming SMS).

The routes are async to read the form, and hand the database work to the thread pool with its own
short transaction: blocking the event loop on a database lock would stall every other request.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from broadcast.channels.signatures import verify_twilio
from broadcast.channels.status import apply_status
from broadcast.db import session_scope, utcnow
from broadcast.deps import SettingsDep

router = APIRouter(prefix="/webhooks/twilio", tags=["webhooks"])


@router.post("/status", summary="Twilio message status callback")
async def twilio_status(request: Request, settings: SettingsDep) -> Response:
    form = await request.form()
    params = {k: str(v) for k, v in form.items()}
    verify_twilio(request, settings, params)
    sid = params.get("MessageSid") or params.get("SmsSid")
    status = params.get("MessageStatus") or params.get("SmsStatus")
    if sid and status:
        delivery = request.query_params.get("d")
        code = params.get("ErrorCode")

        def apply() -> None:
            with session_scope(request.app.state.engine) as session:
                apply_status(
                    session,
                    provider_sid=sid,
                    provider_status=status,
                    error_code=int(code) if code and code.isdigit() else None,
                    at=utcnow(),
                    delivery_id=int(delivery) if delivery and delivery.isdigit() else None,
                )

        await run_in_threadpool(apply)
    return Response(status_code=200)
