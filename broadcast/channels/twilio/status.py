"""Provider webhooks: Twilio status callbacks (and, with the engagement package, incoming SMS).

The routes are async to read the form; database work happens in the thread pool (blocking the event
loop on a database lock would stall every other request), and status reports are group-committed.
They are the hot path after a campaign (hundreds of requests a second), so they read the settings from
the app state instead of through a FastAPI dependency, whose resolution cost a fifth of their CPU.
When the database does not answer, a report is journaled (broadcast.journal) and replayed later.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from fastapi import APIRouter, Request, Response
from sqlmodel import Session

from broadcast.bounds import parse_count
from broadcast.channels.twilio.signatures import verify_twilio
from broadcast.db import utcnow
from broadcast.exceptions import EMPTY_RESPONSE, WEBHOOK_ERRORS
from broadcast.group_commit import GroupCommit
from broadcast.journal.store import Entry
from broadcast.journal.webhooks import apply_or_journal
from broadcast.outbox.status import StatusReport, apply_statuses, write_statuses

KIND = "twilio.status"

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
        code = parse_count(params.get("ErrorCode"), maximum=10**9)
        delivery_id = parse_count(request.query_params.get("d"))
        report = StatusReport(provider_sid=sid, provider_status=status, error_code=code, at=utcnow(),
                              delivery_id=delivery_id)
        data = {"sid": sid, "status": status, "code": code, "d": delivery_id}
        await apply_or_journal(request, KIND, data, lambda: _batcher(request).submit(report), cancellable=True)
    return Response(status_code=200)


def replay_statuses(session: Session, entries: Sequence[Entry]) -> None:
    """Apply journaled status reports (at the time they were received; updates only move forward)."""
    apply_statuses(session.connection(), [
        StatusReport(provider_sid=str(e.data["sid"]), provider_status=str(e.data["status"]),
                     error_code=e.data.get("code"), at=e.at, delivery_id=e.data.get("d")) for e in entries])


def _batcher(request: Request) -> GroupCommit[StatusReport, None]:
    batcher: GroupCommit[StatusReport, None] | None = getattr(request.app.state, "status_batcher", None)
    if batcher is None:
        batcher = GroupCommit(partial(write_statuses, request.app.state.engine), name="status reports")
        request.app.state.status_batcher = batcher
    return batcher
