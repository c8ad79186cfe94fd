"""Engine selection: gtts, espeak, or auto (gTTS, falling back to espeak when Google is unreachable)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from broadcast.audio.tts.espeak import EspeakSynthesizer
from broadcast.audio.tts.gtts import GttsSynthesizer
from broadcast.audio.tts.synth import AudioPart, EngineUnavailable, Synthesizer
from broadcast.exceptions import ValidationFailed

log = logging.getLogger(__name__)

ENGINE_NAMES = ("gtts", "espeak", "auto")


class AutoSynthesizer:
    """gTTS first; on EngineUnavailable use the offline engine, and skip Google for a cool-down period."""

    name = "auto"

    def __init__(
        self,
        online: Synthesizer,
        offline: Synthesizer,
        *,
        cooldown_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.online = online
        self.offline = offline
        self.cooldown_seconds = cooldown_seconds
        self.clock = clock
        self._online_down_until = float("-inf")

    def synthesize(self, text: str, lang: str, voice: str = "") -> list[AudioPart]:
        """Every part of one result comes from one engine (never a mix of voices in a clip)."""
        if self.clock() >= self._online_down_until:
            try:
                return self.online.synthesize(text, lang, "")
            except EngineUnavailable as exc:
                log.warning("online TTS unreachable, falling back to %s: %s", self.offline.name, exc)
                self._online_down_until = self.clock() + self.cooldown_seconds
        try:
            return self.offline.synthesize(text, lang, voice)
        except ValidationFailed as exc:
            raise EngineUnavailable(
                f"Google TTS không truy cập được và bộ đọc ngoại tuyến không hỗ trợ: {exc.message}",
                engine="auto") from None


def make_synthesizer(kind: str, *, gtts_endpoint: str | None = None,
                     sleep: Callable[[float], None] = time.sleep) -> Synthesizer:
    """Build the engine named by TTS_ENGINE (`gtts`, `espeak` or `auto`)."""
    if kind == "espeak":
        return EspeakSynthesizer()
    if kind == "gtts":
        return GttsSynthesizer(endpoint=gtts_endpoint, sleep=sleep)
    if kind == "auto":
        # In auto mode a dead network should cost seconds, not minutes: fewer retries, short connect timeout.
        online = GttsSynthesizer(endpoint=gtts_endpoint, timeout=(3.0, 15.0), retries=1, sleep=sleep)
        return AutoSynthesizer(online, EspeakSynthesizer())
    raise ValidationFailed(f"Bộ đọc '{kind}' không có; chọn gtts, espeak hoặc auto.", field="engine")
