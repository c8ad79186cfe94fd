"""SMS encoding detection (GSM 03.38 / UCS-2), segment counting, cost estimation and diacritics stripping."""

from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any, Literal

from broadcast.exceptions import ValidationFailed

Encoding = Literal["GSM-7", "UCS-2"]

# GSM 03.38 default alphabet in code order; 0x1B (ESC) is the escape to the extension table, not a character.
GSM_BASIC: frozenset[str] = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table: sent as ESC + code, so each costs 2 septets.
GSM_EXTENSION: frozenset[str] = frozenset("\f^{}\\[~]|€")

GSM_SINGLE, GSM_MULTI = 160, 153  # septets: one message / per part (7 septets go to the UDH)
UCS2_SINGLE, UCS2_MULTI = 70, 67  # UTF-16 code units: one message / per part


def _vietnamese_table() -> dict[str, str]:
    """Map every precomposed Vietnamese letter (12 vowels x 6 tones, both cases, đ) to its ASCII base."""
    table = {"đ": "d", "Đ": "D"}
    for vowel in "aăâeêioôơuưy":
        plain = unicodedata.normalize("NFD", vowel)[0]
        for tone in ("", "\u0300", "\u0301", "\u0303", "\u0309", "\u0323"):
            letter = unicodedata.normalize("NFC", vowel + tone)
            if letter != plain:
                table[letter] = plain
                table[letter.upper()] = plain.upper()
    return table


_VIETNAMESE = _vietnamese_table()

_QUOTES_SINGLE = "‘’‚‛′‹›`´"
_QUOTES_DOUBLE = "“”„‟″«»"
_DASHES = "‐‑‒–—―−⁃"
_BULLETS = "•◦‣∙·▪▫●○■□➢➤►▶"
_SPACES = "\t\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"
_INVISIBLE = "\u200b\u2060\ufeff\u00ad"  # zero-width space, word joiner, BOM, soft hyphen

_TYPOGRAPHIC: dict[str, str] = {
    **dict.fromkeys(_QUOTES_SINGLE, "'"),
    **dict.fromkeys(_QUOTES_DOUBLE, '"'),
    **dict.fromkeys(_DASHES, "-"),
    **dict.fromkeys(_BULLETS, "-"),
    **dict.fromkeys(_SPACES, " "),
    **dict.fromkeys(_INVISIBLE, ""),
    "…": "...",
    "\u2028": "\n",
    "\u2029": "\n",
    "₫": "d",  # "50.000₫" is written "50.000d" in Vietnamese without diacritics
    "×": "x",
    "⁄": "/",
    "∕": "/",
}

_STRIP_MAP: dict[str, str] = {**_VIETNAMESE, **_TYPOGRAPHIC}


def _is_latin_diacritic(char: str) -> bool:
    return "\u0300" <= char <= "\u036f"


@lru_cache(maxsize=4096)
def _strip_char(char: str) -> str:
    mapped = _STRIP_MAP.get(char)
    if mapped is not None:
        return mapped
    if char in GSM_BASIC or char in GSM_EXTENSION:
        return char
    # Other accented Latin letters (ç, ë, î, U+212B Å ...): keep a GSM-7 base, else leave the char as is.
    decomposed = unicodedata.normalize("NFD", char)
    base = decomposed[0]
    if len(decomposed) > 1 and base in GSM_BASIC and all(_is_latin_diacritic(c) for c in decomposed[1:]):
        return base
    return char


def _strip(text: str, *, expand_ellipsis: bool) -> str:
    # No NFC pass: NFC can lengthen some scripts. Decomposed (NFD) Vietnamese is handled by dropping
    # combining marks that sit on a GSM-7 base, so the output is never longer except for "…" -> "...".
    out: list[str] = []
    for char in text:
        if _is_latin_diacritic(char) and out and out[-1] and out[-1][-1] in GSM_BASIC:
            continue
        out.append(char if char == "…" and not expand_ellipsis else _strip_char(char))
    return "".join(out)


def strip_diacritics(text: str) -> str:
    """Convert Vietnamese letters to ASCII and typographic characters to GSM-7; leave the rest as is."""
    return _strip(text, expand_ellipsis=True)


