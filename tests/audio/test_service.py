"""Clip store, worker, airing plans and confirmations on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import soundfile as sf
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcast.audio.models import Airing, AudioClip
from broadcast.audio.processing.encode import measure_mp3
from broadcast.audio.radio import airing as airings
from broadcast.audio.service import campaign_audio, clip_path, request_clip, upload_recording
from broadcast.audio.tts.engines import make_synthesizer
from broadcast.audio.tts.gtts import GttsSynthesizer
from broadcast.audio.tts.synth import AudioPart, Synthesizer
from broadcast.audio.worker import AudioWorker
from broadcast.campaigns.models import Campaign, CampaignContent
from broadcast.communes.models import Commune
from broadcast.config import Settings
from broadcast.db import session_scope
from broadcast.events.models import EngagementEvent

SCRIPT = "UBND xã thông báo: ngày 11/8/2022 họp dân lúc 07:30 tại nhà văn hóa ấp Tân Thành."


class Counting:
    """Wraps a real engine and counts how often it is asked to speak."""

    def __init__(self, inner: Synthesizer) -> None:
        self.inner, self.name, self.calls = inner, inner.name, 0

    def synthesize(self, text: str, lang: str, voice: str = "") -> list[AudioPart]:
        self.calls += 1
        return self.inner.synthesize(text, lang, voice)


def seed(engine: Engine, level: str = "normal") -> int:
    with session_scope(engine) as s:
        s.add(Commune(code="32014", province_code="96", name="Phường An Xuyên", airing_slots=["05:30", "17:00"]))
        s.add(Commune(code="32015", province_code="96", name="Xã Lý Văn Lâm", airing_slots=["06:00"]))
        campaign = Campaign(title="Đề án 977", channels=["loudspeaker"], bulletin_level=level,
                            audience={"communes": []})
        s.add(campaign)
        s.flush()
        assert campaign.id is not None
        s.add(CampaignContent(campaign_id=campaign.id, channel="loudspeaker", language="vi", body=SCRIPT))
        s.add(CampaignContent(campaign_id=campaign.id, channel="sms", language="vi", body="SMS text"))
        return campaign.id


def test_same_script_twice_renders_once(engine: Engine, settings: Settings) -> None:
    counting = Counting(make_synthesizer("espeak"))
    worker = AudioWorker(engine, settings, factory=lambda _kind: counting)
    with session_scope(engine) as s:
        first = request_clip(s, settings, text=SCRIPT, engine="espeak")
    worker.submit(first.id or 0)
    assert worker.run_pending() == 1
    with session_scope(engine) as s:
        again = request_clip(s, settings, text=SCRIPT, engine="espeak")
        assert again.id == first.id and again.status == "ready"
        other = request_clip(s, settings, text=SCRIPT, engine="espeak", repeats=2)
        assert other.id != first.id  # different processing, different clip
    worker.submit(first.id or 0)  # a duplicate job is a no-op
    worker.run_pending()
    assert counting.calls == 1
    with Session(engine) as s:
        clip = s.get(AudioClip, first.id)
        assert clip is not None and clip.engine == "espeak" and clip.duration_seconds
        measured = measure_mp3(clip_path(settings, clip))
        assert abs(measured.loudness_lufs - settings.audio_target_lufs) <= 1
        assert measured.true_peak_dbtp <= settings.audio_true_peak_dbtp
        assert clip.size_bytes == clip_path(settings, clip).stat().st_size


def test_pending_clips_survive_a_restart(engine: Engine, settings: Settings) -> None:
    with session_scope(engine) as s:
        clip = request_clip(s, settings, text="Xin chào bà con.", engine="espeak")
        clip_id = clip.id
    fresh = AudioWorker(engine, settings)  # a new process: nothing queued in memory
    assert fresh.resume() == 1
    fresh.run_pending()
    with Session(engine) as s:
        assert s.get(AudioClip, clip_id).status == "ready"  # type: ignore[union-attr]


def test_unreachable_engine_is_recorded_on_the_row(engine: Engine, settings: Settings) -> None:
    dead = GttsSynthesizer(endpoint="http://127.0.0.1:9/x", timeout=(0.5, 0.5), retries=0)
    worker = AudioWorker(engine, settings, factory=lambda _kind: dead)
    with session_scope(engine) as s:
        clip = request_clip(s, settings, text="Xin chào.", engine="gtts")
    worker.submit(clip.id or 0)
    worker.run_pending()
    with Session(engine) as s:
        row = s.get(AudioClip, clip.id)
        assert row is not None and row.status == "failed" and "Google" in (row.error or "")
    with session_scope(engine) as s:  # asking again re-queues it
        assert request_clip(s, settings, text="Xin chào.", engine="gtts").status == "pending"


def test_auto_records_the_engine_that_really_spoke(engine: Engine, settings: Settings) -> None:
    from broadcast.audio.tts.engines import AutoSynthesizer
    from broadcast.audio.tts.espeak import EspeakSynthesizer

    dead = GttsSynthesizer(endpoint="http://127.0.0.1:9/x", timeout=(0.5, 0.5), retries=0)
    auto = AutoSynthesizer(dead, EspeakSynthesizer())
    worker = AudioWorker(engine, settings, factory=lambda _kind: auto)
    with session_scope(engine) as s:
        clip = request_clip(s, settings, text="Xin chào.", engine="auto")
    worker.submit(clip.id or 0)
    worker.run_pending()
    with Session(engine) as s:
        row = s.get(AudioClip, clip.id)
        assert row is not None and row.status == "ready" and row.engine == "espeak"


def test_upload_goes_through_the_same_processing(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    rate = 16000
    t = np.arange(3 * rate) / rate
    voice = (0.05 * np.sin(2 * np.pi * 300 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    path = tmp_path / "thong-bao.wav"
    sf.write(path, voice, rate, format="WAV")
    with session_scope(engine) as s:
        clip = upload_recording(s, settings, path, language="km", title="Thông báo tiếng Khmer")
        again = upload_recording(s, settings, path, language="km")
        assert again.id == clip.id
    worker = AudioWorker(engine, settings)
    worker.submit(clip.id or 0)
    worker.run_pending()
    with Session(engine) as s:
        row = s.get(AudioClip, clip.id)
        assert row is not None and row.status == "ready" and row.engine == "upload"
        assert abs((row.loudness_lufs or 0) - settings.audio_target_lufs) <= 1
        assert 3.0 < (row.duration_seconds or 0) < 5.0


def test_airing_plan_follows_bulletin_levels(engine: Engine, settings: Settings) -> None:
    now = datetime(2024, 3, 1, 3, 0, tzinfo=UTC)  # 10:00 in Cà Mau
    for level, expected in (("normal", {"32014": datetime(2024, 3, 1, 10, 0, tzinfo=UTC),
                                        "32015": datetime(2024, 3, 1, 23, 0, tzinfo=UTC)}),
                            ("emergency", {"32014": now, "32015": now})):
        with session_scope(engine) as s:
            for table in (Airing, CampaignContent, Campaign, AudioClip, Commune):
                for row in s.exec(select(table)).all():
                    s.delete(row)
        campaign_id = seed(engine, level)
        with session_scope(engine) as s:
            pairs = campaign_audio(s, settings, campaign_id, engine="espeak")
            assert [channel for channel, _ in pairs] == ["loudspeaker"]
            planned = airings.plan_airings(s, settings, campaign_id, [c for _, c in pairs], now=now)
            assert {a.commune_code: a.planned_at for a in planned} == expected
            assert all(a.level == level and len(a.confirmation_code) == 6 for a in planned)
            assert airings.plan_airings(s, settings, campaign_id, [c for _, c in pairs], now=now) == []


def test_confirmation_logs_one_engagement_event(engine: Engine, settings: Settings) -> None:
    campaign_id = seed(engine)
    with session_scope(engine) as s:
        pairs = campaign_audio(s, settings, campaign_id, engine="espeak")
        planned = airings.plan_airings(s, settings, campaign_id, [c for _, c in pairs])
        code = planned[0].confirmation_code
    aired = datetime(2024, 3, 1, 10, 5, tzinfo=UTC)
    with session_scope(engine) as s:
        a = airings.confirm_airing(s, code=code.lower(), aired_at=aired, source="sms")
        assert a.confirmed_at == aired and a.confirmation_source == "sms"
    with session_scope(engine) as s:
        airings.confirm_airing(s, code=code)  # a repeated SMS changes nothing
    with Session(engine) as s:
        events = s.exec(select(EngagementEvent).where(EngagementEvent.kind == "airing_confirmed")).all()
        assert len(events) == 1 and events[0].commune_code == planned[0].commune_code


def test_media_files_live_under_media_dir(engine: Engine, settings: Settings) -> None:
    with session_scope(engine) as s:
        clip = request_clip(s, settings, text="Xin chào.", engine="espeak")
    worker = AudioWorker(engine, settings)
    worker.submit(clip.id or 0)
    worker.run_pending()
    path = clip_path(settings, clip)
    assert path.exists() and Path(settings.media_dir) in path.parents
