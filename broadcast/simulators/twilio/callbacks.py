"""Status callbacks: a background asyncio queue that POSTs signed, form-encoded updates like Twilio."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
import httpx
from twilio.request_validator import RequestValidator

from broadcast.simulators.twilio.state import SimMessage, SimulatorState, new_sid

ERROR_MESSAGES: dict[int, str] = {
    30001: "Queue overflow",
    30003: "Unreachable destination handset",
    30004: "Message blocked",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30007: "Message filtered",
    30008: "Unknown error",
    30034: "Message from an unregistered number",
    30036: "Validity Period Expired",
}


def client_limits(connections: int) -> httpx.Limits:
    """Connections to the app are dropped after 2 s idle, before uvicorn closes them (5 s keep-alive): a request
    sent on a connection the server is closing at that moment fails with ReadError, which real Twilio would
    not see as often as a busy test machine does."""
    return httpx.Limits(max_connections=connections, keepalive_expiry=2.0)


def callback_session(connections: int) -> aiohttp.ClientSession:
    """The client that posts callbacks: aiohttp, which spends a tenth of httpx's CPU per request (0.2 ms against
    2.6 ms, bench/bench_callbacks.py). At a province's rate the simulator posts two callbacks per message on the
    same cores as the service it tests; with httpx that alone took most of a core. Idle connections are dropped
    after 2 s, as with client_limits."""
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5.0),
                                 connector=aiohttp.TCPConnector(limit=connections, keepalive_timeout=2.0))


# What a refused, reset or timed-out callback raises (Twilio's own sender sees the same and retries).
TRANSPORT_ERRORS = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError)
RETRY_DELAYS = (0.05, 0.1, 0.25)  # after a refused connection; Twilio itself retries a few times too


@dataclass(frozen=True)
class CallbackJob:
    """The callbacks one message will trigger, decided when it was accepted."""

    message: SimMessage
    steps: tuple[str, ...]
    error_code: int | None
    mode: str
    step_delay: float


@dataclass(frozen=True)
class CallbackAttempt:
    """One POST the simulator made (or gave up on) to a status callback URL."""

    url: str
    params: dict[str, str]
    status_code: int | None
    error: str | None


class CallbackDispatcher:
    """Runs on the simulator's event loop; REST handlers only enqueue, never wait."""

    def __init__(self, state: SimulatorState, auth_token: str, workers: int = 16) -> None:
        self._state = state
        self._validator = RequestValidator(auth_token)
        self._workers = workers
        self._queue: asyncio.Queue[CallbackJob] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._client: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._log: list[CallbackAttempt] = []
        self.pending = 0

    async def start(self) -> None:
        """Create the HTTP client and worker tasks on the running loop."""
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self._client = callback_session(self._workers * 2)
        self._tasks = [asyncio.create_task(self._work()) for _ in range(self._workers)]

    async def stop(self) -> None:
        """Cancel workers (pending callbacks are dropped) and close the client."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.close()

    def attempts(self) -> list[CallbackAttempt]:
        """Snapshot of every callback POST made so far."""
        with self._lock:
            return list(self._log)

    def clear(self) -> None:
        """Forget the attempt log."""
        with self._lock:
            self._log.clear()

    def submit(self, message: SimMessage) -> None:
        """Plan the lifecycle of a just-accepted message (must be called on the loop)."""
        assert self._queue is not None and self._loop is not None
        faults = self._state.faults
        outcome = self._state.outcome(message.to)
        if outcome is None:
            steps: tuple[str, ...] = ("queued", "sent", "delivered")
            error_code = None
        elif outcome.status == "sent":
            steps, error_code = ("queued", "sent"), None
        elif outcome.status == "failed":
            steps, error_code = ("queued", "failed"), outcome.error_code
        else:
            steps, error_code = ("queued", "sent", "undelivered"), outcome.error_code
        mode = "dropped" if self._state.drop_callbacks_of(message.sid) else faults.callback_mode
        job = CallbackJob(message, steps, error_code, mode, faults.callback_step_delay)
        self.pending += 1
        if job.mode == "delayed" and faults.callback_delay > 0:
            self._loop.call_later(faults.callback_delay, self._queue.put_nowait, job)
        else:
            self._queue.put_nowait(job)

    async def _work(self) -> None:
        assert self._queue is not None
        while True:
            job = await self._queue.get()
            try:
                await self._run(job)
            except Exception as exc:  # a worker must survive anything one job does
                self._remember(CallbackAttempt(job.message.status_callback or "", {}, None, repr(exc)))
            finally:
                self.pending -= 1

    async def _run(self, job: CallbackJob) -> None:
        payloads: list[dict[str, str]] = []
        for index, status in enumerate(job.steps):
            if index and job.step_delay:
                await asyncio.sleep(job.step_delay)
            now = datetime.now(UTC)
            final_error = job.error_code if status in ("failed", "undelivered") else None
            error = (final_error, ERROR_MESSAGES.get(final_error, "Unknown error")) if final_error else None
            self._state.set_status(job.message.sid, status, now, error)
            payloads.append(self._payload(job.message, status, final_error, now))
        url = job.message.status_callback
        if not url or job.mode == "dropped":
            return
        if job.mode == "out_of_order":
            payloads.reverse()
        elif job.mode == "settled":
            payloads = [p for p in payloads if p["MessageStatus"] != "queued"]
        for params in payloads:
            for _ in range(2 if job.mode == "duplicated" else 1):
                await self._post(url, params)

    @staticmethod
    def _payload(message: SimMessage, status: str, error_code: int | None, now: datetime) -> dict[str, str]:
        params = {
            "AccountSid": message.account_sid,
            "ApiVersion": "2010-04-01",
            "From": message.from_ or "",
            "MessageSid": message.sid,
            "MessageStatus": status,
            "SmsSid": message.sid,
            "SmsStatus": status,
            "To": message.to,
        }
        if message.messaging_service_sid:
            params["MessagingServiceSid"] = message.messaging_service_sid
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        if status in ("delivered", "undelivered"):
            params["RawDlrDoneDate"] = now.strftime("%y%m%d%H%M")
        return params

    async def send_incoming(self, url: str, account_sid: str, from_: str, to: str, body: str,
                            sid: str | None = None) -> int | None:
        """Post a resident's reply as Twilio's signed incoming-message webhook; the project's HTTP status."""
        assert self._client is not None
        sid = sid or new_sid("SM")
        params = {"MessageSid": sid, "SmsSid": sid, "SmsMessageSid": sid, "AccountSid": account_sid,
                  "From": from_, "To": to, "Body": body, "NumMedia": "0", "NumSegments": "1",
                  "SmsStatus": "received", "ApiVersion": "2010-04-01"}
        headers = {"X-Twilio-Signature": self._validator.compute_signature(url, params),
                   "User-Agent": "TwilioProxy/1.1"}
        try:
            async with self._client.post(url, data=params, headers=headers) as response:
                await response.read()
                return response.status
        except TRANSPORT_ERRORS:
            return None

    async def _post(self, url: str, params: dict[str, str]) -> None:
        assert self._client is not None
        headers = {
            "X-Twilio-Signature": self._validator.compute_signature(url, params),
            "User-Agent": "TwilioProxy/1.1",
        }
        error: str | None = None
        for delay in (*RETRY_DELAYS, None):
            try:
                async with self._client.post(url, data=params, headers=headers) as response:
                    await response.read()
                    status = response.status
            except TRANSPORT_ERRORS as exc:
                error = f"{type(exc).__name__}: {exc}"
                if delay is None:
                    break
                await asyncio.sleep(delay)
                continue
            self._remember(CallbackAttempt(url, params, status, None))
            return
        self._remember(CallbackAttempt(url, params, None, error))

    def _remember(self, attempt: CallbackAttempt) -> None:
        with self._lock:
            self._log.append(attempt)
