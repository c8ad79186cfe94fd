"""In-process background rendering: a thread draining a queue of clip ids, resuming unfinished clips."""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcast.audio.models import AudioClip, ClipStatus
from broadcast.audio.service import SynthesizerFactory, render_clip_now
from broadcast.audio.tts.engines import make_synthesizer
from broadcast.config import Settings
from broadcast.db import after_commit

log = logging.getLogger(__name__)


class AudioWorker:
    """Renders clips one at a time off the request path; the row's status and error show progress."""

    def __init__(self, engine: Engine, settings: Settings, *, factory: SynthesizerFactory = make_synthesizer):
        self.engine = engine
        self.settings = settings
        self.factory = factory
        self._queue: queue.Queue[tuple[int, bool] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.current: int | None = None

    def submit(self, clip_id: int, *, force: bool = False) -> None:
        """Queue a clip (after the request that created it has committed)."""
        self._queue.put((clip_id, force))

    def resume(self) -> int:
        """Queue every clip a previous process left pending or half-rendered; returns how many."""
        with Session(self.engine) as session:
            stale = session.exec(select(AudioClip).where(
                AudioClip.status.in_([ClipStatus.pending, ClipStatus.rendering]))).all()  # type: ignore[attr-defined]
            ids = [c.id for c in stale if c.id is not None]
            for clip in stale:
                clip.status = ClipStatus.pending  # a crash mid-render leaves `rendering` behind
                session.add(clip)
            session.commit()
        for clip_id in ids:
            self.submit(clip_id)
        return len(ids)

    def run_pending(self) -> int:
        """Render everything queued, in the calling thread (for the CLI, demos and tests)."""
        done = 0
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return done
            if item is not None:
                self._render(*item)
                done += 1

    def _render(self, clip_id: int, force: bool) -> None:
        self.current = clip_id
        try:
            render_clip_now(self.engine, self.settings, clip_id, factory=self.factory, force=force)
        except Exception:
            log.exception("rendering clip %s failed", clip_id)
        finally:
            self.current = None

    def _loop(self) -> None:
        try:
            self.resume()
        except Exception:
            log.exception("could not resume unfinished clips")
        while True:
            item = self._queue.get()
            if item is None:
                return
            self._render(*item)

    def start(self) -> None:
        """Start the background thread and pick up unfinished clips."""
        if self._thread is None:
            # resume() runs in the thread: the caller may be a request holding SQLite's write lock
            self._thread = threading.Thread(target=self._loop, name="audio-worker", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the clip in hand and stop."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None


def render_after_commit(session: Session, worker: AudioWorker, clips: list[AudioClip], *, force: bool = False) -> None:
    """Queue renders once the session's rows are committed, so the worker (another thread) sees them."""
    ids = [c.id for c in clips if c.id is not None and (force or c.status != ClipStatus.ready)]

    def submit() -> None:
        for clip_id in ids:
            worker.submit(clip_id, force=force)

    after_commit(session, submit)


def start_audio_worker(app: FastAPI) -> Any:
    """BackgroundService for create_app: renders clips in this process; returns its stop function."""
    worker = AudioWorker(app.state.engine, app.state.settings)
    app.state.audio_worker = worker
    worker.start()
    return worker.stop


def audio_worker(app: FastAPI) -> AudioWorker:
    """The app's render worker (started on first use when the app runs without background services)."""
    worker: AudioWorker | None = getattr(app.state, "audio_worker", None)
    if worker is None:
        worker = AudioWorker(app.state.engine, app.state.settings)
        app.state.audio_worker = worker
        worker.start()
    return worker
