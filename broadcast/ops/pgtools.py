"""PostgreSQL client programs (pg_dump, pg_restore) matching the server, and libpq settings from DATABASE_URL."""

from __future__ import annotations

import glob
import re
import shutil
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from broadcast.ops.errors import BackupError

# Where Debian and Ubuntu install each major version's programs when /usr/bin has only a wrapper (or none).
PG_LIB = "/usr/lib/postgresql"


def libpq(database_url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection URL without the password, and the environment that carries the password.

    The password stays out of the command line (`ps` shows it to every user of the machine).
    """
    url = make_url(database_url).set(drivername="postgresql")
    env = {"PGPASSWORD": url.password} if url.password else {}
    return url.set(password=None).render_as_string(hide_password=False), env


def _major(program: str) -> int | None:
    try:
        out = subprocess.run([program, "--version"], capture_output=True, text=True, timeout=30).stdout
    except OSError:
        return None
    found = re.search(r"(\d+)(?:\.\d+)?", out)
    return int(found.group(1)) if found else None


def find_program(name: str, server_major: int) -> str:
    """The server's own major version of `name`, else the oldest newer one, else one on PATH that is new enough."""
    exact = Path(PG_LIB) / str(server_major) / "bin" / name
    if exact.is_file():
        return str(exact)
    versions = sorted(int(Path(p).parent.parent.name) for p in glob.glob(f"{PG_LIB}/*/bin/{name}")
                      if Path(p).parent.parent.name.isdigit())
    newer = [v for v in versions if v >= server_major]
    if newer:
        return f"{PG_LIB}/{newer[0]}/bin/{name}"
    on_path = shutil.which(name)
    if on_path and (_major(on_path) or 0) >= server_major:
        return on_path
    raise BackupError(f"Không tìm thấy {name} cho PostgreSQL {server_major} (cần phiên bản ≥ {server_major}): "
                      f"apt-get install postgresql-client-{server_major}")


def run(command: list[str], env: dict[str, str], what: str) -> None:
    """Run a client program; its own error message becomes the one line the operator reads."""
    import os

    done = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise BackupError(f"{what} thất bại: {detail[0] if detail else f'mã thoát {done.returncode}'}")
