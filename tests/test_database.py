"""The migrated schema works on both backends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from broadcast.db import make_engine
from broadcast.models import Commune, Contact, metadata
from tests.conftest import BOTH

pytestmark = BOTH  # the database matters here: SQL, locking or types differ


def test_migrations_create_every_table(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert set(metadata.tables) <= tables


def test_datetimes_round_trip_as_aware_utc(engine: Engine) -> None:
    moment = datetime(2026, 3, 1, 7, 30, tzinfo=UTC)
    with Session(engine) as session:
        session.add(Commune(code="32248", province_code="96", name="Xã Đất Mũi"))
        session.add(Contact(phone="+84912345678", commune_code="32248", consent_at=moment))
        session.commit()
    with Session(engine) as session:
        contact = session.exec(select(Contact)).one()
        assert contact.consent_at == moment
        assert contact.consent_at is not None and contact.consent_at.tzinfo is not None


def test_migrations_match_the_models(engine: Engine) -> None:
    """Alembic would generate nothing: every table, column and index of the models is migrated."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    ignorable = {"scheduler_jobs"}  # APScheduler's own job store table
    real = [d for d in differences if not (d[0] == "remove_table" and d[1].name in ignorable)]
    assert real == []


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite has no JIT
def test_postgresql_connections_never_jit_compile(engine: Engine) -> None:
    # A prepared claim's generic plan over a million-row outbox costs above jit_above_cost: each claim compiled
    # 44 functions (0.2-1.5 s of CPU) in the province rehearsal. The engine turns JIT off on its connections.
    with engine.connect() as conn:
        assert conn.execute(text("SHOW jit")).scalar() == "off"
    # Options a DATABASE_URL carries itself are kept beside it.
    with_options = make_engine(engine.url.update_query_dict({"options": "-c statement_timeout=4321"})
                               .render_as_string(hide_password=False))
    try:
        with with_options.connect() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "4321ms"
            assert conn.execute(text("SHOW jit")).scalar() == "off"
    finally:
        with_options.dispose()
