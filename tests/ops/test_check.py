"""`broadcast check` against a working production configuration and against broken ones, one at a time."""

from __future__ import annotations

import os
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory

from broadcast.config import load_settings
from broadcast.db import alembic_config, make_engine, session_scope
from broadcast.ops.check import run_checks
from broadcast.ops.messages import Lang
from broadcast.simulators.gateway import GatewaySimulator
from broadcast.simulators.twilio import TwilioSimulator
from broadcast.simulators.twilio.process import SimulatorControl
from tests.conftest import BOTH, free_port
from tests.ops.conftest import Production

HEAD = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()

pytestmark = BOTH  # the database matters here: SQL, locking or types differ


def check(lang: Lang = Lang.en, **overrides: Any) -> tuple[int, list[str]]:
    lines: list[str] = []
    code = run_checks(lang, timeout=5, min_free_bytes=1 << 20, emit=lines.append, **overrides)
    return code, lines


def failures(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("✗")]


def cli(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "DATABASE_URL", "MEDIA_DIR"))}
    return subprocess.run([sys.executable, "-m", "broadcast.cli", "check", *args], env={**base, **env}, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


# ---- everything right -----------------------------------------------------------------------------------


def test_a_production_configuration_passes_every_check(production: Production, tmp_path: Path) -> None:
    phone = GatewaySimulator("sms", "mat-khau-may", "khoa-ky")
    phone_url = phone.start()
    try:
        from broadcast.channels.gateway.service import register_phone

        settings = load_settings(**production.overrides)
        engine = make_engine(settings.database_url, settings=settings)
        with session_scope(engine) as session:
            register_phone(session, name="xa-dat-mui-1", base_url=phone_url, login="sms", password="mat-khau-may",
                           signing_key="khoa-ky")
        engine.dispose()
        code, lines = check(**production.overrides)
    finally:
        phone.stop()
    assert failures(lines) == [] and code == 0, lines
    text = "\n".join(lines)
    assert "✓ Settings safe for production (https://localhost:" in text
    assert f"✓ Database schema current ({HEAD})" in text
    assert "✓ Twilio account AC" in text and " active — http://127.0.0.1:" in text
    assert "✓ Sender: TWILIO_FROM=CAMAU-PBGDP" in text
    assert f"✓ {production.overrides['public_base_url']} reaches this very instance" in text
    assert "✓ Text-to-speech engine espeak rendered" in text
    assert "✓ MEDIA_DIR " in text and " writable, " in text
    assert "✓ Gateway phone xa-dat-mui-1 answers (pass)" in text
    assert lines[-1] == f"All {len(lines) - 1} checks passed."


def test_the_command_says_it_in_vietnamese_and_exits_0(production: Production, tmp_path: Path) -> None:
    done = cli({**production.env(), "SSL_CERT_FILE": str(production.ca_file)}, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "✓ Cơ sở dữ liệu trả lời" in done.stdout
    assert "dẫn tới chính phiên bản này" in done.stdout
    assert done.stdout.strip().splitlines()[-1].startswith("Đạt cả ")


# ---- one thing wrong at a time ---------------------------------------------------------------------------


def test_a_wrong_twilio_token_is_one_clear_line_and_exit_1(production: Production, tmp_path: Path) -> None:
    env = {**production.env(), "SSL_CERT_FILE": str(production.ca_file), "TWILIO_AUTH_TOKEN": "not-the-token"}
    done = cli(env, "--lang", "en", cwd=tmp_path)
    assert done.returncode == 1
    assert failures(done.stdout.splitlines()) == [
        "✗ Twilio refused the credentials (HTTP 401, code 20003): check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"]
    # 8, not 9: with no phone registered the gateway line is "–" and not counted
    assert done.stdout.strip().splitlines()[-1] == "1 of 8 checks failed."


def test_a_suspended_account_or_no_sender_fails(production: Production, twilio: TwilioSimulator) -> None:
    control = SimulatorControl(twilio.base_url)
    control.set_account_status("suspended")
    control.close()
    code, lines = check(**{**production.overrides, "twilio_from": "", "twilio_messaging_service_sid": ""})
    assert code == 1
    assert failures(lines) == [
        "✗ Twilio account AC55555555555555555555555555555555 is suspended: nothing can be sent",
        "✗ No sender: set TWILIO_FROM (a sender ID of at most 11 characters, or an E.164 number) or "
        "TWILIO_MESSAGING_SERVICE_SID"]


def test_unsafe_settings_each_get_a_line(production: Production) -> None:
    code, lines = check(Lang.vi, **{**production.overrides, "secret_key": "ngan-qua", "data_encryption_key": "",
                                    "forwarded_allow_ips": "*", "twilio_simulator": True,
                                    "twilio_auth_token": "REPLACE-ME"})
    assert code == 1
    assert failures(lines)[:5] == [
        "✗ SECRET_KEY quá ngắn (8 ký tự; tối thiểu 32)",
        "✗ TWILIO_SIMULATOR đang bật: không tin nhắn thật nào được gửi; đặt TWILIO_SIMULATOR=false với thông tin "
        "Twilio thật",
        "✗ DATA_ENCRYPTION_KEY trống: bí mật lưu trong cơ sở dữ liệu dùng khoá suy ra từ SECRET_KEY; đặt một khoá "
        "Fernet riêng",
        "✗ FORWARDED_ALLOW_IPS=*: bất kỳ ai cũng tự chọn được địa chỉ mà giới hạn đăng nhập dựa vào; chỉ ghi địa chỉ "
        "của proxy (127.0.0.1 sau Caddy)",
        "✗ TWILIO_AUTH_TOKEN vẫn là giá trị mẫu REPLACE-ME: điền giá trị thật vào /etc/broadcast/broadcast.env"]
    assert "– Twilio: đang dùng trình giả lập (TWILIO_SIMULATOR=true), chưa kiểm tra thông tin đăng nhập" in lines


def test_settings_that_do_not_load_are_one_line_and_exit_1() -> None:
    code, lines = check(timezone="Asia/Hanoi", _env_file=None)
    assert (code, lines) == (1, ["✗ Settings refused — Invalid setting TIMEZONE: unknown IANA time zone "
                                 "'Asia/Hanoi'"])


def test_an_unreachable_database_fails_and_so_does_what_needs_it(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    code, lines = check(database_url=f"postgresql://broadcast:pw-Zq81x@127.0.0.1:{port}/broadcast",
                        media_dir=tmp_path, _env_file=None)
    assert code == 1
    database = [line for line in failures(lines) if line.startswith("✗ Database ")]
    assert database[0].startswith(f"✗ Database broadcast:***@127.0.0.1:{port}/broadcast unreachable: ")
    assert "pw-Zq81x" not in "\n".join(lines)
    assert "✗ PUBLIC_BASE_URL: not checked, the database is not ready" in lines
    assert "✗ Gateway phones: not checked, the database is not ready" in lines


def test_a_missing_sqlite_file_is_named(tmp_path: Path) -> None:
    _code, lines = check(database_url=f"sqlite:///{tmp_path / 'nowhere.db'}", media_dir=tmp_path, _env_file=None)
    assert f"✗ No database file {tmp_path / 'nowhere.db'}: run broadcast db upgrade" in lines
    assert not (tmp_path / "nowhere.db").exists()  # the check looked, it did not create one


def test_migrations_behind_are_named_with_both_revisions(production: Production) -> None:
    url = production.overrides["database_url"]
    config = alembic_config(url, load_settings(**production.overrides))
    head = ScriptDirectory.from_config(config).get_revision(str(HEAD))
    assert head is not None
    previous = head.down_revision
    command.downgrade(config, str(previous))
    code, lines = check(**production.overrides)
    assert code == 1
    assert f"✗ Database schema at {previous}, latest is {HEAD}: run broadcast db upgrade" in failures(lines)


def test_an_unwritable_or_full_media_dir_fails(production: Production, tmp_path: Path) -> None:
    not_a_directory = tmp_path / "media-file"
    not_a_directory.write_text("a file where the directory should be")
    code, lines = check(**{**production.overrides, "media_dir": not_a_directory})
    assert code == 1
    assert next(line for line in failures(lines) if "MEDIA_DIR" in line).startswith(
        f"✗ MEDIA_DIR {not_a_directory} is not writable: [Errno 20] Not a directory")
    full: list[str] = []
    assert run_checks(Lang.en, min_free_bytes=1 << 60, emit=full.append, **production.overrides) == 1
    assert next(line for line in full if "MEDIA_DIR" in line).endswith(" GB free (at least 1073741824.0 GB wanted)")
    code, lines = check(**{**production.overrides, "media_dir": tmp_path / "absent"})
    assert f"✗ MEDIA_DIR {tmp_path / 'absent'} does not exist (install.sh and the service create it)" in lines


class _Elsewhere(BaseHTTPRequestHandler):
    """Another web server: answers every GET with `status` (a redirect to https://example.org when 301)."""

    status = 404

    def do_GET(self) -> None:
        body = b'{"value": "not-the-one"}' if self.status == 200 else b"{}"
        self.send_response(self.status)
        if self.status == 301:
            self.send_header("Location", "https://example.org/")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("status", [404, 200, 301])
def test_a_public_base_url_pointing_elsewhere_fails(production: Production, status: int) -> None:
    handler = type("Elsewhere", (_Elsewhere,), {"status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        code, lines = check(**{**production.overrides, "public_base_url": url})
    finally:
        server.shutdown()
        server.server_close()
    assert code == 1
    public = [line for line in failures(lines) if line.startswith(f"✗ {url} ")]
    if status == 301:
        assert public == [f"✗ {url} answered a 301 redirect to https://example.org/: PUBLIC_BASE_URL must be the "
                          "final address (Twilio's callbacks do not follow redirects)"]
    else:
        assert public == [f"✗ {url} answered, but it is not this instance (HTTP {status}): another server, another "
                          "database or an older version is at that address"]


def test_nothing_listening_at_public_base_url_and_a_phone_down(production: Production) -> None:
    from broadcast.channels.gateway.service import register_phone

    settings = load_settings(**production.overrides)
    engine = make_engine(settings.database_url, settings=settings)
    with session_scope(engine) as session:
        register_phone(session, name="xa-tat", base_url=f"http://127.0.0.1:{free_port()}", login="sms",
                       password="mat-khau-may", signing_key="khoa-ky")
    engine.dispose()
    url = f"https://127.0.0.1:{free_port()}"
    code, lines = check(**{**production.overrides, "public_base_url": url})
    assert code == 1
    assert next(line for line in failures(lines) if url in line).startswith(f"✗ {url} unreachable: ")
    assert next(line for line in failures(lines) if "xa-tat" in line).startswith(
        "✗ Gateway phone xa-tat does not answer: ")
