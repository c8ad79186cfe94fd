"""The production topology on one machine, with real processes: Caddy (Debian's package, its internal CA) in front
of `broadcast serve`, `worker` and `scheduler` started with the units' own command lines, the Twilio simulator as
`broadcast simulator`, PostgreSQL. A scheduled campaign is sent; Twilio's signed status callbacks and a resident's
reply reach the app through Caddy over https; forged ones get 403; `broadcast check` passes, and names a wrong
Twilio token."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlalchemy.engine import Engine

from broadcast.config import load_settings
from broadcast.db import make_engine
from broadcast.simulators.twilio.process import SimulatorControl
from broadcast.simulators.twilio.testing import SIM_ACCOUNT_SID, SIM_AUTH_TOKEN
from tests.conftest import free_port, make_user
from tests.deploy.units import DEPLOY, environment, exec_start
from tests.pg import PostgresServer
from tests.support.http import loopback
from tests.support.needs import caddy
from tests.support.seed import approved_campaign, phone, seed_contacts

RESIDENTS = 20
CLI = str(Path(sys.executable).with_name("broadcast"))


@dataclass
class Topology:
    """The running processes and what the test talks to."""

    tmp: Path
    env: dict[str, str]
    public_url: str
    simulator_url: str
    ca: ssl.SSLContext
    ca_file: Path
    engine: Engine
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        log = (self.tmp / f"{name}.log").open("wb")
        self.processes[name] = subprocess.Popen(argv, env=env or self.env, cwd=self.tmp, stdout=log,
                                                stderr=subprocess.STDOUT)

    def logs(self) -> str:
        """The end of every process's output, for a failing assertion's message."""
        return "\n".join(f"--- {name} (exit {process.poll()}) ---\n"
                         + (self.tmp / f"{name}.log").read_text(errors="replace")[-3000:]
                         for name, process in self.processes.items())

    def wait_for(self, what: str, ready: Callable[[], bool], timeout: float = 120.0) -> None:
        # A bound, not a measure: on a loaded shared machine importing the app alone has taken 40 s.
        deadline = time.monotonic() + timeout
        while not ready():
            dead = [name for name, process in self.processes.items() if process.poll() is not None]
            if dead or time.monotonic() > deadline:
                raise AssertionError(f"{what}: not ready ({', '.join(dead) or 'timed out'})\n{self.logs()}")
            time.sleep(0.2)

    def stop(self) -> None:
        for process in self.processes.values():  # only the children this test started, by their handles
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.public_url, verify=self.ca, timeout=60, trust_env=False)

    def check(self, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([CLI, "check", "--lang", "en", "--min-free-gb", "0.01"],
                              env={**self.env, **env}, cwd=self.tmp, capture_output=True, text=True, timeout=240)


def _endless_post(url: str, ca: ssl.SSLContext, token: str) -> int:
    """The status answered to a chunked 4 MB body, read while the body is still being sent.

    The edge answers as soon as the body passes its limit and then closes the connection; a client that reads
    only after writing everything (httpx) may meet the close's reset before the answer and lose it. Browsers
    and aiohttp read the answer as it comes."""

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(64):
            yield b"x" * 65536

    async def post() -> int:
        async with aiohttp.ClientSession() as session, session.post(
                url, data=chunks(), ssl=ca, timeout=aiohttp.ClientTimeout(total=60),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}) as answer:
            return answer.status

    return asyncio.run(post())


def _answers(url: str, verify: ssl.SSLContext | bool = False) -> bool:
    try:
        return httpx.get(url, verify=verify, timeout=2, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def _caddyfile(tmp: Path, https_port: int, http_port: int, app_port: int) -> Path:
    """deploy/caddy/broadcast.caddy, upstream moved to the test's port, in a site on loopback with Caddy's own CA."""
    site = (DEPLOY / "caddy" / "broadcast.caddy").read_text()
    assert site.count("reverse_proxy 127.0.0.1:8000 ") == 3
    (tmp / "broadcast.caddy").write_text(site.replace("127.0.0.1:8000", f"127.0.0.1:{app_port}"))
    path = tmp / "Caddyfile"
    path.write_text(f"""{{
\tadmin off
\tstorage file_system {tmp / "caddy-data"}
\tlocal_certs
\tskip_install_trust
\thttp_port {http_port}
\thttps_port {https_port}
}}

