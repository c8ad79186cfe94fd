"""What the API and the pages show of a clip."""

from __future__ import annotations

from typing import Any

from broadcast.audio.models import AudioClip
from broadcast.audio.radio.feeds import clip_url
from broadcast.audio.worker import AudioWorker


def clip_public(clip: AudioClip, settings: Any, worker: AudioWorker | None = None) -> dict[str, Any]:
    """A clip as the API shows it: status, error, measurements, download address."""
    return {
        "id": clip.id, "title": clip.title, "campaign_id": clip.campaign_id, "language": clip.language,
        "source": clip.source, "engine": clip.engine, "voice": clip.voice, "status": clip.status,
        "in_progress": bool(worker and worker.current == clip.id), "error": clip.error,
        "normalized_text": clip.normalized_text, "duration_seconds": clip.duration_seconds,
        "loudness_lufs": clip.loudness_lufs, "true_peak_dbtp": clip.true_peak_dbtp,
        "size_bytes": clip.size_bytes, "rendered_at": clip.rendered_at,
        "url": clip_url(settings, clip) if clip.status == "ready" else None,
    }
