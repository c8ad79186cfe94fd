"""`GET /metrics` in the Prometheus text format: with a bearer METRICS_TOKEN, or on a private METRICS_PORT.

Without a token the route answers 404, like any path that does not exist. METRICS_PORT serves the same
page without a token on 127.0.0.1 only, for a Prometheus on the same machine.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from broadcast.config import Settings
from broadcast.journal.store import Journal
from broadcast.ops.gauges import DatabaseCollector, JournalCollector

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)


class _Counters(Collector):
    """This process's counters, or every process's when prometheus-client runs in multi-process mode."""

    def collect(self) -> Iterator[Any]:
        # prometheus-client's own variable: read by the library when it loads, and here to add up the same files.
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if directory:
            from prometheus_client.multiprocess import MultiProcessCollector

            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=directory)
            yield from registry.collect()
        else:
            yield from REGISTRY.collect()


def registry_for(engine: Engine, settings: Settings, journal: Journal | None = None) -> CollectorRegistry:
    """A registry with the process counters, the database figures of this engine and the journal's backlog
    (read from disk: it answers while the database does not)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Counters())
    registry.register(DatabaseCollector(engine, settings.database_url))
    registry.register(JournalCollector(journal or Journal(settings.journal_path)))
    return registry


def exposition(app: FastAPI) -> bytes:
    registry = getattr(app.state, "metrics_registry", None)
    if registry is None:
        registry = app.state.metrics_registry = registry_for(app.state.engine, app.state.settings,
                                                             app.state.reliability.journal)
    return generate_latest(registry)


def _authorized(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


@router.get("/metrics")
def metrics(request: Request) -> Response:
    """Prometheus figures; only with `Authorization: Bearer <METRICS_TOKEN>`, 404 when no token is set."""
    token = request.app.state.settings.metrics_token.get_secret_value()
    if not token:
        raise StarletteHTTPException(404, "Not Found")
    if not _authorized(request, token):
        return JSONResponse({"error": "Unauthorized", "message": "METRICS_TOKEN required (Authorization: Bearer …)",
                             "field": None}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
    return Response(exposition(request.app), media_type=CONTENT_TYPE_LATEST)


def metrics_port_service(app: FastAPI) -> Callable[[], None]:
    """Serve /metrics without a token on 127.0.0.1:METRICS_PORT for the app's lifetime."""
    from prometheus_client import start_http_server

    settings: Settings = app.state.settings
    registry = registry_for(app.state.engine, settings, app.state.reliability.journal)
    server, thread = start_http_server(settings.metrics_port, addr="127.0.0.1", registry=registry)
    log.info("metrics on http://127.0.0.1:%d/metrics", settings.metrics_port)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop
