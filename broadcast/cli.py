"""The `broadcast` command: serve, workers, database, communes, residents, demo, simulator, audio."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from broadcast.config import Settings, get_settings
from broadcast.exceptions import BroadcastError
from broadcast.ops.messages import Lang

console = Console()
err = Console(stderr=True)

app = typer.Typer(
    help="Dịch vụ phát tin phổ biến pháp luật — law-dissemination SMS, voice and loudspeaker broadcasts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
communes_app = typer.Typer(help="Communes and wards (2025 two-tier units).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(communes_app, name="communes")


def _settings() -> Settings:
    try:
        return get_settings()
    except BroadcastError as exc:
        err.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(2) from None


def _production_settings() -> Settings:
    """Settings for a long-running process: refused with one line when unsafe for production."""
    from broadcast.config import refuse_unsafe

    settings = _settings()
    try:
        refuse_unsafe(settings)
    except BroadcastError as exc:
        err.print(exc.message, markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    return settings


def _mount_optional() -> None:
    """Sub-commands owned by other domains."""
    from broadcast.accounts.cli import tokens_app, users_app
    from broadcast.contacts.cli import contacts_app

    app.add_typer(users_app, name="users", help="Officers' accounts.")
    app.add_typer(tokens_app, name="tokens", help="Personal API tokens.")

    app.add_typer(contacts_app, name="contacts", help="Residents: import from CSV/XLSX.")
    from broadcast.ops.cli import mount as mount_ops

    mount_ops(app)  # backup, restore, retention
    try:
        from broadcast.audio.cli import audio_app
    except ImportError:  # pragma: no cover - audio extras missing
        return
    app.add_typer(audio_app, name="audio", help="Loudspeaker audio clips.")


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision")) -> None:
    """Create or update the database schema (safe to run again)."""
    from broadcast.db import upgrade

    settings = _settings()
    upgrade(settings.database_url, revision, settings=settings)
    console.print(f"Cơ sở dữ liệu đã cập nhật ({revision}).")


@db_app.command("rotate-key")
def db_rotate_key() -> None:
    """Re-encrypt the stored secrets (gateway phones' passwords, signing keys) under DATA_ENCRYPTION_KEY's first key."""
    from broadcast.crypto import rotate_secrets
    from broadcast.db import migrated_engine
    from broadcast.models import metadata

    try:
        with migrated_engine(_settings()) as engine:
            count = rotate_secrets(engine, metadata)
    except BroadcastError as exc:
        err.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from None
    console.print(f"Đã mã hoá lại {count} giá trị bằng khoá đầu tiên của DATA_ENCRYPTION_KEY.")


@communes_app.command("load")
def communes_load(
    province: Annotated[str | None, typer.Option("--province", help="Province code (default PROVINCE_CODE)")] = None,
    csv_file: Annotated[Path | None, typer.Option("--csv", help="CSV with code,name[,division_type]")] = None,
) -> None:
    """Load the communes and wards of a province (from vietnam-provinces, or a CSV you give)."""
    from broadcast.communes.loading import province_communes, read_communes_csv, upsert_communes
    from broadcast.db import migrated_engine, session_scope

    settings = _settings()
    code = (province or settings.province_code).zfill(2)
    try:
        records = read_communes_csv(csv_file) if csv_file else province_communes(code)
        with migrated_engine(settings) as engine, session_scope(engine) as session:
            result = upsert_communes(session, code, records)
    except BroadcastError as exc:
        err.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from None
    console.print(
        f"Tỉnh {code}: {result.total} đơn vị — thêm mới {result.created}, cập nhật {result.updated}."
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
) -> None:
    """Run the web app and API, with the scheduler and dispatcher in the same process."""
    from broadcast.runtime import serve as run

    run(_production_settings(), host=host, port=port)


@app.command()
def worker() -> None:
    """Run the SMS/voice dispatcher alone (several may run against one PostgreSQL)."""
    from broadcast.runtime import run_worker

    run_worker(_production_settings())


@app.command()
def scheduler() -> None:
    """Run the campaign scheduler alone (with several against one PostgreSQL, one is active)."""
    from scheduler.process import run_scheduler

    run_scheduler(_production_settings())


@app.command()
def simulator(
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8021,
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
) -> None:
    """Run the built-in Twilio simulator alone (GET /_simulator/messages lists what it accepted)."""
    from broadcast.simulators.twilio.cli import run_simulator

    settings = _settings()
    run_simulator(host, port, settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value())


@app.command()
def check(
    lang: Annotated[Lang, typer.Option("--lang", help="Language of the lines")] = Lang.vi,
    timeout: Annotated[float, typer.Option(min=1, max=120, help="Seconds each network check may take")] = 10.0,
    min_free_gb: Annotated[float, typer.Option(min=0, help="Free space MEDIA_DIR must have (GB)")] = 1.0,
) -> None:
    """Check this configuration against the world, one line per check; exit 1 when a required one fails."""
    from broadcast.ops.check import run_checks

    raise typer.Exit(run_checks(lang, timeout=timeout, min_free_bytes=int(min_free_gb * (1 << 30)),
                                emit=typer.echo))


@app.command()
def demo(
    seed_only: Annotated[bool, typer.Option("--seed-only", help="Seed the demo data, then stop")] = False,
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
) -> None:
    """Seed a realistic Cà Mau demo (communes, residents, a campaign) idempotently, then serve."""
    from broadcast.demo import seed_demo
    from broadcast.runtime import serve as run

    settings = _production_settings() if not seed_only else _settings()
    summary = seed_demo(settings)
    console.print(summary, soft_wrap=True)
    if not seed_only:
        run(settings, host=host, port=port)


_mount_optional()


if __name__ == "__main__":
    app()
