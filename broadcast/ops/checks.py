"""The checks of `broadcast check`: each looks at one part of the world and says ✓, ✗ or – (not applicable).

They run in order and share a `Context`: the database checks open the engine the later ones use. Nothing here
changes the service's data, except the one-time value the PUBLIC_BASE_URL check plants and removes again.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from broadcast.config import MIN_SECRET_KEY_LENGTH, Settings, production_problems
from broadcast.ops.messages import Lang, say


class Mark(StrEnum):
    ok = "✓"
    fail = "✗"
    skip = "–"


@dataclass(frozen=True)
class Line:
    """One outcome: its mark and what it says (already in the chosen language)."""

    mark: Mark
    message: str


@dataclass
class Context:
    """What the checks share: the settings, the language, limits, and the engine once the database answered."""

    settings: Settings
    lang: Lang
    timeout: float = 10.0
    min_free_bytes: int = 1 << 30
    engine: Engine | None = None
    migrated: bool = False
    _engines: list[Engine] = field(default_factory=list)

    def line(self, mark: Mark, key: str, **params: object) -> Line:
        return Line(mark, say(key, self.lang, **params))

    def close(self) -> None:
        for engine in self._engines:
            engine.dispose()


Check = Callable[[Context], Iterator[Line]]
# Twilio's alphanumeric sender IDs: up to 11 of A-Z a-z 0-9, space, + - _ &, at least one letter.
PLACEHOLDER = "REPLACE-ME"  # what deploy/broadcast.env.example holds where a province's own value goes
_SENDER_ID = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 +\-_&]{1,11}$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def _first_line(exc: BaseException) -> str:
    text_ = str(exc).strip().splitlines()
    return (text_[0] if text_ else exc.__class__.__name__)[:240]


def _number(value: float, lang: Lang) -> str:
    """One decimal, with the decimal comma in Vietnamese."""
    text_ = f"{value:.1f}"
    return text_.replace(".", ",") if lang is Lang.vi else text_


def _bytes(n: float, lang: Lang) -> str:
    return _number(n / (1 << 30), lang) + " GB"


# ---- settings -------------------------------------------------------------------------------------------


def _translated(problem: str, ctx: Context) -> Line:
    """production_problems speaks English; its lines start with the setting they name."""
    key = ctx.settings.secret_key.get_secret_value()
    if problem.startswith("SECRET_KEY is the published default"):
        return ctx.line(Mark.fail, "unsafe_default_key")
    if problem.startswith("SECRET_KEY is too short"):
        return ctx.line(Mark.fail, "unsafe_short_key", length=len(key), minimum=MIN_SECRET_KEY_LENGTH)
    if problem.startswith("TWILIO_SIMULATOR"):
        return ctx.line(Mark.fail, "unsafe_twilio_simulator")
    if problem.startswith("GATEWAY_SIMULATOR"):
        return ctx.line(Mark.fail, "unsafe_gateway_simulator")
    return ctx.line(Mark.fail, "unsafe_other", problem=problem)


def check_settings(ctx: Context) -> Iterator[Line]:
    """The refusals start-up makes on https, plus what start-up cannot refuse but production should not run on."""
    settings = ctx.settings
    lines = [_translated(problem, ctx) for problem in production_problems(settings)]
    if not settings.public_base_url.startswith("https://"):
        lines.append(ctx.line(Mark.fail, "unsafe_http", url=settings.public_base_url))
    if not settings.data_encryption_key.get_secret_value():
        lines.append(ctx.line(Mark.fail, "unsafe_no_data_key"))
    if "*" in [part.strip() for part in settings.forwarded_allow_ips.split(",")]:
        lines.append(ctx.line(Mark.fail, "unsafe_any_proxy"))
    for name in Settings.model_fields:
        value = getattr(settings, name)
        value = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
        if PLACEHOLDER in value:
            lines.append(ctx.line(Mark.fail, "placeholder", name=name.upper()))
    yield from lines or [ctx.line(Mark.ok, "settings_safe", url=settings.public_base_url)]


# ---- database -------------------------------------------------------------------------------------------


def check_database(ctx: Context) -> Iterator[Line]:
    """Connect (a few seconds at most) and ask the server's version; the engine is kept for the later checks."""
    from broadcast.db import make_engine

    settings = ctx.settings
    url = make_url(settings.database_url)
    where = url.database or "" if settings.is_sqlite else url.render_as_string(hide_password=True).split("://")[-1]
    if settings.is_sqlite:
        path = url.database or ""
        if path != ":memory:" and not Path(path).is_file():
            yield ctx.line(Mark.fail, "db_missing_file", path=path)
            return
        engine = make_engine(settings.database_url, settings=settings)
    else:
        engine = make_engine(settings.database_url, settings=settings, pool_size=2, max_overflow=2,
                             connect_args={"connect_timeout": max(1, int(ctx.timeout))})
    ctx._engines.append(engine)
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SELECT sqlite_version()" if settings.is_sqlite else "SHOW server_version"))
            server = ("SQLite " if settings.is_sqlite else "PostgreSQL ") + str(version.scalar_one()).split()[0]
    except Exception as exc:  # whatever the driver raises, the line says it
        yield ctx.line(Mark.fail, "db_unreachable", where=where, error=_first_line(getattr(exc, "orig", exc)))
        return
    ctx.engine = engine
    yield ctx.line(Mark.ok, "db_ok", where=where, server=server)


