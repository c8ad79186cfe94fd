"""Prometheus counters and histograms the service increments as it works (sends, provider errors, latency).

With PROMETHEUS_MULTIPROC_DIR in the environment (prometheus-client reads it when it loads), every process
writes its values to files there and `/metrics` adds them up, so the web server reports the sends of a
`broadcast worker` running beside it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from typing import Any

from prometheus_client import Counter, Histogram

SENDS = Counter("broadcast_sends", "Send outcomes the dispatchers recorded, by channel, provider and result "
                "(accepted, permanent, transient, unknown, skipped, cancelled, released, not_sent)",
                ["channel", "provider", "result"])
PROVIDER_ERRORS = Counter("broadcast_provider_errors", "Provider errors (permanent, transient or unknown "
                          "outcome) by channel, provider and error code", ["channel", "provider", "code"])
LOOKUPS = Counter("broadcast_status_lookups", "SMS status look-ups at the provider for messages whose final status "
                  "never came, by provider and result (final, pending, gave_up, failed)", ["provider", "result"])
JOURNAL = Counter("broadcast_journal_events", "Webhook events journaled while the database did not answer, and "
                  "replayed once it did (applied, duplicate, failed)", ["result"])
LATENCY = Histogram("broadcast_http_request_duration_seconds", "Time to answer a request, by route template "
                    "(never the raw path) and method", ["route", "method"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
_ERRORS = ("permanent", "transient", "unknown")


def count_outcomes(channel: str, provider: str, outcomes: Iterable[Any]) -> None:
    """Count the outcomes a dispatcher has just recorded (objects with `result` and `error_code`)."""
    for outcome in outcomes:
        SENDS.labels(channel, provider, outcome.result).inc()
        if outcome.result in _ERRORS:
            code = str(outcome.error_code) if outcome.error_code is not None else outcome.result
            PROVIDER_ERRORS.labels(channel, provider, code).inc()


def count_lookups(provider: str, final: int, pending: int, gave_up: int, failed: int) -> None:
    """Count one round of status look-ups (broadcast_status_lookups_total)."""
    for result, n in (("final", final), ("pending", pending), ("gave_up", gave_up), ("failed", failed)):
        if n:
            LOOKUPS.labels(provider, result).inc(n)


def count_journal(result: str, n: int = 1) -> None:
    """Count journaled or replayed webhook events (broadcast_journal_events_total)."""
    if n:
        JOURNAL.labels(result).inc(n)


def route_template(scope: dict[str, Any]) -> str:
    """The matched route's path template with its router prefix ("/api/v1/campaigns/{campaign_id}").

    The route object knows its path relative to the router that holds it; the prefix is the part of the
    request path before what the route's pattern matches. Unmatched requests share one label.
    """
    route = scope.get("route")
    if route is None:
        # A mounted app (static files) leaves no route, but moves its prefix into root_path.
        root, app_root = scope.get("root_path", ""), scope.get("app_root_path")
        return f"{root}/{{path}}" if app_root is not None and root != app_root else "unmatched"
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    pattern = getattr(route, "path_regex", None)
    if not template:
        return "unmatched"
    if pattern is None or not template.startswith("/"):
        return str(template)
    path: str = scope.get("path", "")
    for match in re.finditer("/", path):
        if pattern.match(path[match.start():]):
            return path[:match.start()] + template
    return str(template)


class LatencyMiddleware:
    """Observe each HTTP request's duration under its route template (pure ASGI: a few microseconds)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            LATENCY.labels(route_template(scope), scope.get("method", "")).observe(time.perf_counter() - start)
