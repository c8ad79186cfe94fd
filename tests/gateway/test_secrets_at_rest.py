"""Gateway phones' passwords and signing keys are stored encrypted (Fernet), with keys from the settings
that reach every engine; the app still calls the phone with the right credentials; a wrong key is a
clear error; two keys rotate; the migration encrypts what was stored in clear."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from alembic import command
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from broadcast.app import create_app
from broadcast.channels.gateway.channel import sign
from broadcast.channels.gateway.service import get_phone, register_phone
from broadcast.config import Settings, get_settings
from broadcast.crypto import Keyring, UndecryptableSecret, derived_key, rotate_secrets
from broadcast.db import alembic_config, make_engine
from broadcast.models import metadata
from broadcast.simulators.gateway import GatewaySimulator
from tests.conftest import BOTH, make_user

pytestmark = BOTH  # the database matters here: SQL, locking or types differ

KEY_A, KEY_B = Fernet.generate_key().decode(), Fernet.generate_key().decode()
PASSWORD, SIGNING_KEY = "mật-khẩu-máy-01", "khoa-ky-webhook"


def keyed(settings: Settings, keys: str) -> Settings:
    return settings.model_copy(update={"data_encryption_key": SecretStr(keys)})


def stored(engine: Engine, name: str = "xa-1") -> tuple[str, str]:
    """The columns as the database holds them, read with plain SQL."""
    with engine.connect() as conn:
        row = conn.execute(text("SELECT password, signing_key FROM gateway_phone WHERE name = :n"), {"n": name}).one()
    return str(row[0]), str(row[1])


def add_phone(engine: Engine, name: str = "xa-1", base_url: str = "http://127.0.0.1:9") -> None:
    with Session(engine) as session:
        register_phone(session, name=name, base_url=base_url, login="sms", password=PASSWORD,
                       signing_key=SIGNING_KEY)
        session.commit()


@pytest.fixture
def engine_a(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.database_url, settings=keyed(settings, KEY_A))
    yield engine
    engine.dispose()


def test_the_database_holds_no_clear_secret_and_the_app_uses_the_real_ones(settings: Settings,
                                                                           engine_a: Engine) -> None:
    sim = GatewaySimulator("sms", PASSWORD, SIGNING_KEY)  # answers only with these credentials
    url = sim.start()
    app_settings = keyed(settings, KEY_A)
    try:
        with TestClient(create_app(app_settings)) as client:
            client.headers["Authorization"] = f"Bearer {make_user(engine_a, 'admin')}"
            created = client.post("/api/v1/gateways", json={"name": "xa-1", "base_url": url, "login": "sms",
                                                            "password": PASSWORD, "signing_key": SIGNING_KEY})
            assert created.status_code == 201 and created.json()["has_password"]
            password, key = stored(engine_a)
            assert PASSWORD not in password and SIGNING_KEY not in key
            assert password.startswith("gAAAAA") and key.startswith("gAAAAA")  # Fernet tokens
            assert Keyring([KEY_A]).decrypt(password) == PASSWORD

            # The phone accepts the app's basic auth (decrypted password) ...
            assert client.post("/api/v1/gateways/xa-1/check").json()["status"] == "up"
            # ... and the app accepts the phone's webhooks signed with the (decrypted) signing key.
            body = json.dumps({"event": "system:ping", "payload": {}}).encode()
            stamp = str(int(time.time()))
            signed = client.post("/webhooks/gateway/xa-1", content=body,
                                 headers={"X-Timestamp": stamp, "X-Signature": sign(SIGNING_KEY, body, stamp)})
            assert signed.status_code == 200 and signed.json() == {"result": "ping"}
            forged = client.post("/webhooks/gateway/xa-1", content=body,
                                 headers={"X-Timestamp": stamp, "X-Signature": sign(key, body, stamp)})
            assert forged.status_code == 403  # the stored token is not the key
    finally:
        sim.close()


def test_a_wrong_key_is_a_clear_error_not_garbage(settings: Settings, engine_a: Engine) -> None:
    add_phone(engine_a)
    engine_b = make_engine(settings.database_url, settings=keyed(settings, KEY_B))
    try:
        with Session(engine_b) as session, pytest.raises(UndecryptableSecret) as caught:
            get_phone(session, "xa-1")
        assert "DATA_ENCRYPTION_KEY" in caught.value.message
        with TestClient(create_app(keyed(settings, KEY_B))) as client:
            client.headers["Authorization"] = f"Bearer {make_user(engine_b, 'admin')}"
            answer = client.get("/api/v1/gateways")
        assert answer.status_code == 500
        assert answer.json()["error"] == "UndecryptableSecret" and "DATA_ENCRYPTION_KEY" in answer.json()["message"]
    finally:
        engine_b.dispose()


def test_two_keys_read_old_rows_and_rotation_rewrites_them(settings: Settings, engine_a: Engine) -> None:
    add_phone(engine_a)
    before = stored(engine_a)
    both = make_engine(settings.database_url, settings=keyed(settings, f"{KEY_B},{KEY_A}"))
    only_b = make_engine(settings.database_url, settings=keyed(settings, KEY_B))
    try:
        with Session(both) as session:
            phone = get_phone(session, "xa-1")
            assert (phone.password, phone.signing_key) == (PASSWORD, SIGNING_KEY)  # old rows, second key
        assert rotate_secrets(both, metadata) == 2
        after = stored(both)
        assert after != before and Keyring([KEY_B]).decrypt(after[0]) == PASSWORD
        with Session(only_b) as session:
            assert get_phone(session, "xa-1").signing_key == SIGNING_KEY  # the old key is no longer needed
    finally:
        both.dispose()
        only_b.dispose()


def test_every_engine_gets_the_keys_of_its_settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Explicit settings win; an engine made from a URL alone (CLI, tools) uses the process's settings;
    `broadcast db rotate-key` runs with the environment's keys."""
    from broadcast.cli import app as cli

    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("DATA_ENCRYPTION_KEY", f"{KEY_B},{KEY_A}")
    get_settings.cache_clear()
    try:
        plain = make_engine(settings.database_url)
        add_phone(plain)
        assert Keyring([KEY_B]).decrypt(stored(plain)[0]) == PASSWORD  # the environment's first key
        plain.dispose()
        done = CliRunner().invoke(cli, ["db", "rotate-key"])
        assert done.exit_code == 0, done.output
        assert "Đã mã hoá lại 2 giá trị" in done.output
    finally:
        get_settings.cache_clear()


