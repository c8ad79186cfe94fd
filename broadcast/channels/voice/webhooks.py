"""Twilio voice webhooks (TwiML for answered calls, key presses, call status, missed calls), every one
signature-checked, and the voice metrics API route.

The webhook routes are async to read the form; database work runs in the thread pool (see webhooks.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from twilio.twiml.voice_response import VoiceResponse

from broadcast.bounds import DbId, parse_count
from broadcast.channels.twilio.signatures import verify_twilio
from broadcast.channels.voice.calls import CallReport, apply_call_status
from broadcast.channels.voice.menu import (
    call_twiml,
    gather_twiml,
    load_context,
    quiz_twiml,
    read_context,
    record_keypress,
)
from broadcast.channels.voice.missed import handle_missed_call
from broadcast.db import session_scope, utcnow
from broadcast.deps import SessionDep, SettingsDep
from broadcast.engagement.calls import voice_metrics
from broadcast.exceptions import EMPTY_RESPONSE, WEBHOOK_ERRORS, text_response

router = APIRouter(prefix="/voice", tags=["voice-webhooks"], responses=WEBHOOK_ERRORS)
api_router = APIRouter(prefix="/voice", tags=["voice"])
TWIML = "text/xml"
TWIML_ANSWER = text_response(TWIML, "TwiML for the call")
# A final status that beat the dispatcher's own record of the call waits a little; after that the
# voice dispatcher asks the provider (VOICE_STATUS_TIMEOUT_SECONDS), so nothing holds a request long.
EARLY_RETRY_SECONDS = 0.25
EARLY_RETRY_LIMIT = 6


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

    def build() -> str:
        engine = request.app.state.engine
        ctx = read_context(engine, settings, delivery_id) if delivery_id is not None else None
        with Session(engine) as session:  # used only when the clip cache has to be filled
            return call_twiml(session, settings, ctx, params.get("AnsweredBy"))

    return Response(await run_in_threadpool(build), media_type=TWIML)


@router.post("/gather", summary="Key press in the call's menu", response_class=Response, responses=TWIML_ANSWER)
async def gather(request: Request, settings: SettingsDep) -> Response:
    params = await _signed_form(request, settings)
    delivery_id = _delivery_id(request)
    round_text = request.query_params.get("n", "1")
    round_ = parse_count(round_text, maximum=100) or 1
    digit = params.get("Digits", "")[:1]

    def handle() -> str:
        with session_scope(request.app.state.engine) as session:
            ctx = load_context(session, settings, delivery_id) if delivery_id is not None else None
            if ctx is not None and params.get("CallSid"):
                record_keypress(session, ctx, call_sid=params["CallSid"], digit=digit, round_=round_,
                                at=utcnow())
            return gather_twiml(session, settings, ctx, digit, round_)

    return Response(await run_in_threadpool(handle), media_type=TWIML)


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

    for _ in range(EARLY_RETRY_LIMIT):
        if await run_in_threadpool(apply) != "early":
            break
        await asyncio.sleep(EARLY_RETRY_SECONDS)
    return Response(status_code=200)


@router.post("/incoming", summary="Missed-call number: reject (free for the caller) and call back",
             response_class=Response, responses=TWIML_ANSWER)
async def incoming(request: Request, settings: SettingsDep) -> Response:
    params = await _signed_form(request, settings)

    def handle() -> None:
        with session_scope(request.app.state.engine) as session:
            handle_missed_call(session, settings, params, now=utcnow())

    await run_in_threadpool(handle)
    response = VoiceResponse()
    response.reject(reason="busy")
    return Response(str(response), media_type=TWIML)


@api_router.get("/campaigns/{campaign_id}/metrics", summary="Voice call figures for a campaign",
                response_model=VoiceMetricsOut)
def campaign_voice_metrics(campaign_id: DbId, session: SessionDep, settings: SettingsDep) -> VoiceMetricsOut:
    return VoiceMetricsOut.model_validate(voice_metrics(session, settings, campaign_id))
