"""The Twilio simulator: a Starlette app served by uvicorn on loopback from a background thread."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from types import TracebackType

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from broadcast.simulators.threaded import ThreadedServer, serve_in_thread
from broadcast.simulators.twilio.api import TwilioApi, twilio_error
from broadcast.simulators.twilio.callbacks import CallbackAttempt, CallbackDispatcher
from broadcast.simulators.twilio.calls import Behaviour, CallsApi, CallState, SimCall
from broadcast.simulators.twilio.calls_flow import CallPlayer
from broadcast.simulators.twilio.control import control_routes
from broadcast.simulators.twilio.state import RecordedRequest, SimMessage, SimulatorState


def create_app(
    state: SimulatorState,
    account_sid: str,
    auth_token: str,
    callbacks: CallbackDispatcher | None = None,
    strict_sender_id: bool = False,
    calls: CallPlayer | None = None,
    refuse: Callable[[float], None] | None = None,
) -> Starlette:
    """ASGI app with the Twilio Messages and Calls subsets and the /_simulator/ control API."""
    dispatcher = callbacks or CallbackDispatcher(state, auth_token)
    api = TwilioApi(state, account_sid, auth_token, dispatcher.submit, strict_sender_id)
    player = calls or CallPlayer(CallState(), auth_token)
    calls_api = CallsApi(player.state, account_sid, player.submit)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await dispatcher.start()
        await player.start()
        try:
            yield
        finally:
            await player.stop()
            await dispatcher.stop()

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        if status == 405:
            return twilio_error(405, 20004, "Method not allowed")
        return twilio_error(404, 20404, f"The requested resource {request.url.path} was not found")

    return Starlette(
        routes=[*api.routes(), *calls_api.routes(api._wrap), *control_routes(state, dispatcher, account_sid, refuse)],
        lifespan=lifespan,
        exception_handlers={404: not_found, 405: not_found},
    )


class TwilioSimulator:
    """A Twilio-compatible HTTP server on loopback, with fault injection and recording."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        record_requests: bool = True,
        strict_sender_id: bool = False,
        callback_workers: int = 16,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.host = host
        self.port = port
        self.state = SimulatorState(record_requests=record_requests)
        self.dispatcher = CallbackDispatcher(self.state, auth_token, workers=callback_workers)
        self.player = CallPlayer(CallState(), auth_token)
        self.app = create_app(self.state, account_sid, auth_token, self.dispatcher, strict_sender_id, self.player,
                              refuse=self.refuse_connections)
        self._running: ThreadedServer | None = None
        self.base_url = ""

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> str:
        """Serve in a background thread; returns the base URL (port 0 picks a free port)."""
        if self._running is not None:
            return self.base_url
        running = serve_in_thread(self.app, self.host, self.port, name="twilio-simulator", backlog=2048,
                                  lifespan="on", graceful_seconds=2, timeout=timeout)
        self.port, self._running = running.port, running
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.base_url = f"http://{host}:{self.port}"
        return self.base_url

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the server down and wait for its thread (at most `timeout` seconds)."""
        if self._running is not None:
            self._running.stop(timeout)
        self._running = None

    @property
    def running(self) -> bool:
        """Whether the server thread is serving."""
        return self._running is not None and self._running.thread.is_alive()

    def serve_forever(self) -> None:
        """Block until the server thread ends (Ctrl-C stops it)."""
        try:
            while self._running is not None and self._running.thread.is_alive():
                self._running.thread.join(timeout=0.5)
        finally:
            self.stop()

    def __enter__(self) -> TwilioSimulator:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # --- recording ------------------------------------------------------------------------------
    @property
    def messages(self) -> list[SimMessage]:
        """Every accepted message, oldest first."""
        return self.state.messages()

    def count_for(self, to: str) -> int:
        """How many messages were accepted for `to`."""
        return self.state.count_for(to)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received on the Twilio API routes, oldest first."""
        return self.state.requests()

    @property
    def callback_attempts(self) -> list[CallbackAttempt]:
        """Every status callback POST made (or abandoned) so far."""
        return self.dispatcher.attempts()

    def wait_for_callbacks(self, timeout: float = 5.0) -> bool:
        """Poll until no status-callback work is pending; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.dispatcher.pending:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    # --- calls ----------------------------------------------------------------------------------
    @property
    def calls(self) -> list[SimCall]:
        """Every accepted call, oldest first."""
        return sorted(self.player.state.calls(), key=lambda c: c.seq)

    def calls_to(self, to: str) -> list[SimCall]:
        """Calls placed to `to`, oldest first."""
        return sorted(self.player.state.calls(to), key=lambda c: c.seq)

    def set_call_behaviour(self, numbers: list[str] | None, outcomes: tuple[str, ...] = ("answer",),
                           digits: tuple[str, ...] = (), hangup_after: float | None = None) -> None:
        """Per number (None: every other one): outcome per attempt (answer, busy, no-answer, failed,
        machine; the last repeats), keys pressed at each menu, seconds heard before hanging up."""
        self.player.state.set_behaviour(numbers, Behaviour(tuple(outcomes), tuple(digits), hangup_after))

    def set_call_time_scale(self, scale: float) -> None:
        """Wall seconds per simulated second of ringing and listening (0: no waiting)."""
        self.player.state.time_scale = max(0.0, scale)

    def wait_for_calls(self, timeout: float = 10.0) -> bool:
        """Poll until every call flow has ended; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.player.pending:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    # --- faults ---------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget messages, calls, requests, callback log and every injected fault."""
        self.state.reset()
        self.player.state.reset()
        self.dispatcher.clear()

    def set_latency(self, seconds: float, jitter: float = 0.0) -> None:
        """Delay every API answer by `seconds` (+ uniform 0..`jitter`), without blocking the loop."""
        self.state.set_latency(seconds, jitter)

    def inject_error(self, status: int, count: int | None = 1, seconds: float | None = None,
                     retry_after: int = 1, method: str | None = None) -> None:
        """Answer the next `count` API requests, or all for `seconds`, with 429/500/502/503/504."""
        self.state.inject_error(status, count, seconds, retry_after, method)

    def fail_numbers(self, numbers: list[str], code: int) -> None:
        """Reject creates to these numbers with 21211, 21408, 21610 or 21614 (HTTP 400)."""
        self.state.fail_numbers(numbers, code)

    def set_outcome(self, numbers: list[str], status: str = "undelivered", error_code: int = 30003) -> None:
        """Make messages to these numbers end 'undelivered' or 'failed' with a 30xxx ErrorCode."""
        self.state.set_outcome(numbers, status, error_code)

    def set_callback_mode(self, mode: str, delay: float = 0.0, step_delay: float | None = None) -> None:
        """normal | delayed (by `delay` s) | duplicated | out_of_order | dropped."""
        self.state.set_callback_mode(mode, delay, step_delay)

    def drop_callbacks(self, ratio: float) -> None:
        """Drop every status callback of about this share of messages (drawn at random per message)."""
        self.state.drop_callbacks(ratio)

    def refuse_connections(self, seconds: float) -> None:
        """Refuse every connection for `seconds` (Twilio unreachable), then listen again on the same port."""
        if self._running is None:
            raise RuntimeError("the simulator is not running")
        self._running.refuse(seconds)

    @property
    def received(self) -> list[SimMessage]:
        """Residents' messages to our numbers, oldest first (what Messages.json lists as inbound)."""
        return self.state.received()
