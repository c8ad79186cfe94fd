"""The simulator in a child process (no shared GIL with the code under test) and its HTTP control client."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

import broadcast
from broadcast.simulators.twilio.testing import SIM_ACCOUNT_SID, SIM_AUTH_TOKEN


class SimulatorControl:
    """Steers a running simulator through its /_simulator/ JSON API (same names as TwilioSimulator)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url + "/_simulator", timeout=10.0, trust_env=False)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def _post(self, path: str, body: dict[str, Any] | None = None) -> None:
        response = self._http.post(path, json=body or {})
        if response.status_code != 200:
            raise ValueError(response.json().get("error", response.text))

    def reset(self) -> None:
        """Forget messages, requests, callbacks and faults."""
        self._post("/reset")

    def set_latency(self, seconds: float, jitter: float = 0.0) -> None:
        """Delay every API answer."""
        self._post("/latency", {"seconds": seconds, "jitter": jitter})

    def inject_error(self, status: int, count: int | None = 1, seconds: float | None = None,
                     retry_after: int = 1, method: str | None = None) -> None:
        """Answer the next `count` requests, or all for `seconds`, with `status`."""
        self._post("/errors", {"status": status, "count": count, "seconds": seconds, "retry_after": retry_after,
                               "method": method})

    def fail_numbers(self, numbers: list[str], code: int) -> None:
        """Reject creates to these numbers with a permanent 4xx code."""
        self._post("/fail-numbers", {"numbers": numbers, "code": code})

    def set_outcome(self, numbers: list[str], status: str = "undelivered", error_code: int = 30003) -> None:
        """Make these numbers end undelivered/failed via callback."""
        self._post("/outcomes", {"numbers": numbers, "status": status, "error_code": error_code})

    def set_callback_mode(self, mode: str, delay: float = 0.0, step_delay: float | None = None) -> None:
        """normal | delayed | duplicated | out_of_order | dropped."""
        self._post("/callback-mode", {"mode": mode, "delay": delay, "step_delay": step_delay})

    def drop_callbacks(self, ratio: float) -> None:
        """Drop every status callback of about this share of messages."""
        self._post("/drop-callbacks", {"ratio": ratio})

    def refuse_connections(self, seconds: float) -> None:
        """Refuse every connection (API, control and all) for `seconds`, then listen again on the same port."""
        self._post("/refuse", {"seconds": seconds})

    def inbound(self, from_: str, body: str, *, to: str | None = None, url: str | None = None,
                deliver: bool = True) -> dict[str, Any]:
        """A resident texts one of our numbers: kept by the simulator, and posted to `url` unless not `deliver`."""
        payload: dict[str, Any] = {"from": from_, "body": body, "deliver": deliver}
        if to is not None:
            payload["to"] = to
        if url is not None:
            payload["url"] = url
        answer: dict[str, Any] = self._http.post("/inbound", json=payload).json()
        return answer

    def received(self, to: str | None = None) -> list[dict[str, Any]]:
        """Residents' messages the simulator received, as JSON dicts."""
        params = {"to": to} if to is not None else None
        return list(self._http.get("/received", params=params).json()["messages"])

    def set_account_status(self, status: str) -> None:
        """What fetching the account answers: active, suspended or closed."""
        self._post("/account", {"status": status})

    def messages(self, to: str | None = None) -> list[dict[str, Any]]:
        """Accepted messages as JSON dicts, optionally only those to `to`."""
        params = {"to": to} if to is not None else None
        # A province rehearsal's record is a million messages: serialising it takes longer than a control call.
        return list(self._http.get("/messages", params=params, timeout=600).json()["messages"])

    def count_for(self, to: str) -> int:
        """How many messages were accepted for `to`."""
        return len(self.messages(to))

    def pending_callbacks(self) -> int:
        """Status-callback jobs not finished yet."""
        return int(self._http.get("/callbacks").json()["pending"])


class SimulatorProcess(SimulatorControl):
    """Starts `python -m broadcast.simulators.twilio` on a free port; stop() sends SIGINT to that child only."""

    def __init__(self, account_sid: str = SIM_ACCOUNT_SID, auth_token: str = SIM_AUTH_TOKEN,
                 host: str = "127.0.0.1", port: int = 0, *, realtime: bool = False) -> None:
        """`realtime` (root only; ignored otherwise) runs the simulator under the real-time scheduler, ahead of
        every other process: it stands for a provider on machines of its own, which reads a request when it
        arrives even while this machine is busy, so its record of when each request came is exact."""
        self.account_sid, self.auth_token = account_sid, auth_token
        self._args = ["--host", host, "--port", str(port), "--account-sid", account_sid, "--auth-token", auth_token]
        self._process: subprocess.Popen[str] | None = None
        self.realtime = realtime

    @staticmethod
    def _schedule() -> None:
        """In the child before exec: real-time (FIFO, lowest priority) for it and every thread it starts."""
        with contextlib.suppress(PermissionError, OSError):
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))

    def start(self, timeout: float = 15.0) -> str:
        """Spawn the child, read its URL from its first output line, return it."""
        root = str(Path(broadcast.__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        self._process = subprocess.Popen(
            [sys.executable, "-u", "-m", "broadcast.simulators.twilio", *self._args],
            stdout=subprocess.PIPE, text=True, env=env, preexec_fn=self._schedule if self.realtime else None)
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        found = re.search(r"https?://\S+:\d+", line)
        if not found:
            self.stop()
            raise RuntimeError(f"simulator process did not start: {line!r}")
        super().__init__(found.group(0))
        return self.base_url

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the child to stop (SIGINT), kill it if it does not."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()
        if hasattr(self, "_http"):
            self.close()

    def __enter__(self) -> SimulatorProcess:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
