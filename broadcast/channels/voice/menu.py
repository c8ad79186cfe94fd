"""What a call says (TwiML) and what the keypad menu does: 1 hear again, 2 legal-aid callback, 9 stop calls;
a campaign with a quiz asks its questions first (keys 1–4, 1 yes / 2 no, digits then # for a number, * repeats)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select as sa_select
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from twilio.twiml.voice_response import VoiceResponse

from broadcast.campaigns.models import Campaign, CampaignStatus
from broadcast.channels.voice.clips import ClipRef, campaign_script, prompt, question_clip
from broadcast.channels.voice.policy import is_machine
from broadcast.config import Settings
from broadcast.contacts.models import ConsentSource, Contact
from broadcast.contacts.service import set_opt_out
from broadcast.db import utcnow
from broadcast.engagement.inbox import attach_question
from broadcast.events.models import EventKind
from broadcast.events.service import add_event_once
from broadcast.outbox.models import Delivery, InboundMessage
from broadcast.quiz.answers import keypad
from broadcast.quiz.models import SessionStatus
from broadcast.quiz.service import CampaignQuiz, closed, open_session, quizzes_of, record_answer, session_of

MENU_KEYS = ("1", "2", "9")
MAX_ROUNDS = 4  # a resident may hear the clip again a few times, not forever
GATHER_TIMEOUT = 6


@dataclass(frozen=True)
class CallContext:
    """What the TwiML endpoints need about one call, read in one query."""

    delivery_id: int
    campaign_id: int | None
    contact_id: int | None
    campaign_status: str | None
    machine_detection: str
    language: str
    body: str | None
    commune_code: str | None


def _context_query(delivery_id: int) -> Any:
    return (
        sa_select(col(Delivery.campaign_id), col(Delivery.contact_id), col(Delivery.body), col(Campaign.status),
                  col(Campaign.voice_machine_detection), col(Contact.language), col(Contact.commune_code))
        .select_from(Delivery)
        .outerjoin(Campaign, col(Campaign.id) == col(Delivery.campaign_id))
        .outerjoin(Contact, col(Contact.id) == col(Delivery.contact_id))
        .where(col(Delivery.id) == delivery_id, col(Delivery.channel) == "voice")
    )


def _context(settings: Settings, delivery_id: int, row: Any) -> CallContext | None:
    if row is None:
        return None
    campaign_id, contact_id, body, status, amd, language, commune = row
    return CallContext(delivery_id, campaign_id, contact_id, status,
                       amd or settings.voice_machine_detection, language or "vi", body, commune)


def load_context(session: Session, settings: Settings, delivery_id: int) -> CallContext | None:
    """The delivery, its campaign's state and the resident's language (None when unknown)."""
    return _context(settings, delivery_id, session.execute(_context_query(delivery_id)).first())


def read_context(engine: Engine, settings: Settings, delivery_id: int) -> CallContext | None:
    """load_context for the hot read path; on SQLite it reads outside a transaction, so answering a call
    never queues behind writers for the write lock that every SQLite transaction here takes."""
    if engine.dialect.name != "sqlite":
        with Session(engine) as session:
            return load_context(session, settings, delivery_id)
    compiled = _context_query(delivery_id).compile(dialect=engine.dialect)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(str(compiled), [compiled.params[name] for name in compiled.positiontup or []])
        return _context(settings, delivery_id, cursor.fetchone())
    finally:
        raw.close()


def _speak(response: Any, clip: ClipRef | None, text: str) -> None:
    """<Play> the clip, or without a rendered clip let Twilio read the text (Vietnamese voice)."""
    if clip is not None:
        response.play(clip.url)
    else:
        response.say(text, language="vi-VN")


def _main_clip(session: Session, settings: Settings, ctx: CallContext) -> tuple[ClipRef | None, str]:
    if ctx.campaign_id is None:  # a callback names its clip URL in the delivery's body
        body = ctx.body or ""
        if body.startswith(("http://", "https://")):
            return ClipRef(0, body, 0.0, None), ""
        return None, body
    script = campaign_script(session, settings, ctx.campaign_id, ctx.language)
    return script.clip, script.text or ""


def _menu(response: VoiceResponse, session: Session, settings: Settings, ctx: CallContext, round_: int) -> None:
    gather = response.gather(num_digits=1, timeout=GATHER_TIMEOUT, method="POST",
                             action=f"{settings.public_base_url}/voice/gather?d={ctx.delivery_id}&n={round_}")
    clip, text = prompt(session, settings, "menu", ctx.language)
    _speak(gather, clip, text)
    goodbye, text = prompt(session, settings, "goodbye", ctx.language)
    _speak(response, goodbye, text)
    response.hangup()


def _ending(session: Session, settings: Settings, ctx: CallContext | None, key: str) -> str:
    response = VoiceResponse()
    clip, text = prompt(session, settings, key, ctx.language if ctx else "vi")
    _speak(response, clip, text)
    response.hangup()
    return str(response)


def call_twiml(session: Session, settings: Settings, ctx: CallContext | None, answered_by: str | None) -> str:
    """The TwiML when the call is answered: the clip then the menu (or a short apology if cancelled)."""
    if ctx is None or ctx.campaign_status == CampaignStatus.cancelled:
        return _ending(session, settings, ctx, "cancelled")
    response = VoiceResponse()
    machine = is_machine(answered_by)
    if machine and ctx.machine_detection == "hang_up":
        response.hangup()
        return str(response)
    clip, text = _main_clip(session, settings, ctx)
    _speak(response, clip, text)
    if machine:  # leave_message: the clip goes on the voicemail, a machine cannot press keys
        response.hangup()
        return str(response)
    quiz = _quiz_for(session, ctx)
    if quiz is not None:
        _question(response, session, settings, ctx, quiz[0], quiz[1], 1)
    else:
        _menu(response, session, settings, ctx, 1)
    return str(response)


def _quiz_for(session: Session, ctx: CallContext) -> tuple[CampaignQuiz, int] | None:
    """The campaign's quiz and the question this resident is at, while they have questions left to answer."""
    if ctx.campaign_id is None or ctx.contact_id is None:
        return None
    cq = quizzes_of(session, [ctx.campaign_id]).get(ctx.campaign_id)
    if cq is None or closed(cq.quiz, utcnow()):
        return None
    row = session_of(session, ctx.campaign_id, ctx.contact_id)
    if row is None:
        return cq, 0
    return (cq, row.position) if row.status == SessionStatus.open else None


