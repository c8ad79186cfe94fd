"""A simulated "SMS Gateway for Android" phone on loopback: the app's REST API (basic auth), message
states reported by signed webhooks, injected faults (down, 5xx, failing numbers) and incoming SMS."""

from __future__ import annotations

import base64
import itertools
import json
import queue
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from broadcast.channels.gateway.channel import sign
from broadcast.simulators.threaded import ThreadedServer, serve_in_thread


@dataclass
class SimGatewayMessage:
    """One message the phone accepted."""

    id: str
    to: str
    text: str
    state: str = "Pending"
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    seq: int = 0


@dataclass(frozen=True)
class WebhookAttempt:
    """One webhook POST the phone made."""

    event: str
    url: str
    status: int | None  # None: no answer
    body: dict[str, Any]


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


class GatewaySimulator:
    """The phone's local-server API; `start()` serves it and returns the base URL."""

    def __init__(self, login: str, password: str, signing_key: str, host: str = "127.0.0.1", port: int = 0,
                 *, webhook_url: str | None = None, device_id: str = "sim-device") -> None:
        self.login, self.password, self.signing_key = login, password, signing_key
        self.host, self.port, self.device_id = host, port, device_id
        self.default_webhook_url = webhook_url
        self.base_url = ""
        self._lock = threading.Lock()
        self._messages: dict[str, SimGatewayMessage] = {}
        self._seq = itertools.count(1)
        self._hooks: dict[str, tuple[str, str]] = {}  # id -> (url, event)
        self._errors: list[int] = []  # statuses for the next sends
        self._failing: dict[str, str] = {}  # number -> failure reason
        self._attempts: list[WebhookAttempt] = []
        self._received: list[dict[str, Any]] = []  # sms:received payloads, for the inbox export
        self._outbox: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()
        self._busy = 0
        self._busy_lock = threading.Lock()
        self._running: ThreadedServer | None = None
        self._worker: threading.Thread | None = None
        self.app = Starlette(routes=[
            Route("/messages", self._send, methods=["POST"]), Route("/message", self._send, methods=["POST"]),
            Route("/messages", self._list, methods=["GET"]), Route("/messages/{id}", self._state, methods=["GET"]),
            Route("/message/{id}", self._state, methods=["GET"]),
            Route("/health", self._health, methods=["GET"]),
            Route("/webhooks", self._webhooks, methods=["GET", "POST"]),
            Route("/webhooks/{id}", self._delete_webhook, methods=["DELETE"]),
            Route("/messages/inbox/export", self._export, methods=["POST"]),
            Route("/devices", self._devices, methods=["GET"]),
            Route("/_simulator/inbound", self._inbound, methods=["POST"]),
        ])

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> str:
        """Serve on loopback (port 0 picks a free one, kept for restarts); returns the base URL."""
        if self._worker is None:
            self._worker = threading.Thread(target=self._deliver_webhooks, name="gateway-sim-webhooks", daemon=True)
            self._worker.start()
        if self._running is not None:
            return self.base_url
        running = serve_in_thread(self.app, self.host, self.port, name="gateway-simulator", timeout=timeout)
        self.port, self._running = running.port, running
        self.base_url = f"http://{self.host}:{self.port}"
        return self.base_url

    def stop(self) -> None:
        """Stop serving (webhooks already queued are still delivered)."""
        if self._running is not None:
            self._running.stop()
        self._running = None

    def go_down(self) -> None:
        """The phone drops off the network: connections are refused until `come_up()`."""
        self.stop()

    def come_up(self) -> None:
        """The phone is reachable again on the same address."""
        self.start()

    def close(self) -> None:
        """Stop serving and the webhook worker."""
        self.stop()
        self._outbox.put(None)

    # --- faults and events ----------------------------------------------------------------------
    def inject_error(self, status: int = 500, count: int = 1) -> None:
        """Answer the next `count` sends with HTTP `status`."""
        with self._lock:
            self._errors.extend([status] * count)

    def fail_numbers(self, numbers: list[str], reason: str = "RESULT_ERROR_GENERIC_FAILURE") -> None:
        """Messages to these numbers are accepted, then reported by sms:failed."""
        with self._lock:
            self._failing.update({n: reason for n in numbers})

    def receive(self, from_phone: str, text: str, *, received_at: datetime | None = None,
                deliver: bool = True) -> str:
        """A resident texts the phone: an sms:received webhook goes out (unless not `deliver`: it was lost);
        returns the app's message id."""
        moment = received_at or datetime.now(UTC)
        message_id = secrets.token_hex(8)
        payload = {"messageId": message_id, "message": text, "phoneNumber": from_phone, "sender": from_phone,
                   "simNumber": 1, "receivedAt": _iso(moment)}
        with self._lock:
            self._received.append(payload)
        if deliver:
            self._emit("sms:received", payload)
        return message_id

    @property
    def messages(self) -> list[SimGatewayMessage]:
        """Accepted messages, oldest first."""
        with self._lock:
            return sorted(self._messages.values(), key=lambda m: m.seq)

    def count_for(self, to: str) -> int:
        return sum(1 for m in self.messages if m.to == to)

    @property
    def webhook_attempts(self) -> list[WebhookAttempt]:
        with self._lock:
            return list(self._attempts)

    def wait_for_webhooks(self, timeout: float = 5.0) -> bool:
        """Poll until every queued webhook has been posted; False on timeout."""
        deadline = time.monotonic() + timeout
        while self._busy or not self._outbox.empty():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    # --- API ------------------------------------------------------------------------------------
    def _authorised(self, request: Request) -> bool:
        expected = "Basic " + base64.b64encode(f"{self.login}:{self.password}".encode()).decode()
        return secrets.compare_digest(request.headers.get("Authorization", ""), expected)

    def _state_json(self, message: SimGatewayMessage) -> dict[str, Any]:
        return {"id": message.id, "deviceId": self.device_id, "state": message.state, "isHashed": False,
                "isEncrypted": False, "createdAt": _iso(message.created_at),
                "recipients": [{"phoneNumber": message.to, "state": message.state}]}

    async def _send(self, request: Request) -> Response:
        if not self._authorised(request):
            return JSONResponse({"message": "Unauthorized"}, status_code=401)
        with self._lock:
            status = self._errors.pop(0) if self._errors else None
        if status is not None:
            return JSONResponse({"message": f"injected error {status}"}, status_code=status)
        body = await request.json()
        numbers, text = body.get("phoneNumbers") or [], (body.get("textMessage") or {}).get("text")
        if len(numbers) != 1 or not text:
            return JSONResponse({"message": "one phone number and a text message are required"}, status_code=400)
        with self._lock:
            message = self._messages.get(body.get("id") or "")
            if message is None:
                message = SimGatewayMessage(id=body.get("id") or uuid.uuid4().hex, to=numbers[0], text=text,
                                            seq=next(self._seq))
                self._messages[message.id] = message
                failing = self._failing.get(message.to)
                self._progress(message, failing)
        return JSONResponse(self._state_json(message), status_code=202)

    def _progress(self, message: SimGatewayMessage, failure: str | None) -> None:
        now = _iso(datetime.now(UTC))
        base = {"messageId": message.id, "phoneNumber": message.to, "simNumber": 1}
        if failure is not None:
            message.state = "Failed"
            self._emit("sms:failed", {**base, "failedAt": now, "reason": failure})
            return
        message.state = "Delivered"
        self._emit("sms:sent", {**base, "sentAt": now})
        self._emit("sms:delivered", {**base, "deliveredAt": now})

    async def _state(self, request: Request) -> Response:
        if not self._authorised(request):
            return JSONResponse({"message": "Unauthorized"}, status_code=401)
        with self._lock:
            message = self._messages.get(request.path_params["id"])
        if message is None:
            return JSONResponse({"message": "message not found"}, status_code=404)
        return JSONResponse(self._state_json(message))

    async def _list(self, request: Request) -> Response:
        if not self._authorised(request):
            return JSONResponse({"message": "Unauthorized"}, status_code=401)
        return JSONResponse([self._state_json(m) for m in self.messages])

    async def _inbound(self, request: Request) -> Response:
        """Control route (no auth, loopback only): a resident texts the phone, e.g. from the demo."""
        body = await request.json()
        return JSONResponse({"messageId": self.receive(str(body["from"]), str(body["text"]))}, status_code=202)

    async def _export(self, request: Request) -> Response:
        """The app's inbox export: post the messages received between since and until again as webhooks."""
        if not self._authorised(request):
            return JSONResponse({"message": "Unauthorized"}, status_code=401)
        body = await request.json()
        try:
            since, until = datetime.fromisoformat(body["since"]), datetime.fromisoformat(body["until"])
        except (KeyError, TypeError, ValueError):
            return JSONResponse({"message": "since and until are required"}, status_code=400)
        with self._lock:
            chosen = [p for p in self._received if since <= datetime.fromisoformat(p["receivedAt"]) <= until]
        for payload in chosen:
            self._emit("sms:received", payload)
        return Response(status_code=202)

    async def _devices(self, request: Request) -> Response:
        if not self._authorised(request):
            return JSONResponse({"message": "Unauthorized"}, status_code=401)
        return JSONResponse([{"id": self.device_id, "name": "simulator"}])

    async def _health(self, _request: Request) -> Response:
        return JSONResponse({"status": "pass", "version": "simulator", "releaseId": 1, "checks": {}})

    async def _webhooks(self, request: Request) -> Response:
        if not self._authorised(request):
            return JSONResponse({"message": "Unauthorized"}, status_code=401)
        if request.method == "GET":
            with self._lock:
                return JSONResponse([{"id": i, "url": u, "event": e} for i, (u, e) in self._hooks.items()])
        body = await request.json()
        hook_id = body.get("id") or uuid.uuid4().hex
        with self._lock:
            self._hooks[hook_id] = (str(body["url"]), str(body["event"]))
        return JSONResponse({"id": hook_id, "url": body["url"], "event": body["event"]}, status_code=201)

    async def _delete_webhook(self, request: Request) -> Response:
        if not self._authorised(request):
            return JSONResponse({"message": "Unauthorized"}, status_code=401)
        with self._lock:
            self._hooks.pop(request.path_params["id"], None)
        return Response(status_code=204)

    # --- webhooks -------------------------------------------------------------------------------
    def _emit(self, event: str, payload: dict[str, Any]) -> None:
        with self._busy_lock:
            self._busy += 1
        self._outbox.put((event, payload))

    def _deliver_webhooks(self) -> None:
        session = requests.Session()
        while True:
            item = self._outbox.get()
            if item is None:
                return
            event, payload = item
            try:
                with self._lock:
                    urls = [u for u, e in self._hooks.values() if e == event]
                if not urls and self.default_webhook_url:
                    urls = [self.default_webhook_url]
                body = {"deviceId": self.device_id, "event": event, "id": uuid.uuid4().hex, "payload": payload,
                        "webhookId": "sim"}
                for url in urls:
                    self._post(session, event, url, body)
            finally:
                with self._busy_lock:
                    self._busy -= 1

    def _post(self, session: requests.Session, event: str, url: str, body: dict[str, Any]) -> None:
        raw = json.dumps(body, ensure_ascii=False).encode()
        status: int | None = None
        for attempt in range(3):  # the app retries with backoff; a few quick tries are enough here
            stamp = str(int(time.time()))
            headers = {"Content-Type": "application/json", "X-Timestamp": stamp,
                       "X-Signature": sign(self.signing_key, raw, stamp)}
            try:
                status = session.post(url, data=raw, headers=headers, timeout=5).status_code
            except requests.RequestException:
                status = None
            if status is not None and status < 500:
                break
            time.sleep(0.2 * (attempt + 1))
        with self._lock:
            self._attempts.append(WebhookAttempt(event, url, status, body))
