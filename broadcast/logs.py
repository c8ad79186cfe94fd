"""Logging for every process: readable lines by default, or one JSON object per line (LOG_FORMAT=json) for log
shippers; quiet third-party chatter."""

from __future__ import annotations

import logging
import sys
from typing import Literal

from pythonjsonlogger.json import JsonFormatter

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def formatter(log_format: Literal["text", "json"]) -> logging.Formatter:
    """The formatter of LOG_FORMAT: JSON objects carry time (ISO 8601, UTC), level, logger, message, exception."""
    if log_format == "json":
        return JsonFormatter("{levelname}{name}{message}", style="{", timestamp="time", json_ensure_ascii=False,
                             rename_fields={"levelname": "level", "name": "logger", "exc_info": "exception"})
    return logging.Formatter(TEXT_FORMAT)


def configure(log_format: Literal["text", "json"] = "text", level: int = logging.INFO) -> None:
    """Send every log record to stderr through one handler in LOG_FORMAT (replacing any handler before)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(log_format))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def configure_logging(log_format: Literal["text", "json"] = "text") -> None:
    """The service's logging: LOG_FORMAT lines, and the libraries that log every request kept at WARNING."""
    configure(log_format)
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)  # logs every request at INFO
    # APScheduler logs each run of the 5-second sync job at INFO ("Running job …", "executed successfully"),
    # which buries what an operator needs to read; the scheduler logs the campaign runs it starts itself.
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)
