"""No request holds the database while it waits on a phone: the phone, while answering, can take the
write lock itself without waiting (SQLite: BEGIN IMMEDIATE with timeout 0; PostgreSQL: the phone's row
FOR UPDATE NOWAIT, and no connection of the app left idle inside a transaction)."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from broadcast.audit.models import AuditLog
from broadcast.channels.gateway.service import get_phone, register_phone
from broadcast.config import Settings
from tests.conftest import BOTH, make_user
from tests.web.conftest import csrf_of, login, seed_web

pytestmark = BOTH  # the database matters here: SQL, locking or types differ


class LockProbe:
    """Tries, from outside the app, to take the database's write lock at once; records whether it could."""

    def __init__(self, database_url: str, phone: str) -> None:
        self.url, self.phone = database_url, phone
        self.results: list[bool] = []

    def __call__(self) -> None:
        self.results.append(self._sqlite() if self.url.startswith("sqlite") else self._postgresql())

    def _sqlite(self) -> bool:
        conn = sqlite3.connect(self.url.split("///", 1)[1], timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError:  # "database is locked"
            return False
        finally:
            conn.close()

    def _postgresql(self) -> bool:
        with psycopg.connect(self.url.replace("postgresql+psycopg://", "postgresql://")) as conn:
            try:
                conn.execute("SELECT id FROM gateway_phone WHERE name = %s FOR UPDATE NOWAIT", (self.phone,))
            except psycopg.errors.LockNotAvailable:
                return False
            idle = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'").fetchone()
            conn.rollback()
            return idle is not None and idle[0] == 0


class FakePhone:
    """A phone's local-server API on loopback that probes the lock while it handles each request."""

    def __init__(self, probe: LockProbe) -> None:
        phone = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int, body: Any) -> None:
                probe()
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                phone.paths.append(("GET", self.path, self.headers.get("Authorization", "")))
                self._answer(200, {"status": "pass", "version": "fake", "releaseId": 1, "checks": {}})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                phone.paths.append(("POST", self.path, self.headers.get("Authorization", "")))
                self._answer(201, {"id": body.get("id"), "url": body["url"], "event": body["event"]})

            def log_message(self, *_args: Any) -> None:
                pass

        self.paths: list[tuple[str, str, str]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakePhone:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def probe(settings: Settings) -> LockProbe:
    return LockProbe(settings.database_url, "xa-dat-mui-1")


@pytest.fixture
def fake_phone(engine: Engine, probe: LockProbe) -> Iterator[FakePhone]:
    with FakePhone(probe) as phone:
        with Session(engine) as session:
            register_phone(session, name="xa-dat-mui-1", base_url=phone.url, login="sms", password="mat-khau-may",
                           signing_key="khoa")
            session.commit()
        yield phone


def _audit(engine: Engine, action: str) -> list[AuditLog]:
    with Session(engine) as session:
        return list(session.exec(select(AuditLog).where(AuditLog.action == action).order_by(col(AuditLog.id))))


def test_the_api_check_and_webhook_registration_hold_no_lock(
    anonymous_client: Any, engine: Engine, fake_phone: FakePhone, probe: LockProbe
) -> None:
    token = make_user(engine, "admin", username="quan-tri")
    admin = {"Authorization": f"Bearer {token}"}
    checked = anonymous_client.post("/api/v1/gateways/xa-dat-mui-1/check", headers=admin)
    assert checked.status_code == 200 and checked.json()["status"] == "up"
    hooks = anonymous_client.post("/api/v1/gateways/xa-dat-mui-1/webhooks", headers=admin)
    assert hooks.status_code == 200 and len(hooks.json()["webhooks"]) == 4

    assert probe.results == [True] * 5  # the health check and four webhooks: never locked out
    assert fake_phone.paths[0][:2] == ("GET", "/health") and fake_phone.paths[0][2].startswith("Basic ")
    with Session(engine) as session:
        phone = get_phone(session, "xa-dat-mui-1")
        assert phone.status == "up" and phone.last_seen_at is not None
    [check] = _audit(engine, "gateway.check")
    [webhooks] = _audit(engine, "gateway.webhooks")
    assert (check.actor, webhooks.actor) == ("quan-tri", "quan-tri") and check.actor_id is not None
    assert check.after == {"status": "up", "error": None}


def test_the_page_check_and_webhook_registration_hold_no_lock(
    anonymous_client: Any, engine: Engine, fake_phone: FakePhone, probe: LockProbe
) -> None:
    seed_web(engine)
    login(anonymous_client, "admin")
    token = csrf_of(anonymous_client, "/admin/gateways")
    for action in ("check", "webhooks"):
        done = anonymous_client.post(f"/admin/gateways/xa-dat-mui-1/{action}", data={"csrf_token": token},
                                     follow_redirects=False)
        assert done.status_code == 303

    assert probe.results == [True] * 5
    assert [a.actor for a in _audit(engine, "gateway.check") + _audit(engine, "gateway.webhooks")] == ["admin"] * 2
