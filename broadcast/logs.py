"""Logging for every process: one format, quiet third-party chatter."""

from __future__ import annotations

import logging


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)  # logs every request at INFO
    # APScheduler logs each run of the 5-second sync job at INFO ("Running job …", "executed successfully"),
    # which buries what an operator needs to read; the scheduler logs the campaign runs it starts itself.
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)
