"""`broadcast backup DIR`: a consistent copy of the database and MEDIA_DIR, with a manifest of checksums.

The database first: PostgreSQL through `pg_dump --format=custom` (one snapshot, while the service keeps
sending), SQLite through its online backup API (a read transaction: never a file copy of a live WAL
database). Then the media — clips, uploads, the pronunciation dictionary — copied file by file, each
checksummed as copied, so the manifest describes exactly what the backup holds. A clip the database
names was written before its row, so it is on disk by the time the media are copied.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text

from broadcast import __version__
from broadcast.config import Settings
from broadcast.db import make_engine, utcnow
from broadcast.ops import pgtools
from broadcast.ops.errors import BackupError

MANIFEST = "manifest.json"
FORMAT = "broadcast-backup/1"
PG_FILE, SQLITE_FILE, MEDIA = "database.dump", "database.sqlite3", "media"
# import previews: temporary, deleted within the hour; the webhook journal (default MEDIA_DIR/journal): events
# waiting for this database, which must never be replayed into another one restored from the backup
SKIPPED_MEDIA = ("imports", "journal")
_CHUNK = 1024 * 1024


@dataclass
class BackupSummary:
    directory: Path
    engine: str
    files: int
    bytes: int
    alembic_revision: str | None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def sqlite_path(database_url: str) -> Path:
    path = database_url.split("///", 1)[-1]
    if not path or path == ":memory:":
        raise BackupError("DATABASE_URL là SQLite trong bộ nhớ: không có gì để sao lưu hay khôi phục")
    return Path(path)


def server_major(database_url: str, settings: Settings) -> int:
    engine = make_engine(database_url, settings=settings)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000
    finally:
        engine.dispose()


def _revision_of(database_url: str, settings: Settings) -> str | None:
    engine = make_engine(database_url, settings=settings)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception:  # no alembic_version table: a database never migrated
        return None
    finally:
        engine.dispose()


def _dump_postgres(settings: Settings, target: Path) -> dict[str, Any]:
    major = server_major(settings.database_url, settings)
    program = pgtools.find_program("pg_dump", major)
    url, env = pgtools.libpq(settings.database_url)
    pgtools.run([program, "--format=custom", "--file", str(target), "--dbname", url], env, "pg_dump")
    return {"engine": "postgresql", "file": target.name, "server_major": major}


def _dump_sqlite(settings: Settings, target: Path) -> dict[str, Any]:
    source_path = sqlite_path(settings.database_url)
    if not source_path.exists():
        raise BackupError(f"Không có cơ sở dữ liệu SQLite tại {source_path}")
    source = sqlite3.connect(source_path, timeout=30)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)  # all pages in one step, under one read transaction: a consistent snapshot
        if copy.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            raise BackupError("Bản sao SQLite không vượt qua PRAGMA quick_check")
    finally:
        copy.close()
        source.close()
    return {"engine": "sqlite", "file": target.name}


def _copy_media(media_dir: Path, target: Path) -> list[Path]:
    """Copy every media file (but temporary import previews); the copies' relative paths."""
    copied: list[Path] = []
    if not media_dir.is_dir():
        return copied
    for root, dirs, names in os.walk(media_dir):
        rel_root = Path(root).relative_to(media_dir)
        if rel_root == Path("."):
            dirs[:] = [d for d in dirs if d not in SKIPPED_MEDIA]
        dirs.sort()
        for name in sorted(names):
            source = Path(root) / name
            if not source.is_file() or name.startswith("."):
                continue  # a file being written: the audio code renames it into place once complete
            destination = target / rel_root / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            try:
                shutil.copy2(source, destination)
            except FileNotFoundError:  # removed while we walked (a replaced preview, a rewritten recipe)
                continue
            copied.append(destination)
    return copied


def backup(settings: Settings, directory: Path) -> BackupSummary:
    """Write a backup of DATABASE_URL and MEDIA_DIR into `directory` (new, or empty)."""
    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()):
        raise BackupError(f"Thư mục {directory} không trống: chọn một thư mục mới cho bản sao lưu")
    directory.mkdir(parents=True, exist_ok=True)
    started = utcnow()
    if settings.is_sqlite:
        database = _dump_sqlite(settings, directory / SQLITE_FILE)
        revision = _revision_of(f"sqlite:///{directory / SQLITE_FILE}", settings)
    else:
        revision = _revision_of(settings.database_url, settings)
        database = _dump_postgres(settings, directory / PG_FILE)
    files = [directory / database["file"], *_copy_media(Path(settings.media_dir), directory / MEDIA)]
    entries = {}
    for path in files:  # checksums of the copies: what the backup really holds
        entries[path.relative_to(directory).as_posix()] = {"sha256": sha256_of(path), "bytes": path.stat().st_size}
    manifest = {"format": FORMAT, "created_at": started.isoformat(), "finished_at": utcnow().isoformat(),
                "app_version": __version__, "alembic_revision": revision, "database": database, "files": entries}
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return BackupSummary(directory, database["engine"], len(entries), sum(e["bytes"] for e in entries.values()),
                         revision)
