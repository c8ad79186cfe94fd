"""Offline engine: espeak-ng from the `espeakng-loader` wheel, driven through ctypes."""

from __future__ import annotations

import ctypes
import re
import threading
from typing import Any

import numpy as np

from broadcast.audio.tts.synth import AudioPart, SynthesisError, UnsupportedLanguage

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_CHARS_UTF8 = 1
_INITIALIZE_DONT_EXIT = 0x8000
_RATE, _PITCH = 1, 3
_POS_CHARACTER = 1
_SYNTH_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)

# Voice names shipped in espeak-ng-data per language; the first is the default.
VOICES: dict[str, tuple[str, ...]] = {"vi": ("vi-VN-x-south", "vi", "vi-VN-x-central")}

# libespeak-ng is a process-wide singleton with one callback: one synthesis at a time.
_lock = threading.Lock()
_state: dict[str, Any] = {}
_chunks: list[np.ndarray] = []


@_SYNTH_CB
def _on_audio(wav: Any, count: int, _events: Any) -> int:
    if wav and count > 0:
        _chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
    return 0


def _library() -> tuple[Any, int]:
    if "lib" in _state:
        return _state["lib"], _state["rate"]
    try:
        import espeakng_loader
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise SynthesisError("Thiếu gói espeakng-loader.", engine="espeak") from exc
    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CB]
    lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                 ctypes.c_uint, ctypes.c_uint, ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p]
    rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(),
                                 _INITIALIZE_DONT_EXIT)
    if rate <= 0:
        raise SynthesisError(f"espeak-ng không khởi động được (mã {rate}).", engine="espeak")
    lib.espeak_SetSynthCallback(_on_audio)
    _state.update(lib=lib, rate=rate)
    return lib, rate


class EspeakSynthesizer:
    """espeak-ng formant synthesis: robotic but intelligible, fast, needs no network."""

    name = "espeak"

    def __init__(self, *, rate_wpm: int = 145, pitch: int = 50) -> None:
        self.rate_wpm = rate_wpm
        self.pitch = pitch

    def voice_for(self, lang: str, voice: str = "") -> str:
        """The espeak voice name to use, or UnsupportedLanguage with a message for the officer."""
        voices = VOICES.get(lang)
        if not voices:
            raise UnsupportedLanguage(
                f"Bộ đọc ngoại tuyến espeak không có giọng cho ngôn ngữ '{lang}'; "
                "hãy dùng gTTS hoặc tải lên bản thu âm.", field="language")
        if voice and voice not in voices:
            raise UnsupportedLanguage(f"Giọng '{voice}' không có; chọn một trong: {', '.join(voices)}.",
                                      field="voice")
        return voice or voices[0]

    def synthesize(self, text: str, lang: str, voice: str = "") -> list[AudioPart]:
        """One part per paragraph, 22.05 kHz mono float32."""
        name = self.voice_for(lang, voice)
        parts: list[AudioPart] = []
        for paragraph in (p.strip() for p in re.split(r"\n\s*\n", text)):
            if not re.search(r"\w", paragraph):
                continue
            pcm, rate = self._speak(paragraph, name)
            if pcm.size == 0:
                raise SynthesisError("espeak-ng không tạo ra âm thanh.", engine=self.name)
            parts.append(AudioPart((pcm.astype(np.float32) / 32768.0), rate, self.name, paragraph,
                                   {"voice": name}))
        if not parts:
            raise SynthesisError("Không có chữ nào để đọc.", engine=self.name)
        return parts

    def _speak(self, text: str, voice: str) -> tuple[np.ndarray, int]:
        with _lock:
            lib, rate = _library()
            if lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise UnsupportedLanguage(f"Không nạp được giọng espeak '{voice}'.", field="voice")
            lib.espeak_SetParameter(_RATE, self.rate_wpm, 0)
            lib.espeak_SetParameter(_PITCH, self.pitch, 0)
            _chunks.clear()
            buf = ctypes.create_string_buffer(text.encode("utf-8"))
            err = lib.espeak_Synth(buf, len(buf), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            if err:
                raise SynthesisError(f"espeak-ng lỗi {err}.", engine=self.name)
            lib.espeak_Synchronize()
            pcm = np.concatenate(_chunks) if _chunks else np.zeros(0, np.int16)
            _chunks.clear()
            return pcm, rate
