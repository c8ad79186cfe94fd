"""Several web processes on one database (one `broadcast serve` per core behind the proxy): what one process
counts, the others see."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine

from broadcast.config import Settings
from tests.conftest import free_port, make_user
from tests.support.http import loopback
from tests.support.seed import wait_until

ROOT = Path(__file__).resolve().parents[2]


def _answers(url: str) -> bool:
    try:
        return loopback.get(url + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def web_process(settings: Settings, log: Path) -> Iterator[str]:
    """A real `broadcast serve` (web only: no dispatcher, no scheduler) on a free port; yields its URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_URL")}
    env.update(DATABASE_URL=settings.database_url, PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
               RUN_DISPATCHER_IN_SERVE="false", RUN_SCHEDULER_IN_SERVE="false", TWILIO_SIMULATOR="false",
               GATEWAY_SIMULATOR="false", MEDIA_DIR=str(log.parent / "media"))
    process = subprocess.Popen([sys.executable, "-m", "broadcast.cli", "serve", "--port", str(port)], env=env,
                               cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: process.poll() is not None or _answers(url), timeout=60, interval=0.2)
        assert process.poll() is None, log.read_text()[-2000:]
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def attempt(browser: httpx.Client, password: str) -> int:
    token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/login").text)
    assert token is not None
    return browser.post("/login", data={"username": "canbo", "password": password, "csrf_token": token.group(1),
                                        "next": "/"}).status_code


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_login_limit_holds_across_two_web_processes(live_settings: Settings, live_engine: Engine,
                                                    tmp_path: Path) -> None:
    make_user(live_engine, "officer", username="canbo", password="mat-khau-dung")
    with web_process(live_settings, tmp_path / "web1.log") as first, \
            web_process(live_settings, tmp_path / "web2.log") as second, \
            httpx.Client(base_url=first, trust_env=False) as one, httpx.Client(base_url=second, trust_env=False) as two:
        # Five wrong passwords, spread over both processes as a proxy would spread them.
        assert [attempt(b, "sai-mat-khau") for b in (one, two, one, two, one)] == [401] * 5
        # Locked in both, even with the right password.
        assert attempt(two, "mat-khau-dung") == 429
        assert attempt(one, "mat-khau-dung") == 429
