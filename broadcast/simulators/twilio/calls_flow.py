"""Plays each simulated call like Twilio would: status callbacks, TwiML fetched from the application
(signed), <Play> clips fetched and checked to be MP3, key presses posted to <Gather> actions.

Durations are realistic (seconds of ringing and of audio) and reported as such; the wall-clock wait
is those seconds times `CallState.time_scale`, so a test plays hundreds of calls in seconds.
"""

from __future__ import annotations

import asyncio
import io
import random
import re
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import httpx
import soundfile
from twilio.request_validator import RequestValidator

from broadcast.simulators.twilio.callbacks import client_limits
from broadcast.simulators.twilio.calls import CallState, ClipCheck, SimCall

MAX_DOCUMENTS = 20  # a TwiML loop (Redirect to itself) ends the call instead of running forever
EVENT_OF = {"initiated": "initiated", "ringing": "ringing", "in-progress": "answered"}


def mp3_seconds(data: bytes) -> float | None:
    """Duration when `data` decodes as MP3 (libsndfile), else None."""
    if not (data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0)):
        return None
    try:
        info = soundfile.info(io.BytesIO(data))
    except (RuntimeError, soundfile.LibsndfileError):
        return None
    return float(info.duration) if info.format == "MP3" else None


class CallPlayer:
    """Runs on the simulator's event loop: one task per call, bounded by `concurrency`."""

    def __init__(self, state: CallState, auth_token: str, concurrency: int = 256) -> None:
        self.state = state
        self._validator = RequestValidator(auth_token)
        self._concurrency = concurrency
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots: asyncio.Semaphore | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._media: dict[str, tuple[float, float]] = {}  # url -> (fresh until, seconds)
        self.pending = 0

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._slots = asyncio.Semaphore(self._concurrency)
        self._client = httpx.AsyncClient(timeout=15.0, trust_env=False, limits=client_limits(self._concurrency))

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    def submit(self, call: SimCall) -> None:
        """Start playing a just-created call (called on the loop by the REST handler)."""
        self.pending += 1
        task = asyncio.get_running_loop().create_task(self._play(call))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _wait(self, seconds: float) -> None:
        if seconds > 0 and self.state.time_scale > 0:
            await asyncio.sleep(seconds * self.state.time_scale)

    async def _play(self, call: SimCall) -> None:
        assert self._slots is not None
        try:
            async with self._slots:
                await self._run(call)
        except Exception as exc:  # the simulator must survive whatever one call does
            call.errors.append(repr(exc))
            await self._finish(call, "failed", 0)
        finally:
            self.pending -= 1

    async def _run(self, call: SimCall) -> None:
        seq = iter(range(1000))
        await self._status(call, "initiated", next(seq))
        if call.outcome == "failed":
            return await self._finish(call, "failed", next(seq))
        if call.outcome == "busy":
            await self._wait(1.5)
            return await self._finish(call, "busy", next(seq))
        await self._status(call, "ringing", next(seq))
        if call.outcome == "no-answer":
            await self._wait(call.timeout)
            return await self._finish(call, "no-answer", next(seq))
        await self._wait(random.uniform(3.0, 12.0))
        machine = call.outcome == "machine"
        answered_by = None
        if call.machine_detection:
            answered_by = ("machine_end_beep" if call.machine_detection == "DetectMessageEnd" else "machine_start") \
                if machine else "human"
            await self._wait(8.0 if machine and call.machine_detection == "DetectMessageEnd" else 2.5)
        self.state.update(call.sid, status="in-progress", start_time=datetime.now(UTC), answered_by=answered_by)
        await self._status(call, "in-progress", next(seq))
        heard = await self._converse(call, answered_by, human=not machine)
        await self._finish(call, "completed", next(seq), duration=max(1, round(heard)))

    async def _converse(self, call: SimCall, answered_by: str | None, *, human: bool) -> float:
        """Fetch and execute TwiML documents; returns the simulated seconds the call lasted."""
        extra = {"AnsweredBy": answered_by} if answered_by else {}
        document = await self._fetch(call, call.url, call.method, {**self._base(call, "in-progress"), **extra})
        digits = list(call.behaviour.digits) if human else []
        elapsed, limit = 0.0, call.behaviour.hangup_after if human else None
        for _ in range(MAX_DOCUMENTS):
            if document is None:
                return elapsed
            next_doc: ET.Element | None = None
            for verb in list(document):
                elapsed, stop = await self._verb(call, verb, elapsed, limit)
                if stop:
                    return elapsed
                if verb.tag == "Gather":
                    if digits:
                        key = digits.pop(0)
                        call.pressed.append(key)
                        action = verb.get("action") or call.url
                        # Keys up to the finishOnKey (default #), which Twilio leaves out of Digits.
                        finish = verb.get("finishOnKey", "#")
                        ended = bool(finish) and len(key) > 1 and key.endswith(finish)
                        params = {**self._base(call, "in-progress"), "Digits": key[:-1] if ended else key,
                                  "FinishedOnKey": finish if ended else ""}
                        next_doc = await self._fetch(call, action, verb.get("method", "POST"), params)
                        break
                    elapsed += float(verb.get("timeout", "5"))
                if verb.tag in ("Hangup", "Reject"):
                    return elapsed
            if next_doc is None:
                return elapsed
            document = next_doc
        return elapsed

    async def _verb(self, call: SimCall, verb: ET.Element, elapsed: float, limit: float | None) -> tuple[float, bool]:
        """Execute one verb (nested ones for Gather); True when the listener hung up meanwhile."""
        items = list(verb) if verb.tag == "Gather" else [verb]
        for item in items:
            seconds = 0.0
            if item.tag == "Play":
                seconds = await self._listen(call, (item.text or "").strip())
            elif item.tag == "Say":
                seconds = len((item.text or "").split()) / 2.5  # about 150 words a minute
            elif item.tag == "Pause":
                seconds = float(item.get("length", "1"))
            if limit is not None and elapsed + seconds >= limit:
                await self._wait(limit - elapsed)
                return limit, True
            await self._wait(seconds)
            elapsed += seconds
        return elapsed, False

    async def _listen(self, call: SimCall, url: str) -> float:
        assert self._client is not None
        cached = self._media.get(url)
        if cached is not None and cached[0] > time.monotonic():  # Twilio caches media per Cache-Control
            call.clips.append(ClipCheck(url, 200, True, cached[1]))
            return cached[1]
        try:
            response = await self._client.get(url)
        except httpx.HTTPError as exc:
            call.clips.append(ClipCheck(url, None, False, 0.0))
            call.errors.append(f"clip unreachable: {exc!r}")
            return 0.0
        seconds = mp3_seconds(response.content) if response.status_code == 200 else None
        call.clips.append(ClipCheck(url, response.status_code, seconds is not None, seconds or 0.0))
        age = re.search(r"max-age=(\d+)", response.headers.get("cache-control", ""))
        if seconds is not None and age:
            self._media[url] = (time.monotonic() + int(age.group(1)), seconds)
        if seconds is None:
            call.errors.append(f"clip {url} answered {response.status_code}, not playable MP3")
        return seconds or 0.0

    def _base(self, call: SimCall, status: str) -> dict[str, str]:
        return {"AccountSid": call.account_sid, "ApiVersion": "2010-04-01", "CallSid": call.sid,
                "CallStatus": status, "Called": call.to, "Caller": call.from_, "Direction": "outbound-api",
                "From": call.from_, "To": call.to}

    async def _fetch(self, call: SimCall, url: str, method: str, params: dict[str, str]) -> ET.Element | None:
        assert self._client is not None
        signed = url if method == "POST" else url + ("&" if "?" in url else "?") + str(httpx.QueryParams(params))
        headers = {"X-Twilio-Signature": self._validator.compute_signature(signed, params if method == "POST" else {}),
                   "User-Agent": "TwilioProxy/1.1"}
        try:
            if method == "POST":
                response = await self._client.post(url, data=params, headers=headers)
            else:
                response = await self._client.get(signed, headers=headers)
        except httpx.HTTPError as exc:
            call.errors.append(f"TwiML unreachable: {exc!r}")
            return None
        if response.status_code != 200:
            call.errors.append(f"TwiML {url} answered {response.status_code}")
            return None
        call.twiml.append(response.text)
        try:
            root = ET.fromstring(response.text)
        except ET.ParseError:
            call.errors.append("TwiML is not XML")
            return None
        return root if root.tag == "Response" else None

    async def _status(self, call: SimCall, status: str, sequence: int, **extra: Any) -> None:
        self.state.update(call.sid, status=status)
        event = EVENT_OF.get(status, "completed")
        if call.status_callback and (event in call.events or event == "completed"):
            params = {**self._base(call, status), "CallbackSource": "call-progress-events",
                      "SequenceNumber": str(sequence), "Timestamp": format_datetime(datetime.now(UTC)),
                      **{k: str(v) for k, v in extra.items() if v is not None}}
            if call.answered_by:
                params["AnsweredBy"] = call.answered_by
            await self._post(call, call.status_callback or "", params)

    async def _finish(self, call: SimCall, status: str, sequence: int, duration: int = 0) -> None:
        self.state.update(call.sid, end_time=datetime.now(UTC), duration=duration)
        await self._status(call, status, sequence, CallDuration=duration, Duration=-(-duration // 60))

    async def _post(self, call: SimCall, url: str, params: dict[str, str]) -> None:
        assert self._client is not None
        headers = {"X-Twilio-Signature": self._validator.compute_signature(url, params),
                   "User-Agent": "TwilioProxy/1.1"}
        for delay in (0.05, 0.1, 0.25, None):
            try:
                response = await self._client.post(url, data=params, headers=headers)
            except httpx.TransportError as exc:
                if delay is None:
                    call.errors.append(f"status callback failed: {exc!r}")
                    return
                await asyncio.sleep(delay)
                continue
            if response.status_code >= 400:
                call.errors.append(f"status callback answered {response.status_code}")
            return