def test_the_migration_encrypts_what_was_stored_in_clear(settings: Settings) -> None:
    """Back to the schema before, a phone stored in clear, then upgrade: encrypted; downgrade: clear again."""
    keys = keyed(settings, KEY_A)
    config = alembic_config(settings.database_url, keys)
    command.downgrade(config, "0007_security")
    engine = make_engine(settings.database_url, settings=keys)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO gateway_phone (name, base_url, login, password, signing_key, "
                              "rate_per_minute, daily_limit, enabled, status, created_at) VALUES "
                              "('xa-1', 'http://127.0.0.1:9', 'sms', :p, :k, 6, 300, true, 'up', CURRENT_TIMESTAMP)"),
                         {"p": PASSWORD, "k": ""})
        command.upgrade(config, "head")
        password, key = stored(engine)
        assert PASSWORD not in password and Keyring([KEY_A]).decrypt(password) == PASSWORD
        assert key == ""  # nothing to hide stays empty
        with Session(engine) as session:
            assert get_phone(session, "xa-1").password == PASSWORD
        command.downgrade(config, "0007_security")
        assert stored(engine) == (PASSWORD, "")
        command.upgrade(config, "head")
    finally:
        engine.dispose()


def test_without_a_key_of_its_own_the_key_is_derived_from_secret_key(settings: Settings) -> None:
    other = settings.model_copy(update={"secret_key": SecretStr("another-secret-key-of-32-characters")})
    assert derived_key("x") == derived_key("x") != derived_key("y")
    token = settings.keyring.encrypt(PASSWORD)
    assert Keyring([derived_key(settings.secret_key.get_secret_value())]).decrypt(token) == PASSWORD
    with pytest.raises(UndecryptableSecret):
        other.keyring.decrypt(token)
    # Once DATA_ENCRYPTION_KEY is set, what the derived key wrote is still read (then rotated).
    assert keyed(settings, KEY_A).keyring.decrypt(token) == PASSWORD
