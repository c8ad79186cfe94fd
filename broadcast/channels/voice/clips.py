"""What a call plays: the campaign's rendered voice clip per language, and the menu prompts as clips.

Clips are content-addressed (audio/service.py), so the campaign's voice clip is found by recomputing
the hash campaign_audio() gives its voice script. Lookups are cached briefly: the TwiML endpoints
must answer in milliseconds, and a campaign's approved script does not change while it is sent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcast.audio.models import AudioClip, ClipStatus
from broadcast.audio.radio.feeds import clip_url
from broadcast.audio.service import (
    SynthesizerFactory,
    clip_states,
    content_hash,
    processing_for,
    render_clip_now,
    request_clip,
    spoken_script,
)
from broadcast.audio.text.normalize import normalize_text
from broadcast.audio.text.pronunciation import load_dictionary
from broadcast.audio.tts.engines import ENGINE_NAMES, make_synthesizer
from broadcast.campaigns.models import Campaign, CampaignContent, ChannelKind
from broadcast.config import Settings
from broadcast.quiz.definition import QuizDef, parse, question_speech

log = logging.getLogger(__name__)
CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class ClipRef:
    """A ready clip a call can <Play>."""

    id: int
    url: str
    duration: float
    campaign_id: int | None


@dataclass(frozen=True)
class Script:
    """What a campaign call plays: a clip, or (fallback) text for <Say>; `pending` while rendering."""

    clip: ClipRef | None
    text: str | None
    pending: bool = False


# Menu and answers spoken by the call, per language. espeak has no Khmer voice: Khmer prompts are
# rendered only with gTTS (TTS_ENGINE gtts/auto); otherwise Khmer speakers hear the Vietnamese prompt.
PROMPTS: dict[str, dict[str, str]] = {
    "menu": {
        "vi": "Để nghe lại, bấm phím 1. Để được cán bộ trợ giúp pháp lý gọi lại, bấm phím 2. "
              "Để không nhận cuộc gọi thông báo nữa, bấm phím 9.",
        "km": "ចុចលេខ ១ ដើម្បីស្តាប់ម្តងទៀត។ ចុចលេខ ២ ដើម្បីឱ្យមន្ត្រីជំនួយផ្លូវច្បាប់ហៅមកវិញ។ "
              "ចុចលេខ ៩ ដើម្បីឈប់ទទួលការហៅ។",
    },
    "callback": {
        "vi": "Cảm ơn bà con. Cán bộ trợ giúp pháp lý sẽ gọi lại cho bà con sớm.",
        "km": "សូមអរគុណ។ មន្ត្រីជំនួយផ្លូវច្បាប់នឹងហៅមកលោកអ្នកវិញឆាប់ៗនេះ។",
    },
    "opted_out": {
        "vi": "Bà con sẽ không nhận cuộc gọi thông báo nữa. Xin cảm ơn.",
        "km": "លោកអ្នកនឹងមិនទទួលការហៅជូនដំណឹងទៀតទេ។ សូមអរគុណ។",
    },
    "cancelled": {
        "vi": "Xin lỗi, thông báo này đã được thu hồi. Xin cảm ơn bà con.",
        "km": "សូមអភ័យទោស សេចក្តីជូនដំណឹងនេះត្រូវបានលុបចោល។ សូមអរគុណ។",
    },
    "goodbye": {"vi": "Xin cảm ơn bà con đã nghe.", "km": "សូមអរគុណដែលបានស្តាប់។"},
    "quiz_invalid": {"vi": "Phím bấm chưa đúng. Xin bà con nghe lại câu hỏi.",
                     "km": "ចុចលេខមិនត្រឹមត្រូវ។ សូមស្តាប់សំណួរម្តងទៀត។"},
    "quiz_done": {"vi": "Cảm ơn bà con đã trả lời các câu hỏi.", "km": "សូមអរគុណដែលបានឆ្លើយសំណួរ។"},
}


def prompt_title(key: str, language: str) -> str:
    return f"Lời nhắc cuộc gọi: {key} ({language})"


class ClipCache:
    """Small time-bounded cache shared by the TwiML endpoints and the dispatcher (thread-safe)."""

    def __init__(self, ttl: float = CACHE_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.clock = ttl, clock
        self._lock = threading.Lock()
        self._data: dict[object, tuple[float, object]] = {}

    def get(self, key: object, load: Callable[[], object]) -> object:
        now = self.clock()
        with self._lock:
            hit = self._data.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        value = load()
        with self._lock:
            self._data[key] = (now, value)
        return value


CACHE = ClipCache()


def _ref(settings: Settings, clip: AudioClip) -> ClipRef:
    assert clip.id is not None
    return ClipRef(clip.id, clip_url(settings, clip), float(clip.duration_seconds or 0.0), clip.campaign_id)


def _load_script(session: Session, settings: Settings, campaign_id: int, language: str) -> Script:
    contents = {(c.channel, c.language): c for c in session.exec(
        select(CampaignContent).where(col(CampaignContent.campaign_id) == campaign_id,
                                      col(CampaignContent.channel).in_([ChannelKind.voice.value,
                                                                        ChannelKind.loudspeaker.value])))}
    dictionary = load_dictionary(settings.media_dir)
    text: str | None = None
    pending = False
    # The resident's language first, then Vietnamese (what most Khmer speakers in Cà Mau also understand);
    # the voice script first, then the loudspeaker one (a campaign may have only that).
    for lang in dict.fromkeys([language, "vi"]):
        for channel in (ChannelKind.voice.value, ChannelKind.loudspeaker.value):
            content = contents.get((channel, lang))
            if content is None:
                continue
            body = content.body
            text = text or body
            loud = channel == ChannelKind.loudspeaker.value
            processing = processing_for(settings, repeats=2 if loud else 1, chime=loud)
            normalized = spoken_script(content, dictionary)
            hashes = [content_hash(normalized, lang, engine, "", processing) for engine in ENGINE_NAMES]
            for clip in session.exec(select(AudioClip).where(col(AudioClip.content_hash).in_(hashes))).all():
                if clip.status == ClipStatus.ready:
                    return Script(_ref(settings, clip), body)
                if clip.status in (ClipStatus.pending, ClipStatus.rendering):
                    pending = True
    return Script(None, text, pending)


def campaign_script(session: Session, settings: Settings, campaign_id: int, language: str) -> Script:
    """The clip (or the <Say> fallback text) a campaign's call plays to a resident speaking `language`."""
    value = CACHE.get(("script", settings.public_base_url, campaign_id, language),
                      lambda: _load_script(session, settings, campaign_id, language))
    assert isinstance(value, Script)
    return value