def _question(response: VoiceResponse, session: Session, settings: Settings, ctx: CallContext, cq: CampaignQuiz,
              position: int, attempt: int) -> None:
    action = f"{settings.public_base_url}/voice/quiz?d={ctx.delivery_id}&q={position}&n={attempt}"
    if cq.quiz.questions[position].kind == "number":
        gather = response.gather(finish_on_key="#", timeout=GATHER_TIMEOUT + 4, method="POST", action=action)
    else:
        gather = response.gather(num_digits=1, timeout=GATHER_TIMEOUT, method="POST", action=action)
    clip, text = question_clip(session, settings, cq.quiz, position)
    _speak(gather, clip, text)
    goodbye, text = prompt(session, settings, "goodbye", ctx.language)
    _speak(response, goodbye, text)
    response.hangup()


def quiz_twiml(session: Session, settings: Settings, ctx: CallContext | None, digits: str, position: int,
               attempt: int, *, at: datetime) -> str:
    """Answer a key press on quiz question `position`: record it, then the next question (or the menu when done);
    * repeats the question; a key that answers nothing repeats it once with a hint."""
    if ctx is None or ctx.campaign_status == CampaignStatus.cancelled:
        return _ending(session, settings, ctx, "cancelled")
    quiz = _quiz_for(session, ctx)
    response = VoiceResponse()
    if quiz is None or quiz[1] != position:  # answered already (or the quiz closed): carry on from where it is
        if quiz is not None:
            _question(response, session, settings, ctx, quiz[0], quiz[1], 1)
        else:
            _menu(response, session, settings, ctx, 1)
        return str(response)
    cq = quiz[0]
    if digits.strip("#") == "*":
        _question(response, session, settings, ctx, cq, position, attempt)
        return str(response)
    value = keypad(cq.quiz.questions[position], digits)
    if value is None:
        if attempt > 1:
            return _ending(session, settings, ctx, "goodbye")
        clip, text = prompt(session, settings, "quiz_invalid", ctx.language)
        _speak(response, clip, text)
        _question(response, session, settings, ctx, cq, position, attempt + 1)
        return str(response)
    assert ctx.campaign_id is not None and ctx.contact_id is not None
    row = session_of(session, ctx.campaign_id, ctx.contact_id) or open_session(
        session, ctx.campaign_id, ctx.contact_id, ctx.commune_code or "", channel="voice", at=at)
    record_answer(session, row, cq.quiz, value, channel="voice", message_id=None, at=at)
    if row.position < len(cq.quiz.questions):
        _question(response, session, settings, ctx, cq, row.position, 1)
    else:
        clip, text = prompt(session, settings, "quiz_done", ctx.language)
        _speak(response, clip, text)
        _menu(response, session, settings, ctx, 1)
    return str(response)


