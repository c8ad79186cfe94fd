"""Backup while a campaign is sending, restore into a fresh database: every row and clip back, the app starts."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from broadcast.app import create_app
from broadcast.audio.models import AudioClip
from broadcast.audio.service import render_clip_now, request_clip
from broadcast.audio.text.pronunciation import save_dictionary
from broadcast.audio.views import clip_public
from broadcast.channels.core.dispatcher import Dispatcher
from broadcast.channels.twilio.sms import TwilioSmsChannel
from broadcast.config import Settings
from broadcast.db import make_engine, session_scope
from broadcast.ops.backup import MANIFEST, SKIPPED_MEDIA, backup, sha256_of
from broadcast.ops.errors import BackupError
from broadcast.ops.restore import restore
from broadcast.simulators.twilio import TwilioSimulator
from tests.conftest import make_user
from tests.support.seed import approved_campaign, seed_contacts, start, wait_until

ROOT = Path(__file__).resolve().parents[2]
# Tables whose rows a sending campaign never changes: they must come back identical, column by column.
STILL = {"contact": "id, phone, full_name, commune_code", "commune": "code, name", "user": "id, username, role",
         "campaign_content": "id, campaign_id, channel, body", "audio_clip": "id, content_hash, file_path, status"}


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: int(conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one())
                for t in sorted(inspect(conn).get_table_names())}


def digest(engine: Engine, table: str, columns: str, order: str = "1") -> str:
    with engine.connect() as conn:
        rows = conn.execute(text(f'SELECT {columns} FROM "{table}" ORDER BY {order}')).all()
    return hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()


def accepted(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(DISTINCT delivery_id) FROM delivery_attempt "
                                     "WHERE outcome = 'accepted'")).scalar_one())


def inconsistencies(engine: Engine) -> tuple[int, int]:
    """Rows a torn copy would show: an accepted attempt on a row not sent (both are written in one transaction),
    and a sent row without the attempt written when it was claimed."""
    sent = "('sent', 'delivered', 'undelivered')"
    with engine.connect() as conn:
        torn = conn.execute(text(f"SELECT count(*) FROM delivery_attempt a JOIN delivery d ON d.id = a.delivery_id "
                                 f"WHERE a.outcome = 'accepted' AND d.status NOT IN {sent}")).scalar_one()
        orphan = conn.execute(text(f"SELECT count(*) FROM delivery d WHERE d.status IN {sent} AND NOT EXISTS "
                                   "(SELECT 1 FROM delivery_attempt a WHERE a.delivery_id = d.id)")).scalar_one()
    return int(torn), int(orphan)


def media_files(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): sha256_of(p) for p in sorted(root.rglob("*")) if p.is_file()
            and not p.name.startswith(".")}


@pytest.fixture
def fresh(request: pytest.FixtureRequest, live_settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """Settings for an empty database of the same engine, and an empty MEDIA_DIR."""
    if live_settings.is_sqlite:
        yield live_settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'restored.db'}",
                                               "media_dir": tmp_path / "restored-media"})
        return
    server = request.getfixturevalue("postgres_server")
    name = f"bt_restore_{uuid.uuid4().hex[:10]}"
    server.create_database(name)
    try:
        yield live_settings.model_copy(update={"database_url": server.url_for(name),
                                               "media_dir": tmp_path / "restored-media"})
    finally:
        server.drop_database(name)


def test_backup_while_sending_then_restore_brings_back_every_row_and_clip(
        live_app: str, live_settings: Settings, live_engine: Engine, sim: TwilioSimulator, fresh: Settings,
        tmp_path: Path) -> None:
    token = make_user(live_engine, "admin", username="admin")
    seed_contacts(live_engine, 300)
    campaign_id = approved_campaign(live_engine)
    save_dictionary(live_settings.media_dir, {"PBGDPL": "phổ biến giáo dục pháp luật"})
    (live_settings.media_dir / "uploads").mkdir(parents=True, exist_ok=True)
    (live_settings.media_dir / "uploads" / "ban-thu.bin").write_bytes(b"\x00recording\xff" * 100)
    with session_scope(live_engine) as session:
        clip_id = request_clip(session, live_settings, text="Luật PBGDPL 2012", campaign_id=campaign_id).id
    assert clip_id is not None
    clip = render_clip_now(live_engine, live_settings, clip_id)
    assert clip.status == "ready"
    start(live_engine, campaign_id)

    dispatcher = Dispatcher(live_engine, live_settings, TwilioSmsChannel(live_settings, api_base_url=sim.base_url),
                            rate_per_second=40)  # 300 messages: about 7 seconds of sending
    stop = dispatcher.start()
    try:
        wait_until(lambda: accepted(live_engine) >= 20)
        before = counts(live_engine)
        summary = backup(live_settings, tmp_path / "backup")
        after = counts(live_engine)
        still_queued = int(Session(live_engine).execute(
            text("SELECT count(*) FROM delivery WHERE status = 'queued'")).scalar_one())
    finally:
        stop()
    assert still_queued > 0, "the backup finished after the campaign: it did not run during sending"
    assert summary.files >= 4  # the database, the clip, its recipe, the dictionary, the upload

    restore(fresh, tmp_path / "backup")
    restored_engine = make_engine(fresh.database_url, settings=fresh)
    try:
        restored = counts(restored_engine)
        assert set(restored) == set(before)
        for table, n in restored.items():  # a snapshot taken between the two counts
            assert min(before[table], after[table]) <= n <= max(before[table], after[table]), table
        for table, columns in STILL.items():
            assert restored[table] == before[table] == after[table]
            assert digest(restored_engine, table, columns) == digest(live_engine, table, columns), table
        delivery = "id, run_id, contact_id, to_phone, channel"
        assert digest(restored_engine, "delivery", delivery) == digest(live_engine, "delivery", delivery)
        assert inconsistencies(restored_engine) == (0, 0)  # one moment of the sending, whole
        assert 20 <= accepted(restored_engine) < 300
    finally:
        restored_engine.dispose()

    source_media = {k: v for k, v in media_files(live_settings.media_dir).items()
                    if not k.startswith(tuple(f"{skipped}/" for skipped in SKIPPED_MEDIA))}
    assert media_files(fresh.media_dir) == source_media
    assert any(k.startswith("clips/") and k.endswith(".mp3") for k in source_media)

    with TestClient(create_app(fresh)) as client:  # the service starts on the restored database
        client.headers["Authorization"] = f"Bearer {token}"
        assert client.get("/healthz").status_code == 200
        assert client.get(f"/api/v1/campaigns/{campaign_id}").json()["id"] == campaign_id
        assert client.get("/api/v1/contacts", params={"limit": 1}).json()["total"] == 300
        with Session(make_engine(fresh.database_url, settings=fresh)) as session:
            row = session.get(AudioClip, clip_id)
            assert row is not None
            url = clip_public(row, fresh).url
            assert url is not None
        download = client.get(httpx.URL(url).raw_path.decode())
        assert download.status_code == 200
        assert download.content == (live_settings.media_dir / row.file_path).read_bytes()


def test_restore_refuses_a_damaged_backup_and_a_database_that_is_not_empty(
        settings: Settings, engine: Engine, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    seed_contacts(engine, 10)
    (settings.media_dir / "clips").mkdir(parents=True)
    (settings.media_dir / "clips" / "a.mp3").write_bytes(b"ID3" + b"\x01" * 500)
    backup(settings, tmp_path / "b")
    with pytest.raises(BackupError, match="không trống"):
        backup(settings, tmp_path / "b")  # never over another backup

    with pytest.raises(BackupError, match=r"không trống \(\d+ bảng\).*--force"):
        restore(settings, tmp_path / "b")  # the database it came from: not empty

    damaged = tmp_path / "damaged"
    shutil.copytree(tmp_path / "b", damaged)
    clip = damaged / "media" / "clips" / "a.mp3"
    clip.write_bytes(clip.read_bytes()[:-1] + b"\x02")
    other = settings.model_copy(update={"media_dir": tmp_path / "other-media"})
    with pytest.raises(BackupError, match=r"^Bản sao lưu hỏng: media/clips/a\.mp3 có SHA-256 khác"):
        restore(other, damaged, force=True)
    (damaged / "media" / "clips" / "a.mp3").unlink()
    with pytest.raises(BackupError, match=r"thiếu tệp media/clips/a\.mp3"):
        restore(other, damaged, force=True)
    assert not other.media_dir.exists()  # nothing touched

    with session_scope(engine) as session:  # --force replaces the database as it is now
        session.execute(text("DELETE FROM contact WHERE id > 3"))
    restore(settings, tmp_path / "b", force=True)
    assert counts(engine)["contact"] == 10


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_commands_exit_non_zero_with_one_line(settings: Settings, engine: Engine, tmp_path: Path) -> None:
    seed_contacts(engine, 3)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DATABASE_URL": settings.database_url,
           "MEDIA_DIR": str(settings.media_dir)}

    def broadcast(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "broadcast.cli", *args], env={**env, **extra}, cwd=ROOT,
                              capture_output=True, text=True, timeout=120)

    done = broadcast("backup", str(tmp_path / "b"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "b" / MANIFEST).is_file()
    refused = broadcast("restore", str(tmp_path / "b"))
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1
    assert "--force" in refused.stderr
    target = f"sqlite:///{tmp_path / 'new.db'}"
    restored = broadcast("restore", str(tmp_path / "b"), DATABASE_URL=target)
    assert restored.returncode == 0, restored.stderr
    check: Any = make_engine(target, settings=settings)
    assert counts(check)["contact"] == 3
    check.dispose()
