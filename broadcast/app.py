"""FastAPI app factory; the lifespan migrates the database and starts the in-process workers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text
from sqlalchemy.exc import DataError, DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from broadcast import __version__
from broadcast.config import Settings, get_settings, refuse_unsafe
from broadcast.db import make_engine, upgrade
from broadcast.exceptions import BroadcastError, DatabaseUnavailable
from broadcast.journal.outage import unavailable
from broadcast.journal.replay import Handler, Replayer
from broadcast.journal.webhooks import Reliability

log = logging.getLogger(__name__)

_HTTP_ERRORS = {400: "BadRequest", 404: "NotFoundError", 405: "MethodNotAllowed", 413: "TooLarge"}

# Background services started with the app (dispatcher, scheduler): each returns a stop function.
BackgroundService = Callable[[FastAPI], Callable[[], None]]


def create_app(
    settings: Settings | None = None,
    *,
    migrate: bool = True,
    background: list[BackgroundService] | None = None,
) -> FastAPI:
    """Build the app; `background` services run for the app's lifetime (serve passes the defaults)."""
    settings = settings or get_settings()
    refuse_unsafe(settings)  # never serve an https site on a published session key or a simulated provider

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if migrate:
            upgrade(settings.database_url, settings=settings)
        stops = [start(app) for start in [_replayer_service, *(background or [])]]
        try:
            yield
        finally:
            for stop in reversed(stops):
                stop()
            app.state.engine.dispose()

    app = FastAPI(
        title="Broadcast — phổ biến pháp luật",
        version=__version__,
        description="SMS, voice and loudspeaker broadcast service for law dissemination in Vietnamese communes.",
        lifespan=lifespan,
        max_body_size=settings.request_max_bytes,  # uploads set their own (broadcast/uploads.py)
    )
    app.state.settings = settings
    app.state.engine = make_engine(settings.database_url, settings=settings)
    # Verified webhooks go to this journal while the database does not answer (broadcast/journal/).
    app.state.reliability = Reliability.create(settings.journal_path, settings.journal_after_seconds)
    app.state.twilio_api_url = settings.twilio_api_base_url  # the built-in simulator's, once runtime starts it
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key.get_secret_value(),
        session_cookie="broadcast_session",
        same_site="lax",
        https_only=settings.public_base_url.startswith("https://"),
        max_age=12 * 3600,
    )
    from broadcast.instruments import LatencyMiddleware

    app.add_middleware(LatencyMiddleware)  # outermost: request durations by route template for /metrics
    _install_error_handlers(app)
    _include_routers(app)
    return app


def journal_handlers(settings: Settings) -> dict[str, Handler]:
    """How each kind of journaled webhook event is applied when the journal is replayed."""
    from broadcast.channels.gateway.webhooks import replay_events
    from broadcast.channels.twilio.incoming import replay_incoming
    from broadcast.channels.twilio.status import replay_statuses
    from broadcast.channels.voice.webhooks import replay_handlers

    return {"twilio.status": replay_statuses, "twilio.sms": replay_incoming, "gateway.event": replay_events,
            **replay_handlers(settings)}


