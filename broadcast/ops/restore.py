"""`broadcast restore DIR`: check a backup's checksums, then load it into DATABASE_URL and MEDIA_DIR.

The database DATABASE_URL names must be empty (no tables) unless `--force`, which replaces it. Nothing
is touched before every file of the backup has matched its checksum.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text

from broadcast.config import Settings
from broadcast.db import alembic_config, make_engine
from broadcast.ops import pgtools
from broadcast.ops.backup import FORMAT, MANIFEST, MEDIA, server_major, sha256_of, sqlite_path
from broadcast.ops.errors import BackupError


@dataclass
class RestoreSummary:
    engine: str
    media_files: int
    alembic_revision: str | None


def read_manifest(directory: Path) -> dict[str, Any]:
    path = Path(directory) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(f"{directory} không phải bản sao lưu: thiếu {MANIFEST}") from None
    except (ValueError, UnicodeDecodeError):
        raise BackupError(f"Bản sao lưu hỏng: {MANIFEST} không đọc được") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT \
            or not isinstance(manifest.get("files"), dict):
        raise BackupError(f"Bản sao lưu hỏng: {MANIFEST} không đúng định dạng {FORMAT}")
    return manifest


def verify(directory: Path) -> dict[str, Any]:
    """The manifest, once every file it lists is present with its SHA-256; else the first damaged file."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    root = directory.resolve()
    for name, entry in manifest["files"].items():
        path = (directory / name).resolve()
        if not path.is_relative_to(root):
            raise BackupError(f"Bản sao lưu hỏng: đường dẫn {name} nằm ngoài thư mục sao lưu")
        if not path.is_file():
            raise BackupError(f"Bản sao lưu hỏng: thiếu tệp {name}")
        if sha256_of(path) != entry.get("sha256"):
            raise BackupError(f"Bản sao lưu hỏng: {name} có SHA-256 khác với {MANIFEST}")
    return manifest


def _known_revision(revision: str | None, settings: Settings) -> None:
    from alembic.script import ScriptDirectory

    if revision is None:
        return
    scripts = ScriptDirectory.from_config(alembic_config(settings.database_url, settings))
    if revision not in {s.revision for s in scripts.walk_revisions()}:
        raise BackupError(f"Bản sao lưu có lược đồ {revision}, mới hơn phiên bản này của ứng dụng: "
                          "cập nhật ứng dụng rồi khôi phục lại")


def _tables(settings: Settings) -> list[str]:
    if settings.is_sqlite and not sqlite_path(settings.database_url).exists():
        return []
    engine = make_engine(settings.database_url, settings=settings)
    try:
        return list(inspect(engine).get_table_names())
    except Exception as exc:
        raise BackupError(f"Không kết nối được cơ sở dữ liệu DATABASE_URL: {str(exc).splitlines()[0]}") from None
    finally:
        engine.dispose()


def _clear_postgres(settings: Settings) -> None:
    """Drop this schema's tables, views and sequences (--force): the restore then recreates everything."""
    engine = make_engine(settings.database_url, settings=settings)
    try:
        with engine.begin() as conn:
            for kind, catalog, column in (("VIEW", "pg_views", "viewname"), ("TABLE", "pg_tables", "tablename"),
                                          ("SEQUENCE", "pg_sequences", "sequencename")):
                names = conn.execute(text(f"SELECT {column} FROM {catalog} WHERE schemaname = current_schema()"))
                for (name,) in names.all():
                    conn.execute(text(f'DROP {kind} IF EXISTS "{name}" CASCADE'))
    finally:
        engine.dispose()


def _restore_postgres(settings: Settings, dump: Path) -> None:
    program = pgtools.find_program("pg_restore", server_major(settings.database_url, settings))
    url, env = pgtools.libpq(settings.database_url)
    # Owners and grants are those of the database restored into, whoever made the backup.
    pgtools.run([program, "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
                 "--dbname", url, str(dump)], env, "pg_restore")


def _restore_sqlite(settings: Settings, copy: Path) -> None:
    target = sqlite_path(settings.database_url)
    target.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
    destination = sqlite3.connect(target, timeout=30)
    try:
        source.backup(destination)  # page by page into the live file (its WAL included), replacing it whole
    finally:
        destination.close()
        source.close()


def _restore_media(directory: Path, files: dict[str, Any], media_dir: Path) -> int:
    count = 0
    for name in files:
        if not name.startswith(f"{MEDIA}/"):
            continue
        destination = media_dir / name.removeprefix(f"{MEDIA}/")
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial = destination.with_name(f".{destination.name}.restoring")
        shutil.copy2(directory / name, partial)
        os.replace(partial, destination)  # a reader sees the old file or the whole new one
        count += 1
    return count


def restore(settings: Settings, directory: Path, *, force: bool = False) -> RestoreSummary:
    """Verify the backup, then load its database into DATABASE_URL and its media into MEDIA_DIR."""
    directory = Path(directory)
    manifest = verify(directory)
    database = manifest.get("database") or {}
    engine = "sqlite" if settings.is_sqlite else "postgresql"
    if database.get("engine") != engine:
        raise BackupError(f"Bản sao lưu là {database.get('engine')}, còn DATABASE_URL là {engine}: "
                          "khôi phục vào cùng loại cơ sở dữ liệu")
    _known_revision(manifest.get("alembic_revision"), settings)
    tables = _tables(settings)
    if tables and not force:
        raise BackupError(f"Cơ sở dữ liệu DATABASE_URL không trống ({len(tables)} bảng): khôi phục vào một cơ sở "
                          "dữ liệu trống, hoặc thêm --force để thay thế toàn bộ")
    if engine == "postgresql":
        if tables:
            _clear_postgres(settings)
        _restore_postgres(settings, directory / database["file"])
    else:
        _restore_sqlite(settings, directory / database["file"])
    media = _restore_media(directory, manifest["files"], Path(settings.media_dir))
    return RestoreSummary(engine, media, manifest.get("alembic_revision"))
