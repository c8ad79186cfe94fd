"""What a call says while the database does not answer: short clips rendered ahead of time into
MEDIA_DIR/voice/offline and served from there, so neither choosing nor playing them needs the database.

A call answered during an outage hears an apology (and is called again later, see calls.py); a key press
is journaled and answered with its usual words (callback, stop calls) or the apology.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

from twilio.twiml.voice_response import VoiceResponse

from broadcast.audio.processing.encode import ClipTags
from broadcast.audio.processing.render import render_clip
from broadcast.audio.service import SynthesizerFactory, processing_for
from broadcast.audio.text.normalize import normalize_text
from broadcast.audio.tts.engines import make_synthesizer
from broadcast.channels.voice.clips import PROMPTS
from broadcast.config import Settings

log = logging.getLogger(__name__)
OFFLINE_PROMPTS: dict[str, str] = {
    "outage": "Xin lỗi bà con, hệ thống đang tạm gián đoạn. Chúng tôi sẽ gọi lại cho bà con sau. Xin cảm ơn.",
    "callback": PROMPTS["callback"]["vi"],
    "opted_out": PROMPTS["opted_out"]["vi"],
}


def offline_path(settings: Settings, key: str) -> Path:
    return Path(settings.media_dir) / "voice" / "offline" / f"{key}-vi.mp3"


def render_offline_clips(settings: Settings, *, factory: SynthesizerFactory = make_synthesizer) -> int:
    """Render the clips not on disk yet (no database involved); returns how many are ready."""
    ready = 0
    for key, text in OFFLINE_PROMPTS.items():
        path = offline_path(settings, key)
        if not path.exists():
            parts = factory(settings.tts_engine).synthesize(normalize_text(text, "vi"), "vi", "")
            render_clip(parts, processing_for(settings), path,
                        ClipTags(title=f"Lời nhắc khi gián đoạn: {key}", day=date.today(), engine=parts[0].engine))
        ready += 1
    return ready


def offline_twiml(settings: Settings, key: str) -> str:
    """Play the clip (or, not rendered yet, let Twilio read its text) and hang up."""
    response = VoiceResponse()
    if offline_path(settings, key).exists():
        response.play(f"{settings.public_base_url}/voice/offline/{key}.mp3")
    else:
        response.say(OFFLINE_PROMPTS[key], language="vi-VN")
    response.hangup()
    return str(response)