def _load_prompts(session: Session, settings: Settings) -> dict[tuple[str, str], ClipRef]:
    titles = {prompt_title(k, lang): (k, lang) for k, texts in PROMPTS.items() for lang in texts}
    found: dict[tuple[str, str], ClipRef] = {}
    rows = session.exec(select(AudioClip).where(col(AudioClip.title).in_(list(titles)),
                                                col(AudioClip.status) == ClipStatus.ready)
                        .order_by(col(AudioClip.id))).all()
    for clip in rows:
        found[titles[clip.title]] = _ref(settings, clip)
    return found


def prompt(session: Session, settings: Settings, key: str, language: str) -> tuple[ClipRef | None, str]:
    """The prompt clip in `language` (else the Vietnamese one), and its text for a <Say> fallback."""
    value = CACHE.get(("prompts", settings.public_base_url), lambda: _load_prompts(session, settings))
    assert isinstance(value, dict)
    texts = PROMPTS[key]
    for lang in dict.fromkeys([language, "vi"]):
        if (key, lang) in value:
            return value[(key, lang)], texts.get(lang, texts["vi"])
    return None, texts["vi"]


def render_prompts(engine: Engine, settings: Settings, *, factory: SynthesizerFactory = make_synthesizer) -> int:
    """Render the menu prompts once (a no-op when they exist); returns how many are ready."""
    languages = ["vi"] if settings.tts_engine == "espeak" else ["vi", "km"]
    ids: list[int] = []
    with Session(engine) as session:
        for key, texts in PROMPTS.items():
            for lang in languages:
                clip = request_clip(session, settings, text=texts[lang], language=lang,
                                    title=prompt_title(key, lang))
                if clip.id is not None:
                    ids.append(clip.id)
        session.commit()
    ready = 0
    for clip_id in ids:
        try:
            if render_clip_now(engine, settings, clip_id, factory=factory).status == ClipStatus.ready:
                ready += 1
        except Exception as exc:  # a Khmer prompt without gTTS: calls fall back to the Vietnamese one
            log.warning("voice prompt clip %s not rendered: %s", clip_id, exc)
    clear_cache()
    return ready


