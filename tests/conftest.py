"""Shared fixtures: a migrated database per test on SQLite and on PostgreSQL, settings, the app.

PostgreSQL comes from TEST_DATABASE_URL (an admin URL; CI sets it) or, when the server binaries are
installed, from a throw-away cluster these fixtures start themselves. Each test gets a fresh database
copied from a template migrated once per session, so tests are isolated and fast.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy.engine import Engine

from broadcast.config import Settings, load_settings
from broadcast.db import make_engine, upgrade
from tests.pg import PostgresServer, find_postgres
from tests.support.needs import missing
from tests.support.routes import share_route_builds

BACKENDS = ["sqlite", "postgresql"]
BOTH = pytest.mark.databases(*BACKENDS)  # `pytestmark = BOTH`: where the database matters

# CI runs property tests derandomised (HYPOTHESIS_PROFILE=ci in .ci/run): a red build is reproducible and
# never depends on the draw of the day; developers' runs keep exploring new examples.
hypothesis_settings.register_profile("ci", derandomize=True, deadline=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
share_route_builds()  # FastAPI builds each route once per process, not once per test's app


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    # Fold the WAL back into the main file so a plain copy is complete.
    engine = make_engine(f"sqlite:///{path}")
    raw = engine.raw_connection()  # outside a transaction: a checkpoint cannot run inside one
    raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw.close()
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = find_postgres()
    if server is None:
        missing("PostgreSQL (or TEST_DATABASE_URL)")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_template(postgres_server: PostgresServer) -> Iterator[str]:
    name = f"bt_template_{uuid.uuid4().hex[:8]}"  # one per pytest-xdist worker
    postgres_server.create_database(name)
    upgrade(postgres_server.url_for(name))
    yield name
    postgres_server.drop_database(name)  # a shared server (TEST_DATABASE_URL) keeps no leftovers


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Which databases a test runs on: SQLite unless the database matters.

    `@pytest.mark.databases("sqlite", "postgresql")` (a module's `pytestmark` or a test's) runs it on both, where
    SQL, locking or types differ between them; a `slow` test runs once, on PostgreSQL, the production engine.
    A test that parametrizes `database_url` itself keeps its own choice.
    """
    if "database_url" not in metafunc.fixturenames:
        return
    if any("database_url" in (m.args[0] if m.args else "") for m in metafunc.definition.iter_markers("parametrize")):
        return
    chosen = metafunc.definition.get_closest_marker("databases")
    if chosen is not None:
        backends = list(chosen.args)
    elif metafunc.definition.get_closest_marker("slow") is not None:
        backends = ["postgresql"]
    else:
        backends = ["sqlite"]
    metafunc.parametrize("database_url", backends, indirect=True)


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> Iterator[None]:
    """Hash test passwords with argon2id at its minimum cost: the suite creates hundreds of accounts, and the
    production parameters (about 60 ms each) are the library's defaults, tested by tests/accounts."""
    from argon2 import PasswordHasher

    from broadcast.accounts import security

    real = security._hasher
    security._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    security._hasher = real


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated, empty database on the backend chosen for the test (see pytest_generate_tests)."""
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    template: str = request.getfixturevalue("postgres_template")
    name = f"bt_{uuid.uuid4().hex[:12]}"
    server.create_database(name, template=template)
    try:
        yield server.url_for(name)
    finally:
        server.drop_database(name)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return load_settings(
        database_url=database_url,
        media_dir=tmp_path / "media",
        public_base_url="http://testserver",
        sms_rate_per_second=1000,  # tests of pacing set their own rate; the others need not wait at 10/s
        _env_file=None,
    )


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.database_url, settings=settings)
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def _no_stray_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read the developer's .env or real credentials."""
    for key in list(os.environ):
        if key.startswith(("TWILIO_", "DATABASE_URL", "MEDIA_DIR", "PUBLIC_BASE_URL", "SECRET_KEY",
                           "DATA_ENCRYPTION_KEY")):
            monkeypatch.delenv(key, raising=False)


# ---- a live app on loopback (for webhooks the simulator calls) ---------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings whose PUBLIC_BASE_URL is the address `live_app` will serve on."""
    port = free_port()
    return load_settings(
        database_url=database_url,
        media_dir=tmp_path / "media",
        public_base_url=f"http://127.0.0.1:{port}",
        twilio_simulator=False,
        twilio_timeout_seconds=3,
        dispatcher_lease_seconds=5,
        retry_base_seconds=0.05,
        retry_max_seconds=0.5,
        dispatcher_poll_seconds=0.05,
        sms_rate_per_second=2000,
        quiet_hours_start="00:00",
        quiet_hours_end="00:00",
        _env_file=None,
    )


@pytest.fixture
def live_app(live_settings: Settings) -> Iterator[str]:
    """The web app served by uvicorn on PUBLIC_BASE_URL's port (no background services)."""
    from broadcast.app import create_app
    from broadcast.simulators.threaded import serve_in_thread

    port = int(live_settings.public_base_url.rsplit(":", 1)[1])
    served = serve_in_thread(create_app(live_settings), "127.0.0.1", port, name="app", lifespan="on", timeout=15)
    yield live_settings.public_base_url
    served.stop()


def make_user(engine: Engine, role: str, *, username: str | None = None, communes: list[str] | None = None,
              password: str = "mat-khau-demo") -> str:
    """Create a user with `role`; returns a personal API token for it."""
    from sqlmodel import Session

    from broadcast.accounts import service

    with Session(engine) as session:
        user = service.create_user(session, username=username or f"{role}-{uuid.uuid4().hex[:6]}",
                                   password=password, role=role, communes=communes or [])
        token = service.create_token(session, user)
        session.commit()
    return token


@pytest.fixture
def anonymous_client(settings: Settings) -> Iterator[Any]:
    """The app in-process (FastAPI TestClient), lifespan run, no background services, not logged in."""
    from fastapi.testclient import TestClient

    from broadcast.app import create_app

    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def client(anonymous_client: Any, engine: Engine) -> Any:
    """The app as an admin (Bearer token)."""
    anonymous_client.headers["Authorization"] = f"Bearer {make_user(engine, 'admin', username='admin')}"
    return anonymous_client


@pytest.fixture
def client_with(settings: Settings, engine: Engine) -> Iterator[Callable[..., Any]]:
    """Build admin clients on apps whose settings are overridden (e.g. lower limits keep test files small)."""
    from fastapi.testclient import TestClient

    from broadcast.app import create_app

    token = make_user(engine, "admin", username="admin")
    with contextlib.ExitStack() as stack:

        def make(**overrides: Any) -> TestClient:
            client = stack.enter_context(TestClient(create_app(settings.model_copy(update=overrides))))
            client.headers["Authorization"] = f"Bearer {token}"
            return client

        yield make


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The process's temporary directory for this test, to check that nothing is left in it."""
    import tempfile

    directory = tmp_path / "scratch"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


@pytest.fixture
def live_engine(live_settings: Settings) -> Iterator[Engine]:
    """An engine on the live app's database (for seeding and checking from the test)."""
    engine = make_engine(live_settings.database_url, settings=live_settings)
    yield engine
    engine.dispose()


@pytest.fixture
def sim(live_settings: Settings) -> Iterator[Any]:
    """A Twilio simulator with the live settings' credentials, on a free loopback port."""
    from broadcast.simulators.twilio import TwilioSimulator

    with TwilioSimulator(live_settings.twilio_account_sid,
                         live_settings.twilio_auth_token.get_secret_value()) as simulator:
        yield simulator