def is_gsm7(text: str) -> bool:
    """True when every character of `text` is in the GSM 03.38 basic set or its extension table."""
    return all(c in GSM_BASIC or c in GSM_EXTENSION for c in text)


def non_gsm_characters(text: str) -> list[str]:
    """The distinct characters (in order of first appearance) that force `text` into UCS-2."""
    seen: dict[str, None] = {}
    for c in text:
        if c not in GSM_BASIC and c not in GSM_EXTENSION:
            seen.setdefault(c, None)
    return list(seen)


@dataclass(frozen=True, slots=True)
class SmsEstimate:
    """How a text would be sent: encoding, parts, counts and cost."""

    encoding: Encoding
    segments: int
    characters: int  # as the user counts: code points for GSM-7, UTF-16 code units for UCS-2
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2) actually transmitted, before headers
    units_per_segment: int  # 160/70 for a single message, 153/67 per part when split
    remaining: int  # units still free in the last segment before another one is needed
    text: str  # the text as it would be sent (stripped when strip=True)
    cost: float

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON responses and templates."""
        return asdict(self)


def _pack(weights: list[int], single: int, multi: int) -> tuple[int, int, int]:
    """Return (segments, units_per_segment, remaining) packing indivisible weights into parts."""
    total = sum(weights)
    if total == 0:
        return 0, single, single
    if total <= single:
        return 1, single, single - total
    segments, used = 1, 0
    for w in weights:
        if used + w > multi:  # an escape pair or surrogate pair never straddles two parts
            segments += 1
            used = 0
        used += w
    return segments, multi, multi - used


def _gsm_weights(text: str) -> list[int]:
    return [2 if c in GSM_EXTENSION else 1 for c in text]


def _ucs2_weights(text: str) -> list[int]:
    return [2 if ord(c) > 0xFFFF else 1 for c in text]


def _measure(text: str, price_per_segment: float) -> SmsEstimate:
    if is_gsm7(text):
        encoding: Encoding = "GSM-7"
        weights = _gsm_weights(text)
        segments, per_segment, remaining = _pack(weights, GSM_SINGLE, GSM_MULTI)
        characters = len(text)
    else:
        encoding = "UCS-2"
        weights = _ucs2_weights(text)
        segments, per_segment, remaining = _pack(weights, UCS2_SINGLE, UCS2_MULTI)
        characters = sum(weights)
    return SmsEstimate(
        encoding=encoding,
        segments=segments,
        characters=characters,
        units=sum(weights),
        units_per_segment=per_segment,
        remaining=remaining,
        text=text,
        cost=segments * price_per_segment,
    )


def estimate(text: str, *, strip: bool = False, price_per_segment: float = 0.0) -> SmsEstimate:
    """Estimate encoding, segment count and cost of sending `text` (diacritics-stripped when `strip`)."""
    if price_per_segment < 0:
        raise ValidationFailed("Đơn giá mỗi tin nhắn không được âm.", field="price_per_segment")
    if not strip:
        return _measure(text, price_per_segment)
    stripped = _measure(strip_diacritics(text), price_per_segment)
    if "…" not in text or (
        stripped.encoding == "GSM-7" and stripped.segments <= _measure(text, price_per_segment).segments
    ):
        return stripped
    # "…" -> "..." only pays off when it makes the text GSM-7 and costs no extra part; otherwise one
    # UCS-2 unit beats three, so keep it and stripping can never cost more than the original text.
    return _measure(_strip(text, expand_ellipsis=False), price_per_segment)


def compare(text: str, price_per_segment: float = 0.0) -> dict[str, Any]:
    """Original and diacritics-stripped estimates side by side, with what stripping would save."""
    original = estimate(text, price_per_segment=price_per_segment)
    stripped = estimate(text, strip=True, price_per_segment=price_per_segment)
    return {
        "original": original.to_dict(),
        "stripped": stripped.to_dict(),
        "changed": stripped.text != original.text,
        "segments_saved": original.segments - stripped.segments,
        "cost_saved": original.cost - stripped.cost,
        # characters that keep the stripped text in UCS-2 (emoji, other scripts); empty when it is GSM-7
        "stripped_non_gsm": non_gsm_characters(stripped.text),
    }
