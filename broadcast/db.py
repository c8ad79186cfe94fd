"""Engine, sessions, column types and migrations: SQLite (WAL) by default, PostgreSQL via DATABASE_URL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, TypeDecorator, event
from sqlalchemy.engine import Dialect, Engine, make_url
from sqlmodel import Session, create_engine

from broadcast.config import Settings, get_settings
from broadcast.crypto import attach

# Integer primary keys that stay 64-bit on PostgreSQL while remaining SQLite's rowid alias.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; attach a time zone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event open transactions itself (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # IMMEDIATE takes the write lock up front and so waits (busy_timeout) for another writer; a deferred
    # transaction that reads and then writes fails at once with "database is locked" under WAL.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, *, settings: Settings | None = None, **kwargs: Any) -> Engine:
    """Create an engine for DATABASE_URL; SQLite gets WAL, foreign keys and a generous busy timeout.

    The engine carries the encryption keys of `settings` (default: the process's settings), which its
    encrypted columns use: every engine is made here, so none is without them.
    """
    settings = settings or get_settings()
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    else:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
        # A server that drops packets must not hold a request (or a webhook) for the OS's two minutes.
        # JIT off: psycopg prepares a statement after five runs, and the generic plan of a claim (LIMIT unknown)
        # or of a campaign count is estimated above jit_above_cost on a million-row outbox, so each run compiled
        # 44 functions first: claims took 0.2-1.5 s of CPU instead of 10 ms in the province rehearsal. Nothing
        # here is an analytical query that JIT would repay.
        given = make_url(url).query.get("options", "")  # a DATABASE_URL's own options (search_path…) are kept
        options = " ".join([*([given] if isinstance(given, str) else given), "-c jit=off"]).strip()
        connect_args = {"connect_timeout": max(2, round(settings.database_connect_timeout_seconds)),
                        "options": options, **kwargs.pop("connect_args", {})}
        engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)
    attach(engine, settings.keyring)
    return engine


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """The one place work outside a request commits: commit on success, roll back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def alembic_config(url: str, settings: Settings | None = None) -> Any:
    from alembic.config import Config

    here = Path(__file__).parent / "migrations"
    cfg = Config(str(here / "alembic.ini"))
    cfg.set_main_option("script_location", str(here))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["settings"] = settings  # the migrations' engine encrypts with these keys
    return cfg


def upgrade(url: str, revision: str = "head", *, settings: Settings | None = None) -> None:
    """Apply Alembic migrations up to `revision` (the app and `broadcast db upgrade` both call this)."""
    from alembic import command

    if url.startswith("sqlite"):
        make_engine(url, settings=settings).dispose()  # creates the parent directory
    command.upgrade(alembic_config(url, settings), revision)


@contextmanager
def migrated_engine(settings: Settings) -> Iterator[Engine]:
    """The database brought up to date, as an engine disposed on exit (for commands that run once)."""
    upgrade(settings.database_url, settings=settings)
    engine = make_engine(settings.database_url, settings=settings)
    try:
        yield engine
    finally:
        engine.dispose()


def after_commit(session: Session, callback: Callable[[], object]) -> None:
    """Run `callback` once the session's transaction has committed (never if it rolls back).

    Work handed to another thread or process (a render, the scheduler's wake-up) must see the committed
    rows, not the state from before; one mechanism for services, routes and pages alike.
    """
    event.listen(session, "after_commit", lambda _session: callback(), once=True)
