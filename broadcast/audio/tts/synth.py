"""The Synthesizer Protocol, decoded audio parts, synthesis errors and decoding of MP3/WAV bytes."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import soundfile as sf

from broadcast.exceptions import BroadcastError, ValidationFailed

Samples = np.ndarray  # float32, mono, in [-1, 1]


class SynthesisError(BroadcastError):
    """The engine answered but produced no usable audio."""

    status_code = 502


class EngineUnavailable(SynthesisError):
    """The engine could not be reached (network, rate limit, upstream outage): another may be tried."""

    status_code = 503


class UnsupportedLanguage(ValidationFailed):
    """The engine has no voice for this language."""


@dataclass(frozen=True)
class AudioPart:
    """One decoded piece of speech: mono float32 samples, their rate, and the engine that made them."""

    samples: Samples
    sample_rate: int
    engine: str
    text: str = ""
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate if self.sample_rate else 0.0


@runtime_checkable
class Synthesizer(Protocol):
    """A text-to-speech engine; returns decoded parts, never joined MP3 bytes."""

    name: str

    def synthesize(self, text: str, lang: str, voice: str = "") -> list[AudioPart]:
        """Speak `text` (already normalised) in `lang`, optionally with a named voice."""
        ...


def decode_audio(data: bytes, *, engine: str, text: str = "") -> AudioPart:
    """Decode an engine's MP3/WAV/FLAC/OGG bytes into one mono float32 part (each part separately, never joined).

    Officers' uploads are decoded by broadcast.audio.processing.recordings instead, in a bounded process.
    """
    if not data:
        raise SynthesisError("Tệp âm thanh rỗng.", engine=engine)
    try:
        samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except sf.LibsndfileError as exc:  # its str() embeds the repr of the BytesIO: keep only the reason
        raise SynthesisError(f"Không đọc được âm thanh: {exc.error_string}", engine=engine) from None
    except (RuntimeError, TypeError):
        raise SynthesisError("Không đọc được âm thanh: định dạng không nhận ra.", engine=engine) from None
    mono = samples.mean(axis=1).astype(np.float32) if samples.shape[1] > 1 else samples[:, 0]
    if mono.size == 0:
        raise SynthesisError("Tệp âm thanh không có mẫu nào.", engine=engine)
    return AudioPart(np.ascontiguousarray(mono), int(rate), engine, text)


def split_clauses(text: str, max_chars: int = 100) -> list[str]:
    """Cut text into chunks of at most `max_chars`, preferring sentence, then clause, then word boundaries."""
    chunks: list[str] = []
    for sentence in re.split(r"(?<=[.!?;:])\s+|\n+", text):
        sentence = sentence.strip()
        if not sentence:
            continue
        if len(sentence) <= max_chars:
            chunks.append(sentence)
            continue
        current = ""
        for clause in re.split(r"(?<=,)\s+", sentence):
            for piece in _split_words(clause, max_chars):
                joined = f"{current} {piece}".strip()
                if len(joined) <= max_chars and (not current or current.endswith(",")):
                    current = joined
                else:
                    if current:
                        chunks.append(current)
                    current = piece
        if current:
            chunks.append(current)
    return [c for c in chunks if re.search(r"\w", c)]


def _split_words(clause: str, max_chars: int) -> list[str]:
    if len(clause) <= max_chars:
        return [clause]
    pieces: list[str] = []
    current = ""
    for word in clause.split():
        if current and len(current) + 1 + len(word) > max_chars:
            pieces.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    if current:
        pieces.append(current)
    return pieces
