"""Engines: espeak offline, gTTS against a loopback Google, auto fallback, uploads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from broadcast.audio.processing.recordings import decode_recording
from broadcast.audio.tts.engines import AutoSynthesizer, make_synthesizer
from broadcast.audio.tts.espeak import EspeakSynthesizer
from broadcast.audio.tts.gtts import GttsSynthesizer
from broadcast.audio.tts.synth import (
    EngineUnavailable,
    SynthesisError,
    Synthesizer,
    UnsupportedLanguage,
    decode_audio,
    split_clauses,
)
from broadcast.config import load_settings
from broadcast.exceptions import ValidationFailed
from tests.audio.conftest import FakeGoogle

LONG = ("Ủy ban nhân dân xã thông báo, từ ngày mười một tháng tám, bà con không được đốt rơm rạ "
        "gần khu dân cư, không xả rác xuống kênh rạch, và phải đăng ký tạm trú với công an xã "
        "trong vòng ba ngày kể từ khi đến.")


def test_split_clauses_cuts_at_clause_boundaries() -> None:
    chunks = split_clauses(LONG, 100)
    assert all(len(c) <= 100 for c in chunks)
    assert " ".join(chunks) == LONG
    assert all(c.endswith((",", ".")) for c in chunks[:-1]), chunks


def test_espeak_speaks_vietnamese_with_the_southern_voice() -> None:
    engine = EspeakSynthesizer()
    assert isinstance(engine, Synthesizer)
    parts = engine.synthesize("Xin chào bà con.\n\nHôm nay họp tổ dân phố.", "vi")
    assert len(parts) == 2
    assert parts[0].meta["voice"] == "vi-VN-x-south"
    assert parts[0].samples.dtype == np.float32 and parts[0].sample_rate == 22050
    assert 0.5 < parts[0].duration < 4
    assert np.abs(parts[0].samples).max() > 0.1


def test_espeak_has_no_khmer_and_says_so() -> None:
    with pytest.raises(UnsupportedLanguage, match="km"):
        EspeakSynthesizer().synthesize("សួស្តី", "km")


def _gtts(fake: FakeGoogle, delays: list[float], **kw: object) -> GttsSynthesizer:
    return GttsSynthesizer(endpoint=fake.url, sleep=delays.append, **kw)  # type: ignore[arg-type]


def test_gtts_one_request_per_clause_each_part_decoded(fake_google: FakeGoogle) -> None:
    delays: list[float] = []
    parts = _gtts(fake_google, delays).synthesize(LONG, "vi")
    assert fake_google.texts == split_clauses(LONG, 100)
    assert len(parts) == len(fake_google.texts) >= 3
    assert all(p.engine == "gtts" and p.sample_rate == 24000 for p in parts)
    # each part decodes to its own full length (byte-joined MP3s with Xing headers would not)
    assert all(0.75 < p.duration < 0.9 for p in parts)
    assert delays == []


def test_gtts_retries_429_and_5xx_then_succeeds(fake_google: FakeGoogle) -> None:
    fake_google.script = [429, 503, 500]
    delays: list[float] = []
    parts = _gtts(fake_google, delays, retries=3, base_delay=1.0).synthesize("Xin chào bà con.", "vi")
    assert len(parts) == 1 and len(fake_google.texts) == 4
    assert len(delays) == 3 and delays[0] < delays[1] < delays[2]  # exponential backoff


def test_gtts_does_not_retry_403(fake_google: FakeGoogle) -> None:
    fake_google.script = [403]
    with pytest.raises(SynthesisError) as err:
        _gtts(fake_google, []).synthesize("Xin chào.", "vi")
    assert not isinstance(err.value, EngineUnavailable)
    assert len(fake_google.texts) == 1


def test_gtts_empty_and_garbage_replies_are_retried(fake_google: FakeGoogle) -> None:
    fake_google.script = ["empty", "garbage"]
    parts = _gtts(fake_google, [], retries=2).synthesize("Xin chào.", "vi")
    assert len(parts) == 1 and len(fake_google.texts) == 3


def test_gtts_gives_up_as_unavailable(fake_google: FakeGoogle) -> None:
    fake_google.script = [500, 502, 429]
    with pytest.raises(EngineUnavailable):
        _gtts(fake_google, [], retries=2).synthesize("Xin chào.", "vi")


def test_gtts_times_out_instead_of_hanging(fake_google: FakeGoogle) -> None:
    fake_google.script = ["hang"]
    parts = _gtts(fake_google, [], timeout=(1.0, 0.3), retries=1).synthesize("Xin chào.", "vi")
    assert len(parts) == 1 and len(fake_google.texts) == 2


def test_gtts_serves_khmer(fake_google: FakeGoogle) -> None:
    parts = _gtts(fake_google, []).synthesize("សួស្តី បងប្អូន", "km")
    assert parts and parts[0].engine == "gtts"


def test_auto_falls_back_to_espeak_and_records_it(fake_google: FakeGoogle) -> None:
    now = [0.0]
    fake_google.script = [503, 503]
    auto = AutoSynthesizer(_gtts(fake_google, [], retries=1), EspeakSynthesizer(), clock=lambda: now[0])
    assert {p.engine for p in auto.synthesize("Xin chào bà con.", "vi")} == {"espeak"}
    asked = len(fake_google.texts)
    auto.synthesize("Xin chào.", "vi")  # within the cool-down: Google is not asked again
    assert len(fake_google.texts) == asked
    now[0] = 301.0
    assert {p.engine for p in auto.synthesize("Xin chào.", "vi")} == {"gtts"}


def test_auto_uses_google_when_reachable(fake_google: FakeGoogle) -> None:
    auto = AutoSynthesizer(_gtts(fake_google, []), EspeakSynthesizer())
    assert {p.engine for p in auto.synthesize("Xin chào.", "vi")} == {"gtts"}


def test_auto_without_google_for_khmer_is_a_clear_error() -> None:
    online = GttsSynthesizer(endpoint="http://127.0.0.1:9/x", timeout=(0.5, 0.5), retries=0)
    with pytest.raises(EngineUnavailable, match="không hỗ trợ"):
        AutoSynthesizer(online, EspeakSynthesizer()).synthesize("សួស្តី", "km")


def test_make_synthesizer_names() -> None:
    assert make_synthesizer("espeak").name == "espeak"
    assert make_synthesizer("gtts").name == "gtts"
    assert make_synthesizer("auto").name == "auto"
    with pytest.raises(Exception, match="gtts, espeak"):
        make_synthesizer("festival")


def test_upload_wav_and_mp3_decode_to_mono(real_mp3: bytes, tmp_path: Path) -> None:
    settings = load_settings(media_dir=tmp_path, _env_file=None)
    stereo = np.stack([np.sin(np.linspace(0, 400, 16000)), np.zeros(16000)], axis=1).astype(np.float32)
    wav, mp3, text = tmp_path / "a.wav", tmp_path / "b.mp3", tmp_path / "c.mp3"
    sf.write(wav, stereo, 16000, format="WAV")
    mp3.write_bytes(real_mp3)
    text.write_bytes(b"hello")
    part = decode_recording(wav, settings)
    assert part.samples.ndim == 1 and part.sample_rate == 16000 and abs(part.duration - 1.0) < 1e-6
    assert np.array_equal(part.samples, decode_audio(wav.read_bytes(), engine="x").samples)  # as before, in-process
    assert part.engine == "upload"
    from_mp3 = decode_recording(mp3, settings)
    assert from_mp3.sample_rate == 24000
    in_process = decode_audio(real_mp3, engine="upload").samples  # the same decoder, read in one go
    assert len(from_mp3.samples) == len(in_process) and np.allclose(from_mp3.samples, in_process, atol=1e-6)
    with pytest.raises(ValidationFailed, match="không phải tệp âm thanh"):
        decode_recording(text, settings)


def test_engine_output_that_is_not_audio_names_no_python_object() -> None:
    with pytest.raises(SynthesisError) as caught:
        decode_audio(b"hello", engine="gtts")
    assert "object at" not in caught.value.message and "BytesIO" not in caught.value.message
