"""Provider webhooks: Twilio status callbacks (and, with the engagement package, incoming SMS).

The routes are async to read the form; database work happens in the thread pool (blocking the event
loop on a database lock would stall every other request), and status reports are group-committed.
They are the hot path after a campaign (hundreds of requests a second), so they read the settings from
the app state instead of through a FastAPI dependency, whose resolution cost a fifth of their CPU.
"""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Request, Response

from broadcast.bounds import parse_count
from broadcast.channels.twilio.signatures import verify_twilio
from broadcast.db import utcnow
from broadcast.exceptions import EMPTY_RESPONSE, WEBHOOK_ERRORS
from broadcast.group_commit import GroupCommit
from broadcast.outbox.status import StatusReport, write_statuses

router = APIRouter(prefix="/webhooks/twilio", tags=["webhooks"], responses=WEBHOOK_ERRORS)


@router.post("/status", summary="Twilio message status callback", response_class=Response,
             responses=EMPTY_RESPONSE)
async def twilio_status(request: Request) -> Response:
    form = await request.form()
    params = {k: str(v) for k, v in form.items()}
    verify_twilio(request, request.app.state.settings, params)
    sid = params.get("MessageSid") or params.get("SmsSid")
    status = params.get("MessageStatus") or params.get("SmsStatus")
    if sid and status:
        delivery = request.query_params.get("d")
        code = params.get("ErrorCode")
        report = StatusReport(
            provider_sid=sid,
            provider_status=status,
            error_code=parse_count(code, maximum=10**9),
            at=utcnow(),
            delivery_id=parse_count(delivery),
        )
        await _batcher(request).submit(report)
    return Response(status_code=200)


def _batcher(request: Request) -> GroupCommit[StatusReport, None]:
    batcher: GroupCommit[StatusReport, None] | None = getattr(request.app.state, "status_batcher", None)
    if batcher is None:
        batcher = GroupCommit(partial(write_statuses, request.app.state.engine), name="status reports")
        request.app.state.status_batcher = batcher
    return batcher
