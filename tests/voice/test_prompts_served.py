"""The call menu's prompts are rendered by the web process, whether or not it runs the dispatcher."""

from __future__ import annotations

import time

from sqlmodel import Session, select

from broadcast.app import create_app
from broadcast.audio.models import AudioClip, ClipStatus
from broadcast.config import Settings
from broadcast.runtime import default_services


def test_serve_without_the_dispatcher_still_renders_the_prompts(settings: Settings) -> None:
    from fastapi.testclient import TestClient

    web_only = settings.model_copy(update={"run_dispatcher_in_serve": False, "run_scheduler_in_serve": False,
                                           "tts_engine": "espeak"})
    app = create_app(web_only, background=default_services(web_only))
    with TestClient(app):
        engine = app.state.engine
        deadline = time.monotonic() + 120  # a bound against hanging, not a speed requirement
        ready: list[AudioClip] = []
        while time.monotonic() < deadline:
            with Session(engine) as session:
                clips = session.exec(select(AudioClip)).all()
                ready = [c for c in clips if c.status == ClipStatus.ready]
                if clips and len(ready) == len(clips):
                    break
            time.sleep(0.1)
    assert ready, "no prompt was rendered"
    assert all(c.title for c in ready)