def check_migrations(ctx: Context) -> Iterator[Line]:
    """alembic current == head: every migration this version ships has been applied."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from broadcast.db import alembic_config

    if ctx.engine is None:
        return
    heads = set(ScriptDirectory.from_config(alembic_config(ctx.settings.database_url)).get_heads())
    with ctx.engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    if current == heads:
        ctx.migrated = True
        yield ctx.line(Mark.ok, "migrations_ok", revision=", ".join(sorted(heads)))
    else:
        yield ctx.line(Mark.fail, "migrations_behind", current=", ".join(sorted(current)) or "∅",
                       head=", ".join(sorted(heads)))


# ---- Twilio ---------------------------------------------------------------------------------------------


def check_twilio(ctx: Context) -> Iterator[Line]:
    """A harmless read of the account through the SDK: valid credentials, and an account that may send."""
    from twilio.base.exceptions import TwilioRestException

    from broadcast.channels.twilio.client import make_twilio_client

    settings = ctx.settings
    if settings.twilio_simulator:
        yield ctx.line(Mark.skip, "twilio_simulated")
        return
    sid = settings.twilio_account_sid
    base = settings.twilio_api_base_url
    client = make_twilio_client(sid, settings.twilio_auth_token.get_secret_value(), base, timeout=ctx.timeout,
                                pool_maxsize=1)
    try:
        account = client.api.v2010.accounts(sid).fetch()
    except TwilioRestException as exc:
        if exc.status == 401:
            yield ctx.line(Mark.fail, "twilio_refused", code=exc.code)
        elif exc.status == 404:
            yield ctx.line(Mark.fail, "twilio_not_found", sid=sid)
        else:
            yield ctx.line(Mark.fail, "twilio_error", status=exc.status, code=exc.code, message=exc.msg)
        return
    except Exception as exc:  # requests' connection errors, TLS, a garbled answer
        yield ctx.line(Mark.fail, "twilio_unreachable", host=urlsplit(base).netloc or "api.twilio.com",
                       error=_first_line(exc))
        return
    if account.status != "active":
        yield ctx.line(Mark.fail, "twilio_inactive", sid=sid, status=account.status)
        return
    where = f" — {base}" if base else ""
    yield ctx.line(Mark.ok, "twilio_ok", sid=sid, name=account.friendly_name or "", where=where)


def check_sender(ctx: Context) -> Iterator[Line]:
    """A Messaging Service, or a sender ID / number Twilio would accept as From."""
    settings = ctx.settings
    if settings.twilio_messaging_service_sid:
        yield ctx.line(Mark.ok, "sender_service", sid=settings.twilio_messaging_service_sid)
    elif not settings.twilio_from.strip():
        yield ctx.line(Mark.fail, "sender_missing")
    elif _SENDER_ID.match(settings.twilio_from) or _E164.match(settings.twilio_from):
        yield ctx.line(Mark.ok, "sender_from", sender=settings.twilio_from)
    else:
        yield ctx.line(Mark.fail, "sender_invalid", sender=settings.twilio_from)


# ---- PUBLIC_BASE_URL ------------------------------------------------------------------------------------


def check_public_url(ctx: Context) -> Iterator[Line]:
    """Ask the instance behind PUBLIC_BASE_URL for the value just stored in this database (no redirects)."""
    from broadcast.ops.echo import forget, plant

    if ctx.engine is None or not ctx.migrated:
        yield ctx.line(Mark.fail, "needs_database", what=say("public_what", ctx.lang))
        return
    url = ctx.settings.public_base_url
    nonce, value = plant(ctx.engine)
    try:
        with httpx.Client(timeout=ctx.timeout, follow_redirects=False) as http:
            response = http.get(f"{url}/healthz/echo/{nonce}", headers={"Cache-Control": "no-cache"})
    except httpx.HTTPError as exc:
        yield ctx.line(Mark.fail, "public_unreachable", url=url, error=_first_line(exc) or type(exc).__name__)
        return
    finally:
        forget(ctx.engine, nonce)  # answered or not, the value is never valid again
    if response.is_redirect:
        yield ctx.line(Mark.fail, "public_redirect", url=url, status=response.status_code,
                       location=response.headers.get("location", "?"))
        return
    answered = response.json().get("value") if response.status_code == 200 and _is_json(response) else None
    if answered == value:
        yield ctx.line(Mark.ok, "public_ok", url=url)
    else:
        yield ctx.line(Mark.fail, "public_other", url=url, status=response.status_code)


def _is_json(response: httpx.Response) -> bool:
    try:
        return isinstance(response.json(), dict)
    except ValueError:
        return False


# ---- audio, media, gateway phones -----------------------------------------------------------------------


def check_tts(ctx: Context) -> Iterator[Line]:
    """Render about a second of speech through the whole chain the clips take (engine, DSP, MP3)."""
    from broadcast.audio.processing.render import render_mp3
    from broadcast.audio.service import processing_for
    from broadcast.audio.text.normalize import normalize_text
    from broadcast.audio.tts.engines import make_synthesizer

    engine = ctx.settings.tts_engine
    try:
        parts = make_synthesizer(engine).synthesize(normalize_text("Kiểm tra âm thanh.", "vi"), "vi")
        _mp3, measured = render_mp3(parts, processing_for(ctx.settings))
        made_by = parts[0].engine  # `auto` names the engine that answered
    except Exception as exc:  # an engine's failure is the check's answer, whatever its kind
        yield ctx.line(Mark.fail, "tts_failed", engine=engine, error=_first_line(exc))
        return
    yield ctx.line(Mark.ok, "tts_ok", engine=made_by, seconds=_number(sum(p.duration for p in parts), ctx.lang),
                   lufs=_number(measured.loudness_lufs, ctx.lang))


def check_media(ctx: Context) -> Iterator[Line]:
    """MEDIA_DIR exists, a file can be written there and synced, and enough space is left."""
    path = Path(ctx.settings.media_dir).resolve()
    if not path.exists():
        yield ctx.line(Mark.fail, "media_missing", path=path)
        return
    try:
        with tempfile.NamedTemporaryFile(dir=path, prefix=".broadcast-check-") as probe:
            probe.write(b"broadcast check\n")
            probe.flush()
            os.fsync(probe.fileno())
        free = shutil.disk_usage(path).free
    except OSError as exc:
        yield ctx.line(Mark.fail, "media_unwritable", path=path, error=_first_line(exc))
        return
    if free < ctx.min_free_bytes:
        yield ctx.line(Mark.fail, "media_full", path=path, free=_bytes(free, ctx.lang),
                       minimum=_bytes(ctx.min_free_bytes, ctx.lang))
    else:
        yield ctx.line(Mark.ok, "media_ok", path=path, free=_bytes(free, ctx.lang))


def check_gateways(ctx: Context) -> Iterator[Line]:
    """Each enabled gateway phone answers its health endpoint (read only: nothing is recorded)."""
    from sqlmodel import Session, col, select

    from broadcast.channels.gateway.channel import GatewayChannel, PhoneConfig
    from broadcast.channels.gateway.models import GatewayPhone

    if ctx.engine is None or not ctx.migrated:
        yield ctx.line(Mark.fail, "needs_database", what=say("gateways_what", ctx.lang))
        return
    try:
        with Session(ctx.engine) as session:
            phones = [PhoneConfig(p.name, p.base_url, p.login, p.password, timeout=ctx.timeout)
                      for p in session.exec(select(GatewayPhone).where(col(GatewayPhone.enabled))
                                            .order_by(col(GatewayPhone.name))).all()]
    except Exception as exc:  # an undecryptable password (wrong DATA_ENCRYPTION_KEY) names itself
        yield ctx.line(Mark.fail, "gateway_down", name="*", error=_first_line(exc))
        return
    if not phones:
        yield ctx.line(Mark.skip, "gateways_none")
    for phone in phones:
        try:
            health = GatewayChannel(phone).health()
        except Exception as exc:  # refused, timed out, garbled: it does not answer
            yield ctx.line(Mark.fail, "gateway_down", name=phone.name, error=_first_line(exc) or type(exc).__name__)
            continue
        mark = Mark.fail if health == "fail" else Mark.ok
        yield ctx.line(mark, "gateway_failing" if mark is Mark.fail else "gateway_ok", name=phone.name,
                       health=health)


CHECKS: tuple[Check, ...] = (check_settings, check_database, check_migrations, check_twilio, check_sender,
                             check_public_url, check_tts, check_media, check_gateways)
