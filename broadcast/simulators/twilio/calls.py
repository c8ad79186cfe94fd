"""Calls.json for the Twilio simulator: create, fetch and list calls in Twilio's JSON shapes, with
per-number outcomes (answer, busy, no-answer, failed, machine) and key presses chosen by the test.

The call flow itself (TwiML fetched from the application, clip checked, keys pressed, signed status
callbacks) is played by calls_flow.CallPlayer on the simulator's event loop.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from broadcast.simulators.twilio.api import API, E164, _parse_date, rfc2822, twilio_error
from broadcast.simulators.twilio.state import new_sid

OUTCOMES = ("answer", "busy", "no-answer", "failed", "machine")
FINAL = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
Handler = Callable[[Request, dict[str, str], list[tuple[str, str]]], Awaitable[Response]]


@dataclass(frozen=True)
class Behaviour:
    """How a number answers: outcome per attempt (the last one repeats), keys pressed at each menu,
    and how many seconds of audio the listener hears before hanging up (None: to the end)."""

    outcomes: tuple[str, ...] = ("answer",)
    digits: tuple[str, ...] = ()
    hangup_after: float | None = None

    def outcome(self, attempt: int) -> str:
        return self.outcomes[min(attempt, len(self.outcomes) - 1)]


@dataclass
class ClipCheck:
    """The simulator fetched a <Play> URL: was it reachable, and is it MP3 (and how long)?"""

    url: str
    status_code: int | None
    is_mp3: bool
    duration: float


@dataclass
class SimCall:
    """One call the simulator accepted, and what happened in it."""

    sid: str
    account_sid: str
    to: str
    from_: str
    url: str
    method: str
    status_callback: str | None
    events: tuple[str, ...]
    timeout: int
    machine_detection: str | None
    outcome: str
    behaviour: Behaviour
    date_created: datetime
    status: str = "queued"
    date_updated: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    duration: int | None = None
    answered_by: str | None = None
    seq: int = 0
    twiml: list[str] = field(default_factory=list)  # every TwiML document the application returned
    clips: list[ClipCheck] = field(default_factory=list)
    pressed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # flow problems (bad TwiML, 403, unreachable clip)

    @property
    def price(self) -> str | None:
        if self.status != "completed" or self.duration is None:
            return None
        return f"-{0.0140 * max(1, -(-self.duration // 60)):.5f}"


def call_json(c: SimCall) -> dict[str, Any]:
    """The call resource as Twilio returns it (spec `api.v2010.account.call`)."""
    uri = f"{API}/Accounts/{c.account_sid}/Calls/{c.sid}"
    return {
        "sid": c.sid, "date_created": rfc2822(c.date_created), "date_updated": rfc2822(c.date_updated),
        "parent_call_sid": None, "account_sid": c.account_sid, "to": c.to, "to_formatted": c.to,
        "from": c.from_, "from_formatted": c.from_, "phone_number_sid": None, "status": c.status,
        "start_time": rfc2822(c.start_time), "end_time": rfc2822(c.end_time),
        "duration": str(c.duration) if c.duration is not None else None, "price": c.price,
        "price_unit": "USD", "direction": "outbound-api", "answered_by": c.answered_by,
        "api_version": "2010-04-01", "forwarded_from": None, "group_sid": None, "caller_name": None,
        "queue_time": "0", "trunk_sid": None, "uri": f"{uri}.json",
        "subresource_uris": {k: f"{uri}/{v}.json" for k, v in (
            ("notifications", "Notifications"), ("recordings", "Recordings"), ("payments", "Payments"),
            ("events", "Events"), ("siprec", "Siprec"), ("streams", "Streams"),
            ("user_defined_message_subscriptions", "UserDefinedMessageSubscriptions"),
            ("user_defined_messages", "UserDefinedMessages"))},
    }


class CallState:
    """Calls and per-number behaviours; every access under one lock."""

    def __init__(self, time_scale: float = 0.02) -> None:
        self._lock = threading.Lock()
        self._calls: dict[str, SimCall] = {}
        self._behaviours: dict[str, Behaviour] = {}
        self._attempts: dict[str, int] = {}
        self._seq = 0
        self.default = Behaviour()
        self.time_scale = time_scale  # wall seconds per simulated second of ringing and listening

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._behaviours.clear()
            self._attempts.clear()
            self.default = Behaviour()

    def set_behaviour(self, numbers: list[str] | None, behaviour: Behaviour) -> None:
        """Give these numbers (None: every other number) a behaviour."""
        bad = [o for o in behaviour.outcomes if o not in OUTCOMES]
        if bad or not behaviour.outcomes:
            raise ValueError(f"outcomes must be among {', '.join(OUTCOMES)}")
        if any(not d or any(k not in "0123456789*#" for k in d) for d in behaviour.digits):
            raise ValueError("digits are keypad keys: one entry per <Gather>, e.g. '2' or '30#'")
        with self._lock:
            if numbers is None:
                self.default = behaviour
            else:
                self._behaviours.update(dict.fromkeys(numbers, behaviour))

    def admit(self, call: SimCall) -> SimCall:
        """Store a new call, deciding its outcome from the number's behaviour and attempt count."""
        with self._lock:
            behaviour = self._behaviours.get(call.to, self.default)
            attempt = self._attempts.get(call.to, 0)
            self._attempts[call.to] = attempt + 1
            self._seq += 1
            call.seq, call.behaviour, call.outcome = self._seq, behaviour, behaviour.outcome(attempt)
            self._calls[call.sid] = call
        return call

    def update(self, sid: str, **values: Any) -> None:
        with self._lock:
            call = self._calls.get(sid)
            if call is not None:
                for key, value in values.items():
                    setattr(call, key, value)
                call.date_updated = datetime.now(UTC)

    def get(self, sid: str) -> SimCall | None:
        with self._lock:
            return self._calls.get(sid)

    def calls(self, to: str | None = None) -> list[SimCall]:
        with self._lock:
            found = list(self._calls.values())
        return [c for c in found if to is None or c.to == to]


