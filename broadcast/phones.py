"""Vietnamese mobile numbers: normalise what an officer's spreadsheet holds to E.164; mask for display."""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

import phonenumbers
from phonenumbers import PhoneNumberType

# Pre-2018 11-digit mobile prefixes (without the trunk 0) → today's 10-digit prefixes; last 7 digits kept.
OLD_PREFIXES: dict[str, str] = {
    "162": "32", "163": "33", "164": "34", "165": "35", "166": "36", "167": "37", "168": "38", "169": "39",
    "120": "70", "121": "79", "122": "77", "126": "76", "128": "78",
    "123": "83", "124": "84", "125": "85", "127": "81", "129": "82",
    "186": "56", "188": "58",
    "199": "59",
}

INVALID = "Số điện thoại không hợp lệ"
NOT_VN_MOBILE = "Không phải số di động Việt Nam"
MISSING = "Thiếu số điện thoại"
SCIENTIFIC = (
    "Excel đã đổi số sang dạng khoa học (ví dụ 9,12E+08) và làm mất chữ số; hãy định dạng cột là Văn bản"
)

# The VN mobile pattern from phonenumbers' own metadata: a regex match is what is_valid_number + MOBILE
# does for VN, at a fraction of the cost (imports parse tens of thousands of numbers a second).
_VN = phonenumbers.PhoneMetadata.metadata_for_region("VN")
assert _VN is not None and _VN.mobile is not None and _VN.mobile.national_number_pattern is not None
MOBILE_PATTERN: str = _VN.mobile.national_number_pattern
_MOBILE = re.compile(MOBILE_PATTERN, re.ASCII)
# The common clean spellings (0912345678, 84912345678, +84912345678, 912345678) in one match; any
# other input takes the general path below, which gives the same answer for these.
_FAST = re.compile(rf"(?:\+?84|0)?({MOBILE_PATTERN})", re.ASCII)
# Spaces (incl. NBSP, zero-width), dots, dashes, parentheses, underscores; a leading ' forces text in Excel.
_NOISE = re.compile(r"[\s\u00a0\u200b\u200c\u200d\ufeff.\-\u2010-\u2015()\[\]_'’`]+")
_DIGITS = re.compile(r"\+?[0-9]+")
_FLOAT_TEXT = re.compile(r"([0-9]+)\.0+")
_SCIENTIFIC = re.compile(r"([0-9])(?:[.,]([0-9]+))?[eE]\+?([0-9]{1,2})")


class PhoneError(ValueError):
    """A value that is not a usable Vietnamese mobile number; `reason` is shown to officers."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def normalize_vn_phone(raw: object) -> str:
    """Return the E.164 form (+84 + 9 digits) of a Vietnamese mobile number, or raise PhoneError."""
    if type(raw) is str:
        fast = _FAST.fullmatch(raw)
        if fast:
            return "+84" + fast.group(1)
    nsn = _national_significant(_digits(raw))
    if len(nsn) == 10 and nsn[0] == "1":
        new = OLD_PREFIXES.get(nsn[:3])
        if new is not None:
            nsn = new + nsn[3:]
    if len(nsn) == 9 and _MOBILE.fullmatch(nsn):
        return "+84" + nsn
    raise PhoneError(NOT_VN_MOBILE if _is_other_vn_number(nsn) else INVALID)


def mask_phone(e164: str | None) -> str:
    """The national form with the middle hidden, e.g. +84912345678 → 091****678 ('' for an erased number)."""
    if not e164:
        return ""
    national = "0" + e164[3:] if e164.startswith("+84") else e164
    if len(national) <= 6:
        return "*" * len(national)
    return national[:3] + "*" * (len(national) - 6) + national[-3:]


def _digits(raw: object) -> str:
    """The digits of the value, with a leading + kept; cells Excel stored as numbers are accepted."""
    if raw is None or isinstance(raw, bool):
        raise PhoneError(MISSING if raw is None else INVALID)
    if isinstance(raw, int):
        if raw <= 0:
            raise PhoneError(INVALID)
        return str(raw)
    if isinstance(raw, float | Decimal):
        if not math.isfinite(raw) or raw <= 0 or raw != int(raw):
            raise PhoneError(INVALID)
        return str(int(raw))
    if not isinstance(raw, str):
        raise PhoneError(INVALID)
    text = raw.strip()
    if not text:
        raise PhoneError(MISSING)
    float_text = _FLOAT_TEXT.fullmatch(text)
    if float_text:
        return float_text.group(1)
    scientific = _SCIENTIFIC.fullmatch(text)
    if scientific:
        return _from_scientific(scientific)
    cleaned = _NOISE.sub("", text)
    if not _DIGITS.fullmatch(cleaned):
        raise PhoneError(INVALID)
    return cleaned


def _from_scientific(match: re.Match[str]) -> str:
    """Undo Excel's 9.12345678E+08 when every digit survived; refuse when digits were rounded away."""
    whole, fraction, exponent = match.group(1), match.group(2) or "", int(match.group(3))
    if len(fraction) < 8 or len(fraction) > exponent:
        raise PhoneError(SCIENTIFIC)
    try:
        value = Decimal(f"{whole}.{fraction}E{exponent}")
    except InvalidOperation:  # pragma: no cover - the regex only lets valid literals through
        raise PhoneError(INVALID) from None
    return str(int(value))


def _national_significant(digits: str) -> str:
    """Strip +84 / 0084 / 84 / the trunk 0 to leave the national significant number."""
    if digits.startswith("+"):
        if not digits.startswith("+84"):
            raise PhoneError(NOT_VN_MOBILE)
        nsn = digits[3:]
    elif digits.startswith("0084"):
        nsn = digits[4:]
    elif digits.startswith("00"):
        raise PhoneError(NOT_VN_MOBILE)  # another country's international prefix
    elif digits.startswith("0"):
        return digits[1:]
    elif digits.startswith("84") and len(digits) in (11, 12):
        nsn = digits[2:]
    else:
        return digits  # Excel dropped the leading zero
    # "+84 (0) 912…" keeps a trunk zero after the country code.
    if nsn.startswith("0") and len(nsn) in (10, 11):
        nsn = nsn[1:]
    return nsn


def _is_other_vn_number(nsn: str) -> bool:
    """True for a valid Vietnamese number that is not a mobile (landline, toll-free…)."""
    if not nsn.isdigit() or not 6 <= len(nsn) <= 11:
        return False
    try:
        number = phonenumbers.parse("+84" + nsn)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) not in (
        PhoneNumberType.MOBILE,
        PhoneNumberType.FIXED_LINE_OR_MOBILE,
    )
