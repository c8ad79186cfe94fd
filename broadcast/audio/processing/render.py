"""The whole processing chain for decoded parts: assemble, master, encode, verify, tag, write."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from broadcast.audio.processing.dsp import ProcessingSettings, assemble, correct
from broadcast.audio.processing.encode import ClipTags, Measurement, encode_mp3, measure_mp3, write_clip
from broadcast.audio.tts.synth import AudioPart, SynthesisError

# Re-encode once when the MP3 lands further than this from the loudness target.
LOUDNESS_TOLERANCE_LU = 0.25


def render_mp3(parts: list[AudioPart], settings: ProcessingSettings) -> tuple[bytes, Measurement]:
    """Master the parts and encode them, measuring the encoded MP3 and correcting once if needed."""
    rate = settings.sample_rate
    x = assemble(parts, settings)
    if x.size == 0:
        raise SynthesisError("Không có âm thanh để xử lý.")
    mp3 = encode_mp3(x, rate, settings.bitrate_kbps)
    measured = measure_mp3(mp3)
    if abs(measured.loudness_lufs - settings.target_lufs) > LOUDNESS_TOLERANCE_LU:
        x = correct(x, rate, settings, measured.loudness_lufs)
        mp3 = encode_mp3(x, rate, settings.bitrate_kbps)
        measured = measure_mp3(mp3)
    return mp3, measured


def render_clip(parts: list[AudioPart], settings: ProcessingSettings, path: Path,
                tags: ClipTags) -> Measurement:
    """Render parts into a tagged MP3 at `path`; returns what the encoded audio measured."""
    mp3, measured = render_mp3(parts, settings)
    size = write_clip(path, mp3, tags)
    return replace(measured, size_bytes=size)
