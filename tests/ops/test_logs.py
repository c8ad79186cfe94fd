"""LOG_FORMAT=json: every line a process writes is one JSON object (time, level, logger, message, exception)."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from broadcast.logs import configure
from tests.conftest import free_port
from tests.support.http import loopback

ROOT = Path(__file__).resolve().parents[2]


def test_json_records_carry_time_level_logger_message_and_exception(capsys: pytest.CaptureFixture[str]) -> None:
    configure("json")
    try:
        log = logging.getLogger("broadcast.test")
        log.info("Đã gửi %d tin", 3)
        try:
            raise ValueError("hỏng")
        except ValueError:
            log.exception("gửi thất bại")
    finally:
        configure("text")
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2  # the traceback stays inside its record's line
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == "Đã gửi 3 tin" and first["level"] == "INFO" and first["logger"] == "broadcast.test"
    assert datetime.fromisoformat(first["time"]).utcoffset() is not None
    assert second["level"] == "ERROR" and "ValueError: hỏng" in second["exception"]


def test_text_is_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    configure()
    logging.getLogger("broadcast.test").warning("một dòng")
    line = capsys.readouterr().err.strip()
    assert line.endswith("WARNING broadcast.test: một dòng") and not line.startswith("{")


def test_serve_writes_only_json_lines(tmp_path: Path) -> None:
    """The whole server, uvicorn's own records included, under LOG_FORMAT=json."""
    port, sim_port = free_port(), free_port()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LOG_FORMAT": "json",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'b.db'}", "MEDIA_DIR": str(tmp_path / "media"),
           "TWILIO_SIMULATOR_PORT": str(sim_port), "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"}
    process = subprocess.Popen([sys.executable, "-m", "broadcast.cli", "serve", "--port", str(port)], env=env,
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if loopback.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "serve did not start"
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    lines = [line for line in (out + err).splitlines() if line.strip()]
    assert len(lines) >= 3
    records = [json.loads(line) for line in lines]
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert any(r["logger"].startswith("uvicorn") for r in records)
    assert any("simulator" in r["message"].lower() for r in records)