def gather_twiml(session: Session, settings: Settings, ctx: CallContext | None, digit: str, round_: int) -> str:
    """The TwiML answering a key press in menu round `round_`."""
    if ctx is None or ctx.campaign_status == CampaignStatus.cancelled:
        return _ending(session, settings, ctx, "cancelled")
    if digit == "2":
        return _ending(session, settings, ctx, "callback")
    if digit == "9":
        return _ending(session, settings, ctx, "opted_out")
    response = VoiceResponse()
    if round_ >= MAX_ROUNDS:
        return _ending(session, settings, ctx, "goodbye")
    if digit == "1":
        clip, text = _main_clip(session, settings, ctx)
        _speak(response, clip, text)
    _menu(response, session, settings, ctx, round_ + 1)
    return str(response)


def record_keypress(session: Session, ctx: CallContext, *, call_sid: str, digit: str, round_: int,
                    at: datetime) -> bool:
    """Record one key press (once per CallSid, digit and menu round) and act on it; True when new."""
    # Reaching the menu means the whole clip was heard.
    session.execute(update(Delivery).where(col(Delivery.id) == ctx.delivery_id)
                    .values(listened_share=1.0).execution_options(synchronize_session=False))
    if digit not in MENU_KEYS:
        return False
    new = add_event_once(session, kind=EventKind.keypress, dedupe_key=f"call:{call_sid}:key:{digit}:{round_}",
                         campaign_id=ctx.campaign_id, contact_id=ctx.contact_id, delivery_id=ctx.delivery_id,
                         commune_code=ctx.commune_code, occurred_at=at,
                         data={"digit": digit, "round": round_, "call_sid": call_sid})
    if not new:
        return False
    contact = session.get(Contact, ctx.contact_id) if ctx.contact_id else None
    if digit == "2":
        request_callback(session, ctx, contact, call_sid=call_sid, at=at)
    elif digit == "9" and contact is not None:
        set_opt_out(session, contact, channel="voice", opted_out=True, source=ConsentSource.call_keypad,
                    detail=f"Bấm phím 9 trong cuộc gọi {call_sid}")
        add_event_once(session, kind=EventKind.opt_out, dedupe_key=f"call:{call_sid}:opt_out",
                       campaign_id=ctx.campaign_id, contact_id=ctx.contact_id, delivery_id=ctx.delivery_id,
                       commune_code=ctx.commune_code, occurred_at=at, data={"channel": "voice"})
    return True


def request_callback(session: Session, ctx: CallContext, contact: Contact | None, *, call_sid: str,
                     at: datetime) -> None:
    """An inbox item for the legal-aid officers: this resident asked to be called back (once per call)."""
    sid = f"{call_sid}:callback"
    if session.exec(select(InboundMessage.id).where(InboundMessage.provider_sid == sid)).first() is not None:
        return
    message = InboundMessage(provider="twilio-voice", provider_sid=sid,
                             from_phone=contact.phone if contact else None, body="[Cuộc gọi] Bấm phím 2: "
                             "xin cán bộ trợ giúp pháp lý gọi lại", received_at=at,
                             contact_id=ctx.contact_id, campaign_id=ctx.campaign_id, classification="callback")
    session.add(message)
    session.flush()
    assert message.id is not None
    attach_question(session, message_id=message.id, contact_id=message.contact_id, from_phone=message.from_phone,
                    campaign_id=message.campaign_id, at=at)
