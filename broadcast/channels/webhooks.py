"""Provider webhooks: Twilio status callbacks (and, with the engagement package, incoming SMS).

The routes are async to read the form; database work happens in the thread pool (blocking the event
loop on a database lock would stall every other request), and status reports are group-committed.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from broadcast.channels.signatures import verify_twilio
from broadcast.channels.status import StatusReport
from broadcast.channels.status_batcher import StatusBatcher
from broadcast.db import utcnow
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
        report = StatusReport(
            provider_sid=sid,
            provider_status=status,
            error_code=int(code) if code and code.isdigit() else None,
            at=utcnow(),
            delivery_id=int(delivery) if delivery and delivery.isdigit() else None,
        )
        await _batcher(request).submit(report)
    return Response(status_code=200)


def _batcher(request: Request) -> StatusBatcher:
    batcher: StatusBatcher | None = getattr(request.app.state, "status_batcher", None)
    if batcher is None:
        batcher = request.app.state.status_batcher = StatusBatcher(request.app.state.engine)
    return batcher
