"""Twilio REST routes of the simulator: create, fetch and list Messages with Twilio's JSON and errors."""

from __future__ import annotations

import asyncio
import base64
import binascii
import email.utils
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from broadcast.simulators.twilio.state import (
    RecordedRequest,
    SimMessage,
    SimulatorState,
    count_segments,
    new_sid,
)

API = "/2010-04-01"
E164 = re.compile(r"^\+[1-9]\d{1,14}$")
SHORT_CODE = re.compile(r"^\d{3,8}$")
SENDER_ID = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 +\-_&]+$")
MG_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
CHANNELS = ("whatsapp:", "messenger:", "rcs:")
MAX_BODY = 1600
ERROR_TEXT: dict[int, str] = {
    21211: "The 'To' number {to} is not a valid phone number.",
    21408: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: {to}",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number is not a valid mobile number",
}
SERVER_ERRORS: dict[int, tuple[int, str]] = {
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
    502: (20502, "Bad Gateway"),
    503: (20503, "Service Unavailable"),
    504: (20504, "Gateway Timeout"),
}

Handler = Callable[[Request, dict[str, str], list[tuple[str, str]]], Awaitable[Response]]


def twilio_error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """Twilio's legacy v2010 error body with the given HTTP status."""
    body = {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status}
    return JSONResponse(body, status_code=status, headers=headers)


def rfc2822(value: datetime | None) -> str | None:
    """Format like Twilio: 'Thu, 24 Aug 2023 05:01:45 +0000'."""
    return email.utils.format_datetime(value.replace(microsecond=0)) if value is not None else None


def message_json(m: SimMessage) -> dict[str, Any]:
    """The message resource exactly as Twilio returns it."""
    uri = f"{API}/Accounts/{m.account_sid}/Messages/{m.sid}"
    return {
        "account_sid": m.account_sid, "api_version": "2010-04-01", "body": m.body,
        "date_created": rfc2822(m.date_created), "date_sent": rfc2822(m.date_sent),
        "date_updated": rfc2822(m.date_updated), "direction": m.direction,
        "error_code": m.error_code, "error_message": m.error_message, "from": m.from_,
        "messaging_service_sid": m.messaging_service_sid, "num_media": str(m.num_media),
        "num_segments": str(m.num_segments), "price": None, "price_unit": "USD", "sid": m.sid,
        "status": m.status,
        "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
        "to": m.to, "uri": f"{uri}.json",
    }


def account_json(sid: str, status: str) -> dict[str, Any]:
    """The account resource as Twilio returns it (auth_token left out: nothing here needs it)."""
    created = rfc2822(datetime(2024, 1, 1, tzinfo=UTC))
    uri = f"{API}/Accounts/{sid}"
    subresources = ("messages", "calls", "incoming_phone_numbers", "balance")
    return {
        "date_created": created, "date_updated": created, "friendly_name": "Twilio simulator",
        "owner_account_sid": sid, "sid": sid, "status": status, "type": "Full", "uri": f"{uri}.json",
        "subresource_uris": {name: f"{uri}/{name.title().replace('_', '')}.json" for name in subresources},
    }


def _valid_address(value: str) -> bool:
    for prefix in CHANNELS:
        if value.startswith(prefix):
            value = value.removeprefix(prefix)
            break
    return bool(E164.match(value))


