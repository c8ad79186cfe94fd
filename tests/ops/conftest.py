"""Fixtures for `broadcast check`: a production-like configuration, the app served over TLS, the Twilio simulator."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography.fernet import Fernet

from broadcast.config import load_settings
from broadcast.simulators.threaded import ThreadedServer, serve_in_thread
from broadcast.simulators.twilio import TwilioSimulator
from broadcast.simulators.twilio.testing import SIM_ACCOUNT_SID, SIM_AUTH_TOKEN
from tests.conftest import free_port


@dataclass
class Production:
    """Settings overrides of a production configuration (https, real-looking secrets, Twilio at the simulator)."""

    overrides: dict[str, Any]
    ca_file: Path  # trusts the live app's certificate (SSL_CERT_FILE is set to it for the test)

    def env(self) -> dict[str, str]:
        """The same configuration as environment variables, for `broadcast check` in a child process."""
        return {name.upper(): str(value) for name, value in self.overrides.items() if not name.startswith("_")}


def serve_tls(settings_overrides: dict[str, Any], port: int, cert: trustme.LeafCert, tmp_path: Path
              ) -> ThreadedServer:
    """The app (no background services) over https on loopback with a certificate from the test CA."""
    from broadcast.app import create_app

    chain = tmp_path / "server.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(chain))
    app = create_app(load_settings(**settings_overrides))
    return serve_in_thread(app, "127.0.0.1", port, name="app", lifespan="on", timeout=15, ssl_certfile=str(chain))


@pytest.fixture
def twilio() -> Iterator[TwilioSimulator]:
    with TwilioSimulator(SIM_ACCOUNT_SID, SIM_AUTH_TOKEN) as simulator:
        yield simulator


@pytest.fixture
def production(database_url: str, tmp_path: Path, twilio: TwilioSimulator,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[Production]:
    """A production configuration whose PUBLIC_BASE_URL is this app, served over TLS on a free port."""
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # httpx (the check's client) trusts the test CA
    port = free_port()
    (tmp_path / "media").mkdir()
    overrides: dict[str, Any] = {
        "database_url": database_url, "media_dir": tmp_path / "media",
        "public_base_url": f"https://localhost:{port}", "secret_key": "s" * 48,
        "data_encryption_key": Fernet.generate_key().decode(), "forwarded_allow_ips": "127.0.0.1",
        "twilio_simulator": False, "twilio_account_sid": SIM_ACCOUNT_SID, "twilio_auth_token": SIM_AUTH_TOKEN,
        "twilio_api_base_url": twilio.base_url, "twilio_from": "CAMAU-PBGDP", "_env_file": None,
    }
    served = serve_tls(overrides, port, ca.issue_cert("localhost", "127.0.0.1"), tmp_path)
    try:
        yield Production(overrides, ca_file)
    finally:
        served.stop()
