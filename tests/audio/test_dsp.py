"""Processing chain: joined parts, repeats, chime, band-limit, loudness and true peak of the encoded MP3."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest
from scipy import signal

from broadcast.audio.processing.dsp import (
    ProcessingSettings,
    assemble,
    band_limit,
    chime,
    join_parts,
    trim_silence,
    true_peak_db,
)
from broadcast.audio.processing.encode import ClipTags, measure_mp3, read_tags
from broadcast.audio.processing.render import render_clip
from broadcast.audio.text.normalize import normalize_vi
from broadcast.audio.tts.espeak import EspeakSynthesizer
from broadcast.audio.tts.synth import AudioPart

SEED = Path("/work/shared/reference/seed/ca-mau-de-an-977-2024-plan.vi.txt")
TEXT = "Ủy ban nhân dân xã thông báo: từ ngày 11/8/2022, bà con tham gia Đề án 977 tại nhà văn hóa ấp."


def _tone(freq: float, seconds: float, rate: int, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


def test_trim_and_join_resamples_and_trims_each_part() -> None:
    pad = np.zeros(24000, np.float32)
    part = AudioPart(np.concatenate([pad, _tone(440, 1.0, 24000), pad]), 24000, "gtts")
    joined = join_parts([part, part], 22050, 0.2)
    assert len(joined) / 22050 == pytest.approx(1.0 + 0.2 + 1.0 + 4 * 0.03, abs=0.02)  # 30 ms kept per edge
    assert trim_silence(np.zeros(100, np.float32), 8000).size == 0


def test_true_peak_catches_intersample_peaks() -> None:
    rate = 48000
    x = np.sin(2 * np.pi * (rate / 4) * np.arange(4800) / rate + np.pi / 4).astype(np.float32)
    assert np.max(np.abs(x)) == pytest.approx(0.7071, abs=1e-3)  # samples miss the crest
    assert true_peak_db(x) == pytest.approx(0.0, abs=0.3)
    speech = band_limit(np.random.default_rng(1).standard_normal(22050).astype(np.float32) * 0.1, 22050, 200, 5000)
    reference = 20 * np.log10(np.max(np.abs(signal.resample_poly(speech.astype(np.float64), 4, 1))))
    assert true_peak_db(speech) == pytest.approx(reference, abs=0.1)


def test_band_limit_removes_rumble_and_hiss() -> None:
    rate = 22050
    low, mid, high = _tone(60, 1, rate), _tone(1000, 1, rate), _tone(9000, 1, rate)
    def level(x: np.ndarray) -> float:
        return float(np.sqrt(np.mean(band_limit(x, rate, 200, 5000)[2000:-2000] ** 2)))
    assert level(mid) > 0.3 and level(low) < 0.02 and level(high) < 0.01


def test_repeats_and_chime_lengthen_the_clip() -> None:
    parts = EspeakSynthesizer().synthesize(normalize_vi(TEXT), "vi")
    once = assemble(parts, ProcessingSettings())
    twice = assemble(parts, ProcessingSettings(repeats=2, repeat_pause_seconds=2.0))
    chimed = assemble(parts, ProcessingSettings(chime=True))
    speech = len(once) / 22050 - 1.3
    assert len(twice) / 22050 == pytest.approx(1.3 + 2 * speech + 2.0, abs=0.05)
    assert len(chimed) / 22050 == pytest.approx(len(once) / 22050 + 2 * len(chime(22050)) / 22050 + 0.4, abs=0.05)


@pytest.mark.parametrize(
    ("text", "settings"),
    [
        (TEXT, ProcessingSettings()),
        (TEXT, ProcessingSettings(chime=True, repeats=2)),
        (SEED.read_text(encoding="utf-8")[:1500], ProcessingSettings()),
        (TEXT, ProcessingSettings(target_lufs=-23.0, bitrate_kbps=96)),
    ],
)
def test_rendered_mp3_meets_loudness_and_peak_targets(tmp_path: Path, text: str,
                                                       settings: ProcessingSettings) -> None:
    normalized = normalize_vi(text)
    parts = EspeakSynthesizer().synthesize(normalized, "vi")
    path = tmp_path / "clip.mp3"
    tags = ClipTags(title="Thông báo Đề án 977", campaign="Đề án 977", commune="Phường An Xuyên",
                    language="vi", day=date(2024, 3, 1), engine="espeak", level="priority")
    render_clip(parts, settings, path, tags)
    measured = measure_mp3(path)  # read back from the file on disk
    words = len(normalized.split())
    per_read = words / 3.5  # espeak at 145 wpm speaks ~2.4 syllables per second; allow a wide band
    assert per_read * 0.5 * settings.repeats < measured.duration_seconds < per_read * 1.5 * settings.repeats + 8
    assert abs(measured.loudness_lufs - settings.target_lufs) <= 1.0
    assert measured.true_peak_dbtp <= settings.true_peak_dbtp
    assert measured.size_bytes == path.stat().st_size
    assert measured.sample_rate == settings.sample_rate
    tags_read = read_tags(path)
    assert tags_read["TIT2"] == "Thông báo Đề án 977"
    assert tags_read["TALB"] == "Đề án 977"
    assert tags_read["TLAN"] == "vie"
    assert tags_read["TDRC"] == "2024-03-01"
    assert tags_read["TXXX:commune"] == "Phường An Xuyên"
    assert tags_read["TXXX:bulletin_level"] == "priority"
    bitrate = path.stat().st_size * 8 / measured.duration_seconds / 1000
    assert bitrate == pytest.approx(settings.bitrate_kbps, rel=0.1)  # constant bitrate
