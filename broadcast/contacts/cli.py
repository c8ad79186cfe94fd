"""`broadcast contacts …` commands: import residents from an officer's CSV or Excel file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.engine import Engine

from broadcast.config import get_settings
from broadcast.contacts.importing.importer import ImportReport, import_contacts
from broadcast.contacts.importing.read import ReadLimits, count_rows
from broadcast.db import make_engine
from broadcast.exceptions import BroadcastError

contacts_app = typer.Typer(help="Người dân (danh bạ): nhập từ tệp CSV/Excel.", no_args_is_help=True)
_SHOWN_BAD_ROWS = 20


@contacts_app.callback()
def _contacts() -> None:
    """Người dân (danh bạ)."""


@contacts_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="Tệp CSV hoặc Excel (.xlsx) danh sách người dân.")],
    report: Annotated[
        Path | None, typer.Option("--report", help="Ghi các dòng lỗi ra tệp CSV (mở được bằng Excel).")
    ] = None,
) -> None:
    """Nhập người dân từ tệp CSV/Excel; dòng lỗi được báo theo số dòng và cột."""
    console = Console()
    try:
        settings = get_settings()
        engine = make_engine(settings.database_url, settings=settings)
    except BroadcastError as exc:
        console.print(f"[red]Lỗi:[/red] {exc.message}", soft_wrap=True)
        raise typer.Exit(2) from None
    try:
        result = _run(console, engine, file, ReadLimits.from_settings(settings))
    except BroadcastError as exc:
        console.print(f"[red]Không nhập được tệp:[/red] {exc.message}", soft_wrap=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        console.print(f"[red]Không đọc được tệp {file}:[/red] {exc.strerror or exc}", soft_wrap=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    _summary(console, result)
    if report is not None:
        result.write_csv(report)
        console.print(f"Đã ghi {len(result.bad_rows)} dòng lỗi/cảnh báo vào {report}", soft_wrap=True)


def _run(console: Console, engine: Engine, file: Path, limits: ReadLimits) -> ImportReport:
    total = count_rows(file, limits) if file.is_file() else None
    columns = [TextColumn("Đang nhập"), BarColumn(), MofNCompleteColumn(), TextColumn("dòng"), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("import", total=total)
        return import_contacts(
            engine,
            file,
            progress=lambda rows: progress.update(task, completed=rows),
            limits=limits,
        )


def _summary(console: Console, result: ImportReport) -> None:
    console.print(f"Tệp [bold]{result.source_name}[/bold] ({result.file_format})")
    table = Table(show_header=False, box=None)
    for label, value in (
        ("Số dòng đã đọc", result.rows_read),
        ("Người dân mới", result.created),
        ("Đã cập nhật", result.updated),
        ("Không thay đổi", result.unchanged),
        ("Trùng số trong tệp (đã gộp)", result.duplicates),
        ("Dòng bị bỏ qua (lỗi)", result.skipped),
        ("Cảnh báo", result.warnings),
    ):
        table.add_row(label, f"{value:,}".replace(",", "."))
    console.print(table)
    if result.bad_rows:
        shown = result.bad_rows[:_SHOWN_BAD_ROWS]
        bad = Table("Dòng", "Cột", "Giá trị", "Lý do", title="Các dòng cần xem lại")
        for row in shown:
            style = "red" if row.severity == "error" else "yellow"
            bad.add_row(str(row.row), row.column, row.value, row.reason, style=style)
        console.print(bad)
        if len(result.bad_rows) > len(shown):
            console.print(f"… và {len(result.bad_rows) - len(shown)} dòng nữa (dùng --report để ghi ra tệp).")
