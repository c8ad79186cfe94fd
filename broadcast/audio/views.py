"""What the API and the pages show of a clip."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from broadcast.audio.models import AudioClip
from broadcast.audio.radio.feeds import clip_url
from broadcast.audio.worker import AudioWorker


class ClipPublic(BaseModel):
    id: int | None
    title: str
    campaign_id: int | None
    language: str
    source: str = Field(description="tts or upload")
    engine: str = Field(description="the engine that really made it (gtts, espeak, upload)")
    voice: str
    status: str
    in_progress: bool = Field(description="the audio worker is rendering it now")
    error: str | None
    normalized_text: str
    duration_seconds: float | None
    loudness_lufs: float | None
    true_peak_dbtp: float | None
    size_bytes: int | None
    rendered_at: datetime | None
    url: str | None = Field(description="download address, once ready")


def clip_public(clip: AudioClip, settings: Any, worker: AudioWorker | None = None) -> ClipPublic:
    """A clip as the API shows it: status, error, measurements, download address."""
    return ClipPublic(
        id=clip.id, title=clip.title, campaign_id=clip.campaign_id, language=clip.language,
        source=clip.source, engine=clip.engine, voice=clip.voice, status=clip.status,
        in_progress=bool(worker and worker.current == clip.id), error=clip.error,
        normalized_text=clip.normalized_text, duration_seconds=clip.duration_seconds,
        loudness_lufs=clip.loudness_lufs, true_peak_dbtp=clip.true_peak_dbtp,
        size_bytes=clip.size_bytes, rendered_at=clip.rendered_at,
        url=clip_url(settings, clip) if clip.status == "ready" else None,
    )
