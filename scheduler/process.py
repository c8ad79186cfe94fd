"""`broadcast scheduler` and `python -m scheduler`: the scheduler as a process of its own."""

from __future__ import annotations

import signal
import threading

from broadcast.config import Settings
from broadcast.db import make_engine, upgrade
from broadcast.logs import configure_logging
from scheduler.service import SchedulerRunner


def run_scheduler(settings: Settings) -> None:
    """The scheduler alone, until SIGINT/SIGTERM; with several processes one is active, the rest wait."""
    configure_logging(settings.log_format)
    upgrade(settings.database_url, settings=settings)
    engine = make_engine(settings.database_url, settings=settings)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        SchedulerRunner(engine, settings).run(stop)
    finally:
        engine.dispose()
