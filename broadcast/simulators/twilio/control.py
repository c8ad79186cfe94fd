"""Control API under /_simulator/ (JSON): inspect recordings and inject faults over HTTP."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from broadcast.simulators.twilio.callbacks import CallbackDispatcher
from broadcast.simulators.twilio.state import SimMessage, SimulatorState, new_sid

PREFIX = "/_simulator"
E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def sender_problem(sender: str) -> str | None:
    """Why `sender` cannot be the From of an incoming message (Twilio always gives an E.164 number)."""
    if not sender.strip():
        return "from is empty: give the sender's number in E.164, e.g. +84912345678"
    if not E164.fullmatch(sender):
        return f"from {sender[:40]!r} is not a phone number in E.164, e.g. +84912345678"
    return None


def control_routes(state: SimulatorState, callbacks: CallbackDispatcher, account_sid: str = "",
                   refuse: Callable[[float], None] | None = None) -> list[Route]:
    """Routes that let a test, a benchmark or the demo steer the simulator from another process."""

    async def messages(request: Request) -> Response:
        found = state.messages(request.query_params.get("to"))
        return JSONResponse({"messages": [m.as_dict() for m in found]})

    async def received(request: Request) -> Response:
        return JSONResponse({"messages": [m.as_dict() for m in state.received(request.query_params.get("to"))]})

    async def requests(request: Request) -> Response:
        return JSONResponse({"requests": [r.as_dict() for r in state.requests()]})

    async def callback_log(request: Request) -> Response:
        return JSONResponse({"callbacks": [a.__dict__ for a in callbacks.attempts()],
                             "pending": callbacks.pending})

    async def reset(body: dict[str, Any]) -> None:
        state.reset()
        callbacks.clear()

    async def latency(body: dict[str, Any]) -> None:
        state.set_latency(float(body.get("seconds", 0.0)), float(body.get("jitter", 0.0)))

    async def errors(body: dict[str, Any]) -> None:
        count = body.get("count")
        seconds = body.get("seconds")
        state.inject_error(
            int(body["status"]),
            count=int(count) if count is not None else (None if seconds is not None else 1),
            seconds=float(seconds) if seconds is not None else None,
            retry_after=int(body.get("retry_after", 1)),
            method=body.get("method"),
        )

    async def fail_numbers(body: dict[str, Any]) -> None:
        state.fail_numbers(list(body["numbers"]), int(body["code"]))

    async def outcomes(body: dict[str, Any]) -> None:
        state.set_outcome(list(body["numbers"]), str(body["status"]), int(body["error_code"]))

    async def callback_mode(body: dict[str, Any]) -> None:
        step = body.get("step_delay")
        state.set_callback_mode(str(body["mode"]), float(body.get("delay", 0.0)),
                                float(step) if step is not None else None)

    async def drop_callbacks(body: dict[str, Any]) -> None:
        state.drop_callbacks(float(body["ratio"]))

    async def refuse_connections(body: dict[str, Any]) -> None:
        if refuse is None:
            raise ValueError("this simulator cannot refuse connections")
        refuse(float(body["seconds"]))

    async def account(body: dict[str, Any]) -> None:
        status = str(body["status"])
        if status not in ("active", "suspended", "closed"):
            raise ValueError("status must be active, suspended or closed")
        state.account_status = status

    Action = Callable[[dict[str, Any]], Awaitable[None]]

    def command(action: Action) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            raw = await request.body()
            try:
                body = (await request.json()) if raw else {}
                await action(body)
            except (KeyError, TypeError, ValueError) as exc:
                return JSONResponse({"ok": False, "error": str(exc)}, status_code=400)
            return JSONResponse({"ok": True})

        return endpoint

    async def inbound(request: Request) -> Response:
        """A resident replies: {"from": "+849…", "body": "…", "to"?, "url"?, "deliver"?} → the message is kept
        (listed as inbound by Messages.json) and posted as the signed incoming webhook, unless deliver is false
        (a webhook Twilio could not deliver)."""
        try:
            body = await request.json()
            sender, text = str(body["from"]), str(body["body"])
        except (KeyError, TypeError, ValueError):
            return JSONResponse({"ok": False, "error": "give from and body"}, status_code=400)
        problem = sender_problem(sender)
        if problem is not None:  # Twilio never files a message without its sender's number
            return JSONResponse({"ok": False, "error": problem}, status_code=400)
        url = str(body.get("url") or state.incoming_url or "")
        deliver = bool(body.get("deliver", True))
        if deliver and not url:
            return JSONResponse({"ok": False, "error": "no incoming URL configured; give url"}, status_code=400)
        to, now = str(body.get("to") or state.incoming_to), datetime.now(UTC)
        message = SimMessage(sid=new_sid("SM"), account_sid=account_sid, to=to, from_=sender,
                             messaging_service_sid=None, body=text, status="received", num_segments=1, num_media=0,
                             date_created=now, date_updated=now, date_sent=now, status_callback=None,
                             direction="inbound")
        state.add_received(message)
        if not deliver:
            return JSONResponse({"ok": True, "sid": message.sid, "status": None})
        status = await callbacks.send_incoming(url, account_sid, sender, to, text, sid=message.sid)
        return JSONResponse({"ok": status == 200, "sid": message.sid, "status": status},
                            status_code=200 if status == 200 else 502)

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True, "messages": len(state.messages())})

    return [
        Route(PREFIX + "/health", health, methods=["GET"]),
        Route(PREFIX + "/messages", messages, methods=["GET"]),
        Route(PREFIX + "/received", received, methods=["GET"]),
        Route(PREFIX + "/requests", requests, methods=["GET"]),
        Route(PREFIX + "/callbacks", callback_log, methods=["GET"]),
        Route(PREFIX + "/inbound", inbound, methods=["POST"]),
        Route(PREFIX + "/reset", command(reset), methods=["POST"]),
        Route(PREFIX + "/latency", command(latency), methods=["POST"]),
        Route(PREFIX + "/errors", command(errors), methods=["POST"]),
        Route(PREFIX + "/fail-numbers", command(fail_numbers), methods=["POST"]),
        Route(PREFIX + "/outcomes", command(outcomes), methods=["POST"]),
        Route(PREFIX + "/callback-mode", command(callback_mode), methods=["POST"]),
        Route(PREFIX + "/drop-callbacks", command(drop_callbacks), methods=["POST"]),
        Route(PREFIX + "/refuse", command(refuse_connections), methods=["POST"]),
        Route(PREFIX + "/account", command(account), methods=["POST"]),
    ]