def _valid_callback(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and "_" not in (parts.hostname or "")


class TwilioApi:
    """Request handlers bound to one simulator state."""

    def __init__(self, state: SimulatorState, account_sid: str, auth_token: str,
                 submit: Callable[[SimMessage], None], strict_sender_id: bool = False) -> None:
        self.state = state
        self.account_sid = account_sid
        self._submit = submit
        self._auth = "Basic " + base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self._sender_max = 11 if strict_sender_id else 32

    def routes(self) -> list[Route]:
        """Starlette routes for the Messages subset."""
        base = API + "/Accounts/{AccountSid}"
        return [
            Route(base + ".json", self._wrap(self.account), methods=["GET"]),
            Route(base + "/Messages.json", self._wrap(self.create), methods=["POST"]),
            Route(base + "/Messages.json", self._wrap(self.list), methods=["GET"]),
            Route(base + "/Messages/{Sid}.json", self._wrap(self.fetch), methods=["GET"]),
        ]

    def _wrap(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            # Twilio's date_created is when its API received the request: stamp it before anything here waits
            # (the body, injected latency), so a busy simulator does not bunch the times it records.
            request.scope["arrived"] = datetime.now(UTC)
            form: list[tuple[str, str]] = []
            if request.method == "POST":
                form = await _read_form(request)
            delay = self.state.latency()
            if delay > 0:
                await asyncio.sleep(delay)
            response = await self._guarded(request, handler, form)
            if self.state.record_requests:
                self.state.record(RecordedRequest(
                    request.method, request.url.path, list(request.query_params.multi_items()), form,
                    dict(request.headers), response.status_code))
            return response

        return endpoint

    async def _guarded(self, request: Request, handler: Handler, form: list[tuple[str, str]]) -> Response:
        if not self._authorized(request.headers.get("authorization", "")):
            return twilio_error(401, 20003, "Authenticate", {"WWW-Authenticate": 'Basic realm="Twilio API"'})
        injected = self.state.take_error(request.method)
        if injected is not None:
            code, text = SERVER_ERRORS[injected.status]
            headers = {"Retry-After": str(injected.retry_after)} if injected.status == 429 else None
            return twilio_error(injected.status, code, text, headers)
        if request.path_params["AccountSid"] != self.account_sid:
            return twilio_error(404, 20404, f"The requested resource {request.url.path} was not found")
        return await handler(request, request.path_params, form)

    def _authorized(self, header: str) -> bool:
        if header == self._auth:
            return True
        try:  # tolerate differently padded but equivalent credentials
            decoded = base64.b64decode(header.removeprefix("Basic "), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        return "Basic " + base64.b64encode(decoded.encode()).decode() == self._auth

    async def create(self, request: Request, path: dict[str, str], form: list[tuple[str, str]]) -> Response:
        """POST Messages.json: validate like Twilio, store, schedule callbacks, answer 201."""
        params = dict(form)
        to = params.get("To", "")
        sender = params.get("From") or None
        service = params.get("MessagingServiceSid") or None
        body = params.get("Body", "")
        media = [v for k, v in form if k == "MediaUrl"]
        callback = params.get("StatusCallback") or None
        if not to:
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        if not _valid_address(to):
            return twilio_error(400, 21211, ERROR_TEXT[21211].format(to=to))
        if sender is None and service is None:
            return twilio_error(400, 21603, "A 'From' phone number is required.")
        if service is not None and not MG_SID.match(service):
            return twilio_error(400, 21701, f"The Messaging Service Sid {service} is invalid.")
        if sender is not None and not self._valid_sender(sender):
            return twilio_error(400, 21212, f"The 'From' number {sender} is not a valid phone number, "
                                "shortcode, or alphanumeric sender ID.")
        if sender == to:
            return twilio_error(400, 21266, "'To' and 'From' number cannot be the same")
        if not body and not media and not params.get("ContentSid"):
            return twilio_error(400, 21602, "Message body is required.")
        if len(body) > MAX_BODY:
            return twilio_error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        if callback is not None and not _valid_callback(callback):
            return twilio_error(400, 21609, f"The StatusCallback URL {callback} is not a valid URL.")
        code = self.state.permanent_code(to)
        if code is not None:
            return twilio_error(400, code, ERROR_TEXT[code].format(to=to))
        now: datetime = request.scope.get("arrived") or datetime.now(UTC)
        message = SimMessage(
            sid=new_sid("MM" if media else "SM"), account_sid=self.account_sid, to=to, from_=sender,
            messaging_service_sid=service, body=body, status="accepted" if service else "queued",
            num_segments=count_segments(body), num_media=len(media), date_created=now, date_updated=now,
            date_sent=now, status_callback=callback)
        self.state.add_message(message)
        payload = message_json(message)  # serialise before callbacks can move the status on
        self._submit(message)
        return JSONResponse(payload, status_code=201)

    async def account(self, request: Request, path: dict[str, str], form: list[tuple[str, str]]) -> Response:
        """GET Accounts/{Sid}.json: the harmless read `broadcast check` makes (never the auth token)."""
        return JSONResponse(account_json(self.account_sid, self.state.account_status))

    def _valid_sender(self, sender: str) -> bool:
        if _valid_address(sender) or SHORT_CODE.match(sender):
            return True
        return len(sender) <= self._sender_max and bool(SENDER_ID.match(sender))

    async def fetch(self, request: Request, path: dict[str, str], form: list[tuple[str, str]]) -> Response:
        """GET Messages/{Sid}.json."""
        message = self.state.get_message(path["Sid"])
        if message is None:
            return twilio_error(404, 20404, f"The requested resource {request.url.path} was not found")
        return JSONResponse(message_json(message))

    async def list(self, request: Request, path: dict[str, str], form: list[tuple[str, str]]) -> Response:
        """GET Messages.json with Twilio's filters and paging (newest first)."""
        query = request.query_params
        try:
            page_size = int(query.get("PageSize", "50"))
            page = int(query.get("Page", "0"))
            keys = ("DateSent", "DateSent<", "DateSent>")
            bounds = {key: _parse_date(query[key]) for key in keys if key in query}
        except ValueError as exc:
            return twilio_error(400, 20001, f"Invalid paging or date parameter: {exc}")
        if not 1 <= page_size <= 1000 or page < 0:
            return twilio_error(400, 20001, "PageSize must be 1..1000 and Page >= 0")
        stored = self.state.messages(query.get("To")) + self.state.received(query.get("To"))
        found = [m for m in stored if _matches(m, query.get("From"), bounds)]
        found.sort(key=lambda m: m.seq, reverse=True)
        start = page * page_size
        token = query.get("PageToken", "")
        sids = [m.sid for m in found]
        if token[:2] == "PA" and token[2:] in sids:  # keeps paging stable while new messages arrive
            start = sids.index(token[2:]) + 1
        elif token[:2] == "PB" and token[2:] in sids:
            start = max(0, sids.index(token[2:]) - page_size)
        records = found[start:start + page_size]
        filters = [(k, query[k]) for k in ("To", "From", "DateSent", "DateSent<", "DateSent>") if k in query]
        base = request.url.path

        def uri(number: int, extra: str | None = None) -> str:
            pairs = [*filters, ("PageSize", str(page_size)), ("Page", str(number))]
            return base + "?" + urlencode(pairs + ([("PageToken", extra)] if extra else []))

        has_next = start + len(records) < len(found)
        return JSONResponse({
            "messages": [message_json(m) for m in records],
            "end": start + len(records) - 1 if records else 0,
            "first_page_uri": uri(0),
            "next_page_uri": uri(page + 1, "PA" + records[-1].sid) if has_next and records else None,
            "previous_page_uri": uri(page - 1, "PB" + records[0].sid) if page > 0 and records else None,
            "page": page,
            "page_size": page_size,
            "start": start,
            "uri": uri(page, token or None),
        })


async def _read_form(request: Request) -> list[tuple[str, str]]:
    """Form fields in order, repeated keys kept (parse_qsl is several times faster than Starlette's parser)."""
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    return [(k, v) for k, v in (await request.form()).multi_items() if isinstance(v, str)]


def _parse_date(value: str) -> date | datetime:
    """Twilio accepts YYYY-MM-DD, ISO 8601 date-times and RFC 2822 dates here."""
    if len(value) == 10:
        return date.fromisoformat(value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"unrecognised date {value!r}") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _matches(m: SimMessage, sender: str | None, bounds: dict[str, date | datetime]) -> bool:
    if sender is not None and m.from_ != sender:
        return False
    if not bounds:
        return True
    if m.date_sent is None:
        return False
    sent = m.date_sent.replace(microsecond=0)
    for key, bound in bounds.items():
        value: date | datetime = sent if isinstance(bound, datetime) else sent.date()
        if key == "DateSent" and value != bound:
            return False
        if key == "DateSent<" and value > bound:
            return False
        if key == "DateSent>" and value < bound:
            return False
    return True
