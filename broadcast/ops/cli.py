"""`broadcast backup DIR`, `broadcast restore DIR [--force]` and `broadcast retention run`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from broadcast.config import Settings, get_settings
from broadcast.exceptions import BroadcastError

console = Console()
err = Console(stderr=True)
retention_app = typer.Typer(help="Thời hạn lưu dữ liệu cá nhân (RETENTION_DAYS).", no_args_is_help=True)


def _settings() -> Settings:
    try:
        return get_settings()
    except BroadcastError as exc:
        err.print(exc.message, markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _fail(exc: BroadcastError) -> typer.Exit:
    err.print(exc.message, markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(1)


def backup_command(
    directory: Annotated[Path, typer.Argument(help="A new (or empty) directory for the backup")],
) -> None:
    """Back up the database (pg_dump, or SQLite's online backup) and MEDIA_DIR, with a manifest of checksums."""
    from broadcast.ops.backup import backup

    settings = _settings()
    try:
        summary = backup(settings, directory)
    except BroadcastError as exc:
        raise _fail(exc) from None
    console.print(f"Đã sao lưu {summary.engine} (lược đồ {summary.alembic_revision}) và {summary.files - 1} tệp "
                  f"media — {summary.bytes / 1e6:.1f} MB — vào {summary.directory}", markup=False, soft_wrap=True)


def restore_command(
    directory: Annotated[Path, typer.Argument(help="A directory written by `broadcast backup`")],
    force: Annotated[bool, typer.Option("--force", help="Replace a database that is not empty")] = False,
) -> None:
    """Restore a backup into the (empty) database DATABASE_URL names, and its media into MEDIA_DIR."""
    from broadcast.ops.restore import restore

    settings = _settings()
    try:
        summary = restore(settings, directory, force=force)
    except BroadcastError as exc:
        raise _fail(exc) from None
    console.print(f"Đã khôi phục {summary.engine} (lược đồ {summary.alembic_revision}) và {summary.media_files} "
                  f"tệp media từ {directory}", markup=False, soft_wrap=True)


@retention_app.command("run")
def retention_run() -> None:
    """Delete now what the scheduler deletes hourly: rows of runs finished more than RETENTION_DAYS ago."""
    from broadcast.db import migrated_engine
    from broadcast.engagement.retention import prune

    settings = _settings()
    with migrated_engine(settings) as engine:
        done = prune(engine, settings)
    console.print(f"Thời hạn lưu {settings.retention_days} ngày: thêm {done.runs} lượt gửi; đã xoá {done.deliveries} "
                  f"tin, {done.attempts} lần gửi, {done.events} sự kiện", markup=False, soft_wrap=True)


def mount(app: typer.Typer) -> None:
    """Register the operations commands on the `broadcast` command."""
    app.command("backup")(backup_command)
    app.command("restore")(restore_command)
    app.add_typer(retention_app, name="retention")