def clear_cache() -> None:
    """Forget cached lookups (after rendering, and between tests)."""
    global CACHE
    CACHE = ClipCache(CACHE.ttl, CACHE.clock)


def clip_readiness(session: Session, settings: Settings, campaign_id: int) -> list[tuple[str, str]]:
    """(language, clip status or "missing") of what calls play: the voice script, else the loudspeaker one."""
    voice, loud_channel = ChannelKind.voice.value, ChannelKind.loudspeaker.value
    contents = session.exec(select(CampaignContent).where(CampaignContent.campaign_id == campaign_id))
    bodies = {(c.channel, c.language): c for c in contents if c.channel in (voice, loud_channel)}
    dictionary = load_dictionary(settings.media_dir)
    states: list[tuple[str, str]] = []
    for language in sorted({lang for _, lang in bodies}):
        channel = voice if (voice, language) in bodies else loud_channel
        loud = channel == loud_channel  # the same recipe as campaign_audio(), so the same content hash
        normalized = spoken_script(bodies[(channel, language)], dictionary)
        processing = processing_for(settings, repeats=2 if loud else 1, chime=loud)
        hashes = [content_hash(normalized, language, engine, "", processing) for engine in ENGINE_NAMES]
        found = clip_states(session, hashes)
        order = (ClipStatus.ready, ClipStatus.rendering, ClipStatus.pending, ClipStatus.failed)
        states.append((language, next((str(s) for s in order if s in found), "missing")))
    return states


def quiz_clips(session: Session, settings: Settings, campaign: Campaign) -> list[AudioClip]:
    """Ask for the clips of a voice campaign's quiz questions (one per question, in Vietnamese)."""
    quiz = parse(campaign.quiz)
    if quiz is None or ChannelKind.voice not in campaign.channels:
        return []
    return [request_clip(session, settings, text=question_speech(quiz, i), language="vi", campaign_id=campaign.id,
                         title=f"{campaign.title}: câu hỏi {i + 1}") for i in range(len(quiz.questions))]


def _load_question(session: Session, settings: Settings, text: str) -> ClipRef | None:
    normalized = normalize_text(text, "vi", load_dictionary(settings.media_dir))
    processing = processing_for(settings)
    hashes = [content_hash(normalized, "vi", engine, "", processing) for engine in ENGINE_NAMES]
    clip = session.exec(select(AudioClip).where(col(AudioClip.content_hash).in_(hashes),
                                                col(AudioClip.status) == ClipStatus.ready)).first()
    return _ref(settings, clip) if clip is not None else None


def question_clip(session: Session, settings: Settings, quiz: QuizDef, index: int) -> tuple[ClipRef | None, str]:
    """The rendered clip of a quiz question (None: read it with <Say>), and its text."""
    text = question_speech(quiz, index)
    value = CACHE.get(("question", settings.public_base_url, text), lambda: _load_question(session, settings, text))
    assert value is None or isinstance(value, ClipRef)
    return value, text
