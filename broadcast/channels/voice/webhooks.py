"""Twilio voice webhooks (TwiML for answered calls, key presses, call status, missed calls), every one
signature-checked, and the voice metrics API route.

The webhook routes are async to read the form; database work runs in the thread pool (see webhooks.py).
While the database does not answer, their events are journaled (broadcast.journal) and the TwiML comes from
clips rendered ahead of time (offline.py): an answered call hears a short apology instead of dead air.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from twilio.twiml.voice_response import VoiceResponse

from broadcast.bounds import DbId, parse_count
from broadcast.channels.twilio.signatures import verify_twilio
from broadcast.channels.voice.calls import CallReport, apply_call_status, record_apology
from broadcast.channels.voice.menu import (
    call_twiml,
    gather_twiml,
    load_context,
    quiz_twiml,
    read_context,
    record_keypress,
)
from broadcast.channels.voice.missed import handle_missed_call
from broadcast.channels.voice.offline import OFFLINE_PROMPTS, offline_path, offline_twiml
from broadcast.config import Settings
from broadcast.db import session_scope, utcnow
from broadcast.deps import SessionDep, SettingsDep
from broadcast.engagement.calls import voice_metrics
from broadcast.exceptions import EMPTY_RESPONSE, WEBHOOK_ERRORS, NotFoundError, file_response, text_response
from broadcast.journal.replay import Handler
from broadcast.journal.store import Entry
from broadcast.journal.webhooks import apply_or_journal

router = APIRouter(prefix="/voice", tags=["voice-webhooks"], responses=WEBHOOK_ERRORS)
api_router = APIRouter(prefix="/voice", tags=["voice"])
TWIML = "text/xml"
TWIML_ANSWER = text_response(TWIML, "TwiML for the call")
# A final status that beat the dispatcher's own record of the call waits a little; after that the
# voice dispatcher asks the provider (VOICE_STATUS_TIMEOUT_SECONDS), so nothing holds a request long.
EARLY_RETRY_SECONDS = 0.25
EARLY_RETRY_LIMIT = 6
OFFLINE_ANSWERS = {"2": "callback", "9": "opted_out"}


class VoiceMetricsOut(BaseModel):
    campaign_id: int
    residents: int
    calls_placed: int
    answered: int
    answered_by_machine: int
    answer_rate: float | None = Field(description="answered / residents")
    not_reached: int
    in_progress: int
    listened_share_avg: float | None = Field(description="average share of the message heard (0–1)")
    call_minutes: float
    repeats: int = Field(description="presses of 1 (hear it again)")
    callback_presses: int = Field(description="presses of 2 (call me back)")
    callbacks_requested: int
    opt_outs: int
    sms_fallbacks: int
    cost_estimate: float
    price_per_minute: float
    price_unit: str


async def _signed_form(request: Request, settings: Any) -> dict[str, str]:
    form = await request.form()
    params = {k: str(v) for k, v in form.items()}
    verify_twilio(request, settings, params)
    return params


def _delivery_id(request: Request) -> int | None:
    value = request.query_params.get("d", "")
    return parse_count(value)


@router.post("/twiml", summary="TwiML for an answered campaign call", response_class=Response,
             responses=TWIML_ANSWER)
async def twiml(request: Request, settings: SettingsDep) -> Response:
    params = await _signed_form(request, settings)
    delivery_id = _delivery_id(request)

    async def build() -> str:
        def read() -> str:
            engine = request.app.state.engine
            ctx = read_context(engine, settings, delivery_id) if delivery_id is not None else None
            with Session(engine) as session:  # used only when the clip cache has to be filled
                return call_twiml(session, settings, ctx, params.get("AnsweredBy"))

        return await run_in_threadpool(read)

    apology = {"d": delivery_id, "call_sid": params.get("CallSid", "")}
    # Reading what to play needs no order behind journaled writes: only a known outage skips the database.
    answer = await apply_or_journal(request, "voice.apology", apology, build, ordered=False)
    return Response(answer if answer is not None else offline_twiml(settings, "outage"), media_type=TWIML)


@router.post("/gather", summary="Key press in the call's menu", response_class=Response, responses=TWIML_ANSWER)
async def gather(request: Request, settings: SettingsDep) -> Response:
    params = await _signed_form(request, settings)
    delivery_id = _delivery_id(request)
    round_text = request.query_params.get("n", "1")
    round_ = parse_count(round_text, maximum=100) or 1
    digit = params.get("Digits", "")[:1]

    async def handle() -> str:
        def write() -> str:
            with session_scope(request.app.state.engine) as session:
                ctx = load_context(session, settings, delivery_id) if delivery_id is not None else None
                if ctx is not None and params.get("CallSid"):
                    record_keypress(session, ctx, call_sid=params["CallSid"], digit=digit, round_=round_,
                                    at=utcnow())
                return gather_twiml(session, settings, ctx, digit, round_)

        return await run_in_threadpool(write)

    press = {"d": delivery_id, "n": round_, "digit": digit, "call_sid": params.get("CallSid", "")}
    answer = await apply_or_journal(request, "voice.gather", press, handle)
    if answer is None:
        answer = offline_twiml(settings, OFFLINE_ANSWERS.get(digit, "outage"))
    return Response(answer, media_type=TWIML)


@router.post("/quiz", summary="Key press answering a quiz question in the call", response_class=Response,
             responses=TWIML_ANSWER)
async def quiz(request: Request, settings: SettingsDep) -> Response:
    params = await _signed_form(request, settings)
    delivery_id = _delivery_id(request)
    position = parse_count(request.query_params.get("q", "0"), maximum=100) or 0
    attempt = parse_count(request.query_params.get("n", "1"), maximum=100) or 1
    digits = params.get("Digits", "")[:16]

    def handle() -> str:
        with session_scope(request.app.state.engine) as session:
            ctx = load_context(session, settings, delivery_id) if delivery_id is not None else None
            return quiz_twiml(session, settings, ctx, digits, position, attempt, at=utcnow())

    return Response(await run_in_threadpool(handle), media_type=TWIML)


@router.post("/status", summary="Twilio call status callback", response_class=Response,
             responses=EMPTY_RESPONSE)
async def status(request: Request, settings: SettingsDep) -> Response:
    params = await _signed_form(request, settings)
    delivery_id = _delivery_id(request)
    report = CallReport.from_params(params)
    if delivery_id is None or not report.call_sid or not report.status:
        return Response(status_code=200)

    def apply() -> str:
        with session_scope(request.app.state.engine) as session:
            return apply_call_status(session, settings, report, delivery_id=delivery_id, now=utcnow())

    async def settle() -> None:
        for _ in range(EARLY_RETRY_LIMIT):
            if await run_in_threadpool(apply) != "early":
                break
            await asyncio.sleep(EARLY_RETRY_SECONDS)

    await apply_or_journal(request, "voice.status", {"d": delivery_id, "params": params}, settle)
    return Response(status_code=200)


@router.post("/incoming", summary="Missed-call number: reject (free for the caller) and call back",
             response_class=Response, responses=TWIML_ANSWER)
async def incoming(request: Request, settings: SettingsDep) -> Response:
    params = await _signed_form(request, settings)

    async def handle() -> None:
        def write() -> None:
            with session_scope(request.app.state.engine) as session:
                handle_missed_call(session, settings, params, now=utcnow())

        await run_in_threadpool(write)

    await apply_or_journal(request, "voice.incoming", {"params": params}, handle)
    response = VoiceResponse()
    response.reject(reason="busy")
    return Response(str(response), media_type=TWIML)


# `{name}` is e.g. `outage.mp3`: a template ending in `.mp3` would label request metrics like a raw path.
@router.get("/offline/{name}", summary="A clip calls hear while the database does not answer",
            response_class=FileResponse, responses=file_response("audio/mpeg", "The clip"))
def offline_clip(name: str, settings: SettingsDep) -> FileResponse:
    key = name.removesuffix(".mp3")
    path = offline_path(settings, key) if name.endswith(".mp3") and key in OFFLINE_PROMPTS else None
    if path is None or not path.exists():
        raise NotFoundError("Không có đoạn âm thanh này.")
    return FileResponse(path, media_type="audio/mpeg")


@api_router.get("/campaigns/{campaign_id}/metrics", summary="Voice call figures for a campaign",
                response_model=VoiceMetricsOut)
def campaign_voice_metrics(campaign_id: DbId, session: SessionDep, settings: SettingsDep) -> VoiceMetricsOut:
    return VoiceMetricsOut.model_validate(voice_metrics(session, settings, campaign_id))


def replay_handlers(settings: Settings) -> dict[str, Handler]:
    """How journaled voice events are applied, each at the time it was received."""

    def statuses(session: Session, entries: Sequence[Entry]) -> None:
        for entry in entries:
            report = CallReport.from_params({k: str(v) for k, v in entry.data["params"].items()})
            apply_call_status(session, settings, report, delivery_id=int(entry.data["d"]), now=entry.at)

    def presses(session: Session, entries: Sequence[Entry]) -> None:
        for entry in entries:
            delivery_id, sid = entry.data.get("d"), str(entry.data.get("call_sid") or "")
            ctx = load_context(session, settings, int(delivery_id)) if delivery_id is not None else None
            if ctx is not None and sid:
                record_keypress(session, ctx, call_sid=sid, digit=str(entry.data["digit"]),
                                round_=int(entry.data["n"]), at=entry.at)

    def missed(session: Session, entries: Sequence[Entry]) -> None:
        for entry in entries:
            handle_missed_call(session, settings, {k: str(v) for k, v in entry.data["params"].items()},
                               now=entry.at)

    def apologies(session: Session, entries: Sequence[Entry]) -> None:
        for entry in entries:
            if entry.data.get("d") is not None and entry.data.get("call_sid"):
                record_apology(session, delivery_id=int(entry.data["d"]), call_sid=str(entry.data["call_sid"]),
                               at=entry.at)

    return {"voice.status": statuses, "voice.gather": presses, "voice.incoming": missed,
            "voice.apology": apologies}
