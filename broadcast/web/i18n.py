"""Translation catalogues (Vietnamese default, English) and Vietnamese-style number and date formatting."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"
_LOCALES = Path(__file__).parent / "locales"


@lru_cache(maxsize=len(LANGUAGES))
def catalogue(language: str) -> dict[str, str]:
    """The flat key → text catalogue of `language` (locales/<language>.json)."""
    data: dict[str, str] = json.loads((_LOCALES / f"{language}.json").read_text(encoding="utf-8"))
    return data


def translate(language: str, key: str, **values: Any) -> str:
    """The text for `key` in `language`, falling back to Vietnamese, then to the key itself."""
    text = catalogue(language if language in LANGUAGES else DEFAULT_LANGUAGE).get(key)
    if text is None:
        text = catalogue(DEFAULT_LANGUAGE).get(key, key)
    return text.format(**values) if values else text


def translator(language: str) -> Callable[..., str]:
    """A `t(key, **values)` function bound to one language (what templates call)."""

    def t(key: str, **values: Any) -> str:
        return translate(language, key, **values)

    return t


def fmt_number(value: float | int | None, language: str = DEFAULT_LANGUAGE, decimals: int = 0) -> str:
    """1234567 → "1.234.567" in Vietnamese ("1,234,567" in English); decimals use the other mark."""
    if value is None:
        return "—"
    text = f"{value:,.{decimals}f}"
    if language == "vi":
        text = text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    return text


def fmt_percent(part: int | float, whole: int | float, language: str = DEFAULT_LANGUAGE) -> str:
    """part/whole as a percentage with one decimal ("97,5 %")."""
    if not whole:
        return "—"
    return f"{fmt_number(100.0 * part / whole, language, 1)} %"


def fmt_date(moment: datetime | None, zone: ZoneInfo) -> str:
    """dd/mm/yyyy in the service's time zone."""
    return moment.astimezone(zone).strftime("%d/%m/%Y") if moment else "—"


def fmt_datetime(moment: datetime | str | None, zone: ZoneInfo) -> str:
    """HH:MM dd/mm/yyyy (24-hour) in the service's time zone; ISO strings are accepted."""
    if not moment:
        return "—"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.astimezone(zone).strftime("%H:%M %d/%m/%Y")