localhost:{https_port} {{
\ttls internal
\timport broadcast.caddy
}}
""")
    return path


@pytest.fixture
def topology(postgres_server: PostgresServer, postgres_template: str, tmp_path: Path) -> Iterator[Topology]:
    binary = caddy()
    name = f"bt_topo_{uuid.uuid4().hex[:8]}"
    postgres_server.create_database(name, template=postgres_template)  # migrated, as install.sh leaves it
    https_port, http_port, app_port, sim_port = (free_port() for _ in range(4))
    public_url = f"https://localhost:{https_port}"
    ca_file = tmp_path / "caddy-data" / "pki" / "authorities" / "local" / "root.crt"
    (tmp_path / "media").mkdir()
    settings_env = {
        "DATABASE_URL": postgres_server.url_for(name), "MEDIA_DIR": str(tmp_path / "media"),
        "PUBLIC_BASE_URL": public_url, "SECRET_KEY": "k" * 48, "DATA_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        "FORWARDED_ALLOW_IPS": "127.0.0.1", "TWILIO_SIMULATOR": "false", "TWILIO_ACCOUNT_SID": SIM_ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": SIM_AUTH_TOKEN, "TWILIO_API_BASE_URL": f"http://127.0.0.1:{sim_port}",
        "TWILIO_FROM": "CAMAU-PBGDP", "QUIET_HOURS_START": "00:00", "QUIET_HOURS_END": "00:00",
        "SMS_RATE_PER_SECOND": "200", "DISPATCHER_POLL_SECONDS": "0.1", "SCHEDULER_SYNC_SECONDS": "1",
        "SCHEDULER_LEADER_POLL_SECONDS": "0.5",
        # The simulator's callbacks and `broadcast check` trust Caddy's root, as a VM trusts a public CA.
        "SSL_CERT_FILE": str(ca_file),
    }
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "BROADCAST_", "SSL_CERT"))}
    settings = load_settings(**{k.lower(): v for k, v in settings_env.items() if k != "SSL_CERT_FILE"},
                             _env_file=None)
    engine = make_engine(settings.database_url, settings=settings)
    top = Topology(tmp_path, {**base, **settings_env}, public_url, f"http://127.0.0.1:{sim_port}",
                   ssl.create_default_context(), ca_file, engine)
    try:
        top.start("simulator", [CLI, "simulator", "--port", str(sim_port)])
        serve = exec_start("broadcast-serve", CLI)
        assert serve[-2:] == ["--port", "8000"]
        top.start("serve", [*serve[:-1], str(app_port)], env={**top.env, **environment("broadcast-serve")})
        top.start("worker", exec_start("broadcast-worker", CLI))
        top.start("scheduler", exec_start("broadcast-scheduler", CLI))
        top.start("caddy", [binary, "run", "--adapter", "caddyfile",
                            "--config", str(_caddyfile(tmp_path, https_port, http_port, app_port))],
                  env={**base, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)})
        top.wait_for("simulator", lambda: _answers(f"{top.simulator_url}/_simulator/health"))
        top.wait_for("serve", lambda: _answers(f"http://127.0.0.1:{app_port}/healthz"))
        top.wait_for("caddy's root certificate", ca_file.exists)
        top.ca = ssl.create_default_context(cafile=str(ca_file))
        top.wait_for("https through caddy", lambda: _answers(f"{public_url}/healthz", top.ca))
        yield top
    finally:
        top.stop()
        engine.dispose()
        postgres_server.drop_database(name)


def _counts(engine: Engine, sql: str) -> dict[str, int]:
    with engine.connect() as conn:
        return {str(key): int(value) for key, value in conn.execute(text(sql)).all()}


def test_the_production_topology_sends_receives_and_checks(topology: Topology) -> None:
    top, engine = topology, topology.engine
    seed_contacts(engine, RESIDENTS)
    campaign_id = approved_campaign(engine)
    token = make_user(engine, "admin", username="quantri")
    zone = ZoneInfo("Asia/Ho_Chi_Minh")
    with top.client() as https:
        # Security headers and body limits at the edge.
        health = https.get("/healthz")
        assert health.headers["strict-transport-security"] == "max-age=31536000"
        assert health.headers["x-content-type-options"] == "nosniff" and "server" not in health.headers
        too_big = https.post("/api/v1/sms/estimate", content=b"x" * (1024 * 1024 + 1),
                             headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        assert too_big.status_code == 413  # the app's answer, by Content-Length, before reading the body
        assert _endless_post(f"{top.public_url}/api/v1/sms/estimate", top.ca, token) == 413  # cut past 2 MB

        # The scheduler (its own process) starts the campaign; the worker sends; callbacks come back via Caddy.
        at = (datetime.now(zone) + timedelta(seconds=3)).replace(microsecond=0)
        scheduled = https.put(f"/api/v1/campaigns/{campaign_id}/schedule", json={"at": at.isoformat()},
                              headers={"Authorization": f"Bearer {token}"})
        assert scheduled.status_code == 200, scheduled.text
        top.wait_for("every delivery delivered", lambda: _counts(
            engine, "SELECT status, count(*) FROM delivery GROUP BY status") == {"delivered": RESIDENTS})
        callbacks = loopback.get(f"{top.simulator_url}/_simulator/callbacks").json()["callbacks"]
        assert len(callbacks) == 3 * RESIDENTS  # queued, sent, delivered for each
        assert {(c["url"].split("?")[0], c["status_code"]) for c in callbacks} == {
            (f"{top.public_url}/webhooks/twilio/status", 200)}

        # A resident replies: the simulator signs against the https PUBLIC_BASE_URL, Caddy passes it on.
        control = SimulatorControl(top.simulator_url)
        try:
            reply = control._http.post("/inbound", json={"from": phone(3), "body": "Cho hỏi thủ tục cấp sổ đỏ?",
                                                         "url": f"{top.public_url}/webhooks/twilio/sms"})
        finally:
            control.close()
        answer = reply.json()
        assert (answer["ok"], answer["status"], answer["sid"].startswith("SM")) == (True, 200, True)
        assert _counts(engine, "SELECT from_phone, count(*) FROM inbound_message GROUP BY from_phone") == {phone(3): 1}

        # Forged ones (no signature, or one made with another token) are refused.
        form = {"MessageSid": "SM" + "0" * 32, "From": phone(4), "To": "CAMAU-PBGDP", "Body": "TC",
                "AccountSid": SIM_ACCOUNT_SID}
        assert https.post("/webhooks/twilio/sms", data=form).status_code == 403
        assert https.post("/webhooks/twilio/sms", data=form,
                          headers={"X-Twilio-Signature": "bm90LXRoZS1zaWduYXR1cmU="}).status_code == 403
        status = {"MessageSid": "SM" + "1" * 32, "MessageStatus": "failed", "AccountSid": SIM_ACCOUNT_SID}
        assert https.post("/webhooks/twilio/status", data=status).status_code == 403
        assert _counts(engine, "SELECT count(*), 0 FROM inbound_message") == {"1": 0}

        # The address the sign-in limits key on is Caddy's peer, never what the client claims.
        page = https.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf is not None
        failed = https.post("/login", data={"username": "quantri", "password": "sai-mat-khau", "csrf_token": csrf[1]},
                            headers={"X-Forwarded-For": "203.0.113.9"})
        assert failed.status_code == 401
        def addresses() -> set[str]:  # the request's transaction may commit just after its answer
            return set(_counts(engine, "SELECT address, count(*) FROM login_failure GROUP BY address"))

        top.wait_for("the failed sign-in recorded", lambda: bool(addresses()))
        assert addresses() <= {"127.0.0.1", "::1"}

    # `broadcast check` against the running topology, and with a wrong Twilio token.
    passed = top.check()
    assert passed.returncode == 0 and "✗" not in passed.stdout, passed.stdout + passed.stderr
    assert f"✓ {top.public_url} reaches this very instance" in passed.stdout
    wrong = top.check(TWILIO_AUTH_TOKEN="not-the-token")
    assert wrong.returncode == 1
    assert [line for line in wrong.stdout.splitlines() if line.startswith("✗")] == [
        "✗ Twilio refused the credentials (HTTP 401, code 20003): check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"]
