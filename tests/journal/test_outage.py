"""Which real database errors count as an outage (journal the event) and which are bugs (answer 500)."""

from __future__ import annotations

import logging
import socket
import sqlite3

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from broadcast.journal.outage import QuietFailures, unavailable
from tests.conftest import BOTH

pytestmark = BOTH


def error_of(engine: Engine, *statements: str) -> BaseException:
    with pytest.raises(DBAPIError) as caught, engine.connect() as conn:
        for statement in statements:
            conn.execute(text(statement))
    return caught.value


def test_outages_are_told_apart_from_bugs(engine: Engine, database_url: str) -> None:
    assert unavailable(error_of(engine, "SELECT * FROM no_such_table")) is None
    assert unavailable(error_of(engine, "INSERT INTO commune (code) VALUES (NULL)")) is None
    if engine.dialect.name == "sqlite":
        path = database_url.split("///", 1)[1]
        locker = sqlite3.connect(path, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            impatient = create_engine(database_url, connect_args={"timeout": 0.1})
            assert unavailable(error_of(impatient, "BEGIN IMMEDIATE")) == "SQLite: database is locked"
        finally:
            locker.execute("ROLLBACK")
        return
    with socket.socket() as probe:  # a port nobody listens on: the server is down
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = create_engine(f"postgresql+psycopg://nobody@127.0.0.1:{port}/nothing")
    assert unavailable(error_of(down, "SELECT 1")) == "connection refused"
    assert unavailable(error_of(engine, "SET TRANSACTION READ ONLY",
                                "INSERT INTO commune (code, province_code, name) VALUES ('1', '96', 'x')")) \
        == "read-only"
    assert unavailable(error_of(engine, "SET statement_timeout = 10", "SELECT pg_sleep(1)")) == "statement timeout"
    with engine.connect() as holder:
        holder.execute(text("LOCK TABLE commune IN ACCESS EXCLUSIVE MODE"))
        assert unavailable(error_of(engine, "SET lock_timeout = 10", "SELECT * FROM commune")) == "lock timeout"


def test_a_background_loop_logs_an_outage_once(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tests.quiet")
    quiet = QuietFailures(logger, "a loop")
    outage = OSError("the provider's bug")
    with caplog.at_level(logging.INFO, logger="tests.quiet"):
        for _ in range(5):
            try:
                raise DBAPIError("SELECT 1", {}, sqlite3.OperationalError("database is locked"))
            except DBAPIError as exc:
                quiet.failed(exc)
        quiet.succeeded()
        quiet.succeeded()
        try:
            raise outage
        except OSError as exc:
            quiet.failed(exc)
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "a loop: database unavailable (SQLite: database is locked); retrying quietly until it answers"
    assert lines[1].startswith("a loop: database available again after ") and lines[1].endswith("(5 rounds failed)")
    assert lines[2] == "a loop failed; retrying shortly" and caplog.records[2].exc_info is not None
    assert len(lines) == 3
