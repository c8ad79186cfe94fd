"""Reading deploy/systemd/*.service as systemd would: the command lines and environment the tests start."""

from __future__ import annotations

import shlex
from pathlib import Path

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
INSTALLED_CLI = "/opt/broadcast/venv/bin/broadcast"


def unit_values(name: str, key: str) -> list[str]:
    """Every `key=` value in the [Service] section of deploy/systemd/<name>.service, in order."""
    values, section = [], ""
    for raw in (DEPLOY / "systemd" / f"{name}.service").read_text().splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and line.startswith(f"{key}="):
            values.append(line.split("=", 1)[1])
    return values


def exec_start(name: str, cli: str) -> list[str]:
    """The unit's ExecStart with the installed `broadcast` replaced by `cli` (this checkout's)."""
    (line,) = unit_values(name, "ExecStart")
    argv = shlex.split(line)
    assert argv[0] == INSTALLED_CLI, argv
    return [cli, *argv[1:]]


def environment(name: str) -> dict[str, str]:
    """The unit's Environment= assignments."""
    pairs = [item.split("=", 1) for line in unit_values(name, "Environment") for item in shlex.split(line)]
    return {key: value for key, value in pairs}
