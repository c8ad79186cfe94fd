"""Online engine: Google Translate TTS through gTTS, one request per clause, with timeouts and retries."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any

from gtts import gTTS, gTTSError
from gtts.lang import tts_langs

from broadcast.audio.tts.synth import (
    AudioPart,
    EngineUnavailable,
    SynthesisError,
    UnsupportedLanguage,
    decode_audio,
    split_clauses,
)

log = logging.getLogger(__name__)

# Google's Vietnamese and Khmer voices do not change with the domain; the local one is closest.
_TLD = {"vi": "com.vn", "km": "com.kh"}
# A "voice" for gTTS is the Google domain it calls: only these, never a host a request names.
GTTS_VOICES = ("com.vn", "com.kh", "com")


class _EndpointTTS(gTTS):
    """gTTS with an optional endpoint override (a Google-compatible server, e.g. on loopback in tests)."""

    def __init__(self, *args: Any, endpoint: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._endpoint = endpoint

    def _prepare_requests(self) -> list[Any]:
        prepared = super()._prepare_requests()
        if self._endpoint:
            for request in prepared:
                request.prepare_url(self._endpoint, None)
        return prepared


def _retryable(exc: gTTSError) -> bool:
    rsp = exc.rsp
    return rsp is None or rsp.status_code == 429 or rsp.status_code >= 500


class GttsSynthesizer:
    """Google TTS: natural voices for vi and km; needs the network, so always bounded by timeouts."""

    name = "gtts"

    def __init__(
        self,
        *,
        endpoint: str | None = None,
        timeout: float | tuple[float, float] = (5.0, 20.0),
        retries: int = 3,
        base_delay: float = 1.0,
        max_chars: int = 100,
        slow: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.retries = retries
        self.base_delay = base_delay
        self.max_chars = max_chars
        self.slow = slow
        self.sleep = sleep
        self.requests_made = 0

    def synthesize(self, text: str, lang: str, voice: str = "") -> list[AudioPart]:
        """One decoded part per clause; raises EngineUnavailable when Google cannot be reached."""
        if lang not in tts_langs():
            raise UnsupportedLanguage(f"gTTS không hỗ trợ ngôn ngữ '{lang}'.", field="language")
        chunks = split_clauses(text, self.max_chars)
        if not chunks:
            raise SynthesisError("Không có chữ nào để đọc.", engine=self.name)
        if voice and voice not in GTTS_VOICES:
            raise UnsupportedLanguage(f"Giọng '{voice}' không có; chọn một trong: {', '.join(GTTS_VOICES)}.",
                                      field="voice")
        tld = voice or _TLD.get(lang, "com")
        return [self._chunk(chunk, lang, tld) for chunk in chunks]

    def _chunk(self, chunk: str, lang: str, tld: str) -> AudioPart:
        """Synthesise one clause, retrying that clause only (not the whole text) on transient errors."""
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                delay = self.base_delay * 2 ** (attempt - 1) * (1 + random.random() / 2)
                log.info("gTTS retry %d in %.1fs after %s", attempt, delay, last)
                self.sleep(delay)
            tts = _EndpointTTS(chunk, lang=lang, tld=tld, slow=self.slow, lang_check=False,
                               timeout=self.timeout, endpoint=self.endpoint)
            self.requests_made += 1
            try:
                data = b"".join(tts.stream())
            except gTTSError as exc:
                if not _retryable(exc):
                    raise SynthesisError(f"Google TTS từ chối: {exc}", engine=self.name) from None
                last = exc
                continue
            if not data:  # a 200 reply without audio: Google sometimes answers empty under load
                last = SynthesisError("Google TTS trả lời rỗng.", engine=self.name)
                continue
            try:
                return decode_audio(data, engine=self.name, text=chunk)
            except SynthesisError as exc:
                last = exc
        raise EngineUnavailable(f"Không kết nối được Google TTS sau {self.retries + 1} lần thử: {last}",
                                engine=self.name)