def _valid_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


class CallsApi:
    """Request handlers for Calls.json; `start` hands an accepted call to the flow player."""

    def __init__(self, state: CallState, account_sid: str, start: Callable[[SimCall], None]) -> None:
        self.state, self.account_sid, self._start = state, account_sid, start

    def routes(self, wrap: Callable[[Handler], Callable[[Request], Awaitable[Response]]]) -> list[Route]:
        """Routes wrapped like the Messages ones (auth, injected errors, latency, recording)."""
        base = API + "/Accounts/{AccountSid}"
        return [
            Route(base + "/Calls.json", wrap(self.create), methods=["POST"]),
            Route(base + "/Calls.json", wrap(self.list), methods=["GET"]),
            Route(base + "/Calls/{Sid}.json", wrap(self.fetch), methods=["GET"]),
        ]

    async def create(self, request: Request, path: dict[str, str], form: list[tuple[str, str]]) -> Response:
        """POST Calls.json: validate like Twilio, store, start the call flow, answer 201 (status queued)."""
        params = dict(form)
        to, sender, url = params.get("To", ""), params.get("From", ""), params.get("Url", "")
        if not to:
            return twilio_error(400, 21201, "No 'To' number is specified")
        if not E164.match(to):
            return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not sender:
            return twilio_error(400, 21213, "No 'From' number is specified")
        if not E164.match(sender):
            return twilio_error(400, 21212, f"The 'From' number {sender} is not a valid phone number.")
        if not url and not params.get("Twiml") and not params.get("ApplicationSid"):
            return twilio_error(400, 21205, "Url parameter is required.")
        if url and not _valid_url(url):
            return twilio_error(400, 21205, f"Url {url} is not a valid URL.")
        callback = params.get("StatusCallback") or None
        if callback is not None and not _valid_url(callback):
            return twilio_error(400, 21609, f"The StatusCallback URL {callback} is not a valid URL.")
        amd = params.get("MachineDetection") or None
        if amd is not None and amd not in ("Enable", "DetectMessageEnd"):
            return twilio_error(400, 21626, "MachineDetection must be Enable or DetectMessageEnd")
        timeout = params.get("Timeout", "60")
        now = datetime.now(UTC)
        call = self.state.admit(SimCall(
            sid=new_sid("CA"), account_sid=self.account_sid, to=to, from_=sender, url=url,
            method=params.get("Method", "POST").upper(), status_callback=callback,
            events=tuple(v for k, v in form if k == "StatusCallbackEvent") or ("completed",),
            timeout=min(600, int(timeout)) if timeout.isdigit() else 60, machine_detection=amd,
            outcome="answer", behaviour=Behaviour(), date_created=now, date_updated=now))
        payload = call_json(call)
        self._start(call)
        return JSONResponse(payload, status_code=201)

    async def fetch(self, request: Request, path: dict[str, str], form: list[tuple[str, str]]) -> Response:
        """GET Calls/{Sid}.json."""
        call = self.state.get(path["Sid"])
        if call is None:
            return twilio_error(404, 20404, f"The requested resource {request.url.path} was not found")
        return JSONResponse(call_json(call))

    async def list(self, request: Request, path: dict[str, str], form: list[tuple[str, str]]) -> Response:
        """GET Calls.json with To/From/Status/StartTime filters and paging (newest first)."""
        query = request.query_params
        try:
            page_size, page = int(query.get("PageSize", "50")), int(query.get("Page", "0"))
            after = _parse_date(query["StartTime>"]) if "StartTime>" in query else None
            before = _parse_date(query["StartTime<"]) if "StartTime<" in query else None
        except ValueError as exc:
            return twilio_error(400, 20001, f"Invalid paging or date parameter: {exc}")
        if not 1 <= page_size <= 1000 or page < 0:
            return twilio_error(400, 20001, "PageSize must be 1..1000 and Page >= 0")

        def within(created: datetime, bound: date | datetime | None, lower: bool) -> bool:
            if bound is None:
                return True
            value: date | datetime = created if isinstance(bound, datetime) else created.date()
            return value >= bound if lower else value <= bound

        def keep(c: SimCall) -> bool:
            created = c.date_created.replace(microsecond=0)
            return ((query.get("From") is None or c.from_ == query["From"])
                    and (query.get("Status") is None or c.status == query["Status"])
                    and within(created, after, True) and within(created, before, False))

        found = sorted((c for c in self.state.calls(query.get("To")) if keep(c)), key=lambda c: -c.seq)
        start = page * page_size
        records = found[start:start + page_size]
        filters = [(k, query[k]) for k in ("To", "From", "Status", "StartTime>", "StartTime<") if k in query]

        def uri(number: int) -> str:
            return request.url.path + "?" + urlencode([*filters, ("PageSize", str(page_size)), ("Page", str(number))])

        return JSONResponse({
            "calls": [call_json(c) for c in records], "end": start + len(records) - 1 if records else 0,
            "first_page_uri": uri(0), "next_page_uri": uri(page + 1) if start + len(records) < len(found) else None,
            "previous_page_uri": uri(page - 1) if page > 0 else None, "page": page, "page_size": page_size,
            "start": start, "uri": uri(page),
        })
