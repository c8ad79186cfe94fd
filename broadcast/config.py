"""The one Settings object: every configurable value, read from the environment and `.env`."""

from __future__ import annotations

import re
from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from broadcast.crypto import Keyring, parse_keys
from broadcast.exceptions import ConfigurationError

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
# The published development key: anyone can sign a session cookie with it, so https deployments refuse it.
DEFAULT_SECRET_KEY = "change-me-in-production-please-32+chars"
MIN_SECRET_KEY_LENGTH = 32


class Settings(BaseSettings):
    """Configuration of the service. Names are the environment variables, upper-cased."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Storage
    database_url: str = "sqlite:///./data/broadcast.db"
    media_dir: Path = Path("./data/media")
    # Public address residents, Twilio and radio operators reach; webhooks are signed against it.
    public_base_url: str = "http://127.0.0.1:8000"
    timezone: str = "Asia/Ho_Chi_Minh"
    province_code: str = "96"
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET_KEY)
    # Addresses of reverse proxies whose X-Forwarded-For/-Proto are believed (comma-separated IPs or CIDRs,
    # e.g. 127.0.0.1 behind Caddy on the same machine). Empty: no proxy is trusted, the peer address is the client.
    forwarded_allow_ips: str = ""
    # Fernet keys for secrets kept in the database (gateway phones' passwords and signing keys),
    # comma-separated: the first encrypts, all decrypt. Empty: a key derived from SECRET_KEY.
    data_encryption_key: SecretStr = SecretStr("")

    # Twilio (an empty API base URL means the real api.twilio.com)
    twilio_account_sid: str = "AC00000000000000000000000000000000"
    twilio_auth_token: SecretStr = SecretStr("simulator-auth-token")
    twilio_from: str = "CAMAU-PBGDP"  # alphanumeric sender: at most 11 characters
    twilio_messaging_service_sid: str = ""
    twilio_api_base_url: str = ""
    twilio_timeout_seconds: float = Field(default=15.0, gt=0)
    # Run the built-in Twilio simulator inside `serve` and send to it (never reaches real phones).
    # Set to false, with real credentials, in production.
    twilio_simulator: bool = True
    twilio_simulator_port: int = Field(default=8021, ge=0, le=65535)

    # Sending rules (defaults after Decree 91/2020; each campaign may override them)
    sms_rate_per_second: float = Field(default=10.0, gt=0)
    sms_price_per_segment: float = Field(default=0.0835, ge=0)
    sms_price_unit: str = "USD"
    quiet_hours_start: str = "22:00"
    quiet_hours_end: str = "07:00"
    daily_cap_per_resident: int = Field(default=3, ge=0)
    # A reply to a resident's own message (keyword confirmation, help, an officer's answer) goes at once, even
    # in quiet hours, while the resident's last message is at most this many minutes old (0: replies wait too).
    reply_window_minutes: int = Field(default=120, ge=0, le=7 * 24 * 60)
    max_send_attempts: int = Field(default=6, ge=1)
    dispatcher_batch_size: int = Field(default=200, ge=1)
    dispatcher_concurrency: int = Field(default=32, ge=1)
    # A claimed row whose outcome was not recorded within this many seconds is reconciled with the
    # provider before any resend (must exceed the provider timeout: a call may still be in flight).
    dispatcher_lease_seconds: float = Field(default=45.0, gt=0)
    dispatcher_poll_seconds: float = Field(default=0.5, gt=0)
    retry_base_seconds: float = Field(default=2.0, gt=0)
    retry_max_seconds: float = Field(default=600.0, gt=0)
    run_dispatcher_in_serve: bool = True
    run_scheduler_in_serve: bool = True
    # Scheduler: how often it reconciles its jobs with campaign rows, how often a standby process
    # tries to take the leader lock, how late a run without a window may still start after its
    # time (e.g. after downtime; later ones are recorded as missed), and the housekeeping period.
    scheduler_sync_seconds: float = Field(default=5.0, gt=0, le=300)
    scheduler_leader_poll_seconds: float = Field(default=2.0, gt=0, le=60)
    scheduler_misfire_grace_seconds: int = Field(default=3600, ge=60, le=7 * 86400)
    scheduler_housekeeping_seconds: float = Field(default=30.0, gt=0, le=3600)
    # How often the scheduler brings the metrics rollups up to date (dashboards and reports read them).
    metrics_refresh_seconds: float = Field(default=15.0, gt=0, le=3600)
    # How often the scheduler sends quizzes' first questions ("after" the campaign SMS), closes unanswered
    # quizzes after their hours, and closes contests (sending each participant the answer key).
    quiz_tick_seconds: float = Field(default=15.0, gt=0, le=3600)
    # How long the public accountability page and its open data (CSV, JSON) are cached, in this process
    # and by browsers and proxies (Cache-Control: public, max-age).
    public_cache_seconds: int = Field(default=300, ge=0, le=86400)

    # Reliability. A webhook whose database work has not finished after JOURNAL_AFTER_SECONDS (database down,
    # read-only, locked) is appended to a durable journal (JOURNAL_DIR, default MEDIA_DIR/journal) and answered
    # 200; the journal is replayed in order, JOURNAL_REPLAY_BATCH events per transaction, once the database
    # answers. PostgreSQL connections give up after DATABASE_CONNECT_TIMEOUT_SECONDS.
    journal_dir: str = ""
    journal_after_seconds: float = Field(default=5.0, gt=0, le=12)
    journal_replay_batch: int = Field(default=200, ge=1, le=5000)
    database_connect_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # An SMS accepted but without a final status after SMS_STATUS_TIMEOUT_SECONDS is looked up at the provider,
    # SMS_RECONCILE_BATCH at a time and at most SMS_RECONCILE_PER_SECOND look-ups a second per dispatcher, again
    # after each timeout until it is final; SMS_STATUS_GIVE_UP_SECONDS after sending it is recorded `unknown`.
    sms_status_timeout_seconds: float = Field(default=900.0, gt=0)
    sms_status_give_up_seconds: float = Field(default=259200.0, gt=0)
    sms_reconcile_batch: int = Field(default=100, ge=1, le=1000)
    sms_reconcile_per_second: float = Field(default=5.0, gt=0, le=100)
    # Twilio numbers residents text (comma-separated E.164); after an outage the messages Twilio received for
    # them are listed and any not stored are handled. Empty: TWILIO_FROM when it is a phone number.
    twilio_inbound_numbers: str = ""

    # Voice calls (Twilio Programmable Voice); each campaign may override AMD, retries and window.
    twilio_voice_from: str = "+842903000977"  # a voice-capable number in E.164 (caller ID)
    voice_rate_per_second: float = Field(default=1.0, gt=0)  # Twilio's default: 1 call per second
    voice_ring_timeout_seconds: int = Field(default=30, ge=5, le=600)
    voice_machine_detection: Literal["off", "leave_message", "hang_up"] = "hang_up"
    voice_max_retries: int = Field(default=2, ge=0, le=5)
    voice_retry_seconds: float = Field(default=3600.0, gt=0)
    voice_window_start: str = "07:30"
    voice_window_end: str = "20:30"
    voice_price_per_minute: float = Field(default=0.12, ge=0)
    voice_missed_call_delay_seconds: float = Field(default=15.0, ge=0, le=60)
    # A call without a final status callback after this long is looked up with the provider.
    voice_status_timeout_seconds: float = Field(default=900.0, gt=0)

    # SMS Gateway for Android phones (local SIMs, two-way SMS); phones are registered in the admin pages.
    # Route of SMS whose campaign and commune name none: twilio | gateway | gateway:<phone name>.
    gateway_default_route: str = "twilio"
    gateway_timeout_seconds: float = Field(default=10.0, gt=0)
    gateway_concurrency: int = Field(default=2, ge=1, le=16)  # send threads per phone
    gateway_down_after_failures: int = Field(default=3, ge=1)  # connection errors/timeouts in a row
    gateway_health_seconds: float = Field(default=30.0, gt=0)
    gateway_sync_seconds: float = Field(default=5.0, gt=0)  # how soon new or changed phones are picked up
    gateway_webhook_tolerance_seconds: int = Field(default=300, ge=1)  # X-Timestamp age accepted
    # Run a simulated phone inside `serve`, register it as "mo-phong" and route the demo communes to it.
    gateway_simulator: bool = False
    gateway_simulator_port: int = Field(default=8022, ge=0, le=65535)

    # Audio
    tts_engine: Literal["gtts", "espeak", "auto"] = "espeak"
    audio_bitrate_kbps: int = Field(default=64, ge=16, le=320)
    audio_target_lufs: float = Field(default=-16.0, le=0)
    audio_true_peak_dbtp: float = Field(default=-1.0, le=0)
    airing_slots: str = "05:30,17:00"

    # Untrusted files. Uploads over these sizes are refused (413) before they are read.
    import_max_bytes: int = Field(default=50 * 1024 * 1024, ge=1024, le=4 * 1024**3)
    audio_upload_max_bytes: int = Field(default=50 * 1024 * 1024, ge=1024, le=4 * 1024**3)
    # Any other request body (JSON, forms, webhooks) larger than this is refused with 413.
    request_max_bytes: int = Field(default=1024 * 1024, ge=64 * 1024, le=64 * 1024 * 1024)
    # Workbooks: refused when their zip parts inflate past this in all, or when the first sheet
    # declares more cells than this (rows × columns from A1; a million residents × 10 columns fit).
    import_max_uncompressed_bytes: int = Field(default=1024 * 1024 * 1024, ge=1024)
    import_max_cells: int = Field(default=10_000_000, ge=1000)
    # Web import previews not confirmed within this many seconds are deleted (at the next upload).
    import_preview_max_age_seconds: int = Field(default=3600, ge=60)
    # Uploaded recordings longer than this are refused.
    audio_upload_max_seconds: int = Field(default=1200, ge=1, le=4 * 3600)
    # Spreadsheets and recordings are parsed in a separate process with these limits: address space
    # (MB), CPU seconds, and wall-clock seconds spent waiting for its output. A file that needs more is
    # refused with a 422; the service itself is never at risk.
    parser_memory_mb: int = Field(default=2048, ge=256)
    parser_cpu_seconds: int = Field(default=120, ge=1)
    parser_timeout_seconds: float = Field(default=300.0, gt=0)
    # At most this many parser processes at once in one server (an upload waits up to 5 s, then 503):
    # PARSER_MEMORY_MB × PARSER_PROCESSES is the most memory uploads can take.
    parser_processes: int = Field(default=2, ge=1, le=64)

    # Operations. GET /metrics (Prometheus) answers only with `Authorization: Bearer <METRICS_TOKEN>`;
    # empty: 404. METRICS_PORT (0: off) also serves it, without a token, on 127.0.0.1 only (`serve`).
    metrics_token: SecretStr = SecretStr("")
    metrics_port: int = Field(default=0, ge=0, le=65535)
    # text: human-readable log lines; json: one JSON object per line (time, level, logger, message, exception).
    log_format: Literal["text", "json"] = "text"
    # Per-resident delivery and event rows of runs finished more than this many days ago are deleted, in
    # transactions of at most RETENTION_BATCH_SIZE deliveries, once the rollups hold their figures.
    retention_days: int = Field(default=365, ge=1, le=36500)
    retention_batch_size: int = Field(default=5000, ge=100, le=100_000)

    # Demo
    demo_residents: int = Field(default=300, ge=0)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if value.startswith("postgres://"):
            value = "postgresql://" + value.removeprefix("postgres://")
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        if not value.startswith(("sqlite://", "postgresql+psycopg://")):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return value

    @field_validator("data_encryption_key")
    @classmethod
    def _encryption_keys(cls, value: SecretStr) -> SecretStr:
        parse_keys(value.get_secret_value())
        return value

    @field_validator("metrics_token")
    @classmethod
    def _metrics_token(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value() and len(value.get_secret_value()) < 16:
            raise ValueError("must be empty or at least 16 characters")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @field_validator("public_base_url", "twilio_api_base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// address")
        return value.rstrip("/")

    @field_validator("province_code")
    @classmethod
    def _province(cls, value: str) -> str:
        if not value.isdigit() or len(value) > 2:
            raise ValueError("must be a 1–2 digit province code, e.g. 96 for Cà Mau")
        return value.zfill(2)

    @field_validator("quiet_hours_start", "quiet_hours_end", "voice_window_start", "voice_window_end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError("must be a 24-hour time HH:MM")
        return value

    @field_validator("gateway_default_route")
    @classmethod
    def _route(cls, value: str) -> str:
        if value not in ("twilio", "gateway") and not re.fullmatch(r"gateway:[a-z0-9][a-z0-9_-]{0,39}", value):
            raise ValueError("must be twilio, gateway or gateway:<phone name>")
        return value

    @field_validator("twilio_inbound_numbers")
    @classmethod
    def _inbound_numbers(cls, value: str) -> str:
        numbers = [n.strip() for n in value.split(",") if n.strip()]
        for number in numbers:
            if not re.fullmatch(r"\+[1-9]\d{6,14}", number):
                raise ValueError(f"{number!r} is not a phone number in E.164, e.g. +842903000977")
        return ",".join(numbers)

    @field_validator("twilio_voice_from")
    @classmethod
    def _voice_from(cls, value: str) -> str:
        if not re.fullmatch(r"\+[1-9]\d{6,14}", value):
            raise ValueError("must be a phone number in E.164, e.g. +842903000977")
        return value

    @field_validator("airing_slots")
    @classmethod
    def _slots(cls, value: str) -> str:
        slots = [s.strip() for s in value.split(",") if s.strip()]
        if not slots or not all(_HHMM.match(s) for s in slots):
            raise ValueError("must be comma-separated HH:MM times, e.g. 05:30,17:00")
        return ",".join(slots)

    @field_validator("twilio_account_sid")
    @classmethod
    def _account_sid(cls, value: str) -> str:
        if not re.fullmatch(r"AC[0-9a-fA-F]{32}", value):
            raise ValueError("must be AC followed by 32 hexadecimal digits")
        return value

    @field_validator("twilio_messaging_service_sid")
    @classmethod
    def _service_sid(cls, value: str) -> str:
        if value and not re.fullmatch(r"MG[0-9a-fA-F]{32}", value):
            raise ValueError("must be empty or MG followed by 32 hexadecimal digits")
        return value

    @field_validator("dispatcher_lease_seconds")
    @classmethod
    def _lease(cls, value: float, info: ValidationInfo) -> float:
        timeout = info.data.get("twilio_timeout_seconds", 15.0)
        if value <= timeout:
            raise ValueError(f"must be longer than TWILIO_TIMEOUT_SECONDS ({timeout:g} s)")
        return value

    @property
    def keyring(self) -> Keyring:
        """The keys of the database's encrypted columns (DATA_ENCRYPTION_KEY, else derived from SECRET_KEY)."""
        return Keyring.for_keys(self.data_encryption_key.get_secret_value(), self.secret_key.get_secret_value())

    @property
    def journal_path(self) -> Path:
        """Where verified webhooks wait while the database does not answer (JOURNAL_DIR, else MEDIA_DIR/journal)."""
        return Path(self.journal_dir) if self.journal_dir else Path(self.media_dir) / "journal"

    @property
    def inbound_numbers(self) -> list[str]:
        """The Twilio numbers residents text (TWILIO_INBOUND_NUMBERS, else TWILIO_FROM when it is a number)."""
        if self.twilio_inbound_numbers:
            return self.twilio_inbound_numbers.split(",")
        return [self.twilio_from] if re.fullmatch(r"\+[1-9]\d{6,14}", self.twilio_from) else []

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def quiet_hours(self) -> tuple[time, time]:
        return time.fromisoformat(self.quiet_hours_start), time.fromisoformat(self.quiet_hours_end)

    @property
    def airing_slot_times(self) -> list[time]:
        return [time.fromisoformat(s) for s in self.airing_slots.split(",")]


