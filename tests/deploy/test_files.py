"""deploy/: the units pass systemd's own checks, the Caddy files validate, the PostgreSQL settings exist, the env
template refuses to start until its secrets are replaced, and install.sh lays everything out idempotently."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from broadcast.config import load_settings, production_problems
from broadcast.exceptions import ConfigurationError
from tests.deploy.units import DEPLOY, INSTALLED_CLI, environment, exec_start, unit_values
from tests.pg import PostgresServer
from tests.support.needs import caddy

UNITS = ("broadcast-serve", "broadcast-worker", "broadcast-scheduler")
HARDENING = {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ReadWritePaths": "/var/lib/broadcast",
             "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes", "Restart": "on-failure",
             "User": "broadcast", "EnvironmentFile": "/etc/broadcast/broadcast.env",
             "WorkingDirectory": "/var/lib/broadcast", "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX"}
systemd_analyze = shutil.which("systemd-analyze")


@pytest.mark.parametrize("unit", UNITS)
def test_each_unit_runs_its_command_hardened(unit: str) -> None:
    assert exec_start(unit, "broadcast")[1] == unit.removeprefix("broadcast-")
    for key, value in HARDENING.items():
        assert unit_values(unit, key) == [value], key
    assert unit_values(unit, "SystemCallFilter")[0] == "@system-service"


def test_serve_leaves_sending_and_scheduling_to_their_own_units() -> None:
    assert environment("broadcast-serve") == {"RUN_DISPATCHER_IN_SERVE": "false", "RUN_SCHEDULER_IN_SERVE": "false"}
    assert exec_start("broadcast-serve", "broadcast")[2:] == ["--host", "127.0.0.1", "--port", "8000"]


@pytest.mark.skipif(systemd_analyze is None, reason="systemd-analyze is not installed")
def test_systemd_verifies_the_units_and_rates_them_ok(tmp_path: Path) -> None:
    cli = str(Path(sys.executable).with_name("broadcast"))  # verify wants ExecStart's binary to exist
    for unit in UNITS:
        text_ = (DEPLOY / "systemd" / f"{unit}.service").read_text().replace(INSTALLED_CLI, cli)
        (tmp_path / f"{unit}.service").write_text(text_)
    files = [str(tmp_path / f"{unit}.service") for unit in UNITS]
    verified = subprocess.run([systemd_analyze, "verify", *files], capture_output=True, text=True)  # type: ignore[list-item]
    assert (verified.returncode, verified.stdout + verified.stderr) == (0, "")
    for path in files:
        rated = subprocess.run([systemd_analyze, "security", "--offline=yes", path],  # type: ignore[list-item]
                               capture_output=True, text=True)
        exposure = re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)", rated.stdout)
        assert exposure is not None, rated.stdout + rated.stderr
        assert float(exposure.group(1)) <= 2.0 and exposure.group(2) == "OK"


def test_caddy_validates_the_site(tmp_path: Path) -> None:
    binary = caddy()
    for name in ("Caddyfile", "broadcast.caddy"):
        shutil.copy(DEPLOY / "caddy" / name, tmp_path / name)
    done = subprocess.run([binary, "validate", "--adapter", "caddyfile", "--config", str(tmp_path / "Caddyfile")],
                          capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "HOME": str(tmp_path)})
    assert done.returncode == 0 and "Valid configuration" in done.stdout + done.stderr, done.stderr
    for name in ("Caddyfile", "broadcast.caddy"):  # formatted as `caddy fmt` writes it
        formatted = subprocess.run([binary, "fmt", str(tmp_path / name)], capture_output=True, text=True)
        assert formatted.stdout == (DEPLOY / "caddy" / name).read_text()


def test_every_postgresql_setting_exists_and_the_table_settings_apply(postgres_server: PostgresServer,
                                                                      postgres_template: str) -> None:
    names = re.findall(r"^(\w+) = ", (DEPLOY / "postgresql" / "broadcast.conf").read_text(), re.M)
    with psycopg.connect(postgres_server.admin_url) as conn:
        known = {row[0] for row in conn.execute("SELECT name FROM pg_settings")}
    assert len(names) >= 15 and set(names) <= known, set(names) - known
    name = f"bt_tables_{uuid.uuid4().hex[:8]}"
    postgres_server.create_database(name, template=postgres_template)
    sql = (DEPLOY / "postgresql" / "broadcast-tables.sql").read_text()
    try:
        with psycopg.connect(postgres_server.url_for(name).replace("+psycopg", ""), autocommit=True) as conn:
            for _ in range(2):  # install.sh applies it on every upgrade
                conn.execute(sql)
            options = conn.execute("SELECT reloptions FROM pg_class WHERE relname = 'delivery'").fetchone()
    finally:
        postgres_server.drop_database(name)
    assert options is not None
    joined = ",".join(options[0])
    assert "autovacuum_vacuum_scale_factor=0.02" in joined and "fillfactor=90" in joined


def test_the_env_template_refuses_to_start_until_its_secrets_are_replaced() -> None:
    with pytest.raises(ConfigurationError, match="Invalid setting DATA_ENCRYPTION_KEY"):
        load_settings(_env_file=DEPLOY / "broadcast.env.example")
    fernet = "yz-hS9nHe5ZUeRdybNbkEcv0BBCXbUpL1LqKGh-FMpo="
    settings = load_settings(_env_file=DEPLOY / "broadcast.env.example", data_encryption_key=fernet)
    assert production_problems(settings) == ["SECRET_KEY is too short (10 characters; at least 32)"]
    assert (settings.twilio_simulator, settings.gateway_simulator, settings.forwarded_allow_ips) == (
        False, False, "127.0.0.1")
    assert settings.public_base_url.startswith("https://") and settings.database_url.startswith("postgresql")


def _install(destdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DESTDIR": str(destdir), "INSTALL_PYTHON": "no"}  # no network in tests: no pip
    return subprocess.run(["bash", str(DEPLOY / "install.sh"), *args], env=env, capture_output=True, text=True,
                          timeout=60)


def test_install_sh_lays_out_a_working_configuration_and_changes_nothing_when_run_again(tmp_path: Path) -> None:
    assert subprocess.run(["bash", "-n", str(DEPLOY / "install.sh")]).returncode == 0
    root = tmp_path / "root"
    (root / "etc/caddy").mkdir(parents=True)
    (root / "etc/caddy/Caddyfile").write_text(":80 {\n\troot * /usr/share/caddy\n\tfile_server\n}\n")  # Debian's
    first = _install(root, "pbgdpl.camau.gov.vn")
    assert first.returncode == 0, first.stderr
    env_file = root / "etc/broadcast/broadcast.env"
    assert oct(env_file.stat().st_mode & 0o777) == "0o640"
    settings = load_settings(_env_file=env_file)  # random secrets in place of every REPLACE-ME but Twilio's
    assert production_problems(settings) == []
    assert settings.public_base_url == "https://pbgdpl.camau.gov.vn"
    assert re.fullmatch(r"postgresql\+psycopg://broadcast:[0-9a-f]{48}@127\.0\.0\.1:5432/broadcast",
                        settings.database_url)
    assert [line for line in env_file.read_text().splitlines() if "REPLACE-ME" in line and line[0] != "#"] == [
        "TWILIO_AUTH_TOKEN=REPLACE-ME"]
    for unit in UNITS:
        assert (root / f"etc/systemd/system/{unit}.service").read_bytes() == (
            DEPLOY / "systemd" / f"{unit}.service").read_bytes()
    assert "\npbgdpl.camau.gov.vn {\n\timport broadcast.caddy\n}\n" in (root / "etc/caddy/Caddyfile").read_text()
    assert os.readlink(root / "var/lib/broadcast/.env") == "/etc/broadcast/broadcast.env"
    assert os.access(root / "usr/local/bin/broadcast", os.X_OK) and (root / "var/lib/broadcast/media").is_dir()

    assert "file_server" in (root / "etc/caddy/Caddyfile.orig").read_text()  # the replaced one is kept

    # Run again (an upgrade): the settings and a Caddyfile edited by the province stay as they are.
    with (root / "etc/caddy/Caddyfile").open("a") as edited:
        edited.write("\nwww.pbgdpl.camau.gov.vn {\n\tredir https://pbgdpl.camau.gov.vn{uri}\n}\n")
    before = {path: path.read_bytes() for path in root.rglob("*") if path.is_file()}
    again = _install(root, "another.example")
    assert again.returncode == 0, again.stderr
    assert {path: path.read_bytes() for path in root.rglob("*") if path.is_file()} == before
    assert "creating" not in again.stdout


def test_install_sh_refuses_a_site_that_is_not_a_host_name(tmp_path: Path) -> None:
    done = _install(tmp_path / "root", "https://pbgdpl.camau.gov.vn/")
    assert done.returncode == 1 and "SITE must be a host name" in done.stderr
