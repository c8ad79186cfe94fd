"""Settings: every setting documented, bad values stop start-up with one line naming the setting."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from broadcast.config import Settings, load_settings
from broadcast.exceptions import ConfigurationError

ROOT = Path(__file__).resolve().parents[1]


def test_env_example_lists_every_setting_with_its_default() -> None:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    documented = dict(re.findall(r"^([A-Z_]+)=(.*)$", text, re.M))
    assert set(documented) == {name.upper() for name in Settings.model_fields}
    loaded = load_settings(_env_file=ROOT / ".env.example")
    assert loaded == load_settings(_env_file=None)


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("timezone", "Mars/Olympus", "Invalid setting TIMEZONE"),
        ("database_url", "mysql://x", "Invalid setting DATABASE_URL"),
        ("quiet_hours_start", "25:00", "Invalid setting QUIET_HOURS_START"),
        ("twilio_account_sid", "ACxyz", "Invalid setting TWILIO_ACCOUNT_SID"),
        ("public_base_url", "example.org", "Invalid setting PUBLIC_BASE_URL"),
        ("dispatcher_lease_seconds", "10", "Invalid setting DISPATCHER_LEASE_SECONDS"),
        ("data_encryption_key", "not-a-fernet-key", "Invalid setting DATA_ENCRYPTION_KEY: key 1 is not a Fernet key"),
    ],
)
def test_bad_values_name_the_setting(name: str, value: str, fragment: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(**{name: value}, _env_file=None)
    assert str(caught.value).startswith(fragment)
    assert "\n" not in str(caught.value)


def test_cli_stops_with_one_clear_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "broadcast.cli", "db", "upgrade"],
        env={"PATH": "/usr/bin:/bin", "TIMEZONE": "Nowhere/Land", "HOME": str(tmp_path)},
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().startswith("Invalid setting TIMEZONE")
    assert len(done.stderr.strip().splitlines()) == 1


def test_postgres_urls_use_psycopg3() -> None:
    settings = load_settings(database_url="postgres://u:p@h/db", _env_file=None)
    assert settings.database_url == "postgresql+psycopg://u:p@h/db"


# ---- an https (production) deployment refuses unsafe settings ----------------------------------


SAFE_KEY = "k" * 48


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        ({}, "SECRET_KEY"),  # the published default key signs admin cookies for anyone
        ({"secret_key": "short-key"}, "SECRET_KEY"),
        ({"secret_key": SAFE_KEY}, "TWILIO_SIMULATOR"),
        ({"secret_key": SAFE_KEY, "twilio_simulator": False, "gateway_simulator": True}, "GATEWAY_SIMULATOR"),
    ],
)
def test_https_refuses_unsafe_settings(overrides: dict[str, object], names: str) -> None:
    from broadcast.app import create_app

    settings = load_settings(public_base_url="https://pbgdpl.camau.gov.vn", _env_file=None, **overrides)
    with pytest.raises(ConfigurationError) as caught:
        create_app(settings)
    assert names in caught.value.message
    assert "\n" not in caught.value.message


def test_https_with_safe_settings_starts_and_http_keeps_the_demo_defaults() -> None:
    from broadcast.config import production_problems

    safe = load_settings(public_base_url="https://pbgdpl.camau.gov.vn", secret_key=SAFE_KEY,
                         twilio_simulator=False, _env_file=None)
    assert production_problems(safe) == []
    assert production_problems(load_settings(_env_file=None)) == []  # http: the demo's defaults


@pytest.mark.parametrize("command", ["serve", "worker", "scheduler"])
def test_long_running_commands_refuse_with_one_line(tmp_path: Path, command: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "broadcast.cli", command],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PUBLIC_BASE_URL": "https://pbgdpl.camau.gov.vn",
             "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"},
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "SECRET_KEY" in lines[0], done.stderr
    assert not (tmp_path / "x.db").exists()  # refused before touching anything
