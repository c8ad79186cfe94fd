"""Shared fixtures: a migrated database per test on SQLite and on PostgreSQL, settings, the app.

PostgreSQL comes from TEST_DATABASE_URL (an admin URL; CI sets it) or, when the server binaries are
installed, from a throw-away cluster these fixtures start themselves. Each test gets a fresh database
copied from a template migrated once per session, so tests are isolated and fast.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from broadcast.config import Settings, load_settings
from broadcast.db import make_engine, upgrade
from tests.pg import PostgresServer, find_postgres

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    # Fold the WAL back into the main file so a plain copy is complete.
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = find_postgres()
    if server is None:
        pytest.skip("PostgreSQL is not installed here (.ci/run installs it); set TEST_DATABASE_URL")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_template(postgres_server: PostgresServer) -> str:
    name = f"bt_template_{uuid.uuid4().hex[:8]}"
    postgres_server.create_database(name)
    upgrade(postgres_server.url_for(name))
    return name


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated, empty database on each backend."""
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
        _env_file=None,
    )


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.database_url)
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def _no_stray_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never read the developer's .env or real credentials."""
    for key in list(os.environ):
        if key.startswith(("TWILIO_", "DATABASE_URL", "MEDIA_DIR", "PUBLIC_BASE_URL")):
            monkeypatch.delenv(key, raising=False)
