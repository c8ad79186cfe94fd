"""`broadcast users …` and `broadcast tokens …`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from broadcast.accounts import service
from broadcast.config import get_settings
from broadcast.db import migrated_engine, session_scope
from broadcast.exceptions import BroadcastError

users_app = typer.Typer(help="Officers' accounts.", no_args_is_help=True)
tokens_app = typer.Typer(help="Personal API tokens.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)


@users_app.command("create")
def create(
    username: Annotated[str, typer.Option(help="Login name")],
    password: Annotated[str, typer.Option(help="At least 8 characters", prompt=True, hide_input=True)],
    role: Annotated[str, typer.Option(help="admin, officer, approver, radio_operator or viewer")],
    commune: Annotated[list[str] | None, typer.Option(help="Commune code (repeat for several)")] = None,
    full_name: Annotated[str, typer.Option(help="Full name")] = "",
    phone: Annotated[str | None, typer.Option(help="Phone (radio operators: for DAPHAT confirmations)")] = None,
) -> None:
    """Create an account (the first admin, then anyone)."""
    try:
        with migrated_engine(get_settings()) as engine, session_scope(engine) as session:
            user = service.create_user(session, username=username, password=password, role=role,
                                       communes=commune or [], full_name=full_name, phone=phone, actor="cli")
            console.print(f"Đã tạo tài khoản {user.username} ({user.role}).")
    except BroadcastError as exc:
        err.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from None


@tokens_app.command("create")
def create_token(
    username: Annotated[str, typer.Option(help="Whose token")],
    name: Annotated[str, typer.Option(help="What the token is for")] = "cli",
) -> None:
    """Print a new personal API token (send it as `Authorization: Bearer <token>`)."""
    with migrated_engine(get_settings()) as engine, session_scope(engine) as session:
        user = service.by_username(session, username)
        if user is None:
            err.print(f"[red]Không có tài khoản {username}[/red]")
            raise typer.Exit(1)
        print(service.create_token(session, user, name=name))
