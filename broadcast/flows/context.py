"""What a use case needs from the process it runs in, gathered once by the route or page that calls it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from broadcast.audio.worker import AudioWorker, audio_worker
from broadcast.config import Settings


@dataclass(frozen=True)
class Effects:
    """The settings, the audio render worker, and the in-process scheduler's wake-up (run after commit)."""

    settings: Settings
    audio: AudioWorker
    wake: Callable[[], None] = field(default=lambda: None)


def effects_of(app: Any) -> Effects:
    """The effects of a running app (its state holds the settings, the worker and maybe a scheduler)."""
    scheduler = getattr(app.state, "scheduler", None)
    return Effects(app.state.settings, audio_worker(app), scheduler.wake if scheduler is not None else lambda: None)