def production_problems(settings: Settings) -> list[str]:
    """Settings that would make an https (production) deployment unsafe, one line each naming the setting."""
    if not settings.public_base_url.startswith("https://"):
        return []  # a local demo or test on http: the defaults are what it is meant to run on
    problems = []
    key = settings.secret_key.get_secret_value()
    if key == DEFAULT_SECRET_KEY:
        problems.append("SECRET_KEY is the published default: anyone could sign a session cookie; set a random "
                        "value (python3 -c 'import secrets; print(secrets.token_urlsafe(48))')")
    elif len(key) < MIN_SECRET_KEY_LENGTH:
        problems.append(f"SECRET_KEY is too short ({len(key)} characters; at least {MIN_SECRET_KEY_LENGTH})")
    if settings.twilio_simulator:
        problems.append("TWILIO_SIMULATOR is on: no real SMS would leave; set TWILIO_SIMULATOR=false with real "
                        "Twilio credentials")
    if settings.gateway_simulator:
        problems.append("GATEWAY_SIMULATOR is on: a simulated phone would take the demo communes; set "
                        "GATEWAY_SIMULATOR=false")
    return problems


def refuse_unsafe(settings: Settings) -> None:
    """Stop a start on an unsafe production configuration, with one line naming the setting."""
    problems = production_problems(settings)
    if problems:
        raise ConfigurationError(f"Refusing to start on {settings.public_base_url}: {problems[0]}",
                                 problems=problems)


def load_settings(**overrides: object) -> Settings:
    """Build Settings, turning a validation failure into one line that names the setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "settings"
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigurationError(f"Invalid setting {name}: {message}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings (tests build their own with load_settings)."""
    return load_settings()
