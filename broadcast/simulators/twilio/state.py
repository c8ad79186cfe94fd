"""In-memory state of the Twilio simulator: messages, recorded requests and injected faults (thread-safe)."""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

CallbackMode = Literal["normal", "delayed", "duplicated", "out_of_order", "dropped"]
# "settled": only `sent` and the final status are posted (what Twilio reliably sends), not `queued`.
CALLBACK_MODES: tuple[str, ...] = ("normal", "delayed", "duplicated", "out_of_order", "dropped", "settled")
PERMANENT_CODES = frozenset({21211, 21408, 21610, 21614})
INJECTABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
FINAL_ERROR_STATUSES = frozenset({"undelivered", "failed"})

# GSM 03.38 basic alphabet and extension table (extension characters cost two septets).
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = frozenset("\f^{}\\[~]|€")


def count_segments(body: str) -> int:
    """Number of SMS segments Twilio bills for `body` (GSM-7 160/153 septets, else UCS-2 70/67 units)."""
    if not body:
        return 1
    if all(c in _GSM_BASIC or c in _GSM_EXTENSION for c in body):
        units = sum(2 if c in _GSM_EXTENSION else 1 for c in body)
        single, multi = 160, 153
    else:
        units = len(body.encode("utf-16-le")) // 2
        single, multi = 70, 67
    return 1 if units <= single else -(-units // multi)


def new_sid(prefix: str) -> str:
    """A Twilio-style SID: two-letter prefix + 32 lowercase hex digits."""
    return prefix + secrets.token_hex(16)


@dataclass
class SimMessage:
    """One message accepted by the simulator."""

    sid: str
    account_sid: str
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    status: str
    num_segments: int
    num_media: int
    date_created: datetime
    date_updated: datetime
    date_sent: datetime | None
    status_callback: str | None
    error_code: int | None = None
    error_message: str | None = None
    seq: int = 0
    direction: str = "outbound-api"  # "inbound": a resident's message to one of our numbers

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-friendly view used by the control API."""
        data = asdict(self)
        data["from"] = data.pop("from_")
        for key in ("date_created", "date_updated", "date_sent"):
            value = data[key]
            data[key] = value.isoformat() if value is not None else None
        return data


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request received on the Twilio API routes."""

    method: str
    path: str
    query: list[tuple[str, str]]
    form: list[tuple[str, str]]
    headers: dict[str, str]
    status_code: int

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-friendly view used by the control API."""
        return asdict(self)


@dataclass
class ErrorInjection:
    """Answer the next `remaining` requests (or all until `until`) with an HTTP error status."""

    status: int
    remaining: int | None
    until: float | None
    retry_after: int
    method: str | None


@dataclass(frozen=True)
class Outcome:
    """Final status a number's messages reach through callbacks."""

    status: str
    error_code: int


@dataclass
class Faults:
    """Every configurable misbehaviour; replaced wholesale by reset()."""

    latency: float = 0.0
    jitter: float = 0.0
    errors: list[ErrorInjection] = field(default_factory=list)
    permanent: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    callback_mode: str = "normal"
    callback_delay: float = 0.0
    callback_step_delay: float = 0.0
    callback_drop_ratio: float = 0.0  # share of messages (chosen at random) whose callbacks are all dropped


class SimulatorState:
    """Everything the simulator remembers; every access goes through one lock."""

    def __init__(self, record_requests: bool = True, max_recorded_requests: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._messages: dict[str, SimMessage] = {}
        self._received: dict[str, SimMessage] = {}  # residents' messages to our numbers (direction inbound)
        self.dropped: set[str] = set()  # SIDs whose status callbacks were dropped on purpose
        self._random = random.Random(977)
        # Bounded so long benchmarks do not grow without limit; tests stay far below it.
        self._requests: deque[RecordedRequest] = deque(maxlen=max_recorded_requests)
        self._seq = 0
        self.record_requests = record_requests
        self.faults = Faults()
        # Where residents' replies go (the project's incoming-SMS webhook), for /_simulator/inbound.
        self.incoming_url: str | None = None
        self.incoming_to = "+84000000000"
        self.account_status = "active"  # what GET Accounts/{Sid}.json reports: active | suspended | closed

    def reset(self) -> None:
        """Forget messages, requests and faults."""
        with self._lock:
            self._messages.clear()
            self._received.clear()
            self._requests.clear()
            self.dropped.clear()
            self.faults = Faults()
            self.account_status = "active"

    # --- messages -------------------------------------------------------------------------------
    def add_message(self, message: SimMessage) -> None:
        """Store a newly accepted message."""
        with self._lock:
            self._seq += 1
            message.seq = self._seq
            self._messages[message.sid] = message

    def get_message(self, sid: str) -> SimMessage | None:
        """The message with `sid` (sent or received), if any."""
        with self._lock:
            return self._messages.get(sid) or self._received.get(sid)

    def add_received(self, message: SimMessage) -> None:
        """Store a message a resident sent to one of our numbers (listed like Twilio lists inbound messages)."""
        with self._lock:
            self._seq += 1
            message.seq = self._seq
            self._received[message.sid] = message

    def received(self, to: str | None = None) -> list[SimMessage]:
        """Residents' messages in arrival order, optionally only those to our number `to`."""
        with self._lock:
            found = list(self._received.values())
        return [m for m in found if to is None or m.to == to]

    def drop_callbacks_of(self, sid: str) -> bool:
        """Whether this message's callbacks are dropped (drawn once, when it is accepted)."""
        ratio = self.faults.callback_drop_ratio
        if ratio <= 0:
            return False
        with self._lock:
            dropped = self._random.random() < ratio
            if dropped:
                self.dropped.add(sid)
        return dropped

    def set_status(self, sid: str, status: str, now: datetime, error: tuple[int, str] | None = None) -> None:
        """Advance a message's status (used by the callback lifecycle)."""
        with self._lock:
            message = self._messages.get(sid)
            if message is None:
                return
            message.status = status
            message.date_updated = now
            if error is not None:
                message.error_code, message.error_message = error

    def messages(self, to: str | None = None) -> list[SimMessage]:
        """Snapshot of stored messages in creation order, optionally only those sent to `to`."""
        with self._lock:
            found = list(self._messages.values())
        return [m for m in found if to is None or m.to == to]

    def count_for(self, to: str) -> int:
        """How many messages were accepted for `to`."""
        with self._lock:
            return sum(1 for m in self._messages.values() if m.to == to)

    # --- requests -------------------------------------------------------------------------------
    def record(self, request: RecordedRequest) -> None:
        """Remember a request received on the Twilio API routes."""
        if self.record_requests:
            with self._lock:
                self._requests.append(request)

    def requests(self) -> list[RecordedRequest]:
        """Snapshot of recorded requests, oldest first."""
        with self._lock:
            return list(self._requests)

    # --- faults ---------------------------------------------------------------------------------
    def set_latency(self, seconds: float, jitter: float = 0.0) -> None:
        """Delay every API answer by `seconds` plus a uniform random 0..`jitter`."""
        if seconds < 0 or jitter < 0:
            raise ValueError("latency and jitter must be >= 0")
        with self._lock:
            self.faults.latency, self.faults.jitter = seconds, jitter

    def latency(self) -> float:
        """The delay to apply to the current request."""
        faults = self.faults
        return faults.latency + (random.uniform(0, faults.jitter) if faults.jitter else 0.0)

    def inject_error(
        self,
        status: int,
        count: int | None = 1,
        seconds: float | None = None,
        retry_after: int = 1,
        method: str | None = None,
    ) -> None:
        """Answer the next `count` API requests (or every one for `seconds`) with `status`."""
        if status not in INJECTABLE_STATUSES:
            raise ValueError(f"status must be one of {sorted(INJECTABLE_STATUSES)}")
        if count is None and seconds is None:
            raise ValueError("give count or seconds")
        until = time.monotonic() + seconds if seconds is not None else None
        injection = ErrorInjection(status, count if seconds is None else None, until, retry_after, method)
        with self._lock:
            self.faults.errors.append(injection)

    def take_error(self, method: str) -> ErrorInjection | None:
        """Consume and return the injected error that applies to this request, if any."""
        if not self.faults.errors:
            return None
        now = time.monotonic()
        with self._lock:
            errors = self.faults.errors
            errors[:] = [e for e in errors if (e.until is None or e.until > now) and e.remaining != 0]
            for injection in errors:
                if injection.method is not None and injection.method != method:
                    continue
                if injection.remaining is not None:
                    injection.remaining -= 1
                return injection
        return None

    def fail_numbers(self, numbers: list[str], code: int) -> None:
        """Reject every create for these numbers with a permanent 4xx error `code`."""
        if code not in PERMANENT_CODES:
            raise ValueError(f"code must be one of {sorted(PERMANENT_CODES)}")
        with self._lock:
            self.faults.permanent.update(dict.fromkeys(numbers, code))

    def permanent_code(self, to: str) -> int | None:
        """The permanent error configured for `to`, if any."""
        return self.faults.permanent.get(to)

    def set_outcome(self, numbers: list[str], status: str, error_code: int) -> None:
        """Make messages to these numbers end `undelivered` or `failed` with a 30xxx code, or stay `sent`
        (no final state ever: a phone off for days)."""
        if status not in FINAL_ERROR_STATUSES | {"sent"}:
            raise ValueError("status must be 'undelivered', 'failed' or 'sent'")
        if status != "sent" and not 30000 <= error_code <= 30999:
            raise ValueError("error_code must be a 30xxx code")
        with self._lock:
            self.faults.outcomes.update(dict.fromkeys(numbers, Outcome(status, error_code)))

    def outcome(self, to: str) -> Outcome | None:
        """The configured final outcome for `to`, if any."""
        return self.faults.outcomes.get(to)

    def drop_callbacks(self, ratio: float) -> None:
        """Drop every status callback of about this share of messages (drawn at random per message)."""
        if not 0.0 <= ratio <= 1.0:
            raise ValueError("ratio must be between 0 and 1")
        with self._lock:
            self.faults.callback_drop_ratio = ratio

    def set_callback_mode(self, mode: str, delay: float = 0.0, step_delay: float | None = None) -> None:
        """Choose how status callbacks are sent (see CALLBACK_MODES); `delay` applies to 'delayed'."""
        if mode not in CALLBACK_MODES:
            raise ValueError(f"mode must be one of {', '.join(CALLBACK_MODES)}")
        if delay < 0:
            raise ValueError("delay must be >= 0")
        with self._lock:
            self.faults.callback_mode, self.faults.callback_delay = mode, delay
            if step_delay is not None:
                self.faults.callback_step_delay = max(0.0, step_delay)
