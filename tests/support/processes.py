"""`broadcast serve` in a child process, as production runs it (web app, dispatchers, scheduler, journal)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import free_port
from tests.support.http import loopback

METRICS_TOKEN = "metrics-token-for-the-tests"


def serve_env(database_url: str, media_dir: Path, twilio_url: str, port: int, **extra: str) -> dict[str, str]:
    """The environment of a serve process sending through the Twilio simulator at `twilio_url`."""
    from broadcast.simulators.twilio.testing import SIM_ACCOUNT_SID, SIM_AUTH_TOKEN

    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TWILIO_", "DATABASE_URL", "MEDIA_DIR", "PUBLIC_BASE_URL", "JOURNAL_", "SMS_"))}
    env.update(
        DATABASE_URL=database_url, MEDIA_DIR=str(media_dir), PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        TWILIO_SIMULATOR="false", TWILIO_API_BASE_URL=twilio_url, TWILIO_ACCOUNT_SID=SIM_ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=SIM_AUTH_TOKEN, TWILIO_TIMEOUT_SECONDS="3", DISPATCHER_LEASE_SECONDS="8",
        DISPATCHER_POLL_SECONDS="0.05", RETRY_BASE_SECONDS="0.2", RETRY_MAX_SECONDS="2", QUIET_HOURS_START="00:00",
        QUIET_HOURS_END="00:00", DAILY_CAP_PER_RESIDENT="0", SMS_RATE_PER_SECOND="100", TTS_ENGINE="espeak",
        SCHEDULER_HOUSEKEEPING_SECONDS="2", METRICS_REFRESH_SECONDS="2", METRICS_TOKEN=METRICS_TOKEN,
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class Serve:
    """One `broadcast serve` child; `start()` returns once it answers /healthz/live."""

    def __init__(self, env: dict[str, str], log: Path, port: int | None = None) -> None:
        self.port = port or int(env["PUBLIC_BASE_URL"].rsplit(":", 1)[1])
        self.env, self.log = env, log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> Serve:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "broadcast.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT, cwd=self.log.parent)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if loopback.get(f"{self.url}/healthz/live", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def stop(self) -> None:
        """SIGTERM, as systemd stops it; SIGKILL if it does not stop within a minute."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def text(self) -> str:
        return self.log.read_text(errors="replace")


def new_port() -> int:
    return free_port()
