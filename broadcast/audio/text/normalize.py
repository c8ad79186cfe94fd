"""Vietnamese text normalisation for TTS: numbers, money, dates, times, phones, legal codes, abbreviations."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping

from broadcast.audio.text.numbers import decimal_words, digits_words, number_words, roman_to_int
from broadcast.audio.text.pronunciation import ABBREVIATIONS, DOC_TYPES, ISSUERS, spell_letters
from broadcast.bounds import SCRIPT_LENGTH
from broadcast.exceptions import ValidationFailed

Rule = Callable[[re.Match[str]], str]

# The longest text read aloud (a campaign script, a preview): normalisation is linear, this bounds it.
MAX_TEXT_CHARS = SCRIPT_LENGTH  # a script is read aloud: about 40 minutes

_UNITS = {
    "đồng": "đồng", "đ": "đồng", "VNĐ": "đồng", "VND": "đồng", "USD": "đô la Mỹ", "km2": "ki lô mét vuông",
    "km²": "ki lô mét vuông", "km": "ki lô mét", "m2": "mét vuông", "m²": "mét vuông", "m3": "mét khối",
    "m³": "mét khối", "cm": "xăng ti mét", "mm": "mi li mét", "m": "mét", "kg": "ki lô gam", "g": "gam",
    "ha": "héc ta", "tấn": "tấn", "lít": "lít", "l": "lít", "ml": "mi li lít", "°C": "độ xê", "°": "độ",
    "kW": "ki lô oát", "kWh": "ki lô oát giờ", "km/h": "ki lô mét một giờ",
}
_UNIT_ALT = "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))
_NUM = r"\d{1,3}(?:\.\d{3})+(?:,\d+)?|\d+(?:,\d+)?"
_DATE_CONTEXT = ("ngày", "từ", "đến", "tới", "hôm", "sáng", "trưa", "chiều", "tối", "đêm", "trước", "sau",
                 "và", "hoặc", "mùng", "mồng", "nay", ",")
_ROMAN_CONTEXT = (r"(?:[Cc]hương|[Mm]ục|[Pp]hần|[Kk]hóa|[Kk]hoá|[Qq]uý|[Tt]hế kỷ|[Đđ]ại hội|[Kk]ỳ họp"
                  r"|[Pp]hụ lục)")
_VOWELS = "aăâeêioôơuưyáắấéếíóốớúứýàằầèềìòồờùừỳảẳẩẻểỉỏổởủửỷãẵẫẽễĩõỗỡũữỹạặậẹệịọộợụựỵ"
_SYLLABLE = re.compile(
    rf"^(?:ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|[bcdđghklmnpqrstvx])?[{_VOWELS}]{{1,3}}(?:ng|nh|ch|[cmnpt])?$",
    re.IGNORECASE,
)

_DOC_CODE = re.compile(
    r"(?<![\w/])(\d+)(?:/(\d{4}))?/((?:[A-ZĐ][A-Za-zĐđ]*\d*)(?:-[A-ZĐ][A-Za-zĐđ]*\d*)*)(?![\w-])"
)
_PHONE = re.compile(r"(?<![\d.,])(?:\+84|0)\d{2,3}(?:[ .-]?\d){6,7}(?![\d])")
_HOTLINE = re.compile(r"(?<![\d.,])1[89]00(?:[ .]?\d){4,6}(?![\d])")
_SHORT_CODE = re.compile(
    r"(?i)((?:gọi|số|tổng đài|đường dây nóng|hotline)\s+)(11[1-6])(?!\d)"
)
_DATE_DMY = re.compile(r"(?<![\d/.,])(\d{1,2})([/.-])(\d{1,2})\2(\d{4})(?![\d/])")
_DATE_MY = re.compile(r"(?<![\d/.,])(\d{1,2})/(\d{4})(?![\d/])")
_DATE_DM = re.compile(r"(?<![\d/.,])(\d{1,2})/(\d{1,2})(?![\d/])")
_TIME = re.compile(r"(?<![\d:])(\d{1,2})(?::(\d{2})(?::(\d{2}))?|h(\d{2})?)(?![\d:\w])")
_ROMAN = re.compile(rf"({_ROMAN_CONTEXT}\s+)([IVXLCDM]+)(?![\w])")
# Anchored on the digit before them rather than on the whole number: matching the number as well made
# every position inside a long digit run a new start that scanned to its end (quadratic).
_PERCENT = re.compile(r"(?<=\d)\s*%")
_UNIT = re.compile(rf"(?<=\d)\s*({_UNIT_ALT})(?![\w²³])")
_RANGE = re.compile(r"(?<=\d)\s*[–—-]\s*(?=\d)")
_NUMBER = re.compile(r"(?<![\w])(\d{1,3}(?:\.\d{3})+|\d+)(?:,(\d+))?(?:\.(\d{1,2})(?![\d]))?")
_CAPS = re.compile(r"(?<![\w.])([^\W\d_]{2,})(?![\w])")
# Digit runs longer than any number (codes, garbage) are read digit by digit in one pass up front, as
# `_number` would, all but their last digit, which stays for the rules that follow a number (% and units).
MAX_NUMBER_DIGITS = 15
_LONG_DIGITS = re.compile(rf"\d{{{MAX_NUMBER_DIGITS},}}(?=\d)")
# How far back a date looks for its context word ("ngày", "từ", …); whitespace is squeezed first.
_CONTEXT_CHARS = 24
_PER_NOUNS = sorted({*_UNITS.values(), "người", "lượt", "hộ", "ngày", "tháng", "năm", "giờ", "tuần", "lần"},
                    key=len, reverse=True)
_PER = re.compile(rf"(?<![\w])({'|'.join(_PER_NOUNS)})/(?=[^\W\d])")


def _word_pattern(keys: list[str], *, ignore_case: bool) -> re.Pattern[str] | None:
    if not keys:
        return None
    alt = "|".join(re.escape(k) for k in sorted(keys, key=len, reverse=True))
    return re.compile(rf"(?<![\w])({alt})(?![\w])", re.IGNORECASE if ignore_case else 0)


_ABBR_RE = _word_pattern(list(ABBREVIATIONS), ignore_case=False)


def _read_int(text: str) -> str:
    return number_words(int(text.replace(".", "")))


def _apply_dictionary(text: str, dictionary: Mapping[str, str]) -> str:
    """Officer entries win over every rule; entries with capitals match case-sensitively."""
    exact = {k: v for k, v in dictionary.items() if k != k.lower()}
    folded = {k.lower(): v for k, v in dictionary.items() if k == k.lower()}
    exact_re = _word_pattern(list(exact), ignore_case=False)
    if exact_re is not None:
        text = exact_re.sub(lambda m: exact[m.group(1)], text)
    folded_re = _word_pattern(list(folded), ignore_case=True)
    if folded_re is not None:
        text = folded_re.sub(lambda m: folded[m.group(1).lower()], text)
    return text


def _issuer(part: str) -> str:
    m = re.fullmatch(r"([A-Za-zĐđ]+?)(\d+)", part)
    if m and m.group(1) in ISSUERS:  # QH14: the 14th National Assembly
        return f"{ISSUERS[m.group(1)]} khóa {number_words(int(m.group(2)))}"
    return ISSUERS.get(part) or ABBREVIATIONS.get(part) or spell_letters(part)


def _doc_code(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        number, year, code = m.group(1), m.group(2), m.group(3)
        parts = code.split("-")
        kind = DOC_TYPES.get(parts[0]) if len(parts) > 1 or parts[0] not in ISSUERS else None
        issuers = parts[1:] if kind else parts
        words = [number_words(int(number))]
        if year:
            words += ["năm", number_words(int(year))]
        before = text[max(0, m.start() - 30) : m.start()].lower()
        if kind and not re.search(rf"{re.escape(kind)}(?:\s+số)?\s*$", before):
            words.append(kind)
        after = re.split(r"[.;:\n]", text[m.end() : m.end() + 120], maxsplit=1)[0]
        said_later = any(re.search(rf"của\s+(?:{re.escape(_issuer(p))}|{re.escape(p)})(?![\w])", after,
                                   re.IGNORECASE) for p in issuers)
        if issuers and not said_later:  # "977/QĐ-TTg … của Thủ tướng" names the issuer once
            words.append("của " + " ".join(_issuer(p) for p in issuers))
        return " ".join(words)

    return _DOC_CODE.sub(repl, text)


def _before(text: str, start: int) -> str:
    """The few characters before `start`, lower-cased (a bounded look back: never the whole text)."""
    return text[max(0, start - _CONTEXT_CHARS) : start].rstrip().lower()


def _date_prefix(text: str, start: int, word: str) -> str:
    return "" if _before(text, start).endswith(word) else word + " "


def _month(m: int) -> str:
    return "tư" if m == 4 else number_words(m)


def _dates(text: str) -> str:
    def dmy(m: re.Match[str]) -> str:
        d, mo, y = int(m.group(1)), int(m.group(3)), int(m.group(4))
        if not (1 <= d <= 31 and 1 <= mo <= 12):
            return m.group(0)
        prefix = _date_prefix(m.string, m.start(), "ngày")
        return f"{prefix}{number_words(d)} tháng {_month(mo)} năm {number_words(y)}"

    def my(m: re.Match[str]) -> str:
        mo, y = int(m.group(1)), int(m.group(2))
        if not 1 <= mo <= 12:
            return m.group(0)
        return f"{_date_prefix(m.string, m.start(), 'tháng')}{_month(mo)} năm {number_words(y)}"

    def dm(m: re.Match[str]) -> str:
        d, mo = int(m.group(1)), int(m.group(2))
        context = _before(m.string, m.start())
        is_date = 1 <= d <= 31 and 1 <= mo <= 12 and context.endswith(_DATE_CONTEXT)
        if not is_date:  # a fraction: 1/2 -> một phần hai
            return f"{number_words(int(m.group(1)))} phần {number_words(int(m.group(2)))}"
        return f"{_date_prefix(m.string, m.start(), 'ngày')}{number_words(d)} tháng {_month(mo)}"

    text = _DATE_DMY.sub(dmy, text)
    text = _DATE_MY.sub(my, text)
    return _DATE_DM.sub(dm, text)


def _time(m: re.Match[str]) -> str:
    hour = int(m.group(1))
    minute_text = m.group(2) or m.group(4)
    minute = int(minute_text) if minute_text else 0
    if hour > 24 or minute > 59:
        return m.group(0)
    words = f"{number_words(hour)} giờ"
    if minute:
        words += f" {number_words(minute)} phút"
    if m.group(3) and int(m.group(3)):
        words += f" {number_words(int(m.group(3)))} giây"
    return words


def _number(m: re.Match[str]) -> str:
    integer, fraction, dotted = m.group(1), m.group(2), m.group(3)
    digits = integer.replace(".", "")
    if len(digits) > 15 or (len(digits) > 1 and digits.startswith("0") and "." not in integer):
        words = digits_words(digits)  # codes and leading-zero numbers are read digit by digit
    elif fraction is not None:
        words = decimal_words(digits, fraction)
    else:
        words = number_words(int(digits))
    if dotted is not None:  # section numbers such as 1.2
        words += " chấm " + number_words(int(dotted))
    return words


def _caps(m: re.Match[str]) -> str:
    token = m.group(1)
    if not token.isupper():
        return token
    if _SYLLABLE.match(token):
        return token.lower()  # words in capitals for emphasis; engines would spell them out
    return spell_letters(token)


def bound_runs(text: str) -> str:
    """The first pass: digit runs longer than any number are read digit by digit, whitespace squeezed.

    Afterwards no rule meets more than MAX_NUMBER_DIGITS digits or two blanks in a row, so no pattern
    rescans a long run from each of its positions: the whole normalisation is linear in the text.
    """
    return _squeeze(_LONG_DIGITS.sub(lambda m: f" {digits_words(m.group(0))} ", text))


def _squeeze(text: str) -> str:
    """Whitespace runs become one space, or one or two line breaks: no rule then scans a long run."""
    text = re.sub(r"[^\S\n]+", " ", text)
    text = re.sub(r" ?\n ?", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text)


def _cleanup(text: str) -> str:
    text = re.sub(r"\.?/\.", ".", text)
    text = re.sub(r"\.{2,}|…", ".", text)
    text = re.sub(r"[()\[\]{}]", ", ", text)
    text = _squeeze(re.sub(r"[\"“”«»*•·●▪►]", " ", text))
    text = re.sub(r"\s+[–—-]\s+", ", ", text)
    text = text.replace("&", " và ").replace("/", " ")
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)
    text = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", text)
    text = re.sub(r"(^|\n)[,;:]\s*", r"\1", text)
    text = re.sub(r"[,;:]+([.!?])", r"\1", text)
    text = re.sub(r"[,;]+[ \t]*(?=\n|$)", "", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def normalize_vi(text: str, dictionary: Mapping[str, str] | None = None) -> str:
    """Rewrite Vietnamese text into words a TTS engine reads correctly (dictionary entries win)."""
    text = unicodedata.normalize("NFC", text).replace("\u00a0", " ").replace("\r\n", "\n")
    if dictionary:
        text = _apply_dictionary(text, dictionary)
    text = _doc_code(bound_runs(text))
    text = _PHONE.sub(lambda m: digits_words(m.group(0)), text)
    text = _HOTLINE.sub(lambda m: digits_words(m.group(0)), text)
    text = _SHORT_CODE.sub(lambda m: m.group(1) + digits_words(m.group(2)), text)
    text = _dates(text)
    text = _TIME.sub(_time, text)
    text = _ROMAN.sub(lambda m: m.group(1) + number_words(roman_to_int(m.group(2)) or 0)
                      if roman_to_int(m.group(2)) else m.group(0), text)
    text = _PERCENT.sub(" phần trăm", text)
    text = _UNIT.sub(lambda m: f" {_UNITS[m.group(1)]}", text)
    text = _PER.sub(r"\1 một ", text)  # 50.000 đồng/hộ -> đồng một hộ
    text = _RANGE.sub(" đến ", text)
    text = re.sub(r"(\d)(?=[^\W\d_])", r"\1 ", text)  # "3Nâng" (a typo in real notices)
    text = _NUMBER.sub(_number, text)
    if _ABBR_RE is not None:
        text = _ABBR_RE.sub(lambda m: ABBREVIATIONS[m.group(1)], text)
    text = _CAPS.sub(_caps, text)
    return _cleanup(text)


def normalize_text(text: str, language: str, dictionary: Mapping[str, str] | None = None) -> str:
    """Normalise for the given language: full rules for Vietnamese, whitespace tidying otherwise."""
    if len(text) > MAX_TEXT_CHARS:
        raise ValidationFailed(f"Văn bản quá dài: {len(text)} ký tự (tối đa {MAX_TEXT_CHARS}).", field="text")
    if language == "vi":
        return normalize_vi(text, dictionary)
    text = unicodedata.normalize("NFC", text)
    if dictionary:
        text = _apply_dictionary(text, dictionary)
    return _cleanup(text)