def _replayer_service(app: FastAPI) -> Callable[[], None]:
    """Replay the journal whenever the database answers; after an outage, fetch what providers kept for us."""
    from broadcast.channels.gateway.service import request_inbox_exports
    from broadcast.channels.gateway.webhooks import remember_signing_keys
    from broadcast.channels.twilio.incoming import recover_replies

    settings: Settings = app.state.settings
    engine = app.state.engine
    state: Reliability = app.state.reliability
    replayer = Replayer(engine, state.journal, state.outage, journal_handlers(settings),
                        batch=settings.journal_replay_batch)

    def replies(since: Any, until: Any) -> None:
        recover_replies(engine, settings, since, until, api_base_url=app.state.twilio_api_url)

    def phones(since: Any, until: Any) -> None:
        request_inbox_exports(engine, settings, since, until)

    replayer.hooks += [replies, phones]
    state.replayer = replayer
    try:
        remember_signing_keys(app.state, engine)
    except Exception as exc:  # started while the database does not answer: learnt at the first webhook
        log.warning("gateway phones' signing keys not read at start (%s)", exc.__class__.__name__)
    stop = replayer.start()

    def halt() -> None:
        stop()
        state.writer.close()
        state.journal.close()

    return halt


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(BroadcastError)
    async def broadcast_error(request: Request, exc: BroadcastError) -> Response:
        # One error path: JSON for the API and webhooks; for pages, a flash and a redirect back (web/core.py).
        # Either way the request's session has rolled back: the exception left the route.
        from broadcast.web.core import is_page, page_error

        if is_page(request):
            return page_error(request, exc)
        return JSONResponse(exc.to_dict(), status_code=exc.status_code)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        # FastAPI's own errors (a body that is not JSON, a method not allowed…) in the same shape as ours.
        if exc.status_code < 400:
            return Response(status_code=exc.status_code, headers=exc.headers)
        body = {"error": _HTTP_ERRORS.get(exc.status_code, "HTTPError"), "message": str(exc.detail), "field": None}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def out_of_range(request: Request, exc: Exception) -> JSONResponse:
        # A number or text the database cannot store got past the bounds at the edge: still the caller's
        # input, so a 422 (and a log line, since the edge should have refused it).
        log.warning("value out of the database's range on %s %s: %s", request.method, request.url.path,
                    str(exc).splitlines()[0][:200])
        body = {"error": "ValidationFailed", "message": "Một giá trị vượt quá giới hạn lưu trữ.", "field": None}
        return JSONResponse(body, status_code=422)

    @app.exception_handler(DBAPIError)
    @app.exception_handler(PoolTimeout)
    async def database_error(request: Request, exc: Exception) -> Response:
        # The database is down, read-only or locked: one log line per outage and a 503 that says so, not a
        # traceback and a 500 per request. Any other database error is a bug: logged in full, 500.
        reason = unavailable(exc)
        if reason is None:
            log.error("database error on %s %s", request.method, request.url.path, exc_info=exc)
            body = {"error": "InternalError", "message": "Lỗi máy chủ.", "field": None}
            return JSONResponse(body, status_code=500)
        request.app.state.reliability.outage.trip(reason)
        error = DatabaseUnavailable("Cơ sở dữ liệu tạm thời không trả lời; xin thử lại sau ít phút.",
                                    reason=reason)
        return await broadcast_error(request, error)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
            problems.append({"field": ".".join(loc) or None, "message": err.get("msg", "invalid")})
        first = problems[0] if problems else {"field": None, "message": "invalid request"}
        message = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
        body: dict[str, Any] = {"error": "ValidationFailed", "message": message, "field": first["field"],
                                "details": {"problems": problems}}
        return JSONResponse(body, status_code=422)


def _include_routers(app: FastAPI) -> None:
    from broadcast.api import api_router
    from broadcast.channels.gateway.webhooks import router as gateway_webhooks
    from broadcast.channels.twilio.incoming import router as engagement_webhooks
    from broadcast.channels.twilio.status import router as twilio_webhooks
    from broadcast.channels.voice.webhooks import router as voice_webhooks
    from broadcast.ops.echo import router as check_echo
    from broadcast.ops.metrics import router as ops_metrics
    from broadcast.web.accountability import router as accountability_pages
    from broadcast.web.downloads import public_router as audio_public
    from broadcast.web.links import router as engagement_pages
    from broadcast.web.pages import mount as mount_web

    # Provider webhooks first: routes are tried in order, and they are the hot path (hundreds of
    # requests a second after a campaign); behind the API's routes, matching alone cost a third of their CPU.
    app.include_router(twilio_webhooks)
    app.include_router(engagement_webhooks)
    app.include_router(voice_webhooks)
    app.include_router(gateway_webhooks)
    app.include_router(api_router)
    app.include_router(audio_public)
    app.include_router(check_echo)  # `broadcast check` asks the instance behind PUBLIC_BASE_URL (no login)
    app.include_router(engagement_pages)
    app.include_router(accountability_pages)  # the public accountability page and its open data (no login)
    mount_web(app)  # browser pages, static files, login redirects
    app.include_router(ops_metrics)  # GET /metrics: METRICS_TOKEN, else 404

    from broadcast.ops.health import router as health

    app.include_router(health)  # /healthz/live, /healthz/ready

    @app.get("/healthz", tags=["health"])
    def healthz(request: Request) -> dict[str, str]:
        """Kept for compatibility: 200 when the database answers (see /healthz/ready for the reasons)."""
        with request.app.state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__}
